# SPDX-License-Identifier: Apache-2.0
"""``--trace`` and ``--pcap FILE`` of ``python -m exosip2 call|answer|register``, and the one-line
errors (exit 2, no traceback) for bad arguments and busy ports. Real subprocesses on 127.0.0.1."""

import os
import re
import shutil
import signal
import socket
import subprocess
import sys

import pytest

from test_cli_calls import wait_for_line  # the same bounded read of a child's output

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ENV = dict(os.environ, PYTHONPATH=ROOT, HOME="/tmp")
LADDER = re.compile(r"^\s*-?[\d.]+ ms  (-->|<--) (UDP|TCP) 127\.0\.0\.1:(\d+)  (.*)$")


def run(*args, timeout=60):
    return subprocess.run([sys.executable, "-m", "exosip2", *args], capture_output=True, text=True,
                          timeout=timeout, cwd=ROOT, env=ENV)


def free_port(kind=socket.SOCK_DGRAM):
    with socket.socket(socket.AF_INET, kind) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]




def ladder(text):
    return [(m.group(1), m.group(2), int(m.group(3)), m.group(4)) for m in map(LADDER.match, text.splitlines()) if m]


def tshark_rows(path, ports):
    cmd = [shutil.which("tshark") or "tshark", "-r", str(path), "-Y", "sip", "-T", "fields", "-e", "sip.Method",
           "-e", "sip.Status-Code", "-e", "sip.Call-ID"]
    for port in ports:
        cmd += ["-d", "udp.port==%d,sip" % port]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=60, env=ENV)
    assert out.returncode == 0, out.stderr
    return [tuple(line.split("\t")) for line in out.stdout.splitlines() if line.strip()]


@pytest.mark.parametrize("transport", ["udp", "tcp"])
def test_call_and_answer_with_trace_and_pcap(tmp_path, transport):
    port = free_port(socket.SOCK_DGRAM if transport == "udp" else socket.SOCK_STREAM)
    pcap_a, pcap_c = tmp_path / "answer.pcap", tmp_path / "call.pcap"
    answer = subprocess.Popen([sys.executable, "-m", "exosip2", "answer", "--port", str(port), "--transport",
                               transport, "--trace", "--pcap", str(pcap_a)], cwd=ROOT, env=ENV,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        seen = wait_for_line(answer, r"answering on %s 127\.0\.0\.1:%d" % (transport, port))
        uri = "sip:someone@127.0.0.1:%d%s" % (port, ";transport=tcp" if transport == "tcp" else "")
        proc = run("call", uri, "--duration", "0.2", "--transport", transport, "--trace", "--pcap", str(pcap_c),
                   timeout=30)
        assert proc.returncode == 0, proc.stdout + proc.stderr
        assert proc.stderr == ""
        steps = ladder(proc.stdout)
        assert all(t == transport.upper() and peer == port for _, t, peer, _ in steps), steps
        firsts = [(arrow, line.split(" ")[0] if arrow == "-->" and not line.startswith("SIP/") else
                   " ".join(line.split(" ")[:2])) for arrow, _, _, line in steps]
        for want in [("-->", "INVITE"), ("<--", "SIP/2.0 180"), ("<--", "SIP/2.0 200"), ("-->", "ACK"),
                     ("-->", "BYE")]:
            assert want in firsts, (want, proc.stdout)
        assert firsts.index(("-->", "INVITE")) < firsts.index(("<--", "SIP/2.0 200")) < firsts.index(("-->", "ACK"))
        seen += wait_for_line(answer, r"event: call_released")
        answer.send_signal(signal.SIGINT)
        out, err = answer.communicate(timeout=15)
        out = "".join(seen) + out
        assert answer.returncode == 0, err
        assert err == ""
        assert ("<--", transport.upper()) in [(a, t) for a, t, _, _ in ladder(out)]
        assert any(line.startswith("INVITE ") for a, _, _, line in ladder(out) if a == "<--"), out
    finally:
        if answer.poll() is None:
            answer.kill()
            answer.communicate(timeout=10)
    # both pcap files hold the same call: one Call-ID, its methods and answers
    for path in (pcap_c, pcap_a):
        rows = tshark_rows(path, (port,))
        assert len({cid for _, _, cid in rows}) == 1, rows
        methods = [m for m, _, _ in rows if m]
        assert methods[0] == "INVITE" and "ACK" in methods and "BYE" in methods, rows
        assert {"180", "200"} <= {s for _, s, _ in rows if s}, rows


def test_register_with_trace_and_pcap(tmp_path):
    """A registrar that is a raw socket: it answers the REGISTER and its refresh-free unregister with 200."""
    reg = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    reg.bind(("127.0.0.1", 0))
    reg.settimeout(10)
    rport = reg.getsockname()[1]
    pcap = tmp_path / "reg.pcap"
    proc = subprocess.Popen([sys.executable, "-m", "exosip2", "register", "sip:alice@127.0.0.1:%d" % rport,
                             "--duration", "0.3", "--trace", "--pcap", str(pcap)], cwd=ROOT, env=ENV,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        for _ in range(2):
            data, peer = reg.recvfrom(65535)
            head = data.split(b"\r\n\r\n", 1)[0].split(b"\r\n")
            assert head[0].startswith(b"REGISTER ")
            keep = [h for h in head[1:] if h.split(b":", 1)[0].lower() in (b"via", b"from", b"to", b"call-id",
                                                                          b"cseq", b"contact")]
            keep = [h + b";tag=r1" if h.lower().startswith(b"to:") else h for h in keep]
            reg.sendto(b"SIP/2.0 200 OK\r\n" + b"\r\n".join(keep) + b"\r\nExpires: 60\r\nContent-Length: 0\r\n\r\n",
                       peer)
        out, err = proc.communicate(timeout=20)
    finally:
        reg.close()
        if proc.poll() is None:
            proc.kill()
            proc.communicate(timeout=10)
    assert proc.returncode == 0, out + err
    assert err == ""
    steps = ladder(out)
    assert [(a, line.split(" ")[0] if a == "-->" else line[:14]) for a, _, _, line in steps] == [
        ("-->", "REGISTER"), ("<--", "SIP/2.0 200 OK"), ("-->", "REGISTER"), ("<--", "SIP/2.0 200 OK")], out
    assert "unregistered" in out
    rows = tshark_rows(pcap, (rport,))
    assert [(m, s) for m, s, _ in rows] == [("REGISTER", ""), ("", "200"), ("REGISTER", ""), ("", "200")], rows


def one_line_error(proc, *fragments):
    assert proc.returncode == 2, (proc.returncode, proc.stdout, proc.stderr)
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), proc.stderr
    assert "Traceback" not in proc.stderr + proc.stdout
    for f in fragments:
        assert f in lines[0], (f, lines[0])


@pytest.mark.parametrize("kind,transport", [(socket.SOCK_DGRAM, "udp"), (socket.SOCK_STREAM, "tcp")])
def test_busy_port_is_one_line_and_exit_2(kind, transport):
    s = socket.socket(socket.AF_INET, kind)
    s.bind(("127.0.0.1", 0))
    if kind == socket.SOCK_STREAM:
        s.listen(1)
    port = s.getsockname()[1]
    try:
        for args in (["answer", "--port", str(port)], ["call", "sip:x@127.0.0.1:5", "--port", str(port)],
                     ["register", "sip:alice@127.0.0.1:5", "--port", str(port)]):
            proc = run(*args, "--transport", transport)
            one_line_error(proc, "%s 127.0.0.1 port %d" % (transport.upper(), port), "already in use", "EADDRINUSE")
    finally:
        s.close()


@pytest.mark.parametrize("args,fragments", [
    (["call", "not a uri", "--port", "0"], ["to_url is not a valid SIP URI: 'not a uri'"]),
    (["call", "sip:x@127.0.0.1:5", "--port", "70000"], ["--port must be in 0..65535"]),
    (["answer", "--port", "-3"], ["--port must be in 0..65535"]),
    (["call", "sip:x@127.0.0.1:5", "--address", "999.1.2.3"], ["999.1.2.3", "not a numeric IP address"]),
    (["answer", "--port", "0", "--address", "192.0.2.7"], ["192.0.2.7", "not one of this machine's"]),
    (["call", "sip:x@127.0.0.1:5", "--pcap", "/nonexistent-dir/x.pcap"], ["--pcap: cannot write /nonexistent-dir"]),
    (["answer", "--port", "0", "--pcap", "/nonexistent-dir/x.pcap"], ["--pcap: cannot write /nonexistent-dir"]),
    (["register", "sip:alice@127.0.0.1:5", "--pcap", "/nonexistent-dir/x.pcap"], ["cannot write /nonexistent-dir"]),
    (["register", "sip:alice@127.0.0.1:5", "--registrar", "not a uri"], ["proxy is not a valid SIP URI"]),
])
def test_bad_arguments_are_one_line_and_exit_2(args, fragments):
    one_line_error(run(*args, timeout=30), *fragments)
