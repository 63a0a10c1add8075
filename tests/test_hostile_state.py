# SPDX-License-Identifier: Apache-2.0
"""State a peer can make a context hold, and strictness on the receive path.

A raw socket on 127.0.0.1 plays the hostile (or merely careless) peer against a Context:
- limits (eX_core.h): transactions per source and in total, calls; beyond them 503 with
  Retry-After, and the room comes back when transactions end;
- a confirmed call without traffic is ended with BYE after the idle timeout;
- merged requests (RFC 3261 8.2.2.2) get 482;
- RFC 3261 / RFC 4475 strictness: 505 for other SIP versions, 400 for out-of-range numbers, and
  every message of tests/data/rfc4475 gets the answer class its README gives.
Every wait is bounded; every context and socket is closed by its fixture.
"""

import os
import re
import socket
import time
import uuid

import pytest

from exosip2 import call
from exosip2.event import EventType as T
from uapair import UA, sdp

HERE = os.path.dirname(os.path.abspath(__file__))
RFC4475 = os.path.join(HERE, "data", "rfc4475")

# eX_core.h: EXOSIP_CORE_OPT_BASE + n
OPT_MAX_TRANSACTIONS = 0x10000 + 20
OPT_MAX_TRANSACTIONS_PER_SOURCE = 0x10000 + 21
OPT_MAX_CALLS = 0x10000 + 22
OPT_CALL_IDLE_TIMEOUT = 0x10000 + 23

WAIT = 5.0


def token():
    return uuid.uuid4().hex[:16]


class Peer:
    """A SIP peer on a raw socket: sends text, reads what comes back (bounded waits)."""

    def __init__(self, target_port, transport="udp"):
        self.transport = transport
        self.target = ("127.0.0.1", target_port)
        if transport == "tcp":
            self.sock = socket.create_connection(self.target, timeout=WAIT)
            self.buf = b""
        else:
            self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            self.sock.bind(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]

    def close(self):
        self.sock.close()

    def send(self, text):
        data = text.encode() if isinstance(text, str) else text
        if self.transport == "tcp":
            self.sock.sendall(data)
        else:
            self.sock.sendto(data, self.target)

    def _read_one(self, timeout):
        self.sock.settimeout(timeout)
        if self.transport == "udp":
            return self.sock.recv(65535).decode(errors="replace")
        while b"\r\n\r\n" not in self.buf:
            chunk = self.sock.recv(65535)
            if not chunk:
                raise ConnectionError("connection closed")
            self.buf += chunk
        head, _, rest = self.buf.partition(b"\r\n\r\n")
        m = re.search(rb"(?im)^(?:content-length|l)\s*:\s*(\d+)", head)
        n = int(m.group(1)) if m else 0
        while len(rest) < n:
            rest += self.sock.recv(65535)
        self.buf = rest[n:]
        return (head + b"\r\n\r\n" + rest[:n]).decode(errors="replace")

    def recv(self, timeout=WAIT, skip_provisional=True):
        """The next message (str); 1xx answers are passed over unless asked for."""
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError("nothing received within %.1f s" % timeout)
            msg = self._read_one(left)
            if skip_provisional and re.match(r"SIP/2\.0 1\d\d ", msg):
                continue
            return msg

    def nothing(self, timeout=0.5):
        """Nothing but provisional answers arrives within timeout."""
        try:
            msg = self.recv(timeout)
        except (socket.timeout, AssertionError):
            return
        raise AssertionError("unexpected message: %r" % msg[:200])

    def request(self, method, branch=None, callid=None, ftag=None, cseq=1, to_tag=None, body="", extra="",
                version="SIP/2.0", cseq_method=None, ruri=None, send=True):
        branch = branch or "z9hG4bK" + token()
        callid = callid or token()
        ftag = ftag or token()
        to = "<sip:uas@127.0.0.1:%d>" % self.target[1] + (";tag=%s" % to_tag if to_tag else "")
        proto = "TCP" if self.transport == "tcp" else "UDP"
        text = ("%s %s %s\r\n"
                "Via: SIP/2.0/%s 127.0.0.1:%d;branch=%s;rport\r\n"
                "Max-Forwards: 70\r\n"
                "From: <sip:peer@127.0.0.1:%d>;tag=%s\r\n"
                "To: %s\r\n"
                "Call-ID: %s\r\n"
                "CSeq: %s %s\r\n"
                "Contact: <sip:peer@127.0.0.1:%d;transport=%s>\r\n"
                "%s"
                "%s"
                "Content-Length: %d\r\n\r\n%s") % (
            method, ruri or "sip:uas@127.0.0.1:%d" % self.target[1], version, proto, self.port, branch,
            self.port, ftag, to, callid, cseq, cseq_method or method, self.port, proto.lower(),
            "Content-Type: application/sdp\r\n" if body else "", extra, len(body.encode()), body)
        if send:
            self.send(text)
        return dict(branch=branch, callid=callid, ftag=ftag, cseq=cseq, text=text)


def status_of(msg):
    m = re.match(r"SIP/2\.0 (\d{3}) ", msg)
    assert m, "not a response: %r" % msg[:120]
    return int(m.group(1))


def header(msg, name):
    m = re.search(r"(?im)^%s\s*:\s*(.*?)\r?$" % re.escape(name), msg)
    return m.group(1) if m else None


@pytest.fixture
def ua():
    made = []

    def make(transport="udp", **options):
        u = UA("uas", transport=transport)
        for opt, value in options.items():
            u.ctx.set_option(opt, value)
        made.append(u)
        return u

    yield make
    for u in made:
        u.close()


@pytest.fixture
def peer():
    made = []

    def make(port, transport="udp"):
        p = Peer(port, transport)
        made.append(p)
        return p

    yield make
    for p in made:
        p.close()


def set_limits(u, **limits):
    names = dict(max_transactions=OPT_MAX_TRANSACTIONS, per_source=OPT_MAX_TRANSACTIONS_PER_SOURCE,
                 max_calls=OPT_MAX_CALLS, idle=OPT_CALL_IDLE_TIMEOUT)
    for name, value in limits.items():
        u.ctx.set_option(names[name], value)


# --- limits on transactions and calls ------------------------------------------------------------

def test_per_source_limit_answers_503_and_retired_transactions_make_room(ua, peer):
    u = ua()
    set_limits(u, per_source=4)
    p = peer(u.port)
    sent = [p.request("OPTIONS") for _ in range(4)]
    tids = [u.expect(T.message_new).tid for _ in sent]
    # the fifth live transaction from this address is refused, statelessly, with Retry-After
    p.request("OPTIONS")
    busy = p.recv()
    assert status_of(busy) == 503
    assert header(busy, "Retry-After") is not None and int(header(busy, "Retry-After")) > 0
    u.expect_nothing()
    # once answered, the transactions only absorb retransmissions: the oldest make room
    for tid in tids:
        u.ctx.options_send_answer(tid, 200)
    assert sorted(status_of(p.recv()) for _ in tids) == [200] * 4
    for _ in range(3):
        p.request("OPTIONS")
        assert u.expect(T.message_new).tid > 0
    # another address is not affected by this one's count (the limit is per source)
    other = Peer(u.port)
    try:
        other.sock.close()
        other.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        other.sock.bind(("127.0.0.2", 0))
        other.port = other.sock.getsockname()[1]
        other.request("OPTIONS")
        assert u.expect(T.message_new).tid > 0
    finally:
        other.close()


def test_total_limit_answers_503_and_ended_transactions_free_it(ua, peer):
    u = ua(transport="tcp")
    set_limits(u, max_transactions=16)
    p = peer(u.port, "tcp")
    for _ in range(16):
        p.request("OPTIONS")
    tids = [u.expect(T.message_new).tid for _ in range(16)]
    p.request("OPTIONS")
    assert status_of(p.recv()) == 503
    u.expect_nothing()
    # over TCP an answered non-INVITE transaction ends at once (Timer J is zero): all room is back
    for tid in tids:
        u.ctx.options_send_answer(tid, 200)
    assert [status_of(p.recv()) for _ in tids] == [200] * 16
    deadline = time.monotonic() + WAIT
    accepted = 0
    while accepted < 16 and time.monotonic() < deadline:
        p.request("OPTIONS")
        ev = u.events.get(timeout=WAIT)
        assert ev.type == T.message_new
        accepted += 1
        u.ctx.options_send_answer(ev.tid, 200)
        assert status_of(p.recv()) == 200
    assert accepted == 16


def test_call_limit_answers_503_to_new_invites_only(ua, peer):
    u = ua()
    set_limits(u, max_calls=2)
    p = peer(u.port)
    body = sdp("peer", 40000)
    for _ in range(2):
        p.request("INVITE", body=body)
    evs = [u.expect(T.call_invite) for _ in range(2)]
    p.request("INVITE", body=body)
    busy = p.recv()
    assert status_of(busy) == 503 and header(busy, "CSeq").endswith("INVITE")
    assert header(busy, "Retry-After") is not None
    u.expect_nothing()
    # OPTIONS is not a call: still served
    p.request("OPTIONS")
    u.expect(T.message_new)
    # a call that ends frees its place
    u.ctx.call_send_answer(evs[0].tid, 486)
    assert status_of(p.recv()) == 486
    u.expect(T.call_released)
    p.request("INVITE", body=body)
    assert u.expect(T.call_invite).cid > 0


def test_ack_is_never_answered_even_when_full(ua, peer):
    u = ua()
    set_limits(u, per_source=1)
    p = peer(u.port)
    p.request("OPTIONS")
    u.expect(T.message_new)
    p.request("ACK", to_tag="x" + token())
    p.nothing()


def mutated(rnd, data):
    """data with a few random byte changes, deletions, insertions or repeats."""
    b = bytearray(data)
    for _ in range(rnd.randint(1, 3)):
        op, i = rnd.random(), rnd.randrange(len(b))
        if op < 0.5:
            b[i] = rnd.randrange(256)
        elif op < 0.7:
            del b[i:i + rnd.randint(1, 20)]
        elif op < 0.9:
            b[i:i] = bytes(rnd.randrange(256) for _ in range(rnd.randint(1, 8)))
        else:
            b[i:i] = b[i:i + rnd.randint(1, 200)] * rnd.randint(1, 4)
    return bytes(b)


def test_mutated_flood_holds_no_more_than_the_limits(ua, peer):
    """A bounded flood of new and mutated INVITE/OPTIONS/BYE/REGISTER datagrams that nobody
    answers: the context hands the program at most max_calls calls and max_transactions requests,
    answers the rest 503 (or nothing, for garbage), and keeps refusing new work while they are held."""
    import random
    rnd = random.Random(4475)
    u = ua()
    set_limits(u, max_transactions=64, per_source=64, max_calls=8)
    p = peer(u.port)
    p.sock.setblocking(False)
    kinds = ["INVITE", "OPTIONS", "BYE", "REGISTER"]
    busy = sent = 0
    for i in range(3000):
        method = kinds[i % 4]
        body = sdp("peer", 40000) if method == "INVITE" else ""
        data = p.request(method, body=body, send=False)["text"].encode()
        p.sock.sendto(mutated(rnd, data) if rnd.random() < 0.5 else data, p.target)
        sent += 1
        try:
            while True:
                if p.sock.recv(65535).startswith(b"SIP/2.0 503 "):
                    busy += 1
        except (BlockingIOError, OSError):
            pass
    p.sock.setblocking(True)
    deadline = time.monotonic() + 2.0
    while time.monotonic() < deadline:
        try:
            p.sock.settimeout(0.2)
            if p.sock.recv(65535).startswith(b"SIP/2.0 503 "):
                busy += 1
        except (socket.timeout, OSError):
            break
    calls = requests = 0
    while True:
        try:
            ev = u.events.get(timeout=0.3)
        except Exception:
            break
        calls += ev.type == T.call_invite
        requests += ev.type in (T.call_invite, T.message_new)
    assert sent == 3000 and busy > 0
    assert calls <= 8 and requests <= 64, (calls, requests)
    # the transactions of the flood are still held (nobody answered): new work is refused ...
    p.request("OPTIONS")
    assert status_of(p.recv()) == 503


# --- a confirmed call that nobody ends ----------------------------------------------------------

def test_idle_call_is_ended_with_bye_and_released(ua, peer):
    u = ua()
    set_limits(u, idle=1)
    p = peer(u.port)
    inv = p.request("INVITE", body=sdp("peer", 40000))
    ev = u.expect(T.call_invite)
    ok = call.Answer(u.ctx, ev.tid, 200)
    ok.add_body(sdp("uas", 41000))
    ok.content_type = "application/sdp"
    ok.send()
    resp = p.recv()
    assert status_of(resp) == 200
    to = header(resp, "To")
    p.send("ACK sip:uas@127.0.0.1:%d SIP/2.0\r\n"
           "Via: SIP/2.0/UDP 127.0.0.1:%d;branch=z9hG4bK%s;rport\r\n"
           "Max-Forwards: 70\r\nFrom: <sip:peer@127.0.0.1:%d>;tag=%s\r\nTo: %s\r\n"
           "Call-ID: %s\r\nCSeq: 1 ACK\r\nContent-Length: 0\r\n\r\n"
           % (u.port, p.port, token(), p.port, inv["ftag"], to, inv["callid"]))
    u.expect(T.call_ack)
    # the peer now stays silent: after the idle timeout our BYE arrives
    bye = p.recv(timeout=10)
    assert bye.startswith("BYE sip:peer@127.0.0.1:%d" % p.port)
    assert header(bye, "Call-ID") == inv["callid"]
    assert header(bye, "Reason") is not None
    closed = u.expect(T.call_closed, timeout=10)
    assert closed.cid == ev.cid
    via = header(bye, "Via")
    p.send("SIP/2.0 200 OK\r\nVia: %s\r\nFrom: %s\r\nTo: %s\r\nCall-ID: %s\r\nCSeq: %s\r\n"
           "Content-Length: 0\r\n\r\n" % (via, header(bye, "From"), header(bye, "To"), inv["callid"],
                                          header(bye, "CSeq")))
    ev_rel = u.expect(T.call_released, T.call_message_answered, timeout=10)
    if ev_rel.type == T.call_message_answered:
        ev_rel = u.expect(T.call_released, timeout=10)
    assert ev_rel.cid == ev.cid


def test_idle_timeout_zero_keeps_the_call(ua, peer):
    u = ua()
    set_limits(u, idle=0)
    p = peer(u.port)
    inv = p.request("INVITE", body=sdp("peer", 40000))
    ev = u.expect(T.call_invite)
    ok = call.Answer(u.ctx, ev.tid, 200)
    ok.add_body(sdp("uas", 41000))
    ok.content_type = "application/sdp"
    ok.send()
    resp = p.recv()
    p.send("ACK sip:uas@127.0.0.1:%d SIP/2.0\r\n"
           "Via: SIP/2.0/UDP 127.0.0.1:%d;branch=z9hG4bK%s;rport\r\n"
           "Max-Forwards: 70\r\nFrom: <sip:peer@127.0.0.1:%d>;tag=%s\r\nTo: %s\r\n"
           "Call-ID: %s\r\nCSeq: 1 ACK\r\nContent-Length: 0\r\n\r\n"
           % (u.port, p.port, token(), p.port, inv["ftag"], header(resp, "To"), inv["callid"]))
    u.expect(T.call_ack)
    p.nothing(timeout=2.0)
    u.expect_nothing(timeout=0.2)


# --- merged requests ------------------------------------------------------------------------------

@pytest.mark.parametrize("method", ["INVITE", "OPTIONS"])
def test_merged_request_gets_482(ua, peer, method):
    u = ua()
    p = peer(u.port)
    body = sdp("peer", 40000) if method == "INVITE" else ""
    first = p.request(method, body=body)
    u.expect(T.call_invite if method == "INVITE" else T.message_new)
    # the same request by another path: same From tag, Call-ID and CSeq, another branch
    p.request(method, callid=first["callid"], ftag=first["ftag"], cseq=first["cseq"], body=body)
    loop = p.recv()
    assert status_of(loop) == 482
    assert header(loop, "Call-ID") == first["callid"]
    u.expect_nothing()
    # a retransmission (same branch) is not a merge: it gets nothing new
    p.send(first["text"])
    p.nothing()
    # a new CSeq is a new request
    p.request(method, callid=first["callid"], ftag=first["ftag"], cseq=first["cseq"] + 1, body=body)
    if method == "OPTIONS":
        u.expect(T.message_new)


def test_request_sent_again_after_a_final_answer_is_not_a_merge(ua, peer):
    u = ua()
    p = peer(u.port)
    first = p.request("OPTIONS")
    u.ctx.options_send_answer(u.expect(T.message_new).tid, 404)
    assert status_of(p.recv()) == 404
    # same From tag, Call-ID and CSeq, new branch, after the final answer: served, not 482
    p.request("OPTIONS", callid=first["callid"], ftag=first["ftag"], cseq=first["cseq"])
    u.expect(T.message_new)
    p.nothing()


# --- strictness ------------------------------------------------------------------------------------

@pytest.mark.parametrize("transport", ["udp", "tcp"])
def test_other_sip_version_gets_505(ua, peer, transport):
    u = ua(transport=transport)
    p = peer(u.port, transport)
    p.request("OPTIONS", version="SIP/7.0")
    assert status_of(p.recv()) == 505
    u.expect_nothing()


@pytest.mark.parametrize("cseq,expected", [("2147483648", 400), ("4294967296", 400),
                                           ("36893488147419103232", 400), ("-1", 400), ("1x", 400)])
def test_cseq_out_of_range_gets_400(ua, peer, cseq, expected):
    u = ua()
    p = peer(u.port)
    p.request("OPTIONS", cseq=cseq)
    assert status_of(p.recv()) == expected
    u.expect_nothing()


def test_largest_cseq_and_leading_zeros_are_accepted(ua, peer):
    u = ua()
    p = peer(u.port)
    p.request("OPTIONS", cseq="2147483647")
    u.expect(T.message_new)
    p.request("OPTIONS", cseq="0009")
    u.expect(T.message_new)


@pytest.mark.parametrize("extra", ["Max-Forwards: 300\r\n", "Max-Forwards: 7x\r\n"])
def test_out_of_range_scalars_get_400(ua, peer, extra):
    u = ua()
    p = peer(u.port)
    text = p.request("OPTIONS", extra=extra)["text"]
    assert extra in text
    assert status_of(p.recv()) == 400
    u.expect_nothing()


def test_missing_headers_get_400_when_a_via_exists(ua, peer):
    u = ua()
    p = peer(u.port)
    p.send("OPTIONS sip:uas@127.0.0.1:%d SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:%d;branch=z9hG4bK%s\r\n"
           "Max-Forwards: 70\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n" % (u.port, p.port, token()))
    assert status_of(p.recv()) == 400
    # a bad ACK is never answered
    p.send("ACK sip:uas@127.0.0.1:%d SIP/7.0\r\nVia: SIP/2.0/UDP 127.0.0.1:%d;branch=z9hG4bK%s\r\n"
           "Max-Forwards: 70\r\nCSeq: 1 ACK\r\nContent-Length: 0\r\n\r\n" % (u.port, p.port, token()))
    p.nothing()
    u.expect_nothing()


# --- RFC 4475 ---------------------------------------------------------------------------------------

def rfc4475_expectations():
    """NAME -> expected class, from tests/data/rfc4475/README (lines `NAME  CLASS  ...`)."""
    table = {}
    with open(os.path.join(RFC4475, "README")) as f:
        for line in f:
            m = re.match(r"^(\w+)\s+(valid|accept|400|505|drop)\b", line)
            if m:
                table[m.group(1)] = m.group(2)
    return table


def test_rfc4475_readme_lists_every_file():
    table = rfc4475_expectations()
    files = sorted(n[:-4] for n in os.listdir(RFC4475) if n.endswith(".sip"))
    assert files and sorted(table) == files


@pytest.mark.parametrize("name", sorted(rfc4475_expectations()))
def test_rfc4475_message(ua, peer, name):
    expected = rfc4475_expectations()[name]
    u = ua()
    p = peer(u.port)
    with open(os.path.join(RFC4475, name + ".sip"), "rb") as f:
        data = f.read()
    p.send(data)
    # answers go to the Via of the message (example hosts), not to us: what we can check is what
    # reaches our socket (the source address, with rport semantics for stateless answers) and the
    # events of the context
    got = []
    deadline = time.monotonic() + 1.0
    while time.monotonic() < deadline:
        try:
            got.append(p.recv(timeout=max(0.05, deadline - time.monotonic()), skip_provisional=False))
        except (socket.timeout, AssertionError):
            break
    statuses = [status_of(m) for m in got if m.startswith("SIP/2.0 ")]
    if expected in ("400", "505"):
        assert statuses and statuses[0] == int(expected), (name, statuses)
        u.expect_nothing(timeout=0.1)
    elif expected == "drop":
        assert not statuses, (name, statuses)
        u.expect_nothing(timeout=0.1)
    elif expected in ("valid", "accept"):
        assert not any(s in (400, 505) for s in statuses), (name, statuses)
    # every case: the context still serves a normal request afterwards
    probe = p.request("OPTIONS")
    deadline = time.monotonic() + WAIT
    while True:
        ev = u.events.get(timeout=max(0.1, deadline - time.monotonic()))
        if ev.type == T.message_new and ev.request.call_id == probe["callid"]:
            break
