# SPDX-License-Identifier: Apache-2.0
"""Smoke tests of core/ through the C examples (examples/c/uas, uac) against SIPp.

Every peer runs on 127.0.0.1 on ports chosen at run time, every wait is bounded, and
each process started here is stopped here.
"""

import os
import re
import shutil
import signal
import socket
import subprocess
import time

import pytest

pytestmark = pytest.mark.peers

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
EXAMPLES = os.path.join(ROOT, "examples", "c")
SIPP = shutil.which("sipp")


@pytest.fixture(scope="module")
def programs():
    """Build uas and uac once (core/ must already be built by `make build`)."""
    assert os.path.exists(os.path.join(ROOT, "exosip2", "libexosip2core.so")), "run `make build` first"
    subprocess.run(["make", "-s", "-C", EXAMPLES], check=True, timeout=120)
    return os.path.join(EXAMPLES, "uas"), os.path.join(EXAMPLES, "uac")


def free_port(kind=socket.SOCK_DGRAM):
    """A port free for both UDP and TCP on 127.0.0.1."""
    for _ in range(50):
        with socket.socket(socket.AF_INET, kind) as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        other = socket.SOCK_STREAM if kind == socket.SOCK_DGRAM else socket.SOCK_DGRAM
        try:
            with socket.socket(socket.AF_INET, other) as s:
                s.bind(("127.0.0.1", port))
        except OSError:
            continue
        return port
    raise RuntimeError("no free port")


class Uas:
    """uas running in the background; stop() returns (stdout, stderr)."""

    def __init__(self, binary, *args):
        self.proc = subprocess.Popen([binary, "-q", "-p", "0", *args], stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, text=True)
        line = self.proc.stdout.readline()
        m = re.match(r"uas: listening on (udp|tcp) 127\.0\.0\.1:(\d+)$", line.strip())
        assert m, "unexpected first line %r" % line
        self.port = int(m.group(2))

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
        try:
            out, err = self.proc.communicate(timeout=15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            out, err = self.proc.communicate(timeout=5)
            pytest.fail("uas did not stop on SIGINT")
        return out, err


@pytest.fixture
def uas(programs):
    started = []

    def start(*args):
        u = Uas(programs[0], *args)
        started.append(u)
        return u

    yield start
    for u in started:
        if u.proc.poll() is None:
            u.proc.kill()
            u.proc.communicate(timeout=5)


def run_sipp(args, cwd, timeout=60):
    cmd = [SIPP, "-i", "127.0.0.1", "-p", str(free_port()), "-nostdin", "-timeout", "30s",
           "-timeout_error"] + args
    return subprocess.run(cmd, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                          timeout=timeout)


def totals(out):
    m = re.search(r"uas: calls=(\d+) answered=(\d+) closed=(\d+)", out)
    assert m, out
    return tuple(int(x) for x in m.groups())


@pytest.mark.parametrize("transport", ["udp", "tcp"])
def test_sipp_uac_against_uas(uas, tmp_path, transport):
    u = uas("-t", transport)
    args = ["-sn", "uac", "127.0.0.1:%d" % u.port, "-m", "200", "-r", "100"]
    if transport == "tcp":
        args += ["-t", "t1"]
    res = run_sipp(args, tmp_path)
    time.sleep(0.2)
    out, err = u.stop()
    assert res.returncode == 0, res.stderr
    assert totals(out) == (200, 200, 200)
    assert "live transactions=" in err


@pytest.mark.parametrize("transport", ["udp", "tcp"])
def test_uac_against_sipp_uas(programs, tmp_path, transport):
    port = free_port()
    cmd = [SIPP, "-sn", "uas", "-i", "127.0.0.1", "-p", str(port), "-nostdin"]
    if transport == "tcp":
        cmd += ["-t", "t1"]
    sipp = subprocess.Popen(cmd, cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        time.sleep(0.3)
        res = subprocess.run([programs[1], "-t", transport, "-n", "100", "-r", "100", "-T", "20",
                              "sip:service@127.0.0.1:%d" % port],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=40)
    finally:
        sipp.terminate()
        sipp.wait(timeout=10)
    assert res.returncode == 0, res.stdout + res.stderr
    assert "uac: calls=100 ok=100 failed=0" in res.stdout


CANCEL_XML = """<?xml version="1.0" encoding="ISO-8859-1" ?>
<scenario name="cancel">
  <send><![CDATA[
INVITE sip:service@[remote_ip]:[remote_port] SIP/2.0
Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
From: sipp <sip:sipp@[local_ip]:[local_port]>;tag=[call_number]
To: <sip:service@[remote_ip]:[remote_port]>
Call-ID: [call_id]
CSeq: 1 INVITE
Contact: <sip:sipp@[local_ip]:[local_port]>
Max-Forwards: 70
Content-Length: 0

]]></send>
  <recv response="100" optional="true"/>
  <recv response="180"/>
  <send><![CDATA[
CANCEL sip:service@[remote_ip]:[remote_port] SIP/2.0
Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch-3]
From: sipp <sip:sipp@[local_ip]:[local_port]>;tag=[call_number]
To: <sip:service@[remote_ip]:[remote_port]>
Call-ID: [call_id]
CSeq: 1 CANCEL
Max-Forwards: 70
Content-Length: 0

]]></send>
  <recv response="200"/>
  <recv response="487"/>
  <send><![CDATA[
ACK sip:service@[remote_ip]:[remote_port] SIP/2.0
Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch-6]
From: sipp <sip:sipp@[local_ip]:[local_port]>;tag=[call_number]
To: <sip:service@[remote_ip]:[remote_port]>[peer_tag_param]
Call-ID: [call_id]
CSeq: 1 ACK
Max-Forwards: 70
Content-Length: 0

]]></send>
</scenario>
"""


def test_cancel_before_answer(uas, tmp_path):
    u = uas("-r", "-D", "3000")
    (tmp_path / "cancel.xml").write_text(CANCEL_XML)
    res = run_sipp(["-sf", "cancel.xml", "127.0.0.1:%d" % u.port, "-m", "5", "-r", "10"], tmp_path)
    time.sleep(0.2)
    out, _ = u.stop()
    assert res.returncode == 0, res.stderr
    calls, answered, closed = totals(out)
    assert (calls, answered, closed) == (5, 0, 5)


def test_garbage_is_dropped_and_service_continues(uas, tmp_path):
    u = uas()
    base = (b"INVITE sip:service@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:9;branch=z9hG4bKx\r\n"
            b"From: <sip:a@b>;tag=1\r\nTo: <sip:s@127.0.0.1>\r\nCall-ID: g\r\nCSeq: 1 INVITE\r\n"
            b"Content-Length: 0\r\n\r\n")
    junk = [os.urandom(n) for n in (1, 17, 300, 1400)] + [
        b"SIP/2.0 200 OK\r\n\r\n",
        base[:40],
        base.replace(b"CSeq: 1 INVITE", b"CSeq: 1 BYE"),  # method mismatch: 400
        base.replace(b"Content-Length: 0", b"Content-Length: 99999"),
        b"A" * 65000,
    ]
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        for m in junk * 20:
            s.sendto(m, ("127.0.0.1", u.port))
    res = run_sipp(["-sn", "uac", "127.0.0.1:%d" % u.port, "-m", "20", "-r", "50"], tmp_path)
    time.sleep(0.2)
    out, err = u.stop()
    assert res.returncode == 0, res.stderr
    assert totals(out)[0] == 20
    dropped = int(re.search(r"dropped=(\d+)", err).group(1))
    assert dropped >= 20 * 6


def test_tcp_oversized_header_closes_connection(uas):
    # a TCP peer that never ends its header is cut off instead of buffered without bound
    u = uas("-t", "tcp")
    with socket.create_connection(("127.0.0.1", u.port), timeout=5) as c:
        c.settimeout(5)
        closed = False
        try:
            for _ in range(64):
                c.sendall(b"X-Junk: " + b"a" * 1016 + b"\r\n")
            closed = c.recv(1) == b""
        except (ConnectionResetError, BrokenPipeError):
            closed = True
        assert closed
    out, err = u.stop()
    assert "dropped=" in err
