# SPDX-License-Identifier: Apache-2.0
"""RFC 3263 server location against a real DNS server (dnsmasq on 127.0.0.1), with failover on the
wire between two registrars that are our own contexts (one dead, or one answering 503), and a fake
DNS server that answers garbage."""

import collections
import logging
import socket
import struct
import threading
import time

import pytest

from exosip2 import register, utils
from exosip2.context import Context
from exosip2.error import OsipBadParameter, OsipError, OsipNotFound, OsipTimeout, OsipUnknownHost
from exosip2.event import EventType
from exosip2.options import Option, option_type
from exosip2.request import Message, Options
from peers.dnsmasq import Dnsmasq
from peers.proc import free_port
from udppeer import UdpPeer

pytestmark = pytest.mark.timeout(60)


@pytest.fixture
def dnsmasq_factory():
    started = []

    def start(**kw):
        d = Dnsmasq(**kw)
        started.append(d)
        return d

    yield start
    for d in started:
        d.stop()


class Server:
    """A context that answers every out-of-dialog request (REGISTER, MESSAGE) with *status*."""

    def __init__(self, status=200, proto=socket.IPPROTO_UDP):
        self.status = status
        self.received = []
        self.cond = threading.Condition()
        self.ctx = Context(self._on_event)
        self.port = self.ctx.listen_on_address("127.0.0.1", proto, port=0)
        self.ctx.start(event_executor="inline")

    def _on_event(self, ctx, event):
        if event.type == EventType.message_new:
            with self.cond:
                self.received.append(event.request.method)
                self.cond.notify_all()
            ctx.message_send_answer(event.tid, self.status)

    def wait(self, count, timeout=5):
        with self.cond:
            return self.cond.wait_for(lambda: len(self.received) >= count, timeout)

    def close(self):
        self.ctx.close()


class Client:
    """A context pointed at the test's DNS server, tracing what it sends, events in a list."""

    def __init__(self, dns_server, proto=socket.IPPROTO_UDP):
        self.events = []
        self.cond = threading.Condition()
        self.ctx = Context(self._on_event)
        self.ctx.set_option(Option.DNS_SERVER, dns_server)
        self.ctx.set_option(Option.DNS_TIMEOUT_MS, 1000)
        self.port = self._listen(proto)
        self.traces = []
        self.handler = logging.Handler(logging.DEBUG)
        self.handler.emit = lambda record: self.traces.append(record.sip_trace)
        self.logger = logging.getLogger("exosip2.sip")
        self.old_level = self.logger.level
        self.logger.setLevel(logging.DEBUG)
        self.logger.addHandler(self.handler)
        self.ctx.trace(True)
        self.ctx.start(event_executor="inline")

    def _listen(self, proto):
        return self.ctx.listen_on_address("127.0.0.1", proto, port=0)

    def _on_event(self, ctx, event):
        with self.cond:
            self.events.append(event)
            self.cond.notify_all()

    def wait(self, types, timeout=8):
        with self.cond:
            ok = self.cond.wait_for(lambda: any(e.type in types for e in self.events), timeout)
            assert ok, [e.type for e in self.events]
            return [e for e in self.events if e.type in types][0]

    def sent(self, method):
        """(ip, port) of each request *method* this context sent, in order."""
        self.ctx.trace_drain()  # what the event loop has not logged yet
        return [t.remote for t in list(self.traces) if t.local[1] == self.port and t.direction == "sent"
                and t.first_line.startswith(method)]

    def close(self):
        self.ctx.trace(False)
        self.ctx.close()
        self.logger.removeHandler(self.handler)
        self.logger.setLevel(self.old_level)


@pytest.fixture
def servers():
    made = []

    def make(status=200, proto=socket.IPPROTO_UDP):
        s = Server(status, proto)
        made.append(s)
        return s

    yield make
    for s in made:
        s.close()


@pytest.fixture
def client_factory():
    made = []

    def make(dns_server, proto=socket.IPPROTO_UDP):
        c = Client(dns_server, proto)
        made.append(c)
        return c

    yield make
    for c in made:
        c.close()


# --- resolution order -------------------------------------------------------------------------------

def example_records(d_port_tcp=5071, ttl=60, **extra):
    return dict(naptr=[("example.test", 20, 50, "SIP+D2U", "_sip._udp.example.test"),
                       ("example.test", 10, 50, "SIP+D2T", "_sip._tcp.example.test"),
                       ("example.test", 30, 50, "SIPS+D2T", "_sips._tcp.example.test")],
                srv=[("_sip._udp.example.test", "b.example.test", 5080, 20, 0),
                     ("_sip._udp.example.test", "a.example.test", 5070, 10, 0),
                     ("_sip._tcp.example.test", "a.example.test", d_port_tcp, 10, 0),
                     ("_sips._tcp.example.test", "a.example.test", 5061, 10, 0),
                     ("_sip._udp.srvonly.test", "a.example.test", 6000, 10, 0)],
                hosts=[("a.example.test", "127.0.0.1"), ("b.example.test", "127.0.0.2"),
                       ("plain.test", "127.0.0.3")],
                ttl=ttl, **extra)


def test_naptr_then_srv_by_priority_then_addresses(dnsmasq_factory):
    d = dnsmasq_factory(**example_records())
    got = utils.resolve("sip:example.test", d.server)
    # NAPTR order 10 (TCP), 20 (UDP), 30 (TLS); within UDP, SRV priority 10 before 20
    assert [(t.transport, t.host, t.port, t.ip) for t in got] == [
        ("TCP", "a.example.test", 5071, "127.0.0.1"),
        ("UDP", "a.example.test", 5070, "127.0.0.1"),
        ("UDP", "b.example.test", 5080, "127.0.0.2"),
        ("TLS", "a.example.test", 5061, "127.0.0.1"),
    ]
    assert all(t.ttl == 60 for t in got)
    assert [t.port for t in utils.resolve("sip:bob@example.test;transport=udp", d.server)] == [5070, 5080]
    assert [(t.transport, t.port) for t in utils.resolve("sips:example.test", d.server)] == [("TLS", 5061)]
    # what was asked: NAPTR first, then the SRV names it gave
    assert d.queries(at_least=1)[0].split()[1:3] == ["query[NAPTR]", "example.test"]


def test_srv_without_naptr_and_a_without_srv(dnsmasq_factory):
    d = dnsmasq_factory(**example_records())
    assert [(t.transport, t.port) for t in utils.resolve("sip:srvonly.test", d.server)] == [("UDP", 6000)]
    assert [(t.transport, t.ip, t.port) for t in utils.resolve("sip:plain.test", d.server)] == [
        ("UDP", "127.0.0.3", 5060), ("TCP", "127.0.0.3", 5060), ("TLS", "127.0.0.3", 5061)]
    # a port, a numeric host, or capabilities 0: no NAPTR/SRV
    assert [(t.transport, t.ip, t.port) for t in utils.resolve("sip:a.example.test:7000", d.server)] == [
        ("UDP", "127.0.0.1", 7000)]
    assert utils.resolve("sip:127.0.0.9", d.server) == [utils.DnsTarget("UDP", "127.0.0.9", 5060, "127.0.0.9")]
    with pytest.raises(OsipUnknownHost):
        utils.resolve("example.test", d.server, capabilities=0)  # the name has no A record of its own


def test_srv_weights_spread_first_choices(dnsmasq_factory):
    d = dnsmasq_factory(srv=[("_sip._udp.w.test", "heavy.w.test", 5001, 10, 90),
                             ("_sip._udp.w.test", "light.w.test", 5002, 10, 10),
                             ("_sip._udp.w.test", "backup.w.test", 5003, 20, 100)],
                        hosts=[("heavy.w.test", "127.0.0.1"), ("light.w.test", "127.0.0.1"),
                               ("backup.w.test", "127.0.0.1")])
    first = collections.Counter()
    for _ in range(200):
        got = utils.resolve("sip:w.test", d.server, capabilities=1)
        assert [t.host for t in got][-1] == "backup.w.test"  # a lower priority always comes last
        assert sorted(t.host for t in got[:2]) == ["heavy.w.test", "light.w.test"]
        first[got[0].host] += 1
    # weights 90:10 (RFC 2782): the heavy one first about 9 times in 10, the light one sometimes
    assert first["heavy.w.test"] > 140 and first["light.w.test"] > 2, first


def test_a_name_that_does_not_exist(dnsmasq_factory, client_factory):
    d = dnsmasq_factory(**example_records())
    with pytest.raises(OsipUnknownHost):
        utils.resolve("sip:nowhere.test", d.server)
    # a request to it fails with an event, nothing is sent
    c = client_factory(d.server)
    msg = Message(c.ctx, "sip:bob@nowhere.test", "sip:alice@127.0.0.1")
    try:
        tid = c.ctx.message_send_request(msg)
    except OsipError:
        tid = None  # refused at once is as clear as the failure event
    if tid is not None:
        ev = c.wait((EventType.message_requestfailure, EventType.message_serverfailure,
                     EventType.message_globalfailure))
        assert ev.tid == tid
    assert c.sent("MESSAGE") == []


def test_no_dns_server_answers_is_a_timeout():
    port = free_port()  # nothing listens there: the queries are refused or time out
    t0 = time.monotonic()
    with pytest.raises((OsipTimeout, OsipUnknownHost)):
        utils.resolve("sip:example.test", "127.0.0.1:%d" % port, timeout_ms=100)
    assert time.monotonic() - t0 < 30


# --- the send path: cache and failover --------------------------------------------------------------

def test_requests_follow_srv_and_the_cache_keeps_the_ttl(dnsmasq_factory, servers, client_factory):
    s = servers(200)
    d = dnsmasq_factory(srv=[("_sip._udp.ttl.test", "srv.ttl.test", s.port, 10, 0)],
                        hosts=[("srv.ttl.test", "127.0.0.1")], ttl=2)
    c = client_factory(d.server)
    for i in range(2):
        c.ctx.message_send_request(Message(c.ctx, "sip:bob@ttl.test", "sip:alice@127.0.0.1"))
        assert s.wait(i + 1)
    assert c.sent("MESSAGE") == [("127.0.0.1", s.port)] * 2
    assert len(d.queries("ttl.test", at_least=1)) == 1  # the second MESSAGE used the cached answer
    time.sleep(2.5)  # past the TTL: asked again
    c.ctx.message_send_request(Message(c.ctx, "sip:bob@ttl.test", "sip:alice@127.0.0.1"))
    assert s.wait(3)
    assert len(d.queries("ttl.test", at_least=2)) == 2
    # with the cache off, every request asks
    c.ctx.set_option(Option.ENABLE_DNS_CACHE, 0)
    c.ctx.message_send_request(Message(c.ctx, "sip:bob@ttl.test", "sip:alice@127.0.0.1"))
    assert s.wait(4)
    assert len(d.queries("ttl.test", at_least=3)) == 3


def test_register_fails_over_from_a_dead_registrar(dnsmasq_factory, servers, client_factory):
    live = servers(200)
    dead = free_port()  # nothing listens: the ICMP error ends that attempt at once
    d = dnsmasq_factory(naptr=[("reg.test", 10, 50, "SIP+D2U", "_sip._udp.reg.test")],
                        srv=[("_sip._udp.reg.test", "dead.reg.test", dead, 10, 0),
                             ("_sip._udp.reg.test", "live.reg.test", live.port, 20, 0)],
                        hosts=[("dead.reg.test", "127.0.0.1"), ("live.reg.test", "127.0.0.1")])
    c = client_factory(d.server)
    reg = register.InitialRegister(c.ctx, "sip:alice@reg.test", "sip:reg.test", expires=60)
    rid = reg.rid
    reg.send()
    ev = c.wait((EventType.registration_success, EventType.registration_failure))
    assert ev.type == EventType.registration_success and ev.rid == rid
    assert live.received == ["REGISTER"]
    # on the wire: the dead one first (priority 10), then the live one (priority 20)
    assert c.sent("REGISTER") == [("127.0.0.1", dead), ("127.0.0.1", live.port)]


def test_message_fails_over_after_503(dnsmasq_factory, servers, client_factory):
    busy, ok = servers(503), servers(200)
    d = dnsmasq_factory(srv=[("_sip._udp.busy.test", "one.busy.test", busy.port, 10, 0),
                             ("_sip._udp.busy.test", "two.busy.test", ok.port, 20, 0)],
                        hosts=[("one.busy.test", "127.0.0.1"), ("two.busy.test", "127.0.0.1")])
    c = client_factory(d.server)
    tid = c.ctx.message_send_request(Message(c.ctx, "sip:bob@busy.test", "sip:alice@127.0.0.1"))
    ev = c.wait((EventType.message_answered, EventType.message_serverfailure, EventType.message_requestfailure))
    assert ev.type == EventType.message_answered and ev.tid == tid and ev.response.status_code == 200
    assert busy.received == ["MESSAGE"] and ok.received == ["MESSAGE"]
    assert c.sent("MESSAGE") == [("127.0.0.1", busy.port), ("127.0.0.1", ok.port)]


def test_every_target_dead_is_one_failure_event(dnsmasq_factory, client_factory):
    p1, p2 = free_port(), free_port()
    d = dnsmasq_factory(srv=[("_sip._udp.gone.test", "a.gone.test", p1, 10, 0),
                             ("_sip._udp.gone.test", "a.gone.test", p2, 20, 0)],
                        hosts=[("a.gone.test", "127.0.0.1")])
    c = client_factory(d.server)
    tid = c.ctx.options_send_request(Options(c.ctx, "sip:bob@gone.test", "sip:alice@127.0.0.1"))
    ev = c.wait((EventType.message_answered, EventType.message_requestfailure, EventType.message_serverfailure,
                 EventType.message_globalfailure))
    assert ev.tid == tid and ev.type != EventType.message_answered
    assert c.sent("OPTIONS") == [("127.0.0.1", p1), ("127.0.0.1", p2)]


# --- options ------------------------------------------------------------------------------------------

def test_dns_options_types_and_refusals():
    assert option_type(Option.DNS_SERVER) is str and option_type(Option.DNS_TIMEOUT_MS) is int
    assert option_type(Option.ADD_DNS_CACHE) is tuple and option_type(Option.DELETE_DNS_CACHE) is str
    with Context() as ctx:
        ctx.set_option(Option.DNS_CAPABILITIES, 1)
        ctx.set_option(Option.ENABLE_DNS_CACHE, 1)
        ctx.set_option(Option.DNS_SERVER, "127.0.0.1:53")
        ctx.set_option(Option.DNS_SERVER, None)
        for bad in ("nonsense", "127.0.0.1:0", "127.0.0.1:99999", "::1", "1.2.3.4:x"):
            with pytest.raises(OsipBadParameter):
                ctx.set_option(Option.DNS_SERVER, bad)
        for opt, bad in ((Option.DNS_CAPABILITIES, 3), (Option.DNS_TIMEOUT_MS, 5)):
            with pytest.raises(OsipBadParameter):
                ctx.set_option(opt, bad)
        ctx.set_option(Option.ADD_DNS_CACHE, ("fixed.test", "127.0.0.1"))
        ctx.set_option(Option.ADD_DNS_CACHE, ("fixed.test", "127.0.0.2"))  # replaced
        ctx.set_option(Option.DELETE_DNS_CACHE, "fixed.test")
        with pytest.raises(OsipNotFound):
            ctx.set_option(Option.DELETE_DNS_CACHE, "fixed.test")
        with pytest.raises(OsipBadParameter):
            ctx.set_option(Option.ADD_DNS_CACHE, ("fixed.test", "not-an-ip"))
        with pytest.raises(TypeError):
            ctx.set_option(Option.ADD_DNS_CACHE, "fixed.test")
        with pytest.raises(ValueError):
            ctx.set_option(Option.ADD_DNS_CACHE, ("x" * 2000, "127.0.0.1"))


def test_a_fixed_address_is_used_instead_of_dns(dnsmasq_factory, client_factory):
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        sock.bind(("127.0.0.1", 0))
        sock.settimeout(5)
        d = dnsmasq_factory(**example_records())
        c = client_factory(d.server)
        c.ctx.set_option(Option.ADD_DNS_CACHE, ("fixed.test", "127.0.0.1"))
        # a fixed entry gives 5060 when the URI has no port; with a route to our socket's port the
        # request goes to the address of the fixed entry
        c.ctx.message_send_request(Message(c.ctx, "sip:bob@fixed.test", "sip:alice@127.0.0.1",
                                           route="<sip:fixed.test:%d;lr>" % sock.getsockname()[1]))
        data, _ = sock.recvfrom(65535)
        assert data.startswith(b"MESSAGE sip:bob@fixed.test SIP/2.0")
        assert d.queries("fixed.test") == []
    finally:
        sock.close()


# --- hostile DNS answers ----------------------------------------------------------------------------

def _question_end(q):
    i = 12
    while i < len(q) and q[i] != 0:
        i += q[i] + 1
    return i + 5


def _hostile_answers(query):
    """Answers to *query* that a resolver must survive: each a bytes datagram."""
    qid = query[:2]
    question = query[12:_question_end(query)]
    head = lambda flags, an: qid + struct.pack(">HHHHH", flags, 1, an, 0, 0) + question  # noqa: E731
    srv_rr = lambda target: b"\xc0\x0c" + struct.pack(">HHIH", 33, 1, 60, 6 + len(target)) + \
        struct.pack(">HHH", 10, 0, 5060) + target  # noqa: E731
    return [
        b"",                                              # empty
        b"\xff" * 7,                                      # shorter than a header
        qid + b"\x81\x80" + b"\xff" * 300,                # garbage after a valid id
        head(0x8180, 1),                                  # one answer announced, none there
        head(0x8180, 1) + b"\xc0\x0c\x00\x21",            # a truncated record
        head(0x8180, 1) + srv_rr(b"\xc0\x0c"[:1]),        # SRV target cut in its pointer
        head(0x8180, 1) + srv_rr(b"\xc0\x3f"),            # pointer loop / pointer past the end
        head(0x8180, 2) + srv_rr(b"\x01a\xc0\x00") + srv_rr(b"\x3fabc"),  # pointer to the header, bad label
        head(0x8180, 60000) + b"\x00" * 40,               # a huge answer count
        head(0x8380, 0),                                  # truncated (TC): TCP retry finds nobody
        head(0x8182, 0),                                  # SERVFAIL
        (b"\x00\x00" if qid != b"\x00\x00" else b"\x00\x01") + head(0x8180, 0)[2:],  # wrong id
    ]


class FakeDns(UdpPeer):
    """A UDP DNS responder that answers each query with the next hostile answer of a list (case)."""

    bufsize = 4096

    def __init__(self, case):
        super().__init__()
        self.case = case
        self.server = "127.0.0.1:%d" % self.port
        self.answered = 0
        self.start()

    def handle(self, query, peer):
        if len(query) < 17:
            return
        self.reply(_hostile_answers(query)[self.case], peer)
        self.answered += 1


@pytest.mark.parametrize("case", range(12))
def test_hostile_dns_answers_are_errors_not_crashes(case):
    fake = FakeDns(case)
    try:
        try:
            got = utils.resolve("sip:hostile.test", fake.server, timeout_ms=100)
        except (OsipUnknownHost, OsipTimeout, OsipError):
            got = None
        # nothing usable in any of these answers: no target comes out of them
        assert got in (None, [])
        assert fake.answered >= 1
    finally:
        fake.close()


def test_hostile_dns_answers_on_the_send_path(client_factory):
    fake = FakeDns(6)  # pointer loops
    try:
        c = client_factory(fake.server)
        msg = Message(c.ctx, "sip:bob@hostile.test", "sip:alice@127.0.0.1")
        try:
            c.ctx.message_send_request(msg)
        except OsipError:
            pass
        c.ctx.message_send_request(Message(c.ctx, "sip:bob@127.0.0.1:9", "sip:alice@127.0.0.1"))
        assert c.sent("MESSAGE")[-1:] == [("127.0.0.1", 9)]  # the context still works
    finally:
        fake.close()


# --- eXosip2 5.3's C API ----------------------------------------------------------------------------

@pytest.fixture(scope="module")
def dnsutils(tmp_path_factory):
    from test_core_register import _compile
    return _compile(tmp_path_factory, "dnsutils")


def _c_records():
    return dict(naptr=[("capi.test", 10, 50, "SIP+D2U", "_sip._udp.capi.test"),
                       ("capi.test", 20, 50, "SIP+D2T", "_sip._tcp.capi.test")],
                srv=[("_sip._udp.capi.test", "a.capi.test", 5301, 10, 0),
                     ("_sip._udp.capi.test", "a.capi.test", 5302, 20, 0),
                     ("_sip._tcp.capi.test", "a.capi.test", 5303, 10, 0)],
                hosts=[("a.capi.test", "127.0.0.1")])


def test_c_dnsutils_api(dnsmasq_factory, dnsutils):
    import subprocess
    d = dnsmasq_factory(**_c_records())
    res = subprocess.run([dnsutils, d.server, "capi.test", "5301", "5302", "5303"], capture_output=True,
                         text=True, timeout=60)
    assert res.returncode == 0 and "all checks passed" in res.stdout, res.stdout + res.stderr


def test_c_dnsutils_api_under_valgrind(dnsmasq_factory, dnsutils):
    import shutil
    import subprocess
    from test_core_register import VALGRIND
    assert shutil.which("valgrind"), "valgrind is not installed (apt-get install valgrind)"
    d = dnsmasq_factory(**_c_records())
    res = subprocess.run(["valgrind"] + VALGRIND + [dnsutils, d.server, "capi.test", "5301", "5302", "5303"],
                         capture_output=True, text=True, timeout=120)
    assert res.returncode == 0 and "all checks passed" in res.stdout, res.stdout + res.stderr


def test_without_a_dns_server_of_its_own_addresses_come_from_the_system():
    # /etc/hosts has localhost: NAPTR/SRV asked of the system's DNS, the address from getaddrinfo
    got = utils.resolve("sip:localhost")
    assert ("UDP", "localhost", 5060) in [(t.transport, t.host, t.port) for t in got]
    assert any(t.ip in ("127.0.0.1", "::1") for t in got)
    with pytest.raises(ValueError):
        utils.resolve("sip:")
    with pytest.raises(ValueError):
        utils.resolve("sip:a.test:99999")


def test_a_silent_dns_server_blocks_nobody(client_factory):
    # a DNS server that reads every query and never answers
    silent = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    peer = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        silent.bind(("127.0.0.1", 0))
        peer.bind(("127.0.0.1", 0))
        peer.settimeout(3)
        c = client_factory("127.0.0.1:%d" % silent.getsockname()[1])
        t0 = time.monotonic()
        tid = c.ctx.message_send_request(Message(c.ctx, "sip:bob@silent.test", "sip:alice@127.0.0.1"))
        assert time.monotonic() - t0 < 0.5  # the send did not wait for the lookup
        # meanwhile the context sends to others at once
        c.ctx.message_send_request(Message(c.ctx, "sip:carol@127.0.0.1:%d" % peer.getsockname()[1],
                                           "sip:alice@127.0.0.1"))
        data, _ = peer.recvfrom(65535)
        assert data.startswith(b"MESSAGE sip:carol@")
        assert time.monotonic() - t0 < 2
        # the lookup gives up (1 s per query, two tries, six queries) and the request fails
        ev = c.wait((EventType.message_requestfailure, EventType.message_serverfailure,
                     EventType.message_answered), timeout=30)
        assert ev.tid == tid and ev.type == EventType.message_requestfailure
        assert [r for r in c.sent("MESSAGE") if r[1] != peer.getsockname()[1]] == []
    finally:
        silent.close()
        peer.close()


@pytest.fixture(scope="module")
def dns_failover(tmp_path_factory):
    from test_core_register import _compile
    return _compile(tmp_path_factory, "dns_failover")


@pytest.mark.parametrize("valgrind", [False, True], ids=["plain", "valgrind"])
def test_c_request_fails_over_to_the_next_srv_target(dnsmasq_factory, dns_failover, valgrind):
    import shutil
    import subprocess
    from test_core_register import VALGRIND
    dead, live = free_port(), free_port()
    d = dnsmasq_factory(srv=[("_sip._udp.fo.test", "a.fo.test", dead, 10, 0),
                             ("_sip._udp.fo.test", "a.fo.test", live, 20, 0)],
                        hosts=[("a.fo.test", "127.0.0.1")])
    cmd = [dns_failover, d.server, "fo.test", str(live)]
    if valgrind:
        assert shutil.which("valgrind"), "valgrind is not installed (apt-get install valgrind)"
        cmd = ["valgrind"] + VALGRIND + cmd
    res = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert res.returncode == 0 and "all checks passed" in res.stdout, res.stdout + res.stderr


def test_a_tcp_context_follows_the_tcp_naptr(dnsmasq_factory, servers, client_factory):
    udp, tcp = servers(200), servers(200, socket.IPPROTO_TCP)
    d = dnsmasq_factory(naptr=[("both.test", 10, 50, "SIP+D2U", "_sip._udp.both.test"),
                               ("both.test", 20, 50, "SIP+D2T", "_sip._tcp.both.test")],
                        srv=[("_sip._udp.both.test", "a.both.test", udp.port, 10, 0),
                             ("_sip._tcp.both.test", "a.both.test", tcp.port, 10, 0)],
                        hosts=[("a.both.test", "127.0.0.1")])
    # a context on TCP skips the preferred UDP record (RFC 3263 4.1: transports it does not use)
    c = client_factory(d.server, socket.IPPROTO_TCP)
    tid = c.ctx.message_send_request(Message(c.ctx, "sip:bob@both.test", "sip:alice@127.0.0.1"))
    ev = c.wait((EventType.message_answered, EventType.message_requestfailure))
    assert ev.type == EventType.message_answered and ev.tid == tid
    assert tcp.received == ["MESSAGE"] and udp.received == []
    # and one on UDP takes the UDP one
    c2 = client_factory(d.server)
    c2.ctx.message_send_request(Message(c2.ctx, "sip:bob@both.test", "sip:alice@127.0.0.1"))
    assert c2.wait((EventType.message_answered, EventType.message_requestfailure)).type == EventType.message_answered
    assert udp.received == ["MESSAGE"]
