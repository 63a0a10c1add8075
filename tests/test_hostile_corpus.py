# SPDX-License-Identifier: Apache-2.0
"""Every packet of the RFC 4475 torture set and of the fuzz corpus against the programs that serve.

Targets: examples/c/uas built with AddressSanitizer, examples/python/uas.py in each dispatch mode
(inline, executor, asyncio) and the CLI's ``python -m exosip2 answer``, each over UDP (one datagram
per packet) and TCP (one connection per packet, closed right after it is written, as a scanner
does). The packets are tests/data/rfc4475/ (top level, valid/ and invalid/) and fuzz/corpus/
(message, incoming and python: every crashing input found is kept there), the incoming harness'
flag byte taken off and its ``--next--`` pieces sent one by one.

Before sending, the header part of each packet has its documentation addresses (192.0.2.x, the
example.com/net/org names) pointed at a UDP sink of this test, its Via transports made the one it
is sent over, and the top Via gets ``;rport``, so
the answers, retransmissions and BYEs of the targets stay on 127.0.0.1 and reach no other
program's port (the body is left alone, so every Content-Length stays what the packet says).

After each group of packets a valid OPTIONS must be answered 200 (so the packet that broke a target
is named); at the end the target must still run, exit 0 on SIGTERM and have printed no traceback
and no sanitizer report. ``python -m exosip2 parse`` reads every RFC 4475 file and every crashing
input of the corpus and must end with 0 or its documented 2, never a traceback.
"""

import os
import re
import select
import signal
import socket
import subprocess
import sys
import time

import pytest

from peers.sipp_fixtures import program_factory, uas_asan  # noqa: F401 (fixtures)

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "fuzz"))
import netfuzz  # noqa: E402

pytestmark = pytest.mark.peers

RFC4475 = os.path.join(ROOT, "tests", "data", "rfc4475")
CORPUS = os.path.join(ROOT, "fuzz", "corpus")
GROUP = 25           # packets between two OPTIONS probes
PROBE_WAIT = 10.0    # seconds an OPTIONS probe may wait for its 200 (loaded machine, ASan)
SEP = b"\n--next--\n"
ASAN_ENV = {
    "ASAN_OPTIONS": "detect_leaks=1:halt_on_error=1:abort_on_error=0:exitcode=86",
    "LSAN_OPTIONS": "exitcode=87",
}


def _files():
    """(label, path) of every packet file, sorted."""
    out = []
    for sub in ("", "valid", "invalid"):
        d = os.path.join(RFC4475, sub)
        out += [("rfc4475/%s" % os.path.join(sub, n), os.path.join(d, n))
                for n in sorted(os.listdir(d)) if n.endswith(".sip")]
    for name in ("message", "incoming", "python"):
        d = os.path.join(CORPUS, name)
        out += [("corpus/%s/%s" % (name, n), os.path.join(d, n)) for n in sorted(os.listdir(d))]
    return out


def packets():
    """(label, bytes) of every packet; incoming-harness inputs lose their flag byte and are split."""
    out = []
    for label, path in _files():
        with open(path, "rb") as f:
            data = f.read()
        if label.startswith("corpus/incoming/") and data[:1] and data[0] & 0x80:
            data = data[1:]
        pieces = data.split(SEP) if label.startswith("corpus/incoming/") else [data]
        out += [("%s#%d" % (label, i), p) for i, p in enumerate(pieces) if p]
    return out


HOSTS = re.compile(rb"(?:192\.0\.2\.\d{1,3}|(?:[A-Za-z0-9-]+\.)*example\.(?:com|net|org))(?::\d{1,5})?")
TOP_VIA = re.compile(rb"^((?:Via|v)[ \t]*:[^\r\n]*)", re.IGNORECASE | re.MULTILINE)


def loopback(data, sink_port, transport="udp"):
    """*data* with the documentation addresses of its header part pointed at 127.0.0.1:sink_port,
    its Via transports made *transport* (an answer goes back the way the Via names) and ``;rport``
    on its top Via; the body (after the first empty line) is left as it is."""
    cut = data.find(b"\r\n\r\n")
    head, body = (data, b"") if cut < 0 else (data[:cut], data[cut:])
    head = HOSTS.sub(b"127.0.0.1:%d" % sink_port, head)
    other = b"SIP/2.0/UDP" if transport == "tcp" else b"SIP/2.0/TCP"
    head = head.replace(other, b"SIP/2.0/" + transport.upper().encode())
    head = TOP_VIA.sub(lambda m: m.group(1) + b";rport", head, count=1)
    return head + body


class Sink:
    """A UDP socket on 127.0.0.1 that the rewritten packets name; what reaches it is read and dropped."""

    def __init__(self):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.setblocking(False)
        self.port = self.sock.getsockname()[1]

    def drain(self):
        try:
            while True:
                self.sock.recv(65536)
        except (BlockingIOError, OSError):
            pass

    def close(self):
        self.sock.close()


@pytest.fixture
def sink():
    s = Sink()
    yield s
    s.close()


class Cli:
    """``python -m exosip2 answer`` on 127.0.0.1 as a process of this test (stopped with SIGINT)."""

    def __init__(self, transport):
        self.transport = transport
        self.out = self.err = ""
        self.port = None
        # --port 0: the CLI takes a free port itself and says which, so no other process can take
        # it between a probe here and the CLI's bind (that race failed this test under xdist)
        self.proc = subprocess.Popen([sys.executable, "-m", "exosip2", "answer", "--port", "0",
                                      "--transport", transport], cwd=ROOT, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, env=dict(os.environ, PYTHONPATH=ROOT))

    def _announced_port(self, deadline):
        """The port of the CLI's "answering on TRANSPORT ADDRESS:PORT" line (None if it never came)."""
        seen = b""
        while time.monotonic() < deadline and self.proc.poll() is None:
            ready, _, _ = select.select([self.proc.stdout], [], [], 0.2)
            if not ready:
                continue
            line = self.proc.stdout.readline()
            seen += line
            m = re.search(rb"^answering on \S+ [0-9.]+:(\d+)$", line.strip())
            if m:
                return int(m.group(1))
        self.out = seen.decode(errors="replace")
        return None

    def wait_listening(self, timeout=20.0):
        """True once it has said its port and answers OPTIONS on it."""
        deadline = time.monotonic() + timeout
        self.port = self._announced_port(deadline)
        if self.port is None:
            return False
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                return False
            if netfuzz.options_answered(self.port, self.transport, timeout=1.0) is not None:
                return True
        return False

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
        try:
            self.out, self.err = (x.decode(errors="replace") for x in self.proc.communicate(timeout=20))
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.out, self.err = (x.decode(errors="replace") for x in self.proc.communicate(timeout=10))
        return self.proc.returncode

    def describe(self):
        if self.proc.poll() is not None and not self.err:
            self.stop()
        return "cli answer rc=%s\nstderr (end):\n%s" % (self.proc.returncode, self.err[-3000:])


def send_one(port, transport, data):
    if transport == "udp":
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.sendto(data[:65507], ("127.0.0.1", port))
        return
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=2.0) as s:
            s.sendall(data)
            s.settimeout(0.01)
            try:
                s.recv(65536)
            except (socket.timeout, OSError):
                pass
    except OSError:
        pass  # a reset while writing: the target closed a connection it judged bad


def fire_corpus(port, transport, sink, alive, describe):
    """Send every packet; probe with OPTIONS after each group. Returns the number sent."""
    sent = 0
    group = []
    for label, data in packets():
        send_one(port, transport, loopback(data, sink.port, transport))
        sent += 1
        group.append(label)
        if len(group) == GROUP:
            sink.drain()
            assert alive(), "the target died after one of %s\n%s" % (group, describe())
            status = netfuzz.options_answered(port, transport, timeout=PROBE_WAIT)
            assert status is not None and status.startswith("SIP/2.0 200"), \
                "OPTIONS answered %r after %s\n%s" % (status, group, describe())
            group = []
    sink.drain()
    status = netfuzz.options_answered(port, transport, timeout=PROBE_WAIT)
    assert alive() and status is not None and status.startswith("SIP/2.0 200"), \
        "OPTIONS answered %r after %s\n%s" % (status, group, describe())
    return sent


def sanitizer_lines(text):
    return [line for line in text.splitlines() if "Sanitizer" in line or "runtime error:" in line]


def test_the_corpus_is_all_there():
    labels = [label for label, _ in packets()]
    assert len(labels) > 500
    for must in ("rfc4475/wsinv.sip", "rfc4475/ltgtruri.sip", "corpus/incoming/crash-tcp-uaf-pipelined-bye-close",
                 "corpus/message/", "corpus/python/"):
        assert any(label.startswith(must) for label in labels), must


def test_loopback_rewrites_addresses_of_the_header_part_only():
    data = (b"INVITE sip:bob@biloxi.example.com SIP/2.0\r\nVia: SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bKx\r\n"
            b"Contact: <sip:a@pc33.atlanta.example.com>\r\nContent-Length: 20\r\n\r\nc=IN IP4 192.0.2.1\r\n")
    out = loopback(data, 4000)
    head, body = out.split(b"\r\n\r\n", 1)
    assert b"example.com" not in head and b"192.0.2" not in head
    assert b"Via: SIP/2.0/UDP 127.0.0.1:4000;branch=z9hG4bKx;rport\r\n" in head
    assert b"sip:bob@127.0.0.1:4000 SIP/2.0" in head
    assert body == b"c=IN IP4 192.0.2.1\r\n"
    assert b"Via: SIP/2.0/TCP 127.0.0.1:4000;" in loopback(data, 4000, "tcp")


@pytest.mark.parametrize("transport", ["udp", "tcp"])
def test_c_uas_asan_survives_every_packet(transport, uas_asan, program_factory, sink):  # noqa: F811
    uas = program_factory(uas_asan, ["-a", "127.0.0.1", "-p", "0", "-t", transport, "-q"], env=ASAN_ENV,
                          name="uas-asan-" + transport)
    uas.start(timeout=30)
    sent = fire_corpus(uas.port, transport, sink, lambda: uas.proc.poll() is None, uas.describe)
    rc = uas.stop(check=False)
    assert rc == 0 and not sanitizer_lines(uas.stderr), "rc %s after %d packets\n%s" % (rc, sent, uas.describe())


@pytest.mark.parametrize("transport", ["udp", "tcp"])
@pytest.mark.parametrize("dispatch", ["inline", "executor", "asyncio"])
def test_python_uas_survives_every_packet(dispatch, transport, program_factory, sink):  # noqa: F811
    uas = program_factory(os.path.join(ROOT, "examples", "python", "uas.py"),
                          ["-a", "127.0.0.1", "-p", "0", "-t", transport, "--dispatch", dispatch],
                          wrapper=[sys.executable], env={"PYTHONPATH": ROOT}, name="uas-py-" + transport)
    uas.prefix = "uas"
    uas.start(timeout=30)
    sent = fire_corpus(uas.port, transport, sink, lambda: uas.proc.poll() is None, uas.describe)
    rc = uas.stop(check=False)
    assert rc == 0, "rc %s after %d packets\n%s" % (rc, sent, uas.describe())
    assert "Traceback" not in uas.stderr, uas.describe()


@pytest.mark.parametrize("transport", ["udp", "tcp"])
def test_cli_answer_survives_every_packet(transport, sink):
    cli = Cli(transport)
    try:
        assert cli.wait_listening(), cli.describe()
        sent = fire_corpus(cli.port, transport, sink, lambda: cli.proc.poll() is None, cli.describe)
    finally:
        rc = cli.stop()
    assert rc == 0, "rc %s\n%s" % (rc, cli.describe())
    assert "Traceback" not in cli.err and "Traceback" not in cli.out, cli.describe()
    assert sent > 500


def parse_inputs():
    out = [path for label, path in _files() if label.startswith("rfc4475/")]
    out += [path for _, path in _files() if os.path.basename(path).startswith(("crash-", "leak-"))]
    return out


def test_cli_parse_reads_the_torture_set_and_the_crashing_inputs():
    paths = parse_inputs()
    assert len(paths) > 60
    bad = []
    for path in paths:
        r = subprocess.run([sys.executable, "-m", "exosip2", "parse", path], cwd=ROOT, capture_output=True,
                           timeout=60, env=dict(os.environ, PYTHONPATH=ROOT))
        if r.returncode not in (0, 2) or b"Traceback" in r.stderr + r.stdout or r.returncode < 0:
            bad.append((os.path.relpath(path, ROOT), r.returncode, r.stderr[-500:]))
    assert not bad, bad


def test_cli_parse_names_a_malformed_rtpmap_instead_of_dying():
    """RFC 4475's INVITEs carry ``a=rtpmap:31 LPC`` (no clock rate): SdpMedia.rtpmap raises its
    documented ValueError, which ended ``python -m exosip2 parse`` with a traceback."""
    r = subprocess.run([sys.executable, "-m", "exosip2", "parse", os.path.join(RFC4475, "wsinv.sip")], cwd=ROOT,
                       capture_output=True, text=True, timeout=60, env=dict(os.environ, PYTHONPATH=ROOT))
    assert r.returncode == 0 and "Traceback" not in r.stderr, r.stderr
    assert "    rtpmap 31: malformed: '31 LPC'\n" in r.stdout, r.stdout
    assert "    rtpmap 0: PCMU/8000\n" in r.stdout, r.stdout
