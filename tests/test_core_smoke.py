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
    # nothing but our own lines: the parser's complaints about each packet are silenced
    assert [l for l in (out + err).splitlines() if not l.startswith("uas: ")] == []


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


def test_tcp_excess_connections_are_closed(uas, tmp_path):
    u = uas("-t", "tcp")
    socks = []
    try:
        for i in range(1100):
            # from 20 loopback addresses: one address alone is held to 64 connections
            socks.append(socket.create_connection(("127.0.0.1", u.port), timeout=5,
                                                  source_address=("127.0.1.%d" % (1 + i % 20), 0)))
        time.sleep(0.5)
        # the oldest connections were closed to stay within the limit; service goes on
        res = run_sipp(["-sn", "uac", "-t", "t1", "127.0.0.1:%d" % u.port, "-m", "10", "-r", "50"], tmp_path)
    finally:
        for s in socks:
            s.close()
    time.sleep(0.2)
    out, err = u.stop()
    assert res.returncode == 0, res.stderr
    assert totals(out) == (10, 10, 10)
    closed = int(re.search(r"closed_connections=(\d+)", err).group(1))
    assert closed >= 1100 - 1024


def _request(method, port, branch, cseq_method=None, to_tag=None):
    to = "<sip:service@127.0.0.1:%d>" % port + (";tag=%s" % to_tag if to_tag else "")
    return ("%s sip:service@127.0.0.1:%d SIP/2.0\r\n"
            "Via: SIP/2.0/UDP 127.0.0.1:%%d;branch=z9hG4bK%s;rport\r\n"
            "From: <sip:raw@127.0.0.1>;tag=raw1\r\nTo: %s\r\nCall-ID: %s@raw\r\n"
            "CSeq: 7 %s\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n"
            % (method, port, branch, to, branch, cseq_method or method))


def _status_of(sock, branch):
    """The status code of the first answer carrying our branch (bounded wait)."""
    deadline = time.time() + 5
    while time.time() < deadline:
        sock.settimeout(max(0.05, deadline - time.time()))
        try:
            data = sock.recv(65535).decode("latin-1")
        except socket.timeout:
            break
        if branch in data:
            return int(data.split(" ", 2)[1])
    return None


def test_raw_requests_get_the_rfc3261_answers(uas):
    u = uas()
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        me = s.getsockname()[1]

        def ask(method, branch, **kw):
            s.sendto((_request(method, u.port, branch, **kw) % me).encode(), ("127.0.0.1", u.port))
            return _status_of(s, branch)

        assert ask("OPTIONS", "opt1") == 200            # outside dialogs: answered by the program
        assert ask("BYE", "bye1", to_tag="nosuch") == 481  # no such dialog
        assert ask("INFO", "info1", to_tag="nosuch") == 481
        assert ask("OPTIONS", "bad1", cseq_method="INFO") == 400  # CSeq method mismatch
        assert ask("OPTIONS", "opt1") == 200            # a retransmission gets the same answer again
    out, err = u.stop()
    assert totals(out) == (0, 0, 0)


def test_uas_under_valgrind(programs, tmp_path):
    """200 SIPp calls through uas under memcheck: no errors, no definite leaks."""
    valgrind = shutil.which("valgrind")
    assert valgrind, "valgrind is part of `make deps`"
    proc = subprocess.Popen([valgrind, "-q", "--error-exitcode=3", "--leak-check=full",
                             "--errors-for-leak-kinds=definite", programs[0], "-q", "-p", "0"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = proc.stdout.readline()
        port = int(re.search(r":(\d+)$", line.strip()).group(1))
        res = run_sipp(["-sn", "uac", "127.0.0.1:%d" % port, "-m", "200", "-r", "50"], tmp_path, timeout=90)
        time.sleep(0.5)
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            out, err = proc.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
            out, err = proc.communicate(timeout=10)
    assert res.returncode == 0, res.stderr
    assert proc.returncode == 0, err[-4000:]
    assert totals(out) == (200, 200, 200)
