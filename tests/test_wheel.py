# SPDX-License-Identifier: Apache-2.0
"""The binary wheel: built from the sdist, repaired by auditwheel, installed
outside the source tree, and still finding its one copy of the eXosip2 core
and the grafted oSIP2 and OpenSSL libraries, with the system's copies of those
hidden from the loader (.github/scripts/local_wheels.py: a private mount namespace)."""

import glob
import os
import subprocess
import sys
import zipfile

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, ".github", "scripts"))
from local_wheels import hidden  # noqa: E402

CHECK = r"""
import exosip2, os, socket, sys
from exosip2 import message, version
from exosip2.context import Context
assert os.path.dirname(exosip2.__file__).startswith(sys.argv[1]), exosip2.__file__
msg = message.OsipMessage.parse(b"OPTIONS sip:a@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1;branch=z9hG4bK1\r\n"
    b"From: <sip:b@127.0.0.1>;tag=1\r\nTo: <sip:a@127.0.0.1>\r\nCall-ID: w@h\r\nCSeq: 1 OPTIONS\r\n"
    b"Content-Length: 0\r\n\r\n")
assert msg.method == "OPTIONS"
maps = open("/proc/self/maps").read()
cores = {line.split()[-1] for line in maps.splitlines() if line.endswith("libexosip2core.so")}
assert len(cores) == 1, cores
ctx = Context()
certs = sys.argv[2]
ctx.set_tls(root_ca=certs + "/ca.pem", cert=certs + "/server.pem", key=certs + "/server.key")
assert ctx.listen_on_address("127.0.0.1", socket.IPPROTO_TCP, 0, secure=True) > 0
ctx.close()
maps = open("/proc/self/maps").read()
ssl = {line.split()[-1] for line in maps.splitlines() if "/libssl" in line or "/libcrypto" in line}
grafted = {(st.st_dev, st.st_ino) for st in (os.stat(os.path.join(sys.argv[1], "exosip2.libs", n))
                                             for n in os.listdir(os.path.join(sys.argv[1], "exosip2.libs")))}
assert ssl and all((os.stat(p).st_dev, os.stat(p).st_ino) in grafted for p in ssl), ssl
print(version.get_library_version(), sorted(cores)[0])
"""


@pytest.mark.timeout(900)
def test_wheel_builds_repairs_and_imports_outside_the_tree(tmp_path):
    # -O0 for the extension modules (core/ keeps its -O2): the optimiser only costs time here
    env = dict(os.environ, EXOSIP2_WERROR="1", CFLAGS="-O0")
    env.pop("EXOSIP2_COUNT_LIVE", None)
    dist = tmp_path / "dist"
    subprocess.run([sys.executable, "-m", "build", "--no-isolation", "--outdir", str(dist), ROOT],
                   check=True, env=env, timeout=600, capture_output=True)
    wheels = glob.glob(str(dist / "*.whl"))
    assert len(wheels) == 1
    house = tmp_path / "wheelhouse"
    subprocess.run([sys.executable, "-m", "auditwheel", "repair", "--wheel-dir", str(house), wheels[0]],
                   check=True, timeout=300, capture_output=True)
    repaired = glob.glob(str(house / "*manylinux*.whl"))
    assert len(repaired) == 1, os.listdir(house)
    names = zipfile.ZipFile(repaired[0]).namelist()
    assert "exosip2/libexosip2core.so" in names
    for lib in ("libosipparser2", "libosip2", "libssl", "libcrypto"):
        assert any(n.startswith("exosip2.libs/%s-" % lib) for n in names), names
    assert not any(n.endswith(".pyx") or n.endswith(".c") for n in names)

    target = tmp_path / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "--no-index", "--target", str(target),
                    repaired[0]], check=True, timeout=300, capture_output=True)
    check, binds = hidden([sys.executable, "-c", CHECK, str(target), os.path.join(ROOT, "tests", "wheelcerts")],
                          str(target / "exosip2.libs"))
    assert any("libosip2" in f and b == "/dev/null" for f, b in binds.items()), binds
    assert any("libssl" in f and "/exosip2.libs/libssl-" in b for f, b in binds.items()), binds
    proc = subprocess.run(check, cwd=str(tmp_path),
                          env=dict(os.environ, PYTHONPATH=str(target)), capture_output=True, timeout=60)
    assert proc.returncode == 0, proc.stderr.decode()
    out = proc.stdout.decode().split()
    assert out[0] == "5.3.0"
    assert out[1].startswith(str(target))
