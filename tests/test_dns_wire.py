# SPDX-License-Identifier: Apache-2.0
"""core/src/dns_wire.c, the DNS transport and reader of server location: it builds under musl
(musl has no res_ninit/res_nquery) and a static musl build reads dnsmasq's answers; spoofed
answers (wrong id, wrong source port, wrong question) are ignored; a truncated answer is asked
again over TCP; hostile servers over UDP and TCP (garbage, cut streams, oversized lengths,
pointer loops) end in clean errors while the context keeps serving."""

import os
import shutil
import socket
import struct
import subprocess
import threading
import time

import pytest

from exosip2 import utils
from exosip2.error import OsipError
from exosip2.request import Message
from peers.dnsmasq import Dnsmasq
from test_dns import Client

pytestmark = pytest.mark.timeout(90)

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SRC = os.path.join(ROOT, "core", "src")


def musl_gcc():
    exe = shutil.which("musl-gcc")
    assert exe, "musl-gcc is not installed (apt-get install musl-tools musl-dev)"
    return exe


# --- musl -------------------------------------------------------------------------------------------

def test_dns_sources_compile_under_musl(tmp_path):
    cc = musl_gcc()
    # oSIP2's headers only (not glibc's /usr/include): a folder holding links to them
    inc = tmp_path / "osipinc"
    inc.mkdir()
    for d in ("osip2", "osipparser2"):
        os.symlink(os.path.join("/usr/include", d), str(inc / d))
    for src, extra in (("dns_wire.c", []), ("dns.c", ["-DEXOSIP2_CORE_BUILD", "-I" + str(inc)])):
        res = subprocess.run([cc, "-std=gnu11", "-O2", "-Wall", "-Wextra", "-Werror", "-fsyntax-only",
                              "-I" + os.path.join(ROOT, "core", "include"), "-I" + SRC] + extra
                             + [os.path.join(SRC, src)], capture_output=True, text=True, timeout=120)
        assert res.returncode == 0, src + ": " + res.stderr


@pytest.fixture(scope="module")
def musl_probe(tmp_path_factory):
    out = str(tmp_path_factory.mktemp("musl") / "dns_wire_musl")
    res = subprocess.run([musl_gcc(), "-std=gnu11", "-O2", "-Wall", "-Wextra", "-Werror", "-static", "-I" + SRC,
                          "-o", out, os.path.join(SRC, "dns_wire.c"),
                          os.path.join(ROOT, "tests", "core", "dns_wire_musl.c")],
                         capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr
    return out


def probe(exe, server, name, timeout_ms=300):
    host, port = server.rsplit(":", 1)
    res = subprocess.run([exe, host, port, name, str(timeout_ms)], capture_output=True, text=True, timeout=30)
    assert res.returncode == 0, (res.returncode, res.stdout, res.stderr)  # a crash is a signal
    return res.stdout.splitlines()


def test_a_static_musl_build_reads_dnsmasq_answers(musl_probe):
    d = Dnsmasq(srv=[("_sip._udp.musl.test", "a.musl.test", 5070, 10, 5),
                     ("_sip._udp.musl.test", "b.musl.test", 5080, 20, 0)],
                hosts=[("a.musl.test", "127.0.0.1")])
    try:
        assert sorted(probe(musl_probe, d.server, "_sip._udp.musl.test")) == [
            "SRV 10 5 5070 a.musl.test", "SRV 20 0 5080 b.musl.test"]
        assert probe(musl_probe, d.server, "_sip._udp.nothing.test") == ["ERROR -1"]  # NXDOMAIN
    finally:
        d.stop()


# --- a scriptable DNS server ------------------------------------------------------------------------

def qname_end(q):
    i = 12
    while i < len(q) and q[i] != 0:
        i += q[i] + 1
    return i + 1


def qtype(q):
    return struct.unpack(">H", q[qname_end(q):qname_end(q) + 2])[0]


def answer(q, records=(), flags=0x8180, qid=None, question=None):
    """An answer to query *q*: *records* are (type, rdata) under a pointer to the question name."""
    qid = q[:2] if qid is None else qid
    question = q[12:qname_end(q) + 4] if question is None else question
    out = qid + struct.pack(">HHHHH", flags, 1, len(records), 0, 0) + question
    for rtype, rdata in records:
        out += b"\xc0\x0c" + struct.pack(">HHIH", rtype, 1, 60, len(rdata)) + rdata
    return out


def name(n):
    return b"".join(bytes([len(p)]) + p.encode() for p in n.split(".")) + b"\x00"


def srv(port, target):
    return (33, struct.pack(">HHH", 10, 0, port) + name(target))


A_LOCAL = (1, socket.inet_aton("127.0.0.1"))


def looping(q, prefix=b""):
    """An SRV answer whose target is *prefix* then a compression pointer to the target itself."""
    base = answer(q, [(33, struct.pack(">HHH", 10, 0, 5070) + prefix + b"\xc0\x00")])
    at = len(base) - 2 - len(prefix)  # where the target starts
    return base[:-2] + bytes([0xC0 | (at >> 8), at & 0xFF])


class Scripted:
    """UDP (and TCP) on one 127.0.0.1 port; *udp(query, send)* and *tcp(query, conn)* answer."""

    def __init__(self, udp, tcp=None):
        self.udp, self.tcp = udp, tcp
        self.sock, self.listener = self._bind_pair(tcp is not None)
        self.sock.settimeout(0.1)
        self.port = self.sock.getsockname()[1]
        self.server = "127.0.0.1:%d" % self.port
        self.other = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)  # another source port
        self.other.bind(("127.0.0.1", 0))
        if self.listener is not None:
            self.listener.listen(8)
            self.listener.settimeout(0.1)
        self.running = True
        self.queries = []
        self.threads = [threading.Thread(target=self._serve_udp, daemon=True)]
        if tcp is not None:
            self.threads.append(threading.Thread(target=self._serve_tcp, daemon=True))
        for t in self.threads:
            t.start()

    @staticmethod
    def _bind_pair(with_tcp):
        """A UDP socket on a free port and, if asked, a TCP listener on the same number: the
        free UDP port may be taken for TCP by another process, so a few ports are tried."""
        for _ in range(50):
            udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            udp.bind(("127.0.0.1", 0))
            if not with_tcp:
                return udp, None
            tcp = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            tcp.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                tcp.bind(("127.0.0.1", udp.getsockname()[1]))
                return udp, tcp
            except OSError:
                tcp.close()
                udp.close()
        raise RuntimeError("no port free for both UDP and TCP on 127.0.0.1 after 50 tries")

    def _serve_udp(self):
        while self.running:
            try:
                q, peer = self.sock.recvfrom(4096)
            except socket.timeout:
                continue
            except OSError:
                return
            if len(q) < 17:
                continue
            self.queries.append(("udp", qtype(q)))
            for data, from_other in self.udp(q):
                (self.other if from_other else self.sock).sendto(data, peer)

    def _serve_tcp(self):
        while self.running:
            try:
                conn, _ = self.listener.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            with conn:
                conn.settimeout(2)
                try:
                    head = conn.recv(2)
                    q = b""
                    while len(head) == 2 and len(q) < struct.unpack(">H", head)[0]:
                        chunk = conn.recv(4096)
                        if not chunk:
                            break
                        q += chunk
                    self.queries.append(("tcp", qtype(q)))
                    conn.sendall(self.tcp(q))
                except OSError:
                    pass

    def close(self):
        self.running = False
        for t in self.threads:
            t.join(2)
        self.sock.close()
        self.other.close()
        if self.listener is not None:
            self.listener.close()


def by_type(srv_records, a=True):
    """A udp() answering SRV queries with *srv_records*, A with 127.0.0.1, the rest with no data."""
    def udp(q):
        t = qtype(q)
        if t == 33:
            return [(answer(q, srv_records), False)]
        if t == 1 and a:
            return [(answer(q, [A_LOCAL]), False)]
        return [(answer(q, [], flags=0x8183), False)]
    return udp


@pytest.fixture
def scripted():
    made = []

    def make(udp, tcp=None):
        s = Scripted(udp, tcp)
        made.append(s)
        return s

    yield make
    for s in made:
        s.close()


def ports(uri, server):
    return [t.port for t in utils.resolve(uri, server, timeout_ms=300, capabilities=1)]


# --- spoofing -----------------------------------------------------------------------------------------

def test_an_answer_with_a_wrong_id_is_ignored_and_the_real_one_taken(scripted):
    def udp(q):
        wrong = bytes([q[0] ^ 0x55, q[1]])
        if qtype(q) == 33:
            return [(answer(q, [srv(6666, "evil.test")], qid=wrong), False), (answer(q, [srv(5070, "good.test")]), False)]
        return by_type([])(q)
    s = scripted(udp)
    assert ports("sip:spoof.test;transport=udp", s.server) == [5070]


def test_an_answer_from_another_port_is_ignored(scripted):
    def udp(q):
        if qtype(q) == 33:  # the right id and question, but sent from another source port first
            return [(answer(q, [srv(6666, "evil.test")]), True), (answer(q, [srv(5070, "good.test")]), False)]
        return by_type([])(q)
    s = scripted(udp)
    assert ports("sip:offpath.test;transport=udp", s.server) == [5070]
    # and only from another port: nothing is taken (the lookup times out and fails)
    s2 = scripted(lambda q: [(answer(q, [srv(6666, "evil.test")] if qtype(q) == 33 else [A_LOCAL]), True)])
    with pytest.raises(OsipError):
        ports("sip:offpath2.test;transport=udp", s2.server)


def test_an_answer_to_another_question_is_ignored(scripted):
    def udp(q):
        if qtype(q) == 33:
            other = name("_sip._udp.elsewhere.test") + b"\x00\x21\x00\x01"
            return [(answer(q, [srv(6666, "evil.test")], question=other), False),
                    (answer(q, [srv(5070, "good.test")]), False)]
        return by_type([])(q)
    s = scripted(udp)
    assert ports("sip:question.test;transport=udp", s.server) == [5070]


# --- TCP on TC=1 ----------------------------------------------------------------------------------

def test_a_truncated_answer_is_asked_again_over_tcp(scripted):
    def udp(q):
        if qtype(q) == 33:
            return [(answer(q, [], flags=0x8380), False)]  # TC, nothing in it
        return by_type([])(q)

    def tcp(q):
        data = answer(q, [srv(5000 + i, "t%d.tcp.test" % i) for i in range(40)])  # > 512 bytes
        return struct.pack(">H", len(data)) + data
    s = scripted(udp, tcp)
    got = ports("sip:big.test;transport=udp", s.server)
    assert len(got) == 16 and all(5000 <= p < 5040 for p in got)  # EX_DNS_MAX_TARGETS kept
    assert ("tcp", 33) in s.queries


HOSTILE_TCP = {
    "oversized length": lambda q: b"\xff\xff" + answer(q, [srv(5070, "x.test")]),
    "length below a header": lambda q: b"\x00\x05hello",
    "cut stream": lambda q: struct.pack(">H", 400) + answer(q, [srv(5070, "x.test")])[:30],
    "garbage": lambda q: struct.pack(">H", 300) + b"\xab" * 300,
    "wrong id": lambda q: (lambda a: struct.pack(">H", len(a)) + a)(answer(q, [srv(5070, "x.test")],
                                                                           qid=bytes([q[0] ^ 1, q[1]]))),
    "pointer loop": lambda q: (lambda a: struct.pack(">H", len(a)) + a)(looping(q)),
    "nothing": lambda q: b"",
}


@pytest.mark.parametrize("case", sorted(HOSTILE_TCP))
def test_hostile_tcp_answers_are_clean_errors(scripted, case):
    def udp(q):
        if qtype(q) == 33:
            return [(answer(q, [], flags=0x8380), False)]
        return by_type([], a=False)(q)  # no address for the name itself either: nothing usable
    s = scripted(udp, lambda q: HOSTILE_TCP[case](q))
    t0 = time.monotonic()
    with pytest.raises(OsipError):
        ports("sip:hostile-tcp.test;transport=udp", s.server)
    assert time.monotonic() - t0 < 20
    assert ("tcp", 33) in s.queries


# --- hostile answers on the send path: the context keeps serving -----------------------------------

HOSTILE_UDP = {
    "garbage": lambda q: [(q[:2] + b"\x81\x80" + b"\xff" * 300, False)],
    "pointer to itself": lambda q: [(looping(q), False)],
    "label type 01": lambda q: [(answer(q, [(33, struct.pack(">HHH", 10, 0, 5070) + b"\x41abc\x00")]), False)],
    "name over 255 bytes": lambda q: [(looping(q, b"\x3f" + b"a" * 63), False)],
    "rdlength past the end": lambda q: [(answer(q, [srv(5070, "x.test")])[:-3], False)],
    "huge counts": lambda q: [(q[:2] + struct.pack(">HHHHH", 0x8180, 65535, 65535, 65535, 65535) + b"\x00" * 40,
                               False)],
    "oversized datagram": lambda q: [(answer(q, [srv(5070, "x.test")] * 2000)[:65000], False)],
    "query echoed": lambda q: [(q, False)],
}


@pytest.mark.parametrize("case", sorted(HOSTILE_UDP))
def test_hostile_udp_answers_fail_the_request_and_the_context_serves_on(scripted, case):
    s = scripted(lambda q: HOSTILE_UDP[case](q))
    peer = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        peer.bind(("127.0.0.1", 0))
        peer.settimeout(5)
        c = Client(s.server)
        try:
            try:
                c.ctx.message_send_request(Message(c.ctx, "sip:bob@hostile-udp.test", "sip:alice@127.0.0.1"))
            except OsipError:
                pass
            c.ctx.message_send_request(Message(c.ctx, "sip:carol@127.0.0.1:%d" % peer.getsockname()[1],
                                               "sip:alice@127.0.0.1"))
            data, _ = peer.recvfrom(65535)
            assert data.startswith(b"MESSAGE sip:carol@")
            ev = c.wait((utils_failure_types()), timeout=30)  # the first one fails, as an event
            assert ev.type in utils_failure_types()
            assert [r for r in c.sent("MESSAGE") if r[1] != peer.getsockname()[1]] == []
        finally:
            c.close()
    finally:
        peer.close()


def utils_failure_types():
    from exosip2.event import EventType
    return (EventType.message_requestfailure, EventType.message_serverfailure, EventType.message_globalfailure)


@pytest.mark.parametrize("case", sorted(HOSTILE_UDP))
def test_hostile_udp_answers_under_the_musl_build(musl_probe, scripted, case):
    s = scripted(lambda q: HOSTILE_UDP[case](q))
    out = probe(musl_probe, s.server, "_sip._udp.x.test", timeout_ms=200)
    assert not [line for line in out if line.startswith("SRV")], out


@pytest.fixture(scope="module")
def asan_probe(tmp_path_factory):
    out = str(tmp_path_factory.mktemp("asan") / "dns_wire_asan")
    res = subprocess.run(["cc", "-std=gnu11", "-O1", "-g", "-Wall", "-Wextra", "-Werror",
                          "-fsanitize=address,undefined", "-fno-sanitize-recover=all", "-I" + SRC, "-o", out,
                          os.path.join(SRC, "dns_wire.c"), os.path.join(ROOT, "tests", "core", "dns_wire_musl.c")],
                         capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr
    return out


@pytest.mark.parametrize("case", ["udp " + c for c in sorted(HOSTILE_UDP)] + ["tcp " + c for c in sorted(HOSTILE_TCP)])
def test_hostile_answers_under_asan_and_ubsan(asan_probe, scripted, case):
    kind, name_ = case.split(" ", 1)
    if kind == "udp":
        s = scripted(lambda q: HOSTILE_UDP[name_](q))
    else:
        s = scripted(lambda q: [(answer(q, [], flags=0x8380), False)], lambda q: HOSTILE_TCP[name_](q))
    host, port = s.server.rsplit(":", 1)
    res = subprocess.run([asan_probe, host, port, "_sip._udp.x.test", "200"], capture_output=True, text=True,
                         timeout=30)
    assert res.returncode == 0 and "runtime error" not in res.stderr and "Sanitizer" not in res.stderr, res.stderr
    assert not [line for line in res.stdout.splitlines() if line.startswith("SRV")], res.stdout
