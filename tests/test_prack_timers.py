# SPDX-License-Identifier: Apache-2.0
"""Reliable provisional responses (RFC 3262) and session timers (RFC 4028) against SIPp and raw sockets.

Our side is a Context driven from the test (tests/uapair.UA); the other side is a SIPp scenario of
tests/scenarios (prack_*.xml, timer_*.xml) or a UDP socket speaking SIP by hand (the hostile cases).
"""

import re
import socket
import time

import pytest

from exosip2 import call
from exosip2.event import EventType as T
from exosip2.options import Option
from peers.sipp_fixtures import scenario, sipp_factory  # noqa: F401  (fixture)
from uapair import UA, sdp

pytestmark = pytest.mark.peers

TRANSPORTS = ["udp", "tcp"]
# SIPp logs "Overload warning: the minor watchdog timer ..." when its own loop waits over 500 ms for
# the CPU, which a shared 2-core machine does; only a 2 s stall counts here (calls still must pass).
SIPP_EXTRA = ("-watchdog_minor_threshold", "2000")


@pytest.fixture
def ua_factory():
    made = []

    def make(name="sut", transport="udp"):
        ua = UA(name, transport=transport)
        made.append(ua)
        return ua

    yield make
    for ua in made:
        ua.close()


def _answer(ua, tid, status, body=True, headers=()):
    ans = call.Answer(ua.ctx, tid, status)
    for name, value in headers:
        ans.add_header(name, value)
    if body:
        ans.set_body(sdp("sut", 30000), "application/sdp")
    ans.send()


def _start_sipp(sipp_factory, name, ua, transport, **kw):  # noqa: F811
    return sipp_factory(scenario(name), "127.0.0.1:%d" % ua.port, transport=transport, calls=1,
                        timeout_s=30, trace_messages=True, extra=SIPP_EXTRA, **kw).start(wait_bound=False)


# ---------------------------------------------------------------------------------------------
# PRACK, UAS side: SIPp requires 100rel and PRACKs our 183


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_sipp_caller_requiring_100rel_gets_a_reliable_183_and_the_200_after_its_prack(
        transport, ua_factory, sipp_factory):  # noqa: F811
    ua = ua_factory(transport=transport)
    client = _start_sipp(sipp_factory, "prack_caller", ua, transport)
    inv = ua.expect(T.call_invite, timeout=10)
    assert "100rel" in (inv.request.get_header("Require") or "")
    _answer(ua, inv.tid, 183, headers=[("Require", "100rel")])
    # sent at once, but held by the core until the PRACK: the 183 carried SDP (RFC 3262 3)
    _answer(ua, inv.tid, 200)
    pr = ua.expect(T.call_message_new)
    assert pr.request.method == "PRACK"
    assert pr.did == inv.did and pr.cid == inv.cid
    _answer(ua, pr.tid, 200, body=False)
    ua.expect(T.call_ack)
    ua.expect_bye(timeout=10)
    result = client.wait()
    result.assert_clean(1)
    got = [text for _, direction, text in result.messages if direction == "received"]
    rel = [t for t in got if t.startswith("SIP/2.0 183")]
    assert rel, result.describe()
    assert len({re.search(r"RSeq: *(\d+)", t).group(1) for t in rel}) == 1  # retransmissions keep RSeq
    # the 200 of the INVITE comes only after the PRACK's 200
    order = ["%s %s" % (t.split()[1], _cseq_method(t)) for t in got if t.startswith("SIP/2.0 2")]
    assert order.index("200 PRACK") < order.index("200 INVITE"), order


# ---------------------------------------------------------------------------------------------
# PRACK, UAC side: SIPp sends a reliable 183 with SDP and waits for our PRACK before its 200


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_our_prack_answers_a_reliable_183_from_sipp(transport, ua_factory, sipp_factory):  # noqa: F811
    ua = ua_factory("caller", transport=transport)
    server = sipp_factory(scenario("prack_callee"), transport=transport, timeout_s=30,
                          trace_messages=True, extra=SIPP_EXTRA).start()
    target = "sip:callee@127.0.0.1:%d" % server.port + (";transport=tcp" if transport == "tcp" else "")
    inv = call.InitInvite(ua.ctx, target, ua.uri, subject="prack")
    inv.add_header("Supported", "100rel")
    inv.set_body(sdp("caller", 30002), "application/sdp")
    inv.send()
    ring = ua.expect(T.call_ringing, timeout=10)
    assert ring.response.status_code == 183 and ring.response.get_header("RSeq") == "1"
    prack = call.Prack(ua.ctx, ring.tid, ring.response)
    assert prack.get_header("RAck") == "1 %s INVITE" % ring.request.get_header("CSeq").split()[0]
    prack.send()
    # a second PRACK for the same 1xx is refused, as in eXosip2
    from exosip2.error import OsipWrongState
    with pytest.raises(OsipWrongState):
        call.Prack(ua.ctx, ring.tid, ring.response)
    got = ua.expect(T.call_message_answered, T.call_answered, timeout=10)
    if got.type == T.call_message_answered:
        assert got.request.method == "PRACK" and got.response.status_code == 200
        got = ua.expect(T.call_answered, timeout=10)
    assert got.response.status_code == 200
    ua.ctx.call_send_ack(tid=got.tid)
    # a retransmitted 183 (SIPp resends it until the PRACK arrives) is not reported again
    time.sleep(0.3)
    ua.ctx.call_terminate(got.cid, got.did)
    bye = ua.expect(T.call_message_answered, timeout=10)
    assert bye.request.method == "BYE" and bye.response.status_code == 200
    ua.expect(T.call_released, timeout=5)
    res = server.stop()
    assert res.failed == 0 and not res.errors, res.describe()
    assert res.stat("IncomingCall") == 1, res.describe()


# ---------------------------------------------------------------------------------------------
# Hostile PRACKs over a raw UDP socket


class RawPeer:
    """A UDP socket that speaks SIP by hand to a context."""

    def __init__(self, target_port):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.target = ("127.0.0.1", target_port)
        self.n = 0

    def close(self):
        self.sock.close()

    def send(self, text):
        self.sock.sendto(text.replace("\n", "\r\n").encode(), self.target)

    def recv_all(self, duration):
        out, end = [], time.monotonic() + duration
        while time.monotonic() < end:
            try:
                data, _ = self.sock.recvfrom(65535)
            except socket.timeout:
                continue
            out.append(data.decode(errors="replace"))
        return out

    def wait_for(self, pred, timeout=5.0):
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            try:
                data, _ = self.sock.recvfrom(65535)
            except socket.timeout:
                continue
            text = data.decode(errors="replace")
            if pred(text):
                return text
        raise AssertionError("no matching message within %.1f s" % timeout)

    def request(self, method, cseq, to_tag=None, extra="", branch=None, body=""):
        self.n += 1
        branch = branch or "z9hG4bKraw%d%d" % (self.port, self.n)
        to = "<sip:sut@127.0.0.1:%d>" % self.target[1] + (";tag=%s" % to_tag if to_tag else "")
        msg = ("%s sip:sut@127.0.0.1:%d SIP/2.0\n"
               "Via: SIP/2.0/UDP 127.0.0.1:%d;branch=%s\n"
               "From: <sip:raw@127.0.0.1:%d>;tag=rawtag\n"
               "To: %s\n"
               "Call-ID: raw-%d@127.0.0.1\n"
               "CSeq: %d %s\n"
               "Contact: <sip:raw@127.0.0.1:%d>\n"
               "Max-Forwards: 70\n%s"
               "Content-Length: %d\n\n%s") % (method, self.target[1], self.port, branch, self.port, to,
                                              self.port, cseq, method, self.port, extra, len(body), body)
        self.send(msg)
        return branch


def _status(text):
    return int(text.split(" ", 2)[1])


def _cseq_method(text):
    return re.search(r"CSeq: *\d+ (\w+)", text).group(1)


@pytest.fixture
def raw_call(ua_factory):
    """A context that answered a raw INVITE (Supported: 100rel) with a reliable 183 and SDP."""
    ua = ua_factory()
    peer = RawPeer(ua.port)
    peer.request("INVITE", 1, extra="Supported: 100rel\nContent-Type: application/sdp\n",
                 body=sdp("raw", 30004).replace("\r\n", "\n"))
    inv = ua.expect(T.call_invite)
    _answer(ua, inv.tid, 183, headers=[("Require", "100rel")])
    first = peer.wait_for(lambda t: t.startswith("SIP/2.0 183"))
    tag = re.search(r"To: [^\r\n]*;tag=([^;\s]+)", first).group(1)
    rseq = int(re.search(r"RSeq: *(\d+)", first).group(1))
    yield ua, peer, inv, tag, rseq
    peer.close()


def test_reliable_183_is_retransmitted_with_t1_doubling_until_prack(raw_call):
    ua, peer, inv, tag, rseq = raw_call
    t0 = time.monotonic()
    seen = [m for m in peer.recv_all(1.9) if m.startswith("SIP/2.0 183")]
    # T1 = 0.5 s, then 1 s: two retransmissions within 1.9 s, same RSeq
    assert len(seen) == 2, seen
    assert all(int(re.search(r"RSeq: *(\d+)", m).group(1)) == rseq for m in seen)
    peer.request("PRACK", 2, tag, "RAck: %d 1 INVITE\n" % rseq)
    pr = ua.expect(T.call_message_new)
    assert pr.request.method == "PRACK"
    _answer(ua, pr.tid, 200, body=False)
    assert _status(peer.wait_for(lambda t: _cseq_method(t) == "PRACK")) == 200
    # no more 183 after the PRACK
    assert not [m for m in peer.recv_all(1.2) if m.startswith("SIP/2.0 183")]
    assert time.monotonic() - t0 < 10


def test_hostile_pracks_get_400_or_481_and_the_right_one_goes_through(raw_call):
    ua, peer, inv, tag, rseq = raw_call
    cases = [
        ("", 400),                                     # no RAck
        ("RAck: garbage\n", 400),                       # unparsable
        ("RAck: %d\n" % rseq, 400),                     # truncated
        ("RAck: %d 1 INVITE trailing\n" % rseq, 400),   # trailing junk
        ("RAck: 0 1 INVITE\n", 400),                    # RSeq 0 is not valid
        ("RAck: %d 1 INVITE\n" % (rseq + 7), 481),      # unknown RSeq
        ("RAck: %d 9 INVITE\n" % rseq, 481),            # wrong CSeq
        ("RAck: %d 1 BYE\n" % rseq, 481),               # wrong method
        ("RAck: 99999999999999999999 1 INVITE\n", 481),  # out of range: matches nothing
    ]
    cseq = 2
    for extra, want in cases:
        peer.request("PRACK", cseq, tag, extra)
        got = peer.wait_for(lambda t: t.startswith("SIP/2.0") and _cseq_method(t) == "PRACK"
                            and ("CSeq: %d " % cseq) in t)
        assert _status(got) == want, (extra, got)
        cseq += 1
    ua.expect_nothing(0.2)
    # PRACK outside any dialog
    peer.request("PRACK", 50, None, "RAck: %d 1 INVITE\n" % rseq)
    assert _status(peer.wait_for(lambda t: "CSeq: 50 PRACK" in t)) == 481
    # the right one
    peer.request("PRACK", cseq, tag, "RAck: %d 1 INVITE\n" % rseq)
    pr = ua.expect(T.call_message_new)
    _answer(ua, pr.tid, 200, body=False)
    assert _status(peer.wait_for(lambda t: ("CSeq: %d PRACK" % cseq) in t)) == 200
    # a duplicate (new transaction, same RAck) matches no unacknowledged 1xx
    peer.request("PRACK", cseq + 1, tag, "RAck: %d 1 INVITE\n" % rseq)
    assert _status(peer.wait_for(lambda t: ("CSeq: %d PRACK" % (cseq + 1)) in t)) == 481
    ua.expect_nothing(0.2)
    # the call goes on: 200 to the INVITE
    _answer(ua, inv.tid, 200)
    assert _status(peer.wait_for(lambda t: "CSeq: 1 INVITE" in t and t.startswith("SIP/2.0 200"))) == 200


def test_second_reliable_1xx_before_the_prack_is_refused(raw_call):
    ua, peer, inv, tag, rseq = raw_call
    from exosip2.error import OsipWrongState
    ans = call.Answer(ua.ctx, inv.tid, 180)
    ans.add_header("Require", "100rel")
    with pytest.raises(OsipWrongState):
        ans.send()
    peer.request("PRACK", 2, tag, "RAck: %d 1 INVITE\n" % rseq)
    pr = ua.expect(T.call_message_new)
    _answer(ua, pr.tid, 200, body=False)
    ans = call.Answer(ua.ctx, inv.tid, 180)
    ans.add_header("Require", "100rel")
    ans.send()
    nxt = peer.wait_for(lambda t: t.startswith("SIP/2.0 180"))
    assert int(re.search(r"RSeq: *(\d+)", nxt).group(1)) == rseq + 1


def test_invite_requiring_an_unknown_extension_gets_420(ua_factory):
    ua = ua_factory()
    peer = RawPeer(ua.port)
    try:
        peer.request("INVITE", 1, extra="Require: 100rel, foo, precondition\n")
        got = peer.wait_for(lambda t: t.startswith("SIP/2.0 4"))
        assert _status(got) == 420
        assert re.search(r"Unsupported: *foo, precondition", got), got
        ua.expect_nothing(0.3)
    finally:
        peer.close()


# ---------------------------------------------------------------------------------------------
# Session timers


def _timer_ua(ua_factory, name, transport, force=False):
    ua = ua_factory(name, transport=transport)
    ua.ctx.set_option(Option.MIN_SESSION_EXPIRES, 1)  # a lab: intervals of seconds
    if force:
        ua.ctx.set_option(Option.SET_SESSIONTIMERS_FORCE, 1)
    return ua


def _call_sipp_callee(ua, sipp_factory, scen, transport, headers):  # noqa: F811
    server = sipp_factory(scenario(scen), transport=transport, timeout_s=40, trace_messages=True,
                          extra=SIPP_EXTRA).start()
    target = "sip:callee@127.0.0.1:%d" % server.port + (";transport=tcp" if transport == "tcp" else "")
    inv = call.InitInvite(ua.ctx, target, ua.uri, subject="timer")
    for name, value in headers:
        inv.add_header(name, value)
    inv.set_body(sdp("caller", 30006), "application/sdp")
    inv.send()
    return server


@pytest.mark.parametrize("transport", TRANSPORTS)
@pytest.mark.parametrize("scen, method", [("timer_callee_update", "UPDATE"), ("timer_callee_reinvite", "INVITE")])
def test_we_refresh_before_half_the_interval(scen, method, transport, ua_factory, sipp_factory):  # noqa: F811
    ua = _timer_ua(ua_factory, "caller", transport)
    server = _call_sipp_callee(ua, sipp_factory, scen, transport,
                               [("Supported", "timer"), ("Session-Expires", "6"), ("Min-SE", "1")])
    ans = ua.expect(T.call_answered, timeout=10)
    ua.ctx.call_send_ack(tid=ans.tid)
    t0 = time.monotonic()
    # SIPp fails the call unless the refresh comes within 3 s of the ACK (half of 6 s)
    got = ua.expect(T.call_message_answered, T.call_answered, timeout=5)
    assert got.request.method == method and got.response.status_code == 200
    # 45% of 6 s after the 2xx; SIPp's 3 s recv timeout is the strict bound on the late side
    assert 1.5 < time.monotonic() - t0 < 3.5
    if method == "INVITE":
        assert got.tid != ans.tid  # the refresh re-INVITE, acknowledged by the core itself
    ua.ctx.call_terminate(ans.cid, ans.did)
    bye = ua.expect(T.call_message_answered, timeout=10)
    assert bye.request.method == "BYE" and bye.response.status_code == 200
    ua.expect(T.call_released, timeout=5)
    res = server.stop()
    assert res.failed == 0 and not res.errors and res.stat("IncomingCall") == 1, res.describe()


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_a_session_whose_refresh_never_comes_is_ended_with_bye(transport, ua_factory, sipp_factory):  # noqa: F811
    ua = _timer_ua(ua_factory, "sut", transport)
    client = _start_sipp(sipp_factory, "timer_caller_norefresh", ua, transport)
    inv = ua.expect(T.call_invite, timeout=10)
    _answer(ua, inv.tid, 200)  # the core adds Session-Expires: 6;refresher=uac and Require: timer
    ua.expect(T.call_ack)
    t0 = time.monotonic()
    closed = ua.expect(T.call_closed, timeout=8)
    # 6 s - min(32 s, 6/3 s): the BYE goes 4 s after the session started
    assert 3.5 < time.monotonic() - t0 < 5.0
    assert closed.cid == inv.cid
    bye = ua.expect(T.call_message_answered, timeout=10)
    assert bye.request.method == "BYE" and bye.response.status_code == 200
    ua.expect(T.call_released, timeout=5)
    client.wait().assert_clean(1)


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_refreshes_from_the_peer_keep_the_call_past_its_interval(transport, ua_factory, sipp_factory):  # noqa: F811
    ua = _timer_ua(ua_factory, "sut", transport)
    client = _start_sipp(sipp_factory, "timer_caller_refresher", ua, transport)
    inv = ua.expect(T.call_invite, timeout=10)
    _answer(ua, inv.tid, 200)
    ua.expect(T.call_ack)
    for _ in range(3):
        upd = ua.expect(T.call_message_new, timeout=5)
        assert upd.request.method == "UPDATE"
        _answer(ua, upd.tid, 200, body=False)  # the core adds Session-Expires
    ua.expect_bye(timeout=5)  # SIPp's BYE, 7.5 s after the start: no BYE of ours
    client.wait().assert_clean(1)


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_422_is_answered_with_the_larger_min_se(transport, ua_factory, sipp_factory):  # noqa: F811
    ua = _timer_ua(ua_factory, "caller", transport)
    server = _call_sipp_callee(ua, sipp_factory, "timer_callee_422", transport,
                               [("Supported", "timer"), ("Session-Expires", "4"), ("Min-SE", "4")])
    refused = ua.expect(T.call_requestfailure, timeout=10)
    assert refused.response.status_code == 422
    ans = ua.expect(T.call_answered, timeout=10)  # the INVITE sent again by automatic_action
    assert ans.tid != refused.tid
    ua.ctx.call_send_ack(tid=ans.tid)
    time.sleep(0.2)
    ua.ctx.call_terminate(ans.cid, ans.did)
    bye = ua.expect(T.call_message_answered, timeout=10)
    assert bye.request.method == "BYE" and bye.response.status_code == 200
    ua.expect(T.call_released, timeout=5)
    res = server.stop()
    assert res.failed == 0 and not res.errors and res.stat("IncomingCall") == 1, res.describe()


def test_invite_asking_for_a_session_below_our_minimum_gets_422(ua_factory):
    ua = ua_factory()  # default minimum: 90 s
    peer = RawPeer(ua.port)
    try:
        peer.request("INVITE", 1, extra="Supported: timer\nSession-Expires: 30\n")
        got = peer.wait_for(lambda t: t.startswith("SIP/2.0 4"))
        assert _status(got) == 422 and re.search(r"Min-SE: *90", got), got
        ua.expect_nothing(0.3)
        # hostile Session-Expires values never crash: garbage, huge, negative
        for n, value in enumerate(["abc", "99999999999999999999", "-5", "", "0;refresher=", ";;;;"]):
            peer.request("INVITE", 1, extra="Supported: timer\nSession-Expires: %s\n" % value,
                         branch="z9hG4bKse%d" % n)
        seen = peer.recv_all(1.0)
        assert all(_status(t) in (100, 400, 422) for t in seen if t.startswith("SIP/2.0")), seen
    finally:
        peer.close()


def test_session_timer_options_are_set_and_checked(ua_factory):
    from exosip2.error import OsipBadParameter
    ua = ua_factory()
    ua.ctx.set_option(Option.SET_SESSIONTIMERS_FORCE, 1)
    ua.ctx.set_option(Option.SET_SESSIONTIMERS_FORCE, 0)
    ua.ctx.set_option(Option.MIN_SESSION_EXPIRES, 120)
    with pytest.raises(OsipBadParameter):
        ua.ctx.set_option(Option.MIN_SESSION_EXPIRES, 0)
    assert Option.SET_SESSIONTIMERS_FORCE == 32


# ---------------------------------------------------------------------------------------------
# A C program written for eXosip2 5.3 (tests/core/prack_call.c)


@pytest.fixture(scope="module")
def prack_call(tmp_path_factory):
    from test_core_register import _compile
    return _compile(tmp_path_factory, "prack_call")


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_53_style_program_with_build_prack_and_send_prack(transport, prack_call):
    import subprocess
    res = subprocess.run([prack_call, transport], capture_output=True, text=True, timeout=60)
    assert res.returncode == 0, res.stdout + res.stderr
    assert "all checks passed" in res.stdout
    assert "session_expires=90;refresher=uac" in res.stdout


def test_53_style_prack_program_under_valgrind(prack_call):
    import subprocess
    from test_core_register import VALGRIND, _valgrind
    res = subprocess.run([_valgrind()] + VALGRIND + [prack_call, "udp"], capture_output=True, text=True,
                         timeout=180)
    assert res.returncode == 0, res.stdout + res.stderr
    assert "all checks passed" in res.stdout


# ---------------------------------------------------------------------------------------------
# PRACK, UAC side against a raw UDP callee: retransmitted and hostile reliable 1xx


def _reply(peer, invite, status, to_tag, extra="", body=""):
    """An answer to *invite* (text received by peer) sent back to the context."""
    heads = {}
    for line in invite.split("\r\n")[1:]:
        if not line:
            break
        name, _, value = line.partition(":")
        heads.setdefault(name.strip().lower(), value.strip())
    reason = {183: "Session Progress", 200: "OK", 180: "Ringing"}.get(status, "Whatever")
    text = ("SIP/2.0 %d %s\nVia: %s\nFrom: %s\nTo: %s;tag=%s\nCall-ID: %s\nCSeq: %s\n"
            "Contact: <sip:raw@127.0.0.1:%d>\n%sContent-Length: %d\n\n%s") % (
        status, reason, heads["via"], heads["from"], heads["to"].split(";tag=")[0], to_tag, heads["call-id"],
        heads["cseq"], peer.port, extra, len(body), body)
    peer.send(text)


def _branch(text):
    return re.search(r"branch=([^;\s]+)", text).group(1)


def test_retransmitted_reliable_183_is_answered_with_the_same_prack_and_reported_once(ua_factory):
    from exosip2.error import OsipWrongFormat
    ua = ua_factory("caller")
    peer = RawPeer(ua.port)
    try:
        inv = call.InitInvite(ua.ctx, "sip:raw@127.0.0.1:%d" % peer.port, ua.uri)
        inv.add_header("Supported", "100rel")
        inv.send()
        invite = peer.wait_for(lambda t: t.startswith("INVITE"))
        cseq = re.search(r"CSeq: *(\d+)", invite).group(1)
        rel = "Require: 100rel\nRSeq: 5\n"
        _reply(peer, invite, 183, "rawcallee", rel)
        ring = ua.expect(T.call_ringing)
        call.Prack(ua.ctx, ring.tid, ring.response).send()
        first = peer.wait_for(lambda t: t.startswith("PRACK"))
        assert re.search(r"RAck: *5 %s INVITE" % cseq, first), first
        # the 183 again (its PRACK looked lost): the same PRACK again, no second event
        _reply(peer, invite, 183, "rawcallee", rel)
        again = peer.wait_for(lambda t: t.startswith("PRACK"))
        assert _branch(again) == _branch(first) and "RAck: 5 %s INVITE" % cseq in again
        # an older RSeq (out of order) is not reported either
        _reply(peer, invite, 183, "rawcallee", "Require: 100rel\nRSeq: 4\n")
        ua.expect_nothing(0.4)
        # hostile RSeq values reach the program (the 1xx is valid SIP) but cannot be PRACKed
        for n, bad in enumerate(["garbage", "0", "-1", "99999999999999999999", "7 8"]):
            _reply(peer, invite, 183, "rawcallee%d" % n, "Require: 100rel\nRSeq: %s\n" % bad)
            ev = ua.expect(T.call_ringing)
            with pytest.raises(OsipWrongFormat):
                call.Prack(ua.ctx, ev.tid, ev.response)
        # the PRACK's answer, then the INVITE's
        _reply(peer, first, 200, "rawcallee")
        got = ua.expect(T.call_message_answered)
        assert got.request.method == "PRACK" and got.response.status_code == 200
        _reply(peer, invite, 200, "rawcallee")
        ans = ua.expect(T.call_answered)
        assert ans.did == ring.did
    finally:
        peer.close()


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_as_callee_we_refresh_when_the_caller_asks_refresher_uas(transport, ua_factory, sipp_factory):  # noqa: F811
    ua = _timer_ua(ua_factory, "sut", transport)
    client = _start_sipp(sipp_factory, "timer_caller_uas_refreshes", ua, transport)
    inv = ua.expect(T.call_invite, timeout=10)
    _answer(ua, inv.tid, 200)
    ua.expect(T.call_ack)
    t0 = time.monotonic()
    got = ua.expect(T.call_message_answered, timeout=5)
    assert got.request.method == "UPDATE" and got.response.status_code == 200
    assert time.monotonic() - t0 < 3.0
    ua.expect_bye(timeout=5)
    client.wait().assert_clean(1)


def test_call_send_prack_refuses_a_message_that_is_not_a_prack(ua_factory):
    from exosip2.error import OsipBadParameter
    from exosip2.message import OsipMessage
    ua = ua_factory()
    msg = OsipMessage.parse(b"OPTIONS sip:x@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:9;branch=z9hG4bKa\r\n"
                            b"From: <sip:a@127.0.0.1>;tag=1\r\nTo: <sip:x@127.0.0.1>\r\nCall-ID: c1\r\n"
                            b"CSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n")
    with pytest.raises(OsipBadParameter):
        ua.ctx.call_send_prack(1, msg)
    assert not msg.consumed


def test_reliable_183_never_pracked_ends_the_invite_with_500_after_64_t1(raw_call):
    ua, peer, inv, tag, rseq = raw_call
    _answer(ua, inv.tid, 200)  # held: the 183 carried SDP and has no PRACK
    end = time.monotonic() + 40
    final = None
    retrans = 0
    while time.monotonic() < end and final is None:
        for text in peer.recv_all(0.5):
            if text.startswith("SIP/2.0 183"):
                retrans += 1
            elif text.startswith("SIP/2.0") and "INVITE" in text.split("CSeq:", 1)[1].split("\r\n", 1)[0]:
                final = text
    assert final is not None and _status(final) == 500, final
    # T1, 2T1, 4T1, then every T2 until 64*T1 = 32 s: 3 + 7 retransmissions (one may be cut by timing)
    assert 8 <= retrans <= 11, retrans
    ua.expect(T.call_released, timeout=5)
