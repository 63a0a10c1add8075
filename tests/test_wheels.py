# SPDX-License-Identifier: Apache-2.0
"""Wheels for every supported interpreter and platform.

``TestInstalled`` is the fast subset that cibuildwheel (``test-command``) and ``make wheels`` run
against an installed wheel, from outside the source tree: message and SDP parsing, two contexts
calling each other over UDP, TCP and TLS (IP literals only: no DNS), one copy of each native library
(oSIP2 and OpenSSL from ``exosip2.libs/`` with their licences when the package is a repaired wheel).
``make wheels`` runs it with the system's oSIP2 and OpenSSL hidden from the loader. The TLS call uses
``tests/wheelcerts/`` (a root valid until 2126 whose key was thrown away, and one leaf for
127.0.0.1): the containers cibuildwheel tests in may have no ``openssl`` command to make fresh ones. In the normal suite it runs against the
in-place build. The other tests check the cibuildwheel matrix, ``make wheels`` for the oldest and
newest interpreter present, and the one-line error of a source build without the oSIP2 headers.
"""

import glob
import os
import queue
import re
import shutil
import socket
import subprocess
import sys
import zipfile

import pytest

import exosip2
from exosip2 import call
from exosip2.context import Context
from exosip2.event import EventType
from exosip2.message import OsipMessage
from exosip2.sdp import SdpMessage

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PACKAGE = os.path.dirname(os.path.abspath(exosip2.__file__))
GRAFTED = os.path.join(os.path.dirname(PACKAGE), "exosip2.libs")
LICENCE_NAME = "LICENSE.oSIP2-LGPL-2.1.txt"
OPENSSL_LICENCE_NAME = "LICENSE.OpenSSL-Apache-2.0.txt"
CERTS = os.path.join(ROOT, "tests", "wheelcerts")

INVITE = (b"INVITE sip:bob@127.0.0.1:5062 SIP/2.0\r\n"
          b"Via: SIP/2.0/UDP 127.0.0.1:5061;branch=z9hG4bKw1\r\nMax-Forwards: 70\r\n"
          b"From: <sip:alice@127.0.0.1>;tag=a1\r\nTo: <sip:bob@127.0.0.1>\r\nCall-ID: wheel@127.0.0.1\r\n"
          b"CSeq: 1 INVITE\r\nContact: <sip:alice@127.0.0.1:5061>\r\nContent-Type: application/sdp\r\n")
SDP = (b"v=0\r\no=alice 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
       b"m=audio 40000 RTP/AVP 0 8\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:8 PCMA/8000\r\n")


def mapped_libraries():
    paths = set()
    with open("/proc/self/maps") as maps:
        for line in maps:
            parts = line.split()
            if len(parts) >= 6 and parts[5].startswith("/"):
                paths.add(parts[5])
    return paths


def grafted(prefix):
    """The libraries named *prefix* that auditwheel grafted (``libssl-1a2b3c4d.so.3``), if any."""
    if not os.path.isdir(GRAFTED):
        return []
    return sorted(os.path.join(GRAFTED, n) for n in os.listdir(GRAFTED) if re.match(re.escape(prefix) + r"-", n))


class Agent:
    def __init__(self, transport):
        self.events = queue.Queue()
        self.ctx = Context(lambda ctx, ev: self.events.put(ev))
        if transport == "tls":   # both present the 127.0.0.1 leaf and verify the peer against the test root
            self.ctx.set_tls(root_ca=os.path.join(CERTS, "ca.pem"), cert=os.path.join(CERTS, "server.pem"),
                             key=os.path.join(CERTS, "server.key"), verify=True)
        proto = socket.IPPROTO_UDP if transport == "udp" else socket.IPPROTO_TCP
        self.port = self.ctx.listen_on_address("127.0.0.1", proto, 0, secure=transport == "tls")
        self.ctx.start(event_executor="inline")

    def wait(self, etype, timeout=10.0):
        while True:
            ev = self.events.get(timeout=timeout)
            if ev.type == etype:
                return ev


class TestInstalled:
    """Under ``make wheels`` the system's oSIP2 files read as empty and its OpenSSL files as the
    wheel's own copies (.github/scripts/local_wheels.py, ``hidden``)."""

    def test_parse_message_and_sdp(self):
        msg = OsipMessage.parse(INVITE + b"Content-Length: %d\r\n\r\n" % len(SDP) + SDP)
        assert (msg.method, msg.uri, msg.call_id) == ("INVITE", "sip:bob@127.0.0.1:5062", "wheel@127.0.0.1")
        sdp = SdpMessage.from_message(msg)
        assert sdp.media[0].formats == ["0", "8"]
        assert sdp.media[0].rtpmap("8").encoding == "PCMA"
        with pytest.raises(ValueError):
            OsipMessage.parse(b"INVITE sip:x SIP/2.0\r\nVia: \x00\x01\r\n\r\n")

    @pytest.mark.parametrize("transport", ["udp", "tcp", "tls"])
    def test_two_contexts_call_each_other(self, transport):
        alice, bob = Agent(transport), Agent(transport)
        try:
            scheme = "sips" if transport == "tls" else "sip"
            uri = "%s:bob@127.0.0.1:%d" % (scheme, bob.port) + (";transport=tcp" if transport == "tcp" else "")
            invite = call.InitInvite(alice.ctx, uri, "%s:alice@127.0.0.1:%d" % (scheme, alice.port))
            cid = alice.ctx.call_send_init_invite(invite)
            incoming = bob.wait(EventType.call_invite)
            via = incoming.request.to_bytes().split(b"\r\nVia: ", 1)[1].split(b" ", 1)[0]
            assert via == b"SIP/2.0/" + transport.upper().encode(), via
            answer = call.Answer(bob.ctx, incoming.tid, 200)
            answer.add_body(SDP.decode())
            answer.content_type = "application/sdp"
            answer.send()
            answered = alice.wait(EventType.call_answered)
            assert answered.cid == cid and answered.response.status_code == 200
            alice.ctx.call_send_ack(tid=answered.tid)
            bob.wait(EventType.call_ack)
            alice.ctx.call_terminate(answered.cid, answered.did)
            bob.wait(EventType.call_closed)
            alice.wait(EventType.call_released)
        finally:
            alice.ctx.close()
            bob.ctx.close()

    def test_one_copy_of_each_native_library(self):
        ctx = Context()
        ctx.set_tls(root_ca=os.path.join(CERTS, "ca.pem"))   # OpenSSL is loaded and used
        ctx.close()
        libs = mapped_libraries()
        cores = [p for p in libs if os.path.basename(p) == "libexosip2core.so"]
        assert cores == [os.path.join(PACKAGE, "libexosip2core.so")]
        for name in ("libosip2", "libosipparser2"):
            copies = [p for p in libs if re.match(re.escape(name) + r"[-.]", os.path.basename(p))]
            assert len(copies) == 1, copies
            if os.path.isdir(GRAFTED):   # a repaired wheel: oSIP2 is the grafted copy, never the system's
                assert os.path.dirname(copies[0]) == GRAFTED, copies
            else:                        # the in-place build links the system oSIP2
                assert not copies[0].startswith(ROOT + os.sep), copies
        # OpenSSL: the interpreter's own _ssl/_hashlib may map the system's copy as well (unless it is
        # hidden); the core must map the grafted one, and exactly one of each grafted library.
        # (By file identity: under make wheels the system's OpenSSL paths are bound to the grafted files.)
        identity = {(st.st_dev, st.st_ino): p for p, st in ((p, os.stat(p)) for p in libs if os.path.exists(p))}
        for name in ("libssl", "libcrypto"):
            ours = grafted(name)
            if os.path.isdir(GRAFTED):
                assert len(ours) == 1, os.listdir(GRAFTED)
                st = os.stat(ours[0])
                assert (st.st_dev, st.st_ino) in identity, sorted(p for p in libs if name in p)
            else:
                assert any(re.match(re.escape(name) + r"\.so", os.path.basename(p)) for p in libs), sorted(libs)

    def test_osip_licence_travels_with_it(self):
        if os.path.isdir(GRAFTED):
            text = open(os.path.join(GRAFTED, LICENCE_NAME), encoding="utf-8").read()
            from importlib import metadata
            files = metadata.metadata("exosip2").get_all("License-File")
            assert "LICENSE" in files and any(f.endswith("oSIP2-LGPL-2.1.txt") for f in files), files
        else:
            text = open(os.path.join(ROOT, "LICENSES", "oSIP2-LGPL-2.1.txt"), encoding="utf-8").read()
        assert "GNU LESSER GENERAL PUBLIC LICENSE" in text and "Version 2.1" in text
        assert "oSIP2" in text.split("GNU LESSER")[0]

    def test_openssl_licence_travels_with_it(self):
        if grafted("libssl"):
            text = open(os.path.join(GRAFTED, OPENSSL_LICENCE_NAME), encoding="utf-8").read()
            from importlib import metadata
            files = metadata.metadata("exosip2").get_all("License-File")
            assert any(f.endswith("OpenSSL-Apache-2.0.txt") for f in files), files
        else:
            text = open(os.path.join(ROOT, "LICENSES", "OpenSSL-Apache-2.0.txt"), encoding="utf-8").read()
        head, _, body = text.partition("Apache License")
        assert "OpenSSL" in head and "Version 2.0, January 2004" in body
        assert "END OF TERMS AND CONDITIONS" in body


EXPECTED_MATRIX = {"cp3%d-%s_%s" % (minor, libc, arch) for minor in range(9, 14)
                   for libc in ("manylinux", "musllinux") for arch in ("x86_64", "aarch64")}


def test_cibuildwheel_lists_the_intended_matrix():
    out = subprocess.run([sys.executable, "-m", "cibuildwheel", "--print-build-identifiers", "--platform", "linux"],
                         cwd=ROOT, capture_output=True, text=True, timeout=120,
                         env={k: v for k, v in os.environ.items() if not k.startswith("CIBW_")})
    assert out.returncode == 0, out.stderr
    assert set(out.stdout.split()) == EXPECTED_MATRIX
    assert len(out.stdout.split()) == 20


def test_cibuildwheel_images_osip_pin_and_test_command():
    text = open(os.path.join(ROOT, "pyproject.toml")).read()
    for image in ("manylinux-x86_64-image = \"manylinux2014\"", "manylinux-aarch64-image = \"manylinux2014\"",
                  "musllinux-x86_64-image = \"musllinux_1_2\"", "musllinux-aarch64-image = \"musllinux_1_2\""):
        assert image in text
    assert "tests/test_wheels.py -k Installed" in text
    script = open(os.path.join(ROOT, ".github", "scripts", "build-osip2.sh")).read()
    assert re.search(r"^OSIP_VERSION=5\.3\.0$", script, re.M)
    assert re.search(r"^OSIP_SHA256=[0-9a-f]{64}$", script, re.M)
    assert "sha256sum -c" in script
    # OpenSSL 3 (core/src/tls.c needs >= 3.0): a pinned 3.5 LTS tarball on manylinux2014, Alpine's on musllinux
    ssl = open(os.path.join(ROOT, ".github", "scripts", "build-openssl.sh")).read()
    assert re.search(r"^OPENSSL_VERSION=3\.5\.\d+$", ssl, re.M)
    assert re.search(r"^OPENSSL_SHA256=[0-9a-f]{64}$", ssl, re.M)
    assert "sha256sum -c" in ssl and "apk add --no-cache openssl-dev" in ssl and "--libdir=lib" in ssl
    assert re.search(r'^before-all = "sh \{project\}/\.github/scripts/build-openssl\.sh && '
                     r'sh \{project\}/\.github/scripts/build-osip2\.sh"$', text, re.M)
    assert "add_licences.py {dest_dir}" in text
    workflow = open(os.path.join(ROOT, ".github", "workflows", "wheels.yml")).read()
    assert "pypa/cibuildwheel@" in workflow and "upload-artifact" in workflow and "--sdist" in workflow
    for name in ("build-osip2.sh", "build-openssl.sh"):
        assert subprocess.run(["sh", "-n", os.path.join(ROOT, ".github", "scripts", name)],
                              timeout=30).returncode == 0


def fake_wheel(path, libs, licence_files):
    """A wheel-shaped zip: grafted *libs* under exosip2.libs/, METADATA naming *licence_files*."""
    with zipfile.ZipFile(path, "w") as z:
        for lib in libs:
            z.writestr("exosip2.libs/" + lib, b"\x7fELF")
        z.writestr("exosip2-0.1.0.dist-info/METADATA", "Metadata-Version: 2.4\nName: exosip2\n" + "".join(
            "License-File: %s\n" % f for f in licence_files))
        z.writestr("exosip2-0.1.0.dist-info/RECORD", "exosip2-0.1.0.dist-info/RECORD,,\n")
    return str(path)


def add_licences(*args):
    return subprocess.run([sys.executable, os.path.join(ROOT, ".github", "scripts", "add_licences.py")]
                          + [str(a) for a in args], capture_output=True, text=True, timeout=60)


def test_add_licences_puts_each_grafted_librarys_licence_next_to_it(tmp_path):
    both = fake_wheel(tmp_path / "both.whl", ["libosip2-1a.so.15", "libssl-2b.so.3", "libcrypto-3c.so.3"],
                      ["LICENSE", "LICENSES/oSIP2-LGPL-2.1.txt", "LICENSES/OpenSSL-Apache-2.0.txt"])
    proc = add_licences(both)
    assert proc.returncode == 0, proc.stderr
    with zipfile.ZipFile(both) as z:
        names = z.namelist()
        assert names[-1].endswith("/RECORD")   # RECORD stays last, and lists what was added
        record = z.read(names[-1]).decode()
        for lic in (LICENCE_NAME, OPENSSL_LICENCE_NAME):
            assert "exosip2.libs/" + lic in names and "exosip2.libs/%s,sha256=" % lic in record
        assert b"Apache License" in z.read("exosip2.libs/" + OPENSSL_LICENCE_NAME)
    assert "licences already there" in add_licences(both).stdout   # a second run changes nothing
    # no OpenSSL grafted (a wheel linked against a system libssl the policy allows): no OpenSSL licence
    osip_only = fake_wheel(tmp_path / "osip.whl", ["libosip2-1a.so.15"], ["LICENSE", "LICENSES/oSIP2-LGPL-2.1.txt"])
    assert add_licences(osip_only).returncode == 0
    assert "exosip2.libs/" + OPENSSL_LICENCE_NAME not in zipfile.ZipFile(osip_only).namelist()


def test_add_licences_refuses_an_unrepaired_or_mislabelled_wheel(tmp_path):
    unrepaired = fake_wheel(tmp_path / "raw.whl", [], ["LICENSE", "LICENSES/oSIP2-LGPL-2.1.txt"])
    proc = add_licences(unrepaired)
    assert proc.returncode != 0 and "no grafted libosip" in proc.stderr and "raw.whl" in proc.stderr
    no_meta = fake_wheel(tmp_path / "nometa.whl", ["libosip2-1a.so.15", "libssl-2b.so.3"],
                         ["LICENSE", "LICENSES/oSIP2-LGPL-2.1.txt"])
    proc = add_licences(no_meta)
    assert proc.returncode != 0 and "no License-File for OpenSSL-Apache-2.0.txt" in proc.stderr
    assert add_licences(tmp_path / "empty-dir-does-not-exist").returncode != 0
    truncated = tmp_path / "cut.whl"
    truncated.write_bytes(open(both_wheel(tmp_path), "rb").read()[:100])
    assert add_licences(truncated).returncode != 0


def both_wheel(tmp_path):
    return fake_wheel(tmp_path / "whole.whl", ["libosip2-1a.so.15"], ["LICENSE", "LICENSES/oSIP2-LGPL-2.1.txt"])


@pytest.mark.timeout(1500)
def test_make_wheels_for_the_oldest_and_newest_interpreter(tmp_path):
    out, work = tmp_path / "wheelhouse", tmp_path / "work"
    # -O0 for the extension modules: this checks the build/repair/install/test pipeline on two
    # interpreters; the optimiser only costs time here (plain `make wheels` keeps the usual flags).
    proc = subprocess.run(["make", "--no-print-directory", "wheels", "WHEEL_PYTHONS=oldest newest",
                           "WHEELS_OUT=%s" % out, "WHEELS_WORK=%s" % work, "WHEELS_CFLAGS=-O0"], cwd=ROOT,
                          capture_output=True, text=True, timeout=1450)
    assert proc.returncode == 0, proc.stdout[-6000:] + proc.stderr[-3000:]
    lines = [line for line in proc.stdout.splitlines() if re.match(r"wheels: 3\.\d+ ", line)]
    assert len(lines) == 2 and all(" ok " in line for line in lines), proc.stdout
    assert all(re.search(r"\[\d+ passed.*, \d+ system files hidden\]", line) for line in lines), lines
    wheels = sorted(os.listdir(out))
    assert len(wheels) == 2 and wheels[0].startswith("exosip2-0.1.0-cp3") and "manylinux" in wheels[0]
    for name in wheels:
        with zipfile.ZipFile(out / name) as whl:
            names = whl.namelist()
            assert "exosip2.libs/" + LICENCE_NAME in names and "exosip2.libs/" + OPENSSL_LICENCE_NAME in names
            for lib in ("libosip2", "libosipparser2", "libssl", "libcrypto"):
                assert any(re.match(r"exosip2\.libs/%s-[0-9a-f]+\.so" % lib, n) for n in names), names
            assert "exosip2/libexosip2core.so" in names
            metadata = whl.read(next(n for n in names if n.endswith(".dist-info/METADATA"))).decode()
            assert "License-File: LICENSE" in metadata and "oSIP2-LGPL-2.1.txt" in metadata
            assert "OpenSSL-Apache-2.0.txt" in metadata
            assert not any(n.endswith((".pyx", ".c")) for n in names)


MISSING_HEADERS = {
    "EXOSIP2_OSIP_INCLUDE": ("oSIP2 headers",
                             "exosip2: the GNU oSIP2 headers (osip2/osip.h) were not found: install libosip2-dev "
                             "(Debian/Ubuntu; libosip2-devel on Fedora/RHEL, libosip2-dev on Alpine) or set "
                             "EXOSIP2_OSIP_INCLUDE to the directory that holds them"),
    "EXOSIP2_OPENSSL_INCLUDE": ("OpenSSL 3 headers",
                                "exosip2: the OpenSSL 3 headers (openssl/ssl.h, version 3.0 or newer) were not "
                                "found: install libssl-dev (Debian/Ubuntu; openssl-devel on Fedora/RHEL, "
                                "openssl-dev on Alpine) or set EXOSIP2_OPENSSL_INCLUDE to the directory that "
                                "holds them"),
}


def test_source_build_without_osip_or_openssl_headers_fails_with_one_clear_line(tmp_path):
    sdist_dir, empty = tmp_path / "sdist", tmp_path / "no-headers"
    empty.mkdir()
    env = {k: v for k, v in os.environ.items() if k not in ("EXOSIP2_COUNT_LIVE", "PYTHONPATH")}
    tree = tmp_path / "tree"   # a copy: the source tree gets no egg-info from this test
    shutil.copytree(ROOT, tree, ignore=shutil.ignore_patterns(".git", "build", "dist", "wheelhouse", "_build",
                                                              "*.egg-info", "*.so", "*.o", "__pycache__"))
    subprocess.run([sys.executable, "-m", "build", "--sdist", "--no-isolation", "--outdir", str(sdist_dir),
                    str(tree)], check=True, capture_output=True, timeout=300, env=env)
    (sdist,) = glob.glob(str(sdist_dir / "*.tar.gz"))
    for variable, (marker, expected) in MISSING_HEADERS.items():
        out = tmp_path / ("out-" + variable)
        proc = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-w",
                               str(out), sdist], capture_output=True, text=True, timeout=300,
                              env=dict(env, **{variable: str(empty)}), cwd=str(tmp_path))
        output = proc.stdout + proc.stderr
        assert proc.returncode != 0, variable
        lines = [line.strip() for line in output.splitlines() if marker in line]
        assert lines == [expected], output[-3000:]
        assert "fatal error" not in output and " -c exosip2/" not in output
        assert not os.path.exists(out) or not os.listdir(out)
