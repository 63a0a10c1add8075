# SPDX-License-Identifier: Apache-2.0
"""Wheels for every supported interpreter and platform.

``TestInstalled`` is the fast subset that cibuildwheel (``test-command``) and ``make wheels`` run
against an installed wheel, from outside the source tree: message and SDP parsing, two contexts
calling each other over UDP and TCP, one copy of each native library (oSIP2 from ``exosip2.libs/``
with its licence when the package is a repaired wheel). In the normal suite it runs against the
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


class Agent:
    def __init__(self, transport):
        self.events = queue.Queue()
        self.ctx = Context(lambda ctx, ev: self.events.put(ev))
        proto = socket.IPPROTO_TCP if transport == "tcp" else socket.IPPROTO_UDP
        self.port = self.ctx.listen_on_address("127.0.0.1", proto, 0)
        self.ctx.start(event_executor="inline")

    def wait(self, etype, timeout=10.0):
        while True:
            ev = self.events.get(timeout=timeout)
            if ev.type == etype:
                return ev


class TestInstalled:
    def test_parse_message_and_sdp(self):
        msg = OsipMessage.parse(INVITE + b"Content-Length: %d\r\n\r\n" % len(SDP) + SDP)
        assert (msg.method, msg.uri, msg.call_id) == ("INVITE", "sip:bob@127.0.0.1:5062", "wheel@127.0.0.1")
        sdp = SdpMessage.from_message(msg)
        assert sdp.media[0].formats == ["0", "8"]
        assert sdp.media[0].rtpmap("8").encoding == "PCMA"
        with pytest.raises(ValueError):
            OsipMessage.parse(b"INVITE sip:x SIP/2.0\r\nVia: \x00\x01\r\n\r\n")

    @pytest.mark.parametrize("transport", ["udp", "tcp"])
    def test_two_contexts_call_each_other(self, transport):
        alice, bob = Agent(transport), Agent(transport)
        try:
            uri = "sip:bob@127.0.0.1:%d" % bob.port + (";transport=tcp" if transport == "tcp" else "")
            invite = call.InitInvite(alice.ctx, uri, "sip:alice@127.0.0.1:%d" % alice.port)
            cid = alice.ctx.call_send_init_invite(invite)
            incoming = bob.wait(EventType.call_invite)
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
        Context().close()
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
    workflow = open(os.path.join(ROOT, ".github", "workflows", "wheels.yml")).read()
    assert "pypa/cibuildwheel@" in workflow and "upload-artifact" in workflow and "--sdist" in workflow
    assert subprocess.run(["sh", "-n", os.path.join(ROOT, ".github", "scripts", "build-osip2.sh")],
                          timeout=30).returncode == 0


@pytest.mark.timeout(600)
def test_make_wheels_for_the_oldest_and_newest_interpreter(tmp_path):
    out, work = tmp_path / "wheelhouse", tmp_path / "work"
    # -O0 for the extension modules: this checks the build/repair/install/test pipeline on two
    # interpreters; the optimiser only costs time here (plain `make wheels` keeps the usual flags).
    proc = subprocess.run(["make", "--no-print-directory", "wheels", "WHEEL_PYTHONS=oldest newest",
                           "WHEELS_OUT=%s" % out, "WHEELS_WORK=%s" % work, "WHEELS_CFLAGS=-O0"], cwd=ROOT,
                          capture_output=True, text=True, timeout=580)
    assert proc.returncode == 0, proc.stdout[-6000:] + proc.stderr[-3000:]
    lines = [line for line in proc.stdout.splitlines() if re.match(r"wheels: 3\.\d+ ", line)]
    assert len(lines) == 2 and all(" ok " in line for line in lines), proc.stdout
    assert all(re.search(r"\[\d+ passed", line) for line in lines), lines
    wheels = sorted(os.listdir(out))
    assert len(wheels) == 2 and wheels[0].startswith("exosip2-0.1.0-cp3") and "manylinux" in wheels[0]
    for name in wheels:
        with zipfile.ZipFile(out / name) as whl:
            names = whl.namelist()
            assert "exosip2.libs/" + LICENCE_NAME in names
            assert any(re.match(r"exosip2\.libs/libosip2-[0-9a-f]+\.so", n) for n in names), names
            assert "exosip2/libexosip2core.so" in names
            metadata = whl.read(next(n for n in names if n.endswith(".dist-info/METADATA"))).decode()
            assert "License-File: LICENSE" in metadata and "oSIP2-LGPL-2.1.txt" in metadata
            assert not any(n.endswith((".pyx", ".c")) for n in names)


def test_source_build_without_osip_headers_fails_with_one_clear_line(tmp_path):
    sdist_dir, empty = tmp_path / "sdist", tmp_path / "no-osip-headers"
    empty.mkdir()
    env = {k: v for k, v in os.environ.items() if k not in ("EXOSIP2_COUNT_LIVE", "PYTHONPATH")}
    tree = tmp_path / "tree"   # a copy: the source tree gets no egg-info from this test
    shutil.copytree(ROOT, tree, ignore=shutil.ignore_patterns(".git", "build", "dist", "wheelhouse", "_build",
                                                              "*.egg-info", "*.so", "*.o", "__pycache__"))
    subprocess.run([sys.executable, "-m", "build", "--sdist", "--no-isolation", "--outdir", str(sdist_dir),
                    str(tree)], check=True, capture_output=True, timeout=300, env=env)
    (sdist,) = glob.glob(str(sdist_dir / "*.tar.gz"))
    proc = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-w",
                           str(tmp_path / "out"), sdist], capture_output=True, text=True, timeout=300,
                          env=dict(env, EXOSIP2_OSIP_INCLUDE=str(empty)), cwd=str(tmp_path))
    output = proc.stdout + proc.stderr
    assert proc.returncode != 0
    lines = [line.strip() for line in output.splitlines() if "oSIP2 headers" in line]
    assert lines == ["exosip2: the GNU oSIP2 headers (osip2/osip.h) were not found: install libosip2-dev "
                     "(Debian/Ubuntu; libosip2-devel on Fedora/RHEL, libosip2-dev on Alpine) or set "
                     "EXOSIP2_OSIP_INCLUDE to the directory that holds them"], output[-3000:]
    assert "fatal error" not in output and " -c exosip2/" not in output
    assert not os.path.exists(tmp_path / "out") or not os.listdir(tmp_path / "out")
