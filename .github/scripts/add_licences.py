#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Put the licences of the libraries auditwheel grafted into a repaired wheel next to them.

    add_licences.py WHEEL_OR_DIR...

auditwheel copies libosip2/libosipparser2 (LGPL-2.1-or-later) and libssl/libcrypto (OpenSSL 3,
Apache-2.0) into ``exosip2.libs/`` but not their licences; this adds
``exosip2.libs/LICENSE.oSIP2-LGPL-2.1.txt`` and, when OpenSSL was grafted,
``exosip2.libs/LICENSE.OpenSSL-Apache-2.0.txt`` (both from ``LICENSES/`` of the source tree) with
their RECORD lines, and checks that the wheel's metadata names the same files (``License-File``,
written by the build from ``license-files`` in pyproject.toml). Standard library only: it runs in
cibuildwheel's repair step. Exits non-zero, naming the wheel, when a wheel has no grafted oSIP2 or
a grafted library has no License-File line.
"""

import base64
import glob
import hashlib
import os
import sys
import zipfile

HERE = os.path.dirname(os.path.abspath(__file__))
LICENSES = os.path.join(HERE, "..", "..", "LICENSES")
# (prefix of the grafted library, file under LICENSES/, required)
BUNDLED = [("exosip2.libs/libosip", "oSIP2-LGPL-2.1.txt", True),
           ("exosip2.libs/libssl", "OpenSSL-Apache-2.0.txt", False)]


def record_line(name, data):
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode("ascii")
    return "%s,sha256=%s,%d" % (name, digest, len(data))


def wanted_licences(path, names, metadata):
    """{target name in the wheel: licence text} for what *path* bundles."""
    wanted = {}
    for prefix, licence, required in BUNDLED:
        if not any(n.startswith(prefix) for n in names):
            if required:
                raise SystemExit("%s: no grafted %s* under exosip2.libs/ (was it repaired?)" % (
                    path, prefix.split("/")[1]))
            continue
        if "License-File:" not in metadata or licence not in metadata:
            raise SystemExit("%s: METADATA has no License-File for %s" % (path, licence))
        with open(os.path.join(LICENSES, licence), "rb") as f:
            wanted["exosip2.libs/LICENSE." + licence] = f.read()
    return wanted


def add_licences(path):
    with zipfile.ZipFile(path) as zin:
        names = zin.namelist()
        metadata = zin.read(next(n for n in names if n.endswith(".dist-info/METADATA"))).decode("utf-8")
        missing = {k: v for k, v in wanted_licences(path, names, metadata).items() if k not in names}
        if not missing:
            return []
        record = next(n for n in names if n.endswith(".dist-info/RECORD"))
        tmp = path + ".tmp"
        with zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as zout:
            last = None
            for info in zin.infolist():
                data = zin.read(info)
                if info.filename == record:
                    lines = data.decode("utf-8").splitlines()
                    own = [ln for ln in lines if ln.startswith(record + ",")]
                    rest = [ln for ln in lines if not ln.startswith(record + ",")]
                    added = [record_line(name, text) for name, text in sorted(missing.items())]
                    last = (info, ("\n".join(rest + added + own) + "\n").encode("utf-8"))
                    continue
                zout.writestr(info, data)
            for name, text in sorted(missing.items()):
                zout.writestr(zipfile.ZipInfo(name, date_time=(2020, 1, 1, 0, 0, 0)), text, zipfile.ZIP_DEFLATED)
            zout.writestr(last[0], last[1])  # RECORD stays the last entry
    os.replace(tmp, path)
    return sorted(missing)


def main(argv):
    wheels = []
    for arg in argv:
        wheels += sorted(glob.glob(os.path.join(arg, "*.whl"))) if os.path.isdir(arg) else [arg]
    if not wheels:
        raise SystemExit("add_licences: no wheel in %s" % " ".join(argv))
    for path in wheels:
        added = add_licences(path)
        print("%s: %s" % (path, ("added " + ", ".join(added)) if added else "licences already there"))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
