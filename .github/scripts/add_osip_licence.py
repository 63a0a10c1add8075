#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Put oSIP2's licence next to the oSIP2 libraries auditwheel grafted into a repaired wheel.

    add_osip_licence.py WHEEL_OR_DIR...

auditwheel copies libosip2/libosipparser2 into ``exosip2.libs/`` but not their licence; this adds
``exosip2.libs/LICENSE.oSIP2-LGPL-2.1.txt`` (from ``LICENSES/`` of the source tree) and its RECORD
line, and checks that the wheel's metadata names the same file (``License-File``, written by the
build from ``license-files`` in pyproject.toml). Standard library only: it runs in cibuildwheel's
repair step. Exits non-zero, naming the wheel, when a wheel has no grafted oSIP2 or no License-File.
"""

import base64
import glob
import hashlib
import os
import sys
import zipfile

HERE = os.path.dirname(os.path.abspath(__file__))
LICENCE = os.path.join(HERE, "..", "..", "LICENSES", "oSIP2-LGPL-2.1.txt")
TARGET = "exosip2.libs/LICENSE.oSIP2-LGPL-2.1.txt"


def record_line(name, data):
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode("ascii")
    return "%s,sha256=%s,%d" % (name, digest, len(data))


def add_licence(path, text):
    with zipfile.ZipFile(path) as zin:
        names = zin.namelist()
        if not any(n.startswith("exosip2.libs/libosip") for n in names):
            raise SystemExit("%s: no grafted oSIP2 library under exosip2.libs/ (was it repaired?)" % path)
        metadata = next(n for n in names if n.endswith(".dist-info/METADATA"))
        if "License-File:" not in zin.read(metadata).decode("utf-8") or \
                "oSIP2-LGPL-2.1.txt" not in zin.read(metadata).decode("utf-8"):
            raise SystemExit("%s: METADATA has no License-File for oSIP2's licence" % path)
        if TARGET in names:
            return False
        record = next(n for n in names if n.endswith(".dist-info/RECORD"))
        tmp = path + ".tmp"
        with zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as zout:
            for info in zin.infolist():
                data = zin.read(info)
                if info.filename == record:
                    lines = data.decode("utf-8").splitlines()
                    own = [ln for ln in lines if ln.startswith(record + ",")]
                    rest = [ln for ln in lines if not ln.startswith(record + ",")]
                    data = ("\n".join(rest + [record_line(TARGET, text)] + own) + "\n").encode("utf-8")
                    continue_record = (info, data)
                    continue
                zout.writestr(info, data)
            zout.writestr(zipfile.ZipInfo(TARGET, date_time=(2020, 1, 1, 0, 0, 0)), text, zipfile.ZIP_DEFLATED)
            zout.writestr(continue_record[0], continue_record[1])  # RECORD stays the last entry
    os.replace(tmp, path)
    return True


def main(argv):
    with open(LICENCE, "rb") as f:
        text = f.read()
    wheels = []
    for arg in argv:
        wheels += sorted(glob.glob(os.path.join(arg, "*.whl"))) if os.path.isdir(arg) else [arg]
    if not wheels:
        raise SystemExit("add_osip_licence: no wheel in %s" % " ".join(argv))
    for path in wheels:
        print("%s: %s" % (path, "licence added" if add_licence(path, text) else "licence already there"))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
