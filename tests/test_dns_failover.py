# SPDX-License-Identifier: Apache-2.0
"""RFC 3263 4.3 failover on the wire, against dnsmasq: a server that stays silent is left after
the per-target bound (10*T1 = 5 s, docs/limits.rst), well before the transaction's 32 s, for
INVITE and non-INVITE over UDP and TCP; a 503 to an INVITE moves on (the 503 acknowledged); a
CANCEL follows its INVITE to the target it is at; each target gets a new Via branch (a new
transaction on the wire) while the program keeps its ids, and late answers of a target left
change nothing; sips: goes through NAPTR SIPS+D2T / _sips._tcp,
and the server's certificate is checked against the URI's domain (RFC 5922), not the SRV target."""

import queue
import re
import socket
import time

import pytest

from exosip2 import call
from exosip2.context import Context
from exosip2.event import EventType as T
from exosip2.request import Message
from test_dns import Client, dnsmasq_factory  # noqa: F401  (a fixture)
from tlscerts import CA
from udppeer import UdpPeer

pytestmark = pytest.mark.timeout(90)

BOUND = 5.0  # 10*T1


class Live:
    """A context answering INVITE with *invite_status* (0: 180 and nothing more) and other
    requests with 200; the monotonic time each request arrived."""

    def __init__(self, proto=socket.IPPROTO_UDP, invite_status=486, secure=False, tls=None):
        self.arrived = []
        self.events = queue.Queue()
        self.invite_status = invite_status
        self.ctx = Context(self._on_event)
        if tls is not None:
            self.ctx.set_tls(**tls)
        self.port = self.ctx.listen_on_address("127.0.0.1", proto, port=0, secure=secure)
        self.ctx.start(event_executor="inline")

    def _on_event(self, ctx, ev):
        if ev.type in (T.call_invite, T.message_new):
            self.arrived.append((time.monotonic(), ev.request.method))
        if ev.type == T.call_invite:
            ctx.call_send_answer(ev.tid, 180 if self.invite_status == 0 else self.invite_status)
        elif ev.type == T.message_new and ev.request.method != "ACK":
            ctx.message_send_answer(ev.tid, 200)
        self.events.put(ev)

    def wait_for(self, etype, timeout=10):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                ev = self.events.get(timeout=0.2)
            except queue.Empty:
                continue
            if ev.type == etype:
                return ev
        raise AssertionError("no %s within %s s" % (etype, timeout))

    def close(self):
        self.ctx.close()


class Silent:
    """A socket that takes everything and answers nothing (for TCP: connections are accepted by
    the kernel and never read)."""

    def __init__(self, proto):
        kind = socket.SOCK_DGRAM if proto == socket.IPPROTO_UDP else socket.SOCK_STREAM
        self.sock = socket.socket(socket.AF_INET, kind)
        self.sock.bind(("127.0.0.1", 0))
        if kind == socket.SOCK_STREAM:
            self.sock.listen(16)
        self.port = self.sock.getsockname()[1]

    def close(self):
        self.sock.close()


@pytest.fixture
def made():
    things = []
    yield things.append
    for t in reversed(things):
        t.close()


def two_targets(dnsmasq_factory, name, first, second, proto):  # noqa: F811
    tr = "udp" if proto == socket.IPPROTO_UDP else "tcp"
    return dnsmasq_factory(srv=[("_sip._%s.%s" % (tr, name), "one." + name, first, 10, 0),
                                ("_sip._%s.%s" % (tr, name), "two." + name, second, 20, 0)],
                           hosts=[("one." + name, "127.0.0.1"), ("two." + name, "127.0.0.1")])


def send(c, method, uri):
    if method == "INVITE":
        inv = call.InitInvite(c.ctx, uri, "sip:alice@127.0.0.1", subject="failover")
        return inv.send()
    return c.ctx.message_send_request(Message(c.ctx, uri, "sip:alice@127.0.0.1"))


@pytest.mark.parametrize("proto", [socket.IPPROTO_UDP, socket.IPPROTO_TCP], ids=["udp", "tcp"])
@pytest.mark.parametrize("method", ["INVITE", "MESSAGE"])
def test_a_silent_server_is_left_after_the_per_target_bound(dnsmasq_factory, made, proto, method):  # noqa: F811
    silent, live = Silent(proto), Live(proto)
    made(silent)
    made(live)
    d = two_targets(dnsmasq_factory, "quiet.test", silent.port, live.port, proto)
    c = Client(d.server, proto)
    made(c)
    t0 = time.monotonic()
    send(c, method, "sip:bob@quiet.test")
    deadline = t0 + 20
    while not live.arrived and time.monotonic() < deadline:
        time.sleep(0.02)
    assert live.arrived, "the request never reached the second target"
    took = live.arrived[0][0] - t0
    assert live.arrived[0][1] == method
    # within the bound (plus the lookup and a loaded machine), and not before it
    assert BOUND - 0.3 <= took <= BOUND + 2.5, took
    sent = [r for r in c.sent(method)]
    assert sent[0] == ("127.0.0.1", silent.port) and sent[-1] == ("127.0.0.1", live.port), sent
    if proto == socket.IPPROTO_UDP:
        # the silent one got the request and its retransmissions (0, T1, 3*T1, 7*T1), then the next
        # target started again at T1
        assert sent.count(("127.0.0.1", silent.port)) == 4, sent
    else:
        assert sent.count(("127.0.0.1", silent.port)) == 1, sent
    # the answer of the second target ends the transaction as usual
    if method == "INVITE":
        ev = c.wait((T.call_requestfailure, T.call_noanswer, T.call_serverfailure), timeout=10)
        assert ev.type == T.call_requestfailure and ev.response.status_code == 486
    else:
        ev = c.wait((T.message_answered, T.message_requestfailure), timeout=10)
        assert ev.type == T.message_answered
    print("second target reached after %.2f s" % took)


def test_a_silent_last_target_is_left_to_the_transaction_timeout(dnsmasq_factory, made):  # noqa: F811
    s1, s2 = Silent(socket.IPPROTO_UDP), Silent(socket.IPPROTO_UDP)
    made(s1)
    made(s2)
    d = two_targets(dnsmasq_factory, "allquiet.test", s1.port, s2.port, socket.IPPROTO_UDP)
    c = Client(d.server)
    made(c)
    send(c, "MESSAGE", "sip:bob@allquiet.test")
    time.sleep(BOUND + 1.5)
    sent = c.sent("MESSAGE")
    assert ("127.0.0.1", s2.port) in sent and sent[-1] == ("127.0.0.1", s2.port), sent
    # the last one keeps what is left of 64*T1: no failure yet, no third destination
    assert not [e for e in c.events if e.type == T.message_requestfailure]
    assert set(sent) == {("127.0.0.1", s1.port), ("127.0.0.1", s2.port)}


def test_an_answered_100_stops_the_search(dnsmasq_factory, made):  # noqa: F811
    """A server that said 100 Trying is alive: no failover on silence after it."""
    slow = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    slow.bind(("127.0.0.1", 0))
    slow.settimeout(5)
    live = Live()
    made(live)
    try:
        d = two_targets(dnsmasq_factory, "trying.test", slow.getsockname()[1], live.port, socket.IPPROTO_UDP)
        c = Client(d.server)
        made(c)
        send(c, "INVITE", "sip:bob@trying.test")
        data, peer = slow.recvfrom(65535)
        head = data.split(b"\r\n\r\n")[0].split(b"\r\n")
        keep = [h for h in head[1:] if h.split(b":")[0].lower() in (b"via", b"from", b"to", b"call-id", b"cseq")]
        slow.sendto(b"SIP/2.0 100 Trying\r\n" + b"\r\n".join(keep) + b"\r\nContent-Length: 0\r\n\r\n", peer)
        time.sleep(BOUND + 1)
        assert live.arrived == []
        assert set(c.sent("INVITE")) == {("127.0.0.1", slow.getsockname()[1])}
    finally:
        slow.close()


# --- 503 ----------------------------------------------------------------------------------------------

@pytest.mark.parametrize("proto", [socket.IPPROTO_UDP, socket.IPPROTO_TCP], ids=["udp", "tcp"])
def test_a_503_to_an_invite_moves_to_the_next_target(dnsmasq_factory, made, proto):  # noqa: F811
    busy, live = Live(proto, invite_status=503), Live(proto, invite_status=486)
    made(busy)
    made(live)
    d = two_targets(dnsmasq_factory, "busy.test", busy.port, live.port, proto)
    c = Client(d.server, proto)
    made(c)
    t0 = time.monotonic()
    send(c, "INVITE", "sip:bob@busy.test")
    ev = c.wait((T.call_requestfailure, T.call_serverfailure, T.call_noanswer), timeout=10)
    # the program sees the second server's answer, not the 503
    assert ev.type == T.call_requestfailure and ev.response.status_code == 486
    assert time.monotonic() - t0 < 3
    assert [m for _, m in busy.arrived] == ["INVITE"] and [m for _, m in live.arrived] == ["INVITE"]
    assert c.sent("INVITE") == [("127.0.0.1", busy.port), ("127.0.0.1", live.port)]
    # the 503 was acknowledged where it came from (RFC 3261 17.1.1.3), then the 486
    acks = c.sent("ACK")
    assert acks[:1] == [("127.0.0.1", busy.port)] and ("127.0.0.1", live.port) in acks, acks
    assert not [e for e in c.events if getattr(e, "response", None) is not None
                and e.response.status_code == 503]


def test_a_repeated_503_is_acknowledged_again_and_not_a_second_failover(dnsmasq_factory, made):  # noqa: F811
    """A raw server sends 503 twice (as if our ACK were lost): the ACK is sent again, and the
    INVITE goes to the second target once, never to a third."""
    raw = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    raw.bind(("127.0.0.1", 0))
    raw.settimeout(5)
    live, third = Live(invite_status=0), Live()
    made(live)
    made(third)
    try:
        rp = raw.getsockname()[1]
        d = dnsmasq_factory(srv=[("_sip._udp.again.test", "a.again.test", rp, 10, 0),
                                 ("_sip._udp.again.test", "a.again.test", live.port, 20, 0),
                                 ("_sip._udp.again.test", "a.again.test", third.port, 30, 0)],
                            hosts=[("a.again.test", "127.0.0.1")])
        c = Client(d.server)
        made(c)
        send(c, "INVITE", "sip:bob@again.test")
        data, peer = raw.recvfrom(65535)
        head = data.split(b"\r\n\r\n")[0].split(b"\r\n")
        keep = [h if not h.lower().startswith(b"to:") else h + b";tag=busy1" for h in head[1:]
                if h.split(b":")[0].lower() in (b"via", b"from", b"to", b"call-id", b"cseq")]
        resp = b"SIP/2.0 503 Service Unavailable\r\n" + b"\r\n".join(keep) + b"\r\nContent-Length: 0\r\n\r\n"
        raw.sendto(resp, peer)
        acks = []
        end = time.monotonic() + 3
        while len(acks) < 2 and time.monotonic() < end:
            if len(acks) == 1:
                raw.sendto(resp, peer)  # again: "our ACK was lost"
            try:
                got, _ = raw.recvfrom(65535)
            except socket.timeout:
                break
            if got.startswith(b"ACK "):
                acks.append(got)
        assert len(acks) == 2 and all(b"tag=busy1" in a and re.search(rb"CSeq: *\d+ ACK", a) for a in acks), acks
        live.wait_for(T.call_invite)
        time.sleep(0.5)
        assert third.arrived == []
        assert [p for p in c.sent("INVITE") if p[1] != rp] == [("127.0.0.1", live.port)]
    finally:
        raw.close()


# --- CANCEL -------------------------------------------------------------------------------------------

def test_a_cancel_goes_where_its_invite_went_after_failover(dnsmasq_factory, made):  # noqa: F811
    silent, ringing = Silent(socket.IPPROTO_UDP), Live(invite_status=0)
    made(silent)
    made(ringing)
    d = two_targets(dnsmasq_factory, "ring.test", silent.port, ringing.port, socket.IPPROTO_UDP)
    c = Client(d.server)
    made(c)
    cid = send(c, "INVITE", "sip:bob@ring.test")
    ev = c.wait((T.call_ringing,), timeout=BOUND + 5)  # the second target rings
    c.ctx.call_terminate(cid, ev.did)
    ringing.wait_for(T.call_cancelled)
    assert c.sent("CANCEL") == [("127.0.0.1", ringing.port)]
    assert ("127.0.0.1", silent.port) in c.sent("INVITE")


class TryingThen503OnCancel(UdpPeer):
    """A raw server that answers an INVITE 100, and a CANCEL 200 followed by 503 to the INVITE
    (a server refusing in the moment the CANCEL crosses it)."""

    def __init__(self):
        super().__init__()
        self.got = []
        self.invite_head = None
        self.start()

    @staticmethod
    def _answer(status, head, tag=None):
        keep = [h + (b";tag=" + tag if tag and h.lower().startswith(b"to:") else b"") for h in head[1:]
                if h.split(b":")[0].lower() in (b"via", b"from", b"to", b"call-id", b"cseq")]
        return b"SIP/2.0 " + status + b"\r\n" + b"\r\n".join(keep) + b"\r\nContent-Length: 0\r\n\r\n"

    def handle(self, data, peer):
        head = data.split(b"\r\n\r\n")[0].split(b"\r\n")
        method = head[0].split(b" ")[0].decode()
        self.got.append(method)
        if method == "INVITE":
            self.invite_head = head
            self.reply(self._answer(b"100 Trying", head), peer)
        elif method == "CANCEL" and self.invite_head is not None:
            self.reply(self._answer(b"200 OK", head, b"c1"), peer)
            self.reply(self._answer(b"503 Service Unavailable", self.invite_head, b"c1"), peer)


def test_a_503_after_the_cancel_is_final_not_a_failover(dnsmasq_factory, made):  # noqa: F811
    """The program cancelled: a 503 that crosses the CANCEL ends the call attempt; the INVITE is
    not sent to the next target (which would start a call nobody cancels)."""
    first, live = TryingThen503OnCancel(), Live(invite_status=0)
    made(first)
    made(live)
    d = two_targets(dnsmasq_factory, "gone.test", first.port, live.port, socket.IPPROTO_UDP)
    c = Client(d.server)
    made(c)
    cid = send(c, "INVITE", "sip:bob@gone.test")
    deadline = time.monotonic() + 5
    while "INVITE" not in first.got and time.monotonic() < deadline:
        time.sleep(0.02)
    assert "INVITE" in first.got, first.got
    time.sleep(0.2)  # the 100 is in: the CANCEL goes at once
    c.ctx.call_terminate(cid, 0)
    ev = c.wait((T.call_requestfailure, T.call_serverfailure, T.call_globalfailure, T.call_noanswer,
                 T.call_cancelled, T.call_released), timeout=10)
    assert ev is not None
    time.sleep(1.0)  # room for a failover that must not happen
    assert "CANCEL" in first.got and "ACK" in first.got, first.got
    assert [m for _, m in live.arrived] == [], live.arrived
    assert ("127.0.0.1", live.port) not in c.sent("INVITE"), c.sent("INVITE")


# --- TLS through RFC 3263 -----------------------------------------------------------------------------

@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    d = tmp_path_factory.mktemp("pki3263")
    ca = CA(d, "root")
    return {"ca": ca.cert,
            "domain": ca.issue("domain", san="DNS:secure.test"),
            "target": ca.issue("target", san="DNS:srv1.secure.test"),
            "client": ca.issue("client", san="DNS:client.test")}


def tls_records(port):
    return dict(naptr=[("secure.test", 10, 50, "SIPS+D2T", "_sips._tcp.secure.test"),
                       ("secure.test", 20, 50, "SIP+D2U", "_sip._udp.secure.test")],
                srv=[("_sips._tcp.secure.test", "srv1.secure.test", port, 10, 0),
                     ("_sip._udp.secure.test", "srv1.secure.test", 9, 10, 0)],
                hosts=[("srv1.secure.test", "127.0.0.1")])


class TlsClient(Client):
    """A context that listens for TLS, verifies servers against the test root, and asks dnsmasq."""

    def __init__(self, dns_server, pki):
        self.pki = pki
        super().__init__(dns_server, socket.IPPROTO_TCP)

    def _listen(self, proto):
        self.ctx.set_tls(cert=self.pki["client"][0], key=self.pki["client"][1], root_ca=self.pki["ca"],
                         verify=True)
        return self.ctx.listen_on_address("127.0.0.1", proto, port=0, secure=True)

    def sent(self):
        """(ip, port) of every request sent (over TLS they leave from ephemeral local ports)."""
        self.ctx.trace_drain()
        return [t.remote for t in list(self.traces) if t.direction == "sent"]


@pytest.mark.parametrize("uri", ["sips:bob@secure.test", "sip:bob@secure.test;transport=tls"])
def test_tls_follows_naptr_sips_and_checks_the_uri_domain(dnsmasq_factory, made, pki, uri):  # noqa: F811
    server = Live(socket.IPPROTO_TCP, secure=True,
                  tls=dict(cert=pki["domain"][0], key=pki["domain"][1], root_ca=pki["ca"]))
    made(server)
    d = dnsmasq_factory(**tls_records(server.port))
    c = TlsClient(d.server, pki)
    made(c)
    c.ctx.message_send_request(Message(c.ctx, uri, "sips:alice@127.0.0.1"))
    ev = c.wait((T.message_answered, T.message_requestfailure, T.message_serverfailure), timeout=10)
    assert ev.type == T.message_answered, ev
    assert [m for _, m in server.arrived] == ["MESSAGE"]
    # NAPTR for the domain, then the _sips._tcp SRV it named, then the target's address
    asked = [q.split()[1:3] for q in d.queries(at_least=3)]
    assert asked[0] == ["query[NAPTR]", "secure.test"] and ["query[SRV]", "_sips._tcp.secure.test"] in asked


def test_tls_refuses_a_certificate_that_names_only_the_srv_target(dnsmasq_factory, made, pki):  # noqa: F811
    server = Live(socket.IPPROTO_TCP, secure=True,
                  tls=dict(cert=pki["target"][0], key=pki["target"][1], root_ca=pki["ca"]))
    made(server)
    d = dnsmasq_factory(**tls_records(server.port))
    c = TlsClient(d.server, pki)
    made(c)
    c.ctx.message_send_request(Message(c.ctx, "sips:bob@secure.test", "sips:alice@127.0.0.1"))
    ev = c.wait((T.message_answered, T.message_requestfailure, T.message_serverfailure,
                   T.message_globalfailure), timeout=40)
    assert ev.type != T.message_answered
    assert server.arrived == []
    # it was located (the request was handed to TLS for the SRV target's address and port) and
    # refused there: the certificate names srv1.secure.test, the URI's domain is secure.test
    assert c.sent() == [("127.0.0.1", server.port)]


def test_tls_without_srv_uses_the_address_and_5061_rule(dnsmasq_factory, pki):  # noqa: F811
    from exosip2 import utils
    d = dnsmasq_factory(hosts=[("nosrv.secure.test", "127.0.0.1")])
    got = utils.resolve("sips:nosrv.secure.test", d.server)
    assert [(t.transport, t.port) for t in got] == [("TLS", 5061)]


# --- the same through eXosip2 5.3's C API, plain and under valgrind --------------------------------

@pytest.fixture(scope="module")
def failover_invite(tmp_path_factory):
    from test_core_register import _compile
    return _compile(tmp_path_factory, "dns_failover_invite")


@pytest.mark.parametrize("valgrind", [False, True], ids=["plain", "valgrind"])
def test_c_invite_silent_then_503_then_cancel(dnsmasq_factory, failover_invite, valgrind):  # noqa: F811
    import shutil
    import subprocess
    from peers.proc import free_port
    from test_core_register import VALGRIND
    p1, p2, p3 = free_port(), free_port(), free_port()
    d = dnsmasq_factory(srv=[("_sip._udp.cfo.test", "a.cfo.test", p1, 10, 0),
                             ("_sip._udp.cfo.test", "a.cfo.test", p2, 20, 0),
                             ("_sip._udp.cfo.test", "a.cfo.test", p3, 30, 0)],
                        hosts=[("a.cfo.test", "127.0.0.1")])
    cmd = [failover_invite, d.server, "cfo.test", str(p1), str(p2), str(p3)]
    if valgrind:
        assert shutil.which("valgrind"), "valgrind is not installed (apt-get install valgrind)"
        cmd = ["valgrind"] + VALGRIND + cmd
    res = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert res.returncode == 0 and "all checks passed" in res.stdout, res.stdout + res.stderr
    print(res.stdout)


def test_tls_without_naptr_takes_sips_srv_and_fails_over(dnsmasq_factory, made, pki):  # noqa: F811
    """No NAPTR: _sips._tcp SRV (RFC 3263 4.1); its first target refuses the connection, the second
    (whose certificate names the URI's domain) gets the request."""
    from peers.proc import free_port
    server = Live(socket.IPPROTO_TCP, secure=True,
                  tls=dict(cert=pki["domain"][0], key=pki["domain"][1], root_ca=pki["ca"]))
    made(server)
    dead = free_port()
    d = dnsmasq_factory(srv=[("_sips._tcp.secure.test", "srv0.secure.test", dead, 10, 0),
                             ("_sips._tcp.secure.test", "srv1.secure.test", server.port, 20, 0),
                             ("_sip._tcp.secure.test", "srv1.secure.test", 9, 5, 0)],
                        hosts=[("srv0.secure.test", "127.0.0.1"), ("srv1.secure.test", "127.0.0.1")])
    c = TlsClient(d.server, pki)
    made(c)
    c.ctx.message_send_request(Message(c.ctx, "sips:bob@secure.test", "sips:alice@127.0.0.1"))
    ev = c.wait((T.message_answered, T.message_requestfailure, T.message_serverfailure), timeout=15)
    assert ev.type == T.message_answered, ev
    assert [m for _, m in server.arrived] == ["MESSAGE"]
    assert c.sent() == [("127.0.0.1", dead), ("127.0.0.1", server.port)]  # never the plain TCP one


class Raw503(UdpPeer):
    """A UDP socket that answers every request 503 (with *retry_after* when given), counting them."""

    def __init__(self, retry_after=None):
        super().__init__()
        self.retry_after = retry_after
        self.got = []
        self.start()

    def handle(self, data, peer):
        head = data.split(b"\r\n\r\n")[0].split(b"\r\n")
        self.got.append(head[0].split(b" ")[0].decode())
        if head[0].startswith(b"ACK"):
            return
        keep = [h if not h.lower().startswith(b"to:") else h + b";tag=r503" for h in head[1:]
                if h.split(b":")[0].lower() in (b"via", b"from", b"to", b"call-id", b"cseq")]
        if self.retry_after is not None:
            keep.append(b"Retry-After: " + self.retry_after.encode())
        self.reply(b"SIP/2.0 503 Service Unavailable\r\n" + b"\r\n".join(keep)
                   + b"\r\nContent-Length: 0\r\n\r\n", peer)


@pytest.mark.parametrize("retry_after", [None, "30", "120 (maintenance);duration=60"])
def test_a_503_with_retry_after_puts_its_target_last(dnsmasq_factory, made, retry_after):  # noqa: F811
    busy, live = Raw503(retry_after), Live()
    made(busy)
    made(live)
    d = two_targets(dnsmasq_factory, "rest.test", busy.port, live.port, socket.IPPROTO_UDP)
    c = Client(d.server)
    made(c)
    for i in range(2):
        send(c, "MESSAGE", "sip:bob@rest.test")
        deadline = time.monotonic() + 5
        while len(live.arrived) <= i and time.monotonic() < deadline:
            time.sleep(0.02)
        assert len(live.arrived) == i + 1
    # with Retry-After the busy one is asked once (then tried last); without, every request asks it
    assert busy.got.count("MESSAGE") == (2 if retry_after is None else 1), busy.got


# --- a new transaction (a new Via branch) per target -------------------------------------------------

def branch_of(data):
    """The branch of the top Via of the SIP message *data* (bytes)."""
    m = re.search(rb"^(?:via|v)\s*:[^\r\n]*?;\s*branch=([^;,\s]+)", data, re.I | re.M)
    assert m, data[:300]
    return m.group(1).decode()


class RawFirst:
    """The first target, driven by the test: a UDP socket, or a TCP listener whose one connection
    is read here; it reads requests and answers what the test tells it to."""

    def __init__(self, proto):
        self.proto = proto
        kind = socket.SOCK_DGRAM if proto == socket.IPPROTO_UDP else socket.SOCK_STREAM
        self.sock = socket.socket(socket.AF_INET, kind)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.settimeout(0.2)
        if kind == socket.SOCK_STREAM:
            self.sock.listen(4)
        self.port = self.sock.getsockname()[1]
        self.conn = None
        self.peer = None
        self.pending = b""

    def _read(self, deadline):
        """One message (bytes) or None at *deadline*."""
        while time.monotonic() < deadline:
            if self.proto == socket.IPPROTO_UDP:
                try:
                    data, self.peer = self.sock.recvfrom(65535)
                    return data
                except socket.timeout:
                    continue
            if self.conn is None:
                try:
                    self.conn, _ = self.sock.accept()
                    self.conn.settimeout(0.2)
                except socket.timeout:
                    continue
            head, sep, rest = self.pending.partition(b"\r\n\r\n")
            if sep:
                m = re.search(rb"^(?:content-length|l)\s*:\s*(\d+)", head, re.I | re.M)
                n = int(m.group(1)) if m else 0
                if len(rest) >= n:
                    self.pending = rest[n:]
                    return head + sep + rest[:n]
            try:
                got = self.conn.recv(65535)
            except socket.timeout:
                continue
            assert got, "the client closed its connection"
            self.pending += got
        return None

    def expect(self, method, timeout=10):
        deadline = time.monotonic() + timeout
        while True:
            data = self._read(deadline)
            assert data is not None, "no %s at the first target within %s s" % (method, timeout)
            if data.startswith(method.encode() + b" "):
                return data

    def answer(self, req, status, tag):
        head = req.split(b"\r\n\r\n")[0].split(b"\r\n")
        keep = [h + b";tag=" + tag.encode() if h.lower().startswith(b"to:") else h for h in head[1:]
                if h.split(b":")[0].strip().lower() in (b"via", b"from", b"to", b"call-id", b"cseq")]
        out = b"SIP/2.0 " + status.encode() + b"\r\n" + b"\r\n".join(keep) + b"\r\nContent-Length: 0\r\n\r\n"
        if self.proto == socket.IPPROTO_UDP:
            self.sock.sendto(out, self.peer)
        else:
            self.conn.sendall(out)

    def close(self):
        if self.conn is not None:
            self.conn.close()
        self.sock.close()


class BranchLive(Live):
    """A Live (ringing only) that also keeps the top Via branch of each request it got."""

    def __init__(self, proto):
        self.branches = []
        super().__init__(proto, invite_status=0)

    def _on_event(self, ctx, ev):
        if ev.type in (T.call_invite, T.call_cancelled, T.message_new) and ev.request is not None:
            self.branches.append((ev.request.method, branch_of(("Via: " + ev.request.vias[0]).encode())))
        super()._on_event(ctx, ev)


def sent_msgs(c, method, port):
    """What the client sent to 127.0.0.1:*port* whose first line starts with *method* (bytes each)."""
    c.ctx.trace_drain()
    return [t.data for t in list(c.traces) if t.direction == "sent" and t.remote == ("127.0.0.1", port)
            and t.first_line.startswith(method + " ")]


@pytest.mark.parametrize("proto", [socket.IPPROTO_UDP, socket.IPPROTO_TCP], ids=["udp", "tcp"])
@pytest.mark.parametrize("first", ["silent", "503"])
def test_failover_is_a_new_transaction_with_a_new_branch(dnsmasq_factory, made, proto, first):  # noqa: F811
    """RFC 3263 4.3: the request sent to the next target is the same request with a new Via branch
    (a new transaction on the wire); the program keeps its cid and tid. Late answers of the first
    target (its branch) change nothing; the CANCEL and the ACK of the final answer carry the branch
    of the INVITE as the second target got it (RFC 3261 9.1, 17.1.1.3)."""
    raw, live = RawFirst(proto), BranchLive(proto)
    made(raw)
    made(live)
    name = "%s%s.branch.test" % (first, "u" if proto == socket.IPPROTO_UDP else "t")
    d = two_targets(dnsmasq_factory, name, raw.port, live.port, proto)
    c = Client(d.server, proto)
    made(c)
    cid = send(c, "INVITE", "sip:bob@" + name)
    inv1 = raw.expect("INVITE")
    b1 = branch_of(inv1)
    if first == "503":
        raw.answer(inv1, "503 Service Unavailable", "first")
        ack = raw.expect("ACK", timeout=3)
        assert branch_of(ack) == b1 and b"tag=first" in ack  # the 503's ACK: its INVITE's branch
    ringing = c.wait((T.call_ringing,), timeout=BOUND + 8)
    assert ringing.cid == cid
    tid = ringing.tid
    # the second target got the same INVITE with another branch, and only that one
    assert [m for m, _ in live.branches] == ["INVITE"]
    b2 = live.branches[0][1]
    assert b2 != b1 and b2.startswith("z9hG4bK") and len(b2) >= len(b1), (b1, b2)
    assert {branch_of(m) for m in sent_msgs(c, "INVITE", live.port)} == {b2}
    assert {branch_of(m) for m in sent_msgs(c, "INVITE", raw.port)} == {b1}
    before = len(c.events)
    # late answers of the first target, with its branch: nothing changes
    raw.answer(inv1, "180 Ringing", "late")
    raw.answer(inv1, "486 Busy Here", "late")
    raw.answer(inv1, "200 OK", "late")  # a 2xx outside any transaction, before the call has its answer
    if first == "503":
        raw.answer(inv1, "503 Service Unavailable", "first")  # as if our ACK were lost
        again = raw.expect("ACK", timeout=3)
        assert branch_of(again) == b1 and b"tag=first" in again
    time.sleep(1.0)
    assert len(c.events) == before, [(e.type, e.response and e.response.status_code) for e in c.events[before:]]
    assert sent_msgs(c, "INVITE", live.port) and len(sent_msgs(c, "CANCEL", raw.port)) == 0
    # the call goes on with the second target: its CANCEL and the ACK of the 487 carry b2
    c.ctx.call_terminate(cid, ringing.did)
    live.wait_for(T.call_cancelled)
    ev = c.wait((T.call_requestfailure, T.call_noanswer, T.call_serverfailure), timeout=10)
    assert ev.cid == cid and ev.tid == tid and ev.response.status_code == 487, ev
    assert [branch_of(m) for m in sent_msgs(c, "CANCEL", live.port)] == [b2]
    deadline = time.monotonic() + 3
    while not sent_msgs(c, "ACK", live.port) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert {branch_of(m) for m in sent_msgs(c, "ACK", live.port)} == {b2}
    assert sent_msgs(c, "CANCEL", raw.port) == []
    assert all(e.cid == cid for e in c.events if e.cid)
    assert not [e for e in c.events if e.response is not None and ex_tag(e.response) in ("late", "first")]


def ex_tag(resp):
    to = resp.get_header("to") or ""
    m = re.search(r";\s*tag=([^;\s>]+)", to)
    return m.group(1) if m else None


@pytest.mark.parametrize("first", ["silent", "503"])
def test_failover_of_a_message_is_a_new_transaction(dnsmasq_factory, made, first):  # noqa: F811
    """The same for a non-INVITE over UDP: a new branch at the second target, the program's tid
    kept; a late 200 of the first target (its branch) is not taken as the answer."""
    raw, live = RawFirst(socket.IPPROTO_UDP), BranchLive(socket.IPPROTO_UDP)
    made(raw)
    made(live)
    d = two_targets(dnsmasq_factory, first + "m.branch.test", raw.port, live.port, socket.IPPROTO_UDP)
    c = Client(d.server)
    made(c)
    tid = send(c, "MESSAGE", "sip:bob@%sm.branch.test" % first)
    req1 = raw.expect("MESSAGE")
    b1 = branch_of(req1)
    if first == "503":
        raw.answer(req1, "503 Service Unavailable", "first")
    deadline = time.monotonic() + BOUND + 8
    while not live.branches and time.monotonic() < deadline:
        time.sleep(0.02)
    assert [m for m, _ in live.branches] == ["MESSAGE"]
    assert live.branches[0][1] != b1
    ev = c.wait((T.message_answered, T.message_requestfailure, T.message_serverfailure), timeout=5)
    assert ev.type == T.message_answered and ev.tid == tid
    n = len(c.events)
    raw.answer(req1, "200 OK", "late")
    raw.answer(req1, "500 Late", "late")
    time.sleep(0.7)
    assert len(c.events) == n
