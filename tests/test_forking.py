# SPDX-License-Identifier: Apache-2.0
"""INVITE rules above the transaction layer, against SIPp and raw sockets on 127.0.0.1.

Forking (every 2xx acknowledged, the extra branch ended with BYE, or kept on request, each with its
own did); CANCEL only after a provisional answer (RFC 3261 9.1); an INVITE never answered gets 408
at the bound the program sets; glare (491 both ways, the re-INVITE sent again after the random delay
of RFC 3261 14.1); and hostile input: a CANCEL for nothing, stray 2xx, a 2xx with an unknown To tag
after the call ended, more branches than the bound.
"""

import re
import socket
import time

import pytest

from exosip2 import Option, call
from peers.sipp_fixtures import scenario, sipp_factory  # noqa: F401  (fixture)
from uapair import UA, EventType as T, sdp

pytestmark = pytest.mark.peers

TRANSPORTS = ["udp", "tcp"]


@pytest.fixture
def ua_factory(no_leaks):
    made = []

    def make(name, transport="udp"):
        ua = UA(name, transport)
        made.append(ua)
        return ua

    yield make
    for ua in made:
        ua.close()


def invite(ua, target, transport):
    uri = target + (";transport=tcp" if transport == "tcp" else "")
    inv = call.InitInvite(ua.ctx, uri, ua.uri)
    inv.add_body(sdp(ua.name, 40000))
    inv.content_type = "application/sdp"
    return inv.send()


def serve(sipp_factory, name, transport):  # noqa: F811
    return sipp_factory(scenario(name), transport=transport, calls=1, timeout_s=40).start()


# ---- forking ------------------------------------------------------------------------------------

@pytest.mark.parametrize("transport", TRANSPORTS)
def test_forked_2xx_is_acked_and_ended_with_bye(transport, ua_factory, sipp_factory):  # noqa: F811
    server = serve(sipp_factory, "uas_forking", transport)
    a = ua_factory("alice", transport)
    cid = invite(a, "sip:service@127.0.0.1:%d" % server.port, transport)
    ring = a.expect(T.call_ringing)
    ans = a.expect(T.call_answered)
    assert (ans.cid, ans.did) == (cid, ring.did) and ans.did > 0
    a.ctx.call_send_ack(did=ans.did)
    # the second branch: ACKed by the core, then its BYE, whose answer carries the branch's own did
    bye = a.expect(T.call_message_answered)
    assert bye.cid == cid and bye.did > 0 and bye.did != ans.did
    assert bye.request.method == "BYE" and bye.response.status_code == 200
    assert "SIPpTagB" in str(bye.request.to)
    a.expect_nothing(0.5)  # the call goes on with its first dialog
    a.ctx.call_terminate(cid, ans.did)
    done = a.expect(T.call_message_answered)
    assert (done.cid, done.did) == (cid, ans.did) and "SIPpTagA" in str(done.request.to)
    assert a.expect(T.call_released).cid == cid
    server.wait(timeout=30).assert_clean(1)


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_forked_dialogs_kept_on_request(transport, ua_factory, sipp_factory):  # noqa: F811
    server = serve(sipp_factory, "uas_forking", transport)
    a = ua_factory("alice", transport)
    a.ctx.set_option(Option.KEEP_FORKED_DIALOGS, 1)
    cid = invite(a, "sip:service@127.0.0.1:%d" % server.port, transport)
    a.expect(T.call_ringing)
    first = a.expect(T.call_answered)
    a.ctx.call_send_ack(did=first.did)
    second = a.expect(T.call_answered)
    assert second.cid == cid and second.did != first.did and second.tid == first.tid
    assert "SIPpTagB" in str(second.response.to) and "SIPpTagA" in str(first.response.to)
    # the program does not want the second branch: it ends it by its did
    a.ctx.call_terminate(cid, second.did)
    ev = a.expect(T.call_message_answered)
    assert ev.did == second.did and ev.request.method == "BYE"
    a.expect_nothing(0.3)
    a.ctx.call_terminate(cid, first.did)
    ev = a.expect(T.call_message_answered)
    assert ev.did == first.did and ev.request.method == "BYE"
    assert a.expect(T.call_released).cid == cid
    server.wait(timeout=30).assert_clean(1)


# ---- CANCEL -------------------------------------------------------------------------------------

@pytest.mark.parametrize("transport", TRANSPORTS)
def test_cancel_waits_for_a_provisional_answer(transport, ua_factory, sipp_factory):  # noqa: F811
    """SIPp fails the call if the CANCEL arrives during the 1.5 s before its 180."""
    server = serve(sipp_factory, "uas_cancel_wait", transport)
    a = ua_factory("alice", transport)
    cid = invite(a, "sip:service@127.0.0.1:%d" % server.port, transport)
    a.ctx.call_terminate(cid)  # nothing provisional yet: queued
    ring = a.expect(T.call_ringing, timeout=5)
    assert ring.cid == cid
    failed = a.expect(T.call_requestfailure)
    assert failed.response.status_code == 487
    assert a.expect(T.call_released).cid == cid
    server.wait(timeout=30).assert_clean(1)


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_cancel_after_1xx_goes_at_once(transport, ua_factory, sipp_factory):  # noqa: F811
    server = serve(sipp_factory, "uas_cancel", transport)
    a = ua_factory("alice", transport)
    cid = invite(a, "sip:service@127.0.0.1:%d" % server.port, transport)
    a.expect(T.call_ringing)
    a.ctx.call_terminate(cid)
    failed = a.expect(T.call_requestfailure)
    assert failed.cid == cid and failed.response.status_code == 487
    assert a.expect(T.call_released).cid == cid
    server.wait(timeout=30).assert_clean(1)


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_2xx_before_queued_cancel_is_acked_and_ended(transport, ua_factory, sipp_factory):  # noqa: F811
    server = serve(sipp_factory, "uas_answer_late", transport)
    a = ua_factory("alice", transport)
    cid = invite(a, "sip:service@127.0.0.1:%d" % server.port, transport)
    a.ctx.call_terminate(cid)
    bye = a.expect(T.call_message_answered, timeout=6)  # no call_answered: the program ended the call
    assert bye.cid == cid and bye.request.method == "BYE" and bye.response.status_code == 200
    assert a.expect(T.call_released).cid == cid
    server.wait(timeout=30).assert_clean(1)


# ---- an INVITE never answered ---------------------------------------------------------------------

@pytest.mark.parametrize("transport", TRANSPORTS)
def test_unanswered_invite_gets_408_at_the_bound(transport, ua_factory, sipp_factory):  # noqa: F811
    b = ua_factory("bob", transport)
    b.ctx.set_option(Option.INVITE_ANSWER_TIMEOUT_MS, 1000)
    client = sipp_factory(scenario("call_unanswered"), "127.0.0.1:%d" % b.port, transport=transport,
                          calls=1, timeout_s=30).start(wait_bound=False)
    inv = b.expect(T.call_invite)
    t0 = time.monotonic()
    rel = b.expect(T.call_released, timeout=5)
    elapsed = time.monotonic() - t0
    assert rel.cid == inv.cid
    assert 0.7 <= elapsed <= 2.5, elapsed
    client.wait(timeout=30).assert_clean(1)
    # the transaction is gone: answering now is refused
    with pytest.raises(Exception):
        b.ctx.call_send_answer(inv.tid, 486)


def test_answer_timeout_option_range(ua_factory):
    b = ua_factory("bob")
    for bad in (-1, 24 * 3600 * 1000 + 1):
        with pytest.raises(ValueError):
            b.ctx.set_option(Option.INVITE_ANSWER_TIMEOUT_MS, bad)
    for bad in (299, 700):
        with pytest.raises(ValueError):
            b.ctx.set_option(Option.INVITE_ANSWER_TIMEOUT_STATUS, bad)
    b.ctx.set_option(Option.INVITE_ANSWER_TIMEOUT_STATUS, 480)
    b.ctx.set_option(Option.INVITE_ANSWER_TIMEOUT_MS, 0)


# ---- glare ----------------------------------------------------------------------------------------

def reinvite(ua, did, version):
    re_ = call.ReInvite(ua.ctx, did)
    re_.add_body(sdp(ua.name, 40002, version))
    re_.content_type = "application/sdp"
    return ua.ctx.call_send_request(re_)


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_glare_as_caller_retries_after_2_1_to_4_s(transport, ua_factory, sipp_factory):  # noqa: F811
    server = serve(sipp_factory, "uas_glare", transport)
    a = ua_factory("alice", transport)
    cid = invite(a, "sip:service@127.0.0.1:%d" % server.port, transport)
    ans = a.expect(T.call_answered)
    a.ctx.call_send_ack(did=ans.did)
    tid = reinvite(a, ans.did, 2)
    refused = a.expect(T.call_requestfailure)
    t0 = time.monotonic()
    assert refused.tid == tid and refused.response.status_code == 491
    again = a.expect(T.call_answered, timeout=6)
    delay = time.monotonic() - t0
    assert again.did == ans.did and again.tid != tid
    assert 2.0 <= delay <= 4.6, delay
    a.ctx.call_send_ack(did=again.did)
    a.ctx.call_terminate(cid, ans.did)
    a.expect(T.call_message_answered)
    a.expect(T.call_released)
    server.wait(timeout=30).assert_clean(1)


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_glare_as_callee_retries_within_2_s(transport, ua_factory, sipp_factory):  # noqa: F811
    b = ua_factory("bob", transport)
    client = sipp_factory(scenario("uac_glare"), "127.0.0.1:%d" % b.port, transport=transport,
                          calls=1, timeout_s=30).start(wait_bound=False)
    inv = b.expect(T.call_invite)
    ok = call.Answer(b.ctx, inv.tid, 200)
    ok.add_body(sdp("bob", 41000))
    ok.content_type = "application/sdp"
    ok.send()
    b.expect(T.call_ack)
    tid = reinvite(b, inv.did, 2)
    refused = b.expect(T.call_requestfailure)
    t0 = time.monotonic()
    assert refused.tid == tid and refused.response.status_code == 491
    again = b.expect(T.call_answered, timeout=5)
    delay = time.monotonic() - t0
    assert again.did == inv.did and again.tid != tid
    assert delay <= 2.6, delay
    b.ctx.call_send_ack(did=again.did)
    closed = b.expect_bye()
    assert closed.did == inv.did
    b.expect(T.call_released)
    client.wait(timeout=30).assert_clean(1)


# ---- hostile input over a raw UDP socket ------------------------------------------------------------

class RawPeer:
    """A UDP socket on 127.0.0.1 that speaks SIP by hand."""

    def __init__(self):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]

    def send(self, text, port):
        self.sock.sendto(text.replace("\n", "\r\n").encode(), ("127.0.0.1", port))

    def recv(self, timeout=3.0):
        self.sock.settimeout(timeout)
        data, _ = self.sock.recvfrom(65535)
        return data.decode(errors="replace")

    def recv_all(self, window=0.6):
        out = []
        end = time.monotonic() + window
        while True:
            left = end - time.monotonic()
            if left <= 0:
                return out
            try:
                out.append(self.recv(left))
            except socket.timeout:
                return out

    def close(self):
        self.sock.close()


@pytest.fixture
def raw():
    peer = RawPeer()
    yield peer
    peer.close()


def header(msg, name):
    m = re.search(r"^%s:\s*(.*)$" % name, msg, re.M | re.I)
    return m.group(1).strip() if m else None


def answer(req, status, tag, port, reason="OK"):
    vias = "\n".join("Via: " + v for v in re.findall(r"^Via:\s*(.*?)\r?$", req, re.M | re.I))
    to = header(req, "To")
    if "tag=" not in to:
        to += ";tag=%s" % tag
    return ("SIP/2.0 %d %s\n%s\nFrom: %s\nTo: %s\nCall-ID: %s\nCSeq: %s\n"
            "Contact: <sip:peer@127.0.0.1:%d>\nContent-Length: 0\n\n"
            % (status, reason, vias, header(req, "From"), to, header(req, "Call-ID"), header(req, "CSeq"), port))


def test_cancel_for_nothing_gets_481(ua_factory, raw):
    b = ua_factory("bob")
    raw.send("CANCEL sip:bob@127.0.0.1:%d SIP/2.0\nVia: SIP/2.0/UDP 127.0.0.1:%d;branch=z9hG4bKnothing1\n"
             "From: <sip:x@127.0.0.1>;tag=1\nTo: <sip:bob@127.0.0.1>\nCall-ID: nothing-1\nCSeq: 1 CANCEL\n"
             "Max-Forwards: 70\nContent-Length: 0\n\n" % (b.port, raw.port), b.port)
    assert raw.recv().startswith("SIP/2.0 481")
    b.expect_nothing()


def test_stray_2xx_and_late_forks_never_crash(ua_factory, raw):
    a = ua_factory("alice")
    # a 2xx for nothing at all: ignored
    raw.send("SIP/2.0 200 OK\nVia: SIP/2.0/UDP 127.0.0.1:%d;branch=z9hG4bKstray\nFrom: <sip:a@x>;tag=f\n"
             "To: <sip:b@x>;tag=t\nCall-ID: stray-1\nCSeq: 1 INVITE\nContent-Length: 0\n\n" % a.port, a.port)
    assert raw.recv_all(0.4) == []
    a.expect_nothing()
    # a call answered by one branch, then (after it ended) a 2xx of another branch
    cid = invite(a, "sip:peer@127.0.0.1:%d" % raw.port, "udp")
    req = raw.recv()
    assert req.startswith("INVITE ")
    raw.send(answer(req, 200, "branchA", raw.port), a.port)
    ans = a.expect(T.call_answered)
    a.ctx.call_send_ack(did=ans.did)
    assert raw.recv().startswith("ACK ")
    a.ctx.call_terminate(cid, ans.did)
    bye = raw.recv()
    assert bye.startswith("BYE ")
    raw.send(answer(bye, 200, "branchA", raw.port), a.port)
    a.expect(T.call_message_answered)
    a.expect(T.call_released)
    raw.send(answer(req, 200, "branchLate", raw.port), a.port)
    assert raw.recv_all(0.5) == []  # the call is gone: nothing held, nothing sent
    # truncated and malformed answers
    for junk in ("SIP/2.0 200 OK\nCSeq: 1 INVITE\n\n", "SIP/2.0 200\n", "SIP/2.0 299 X\nCall-ID:\nCSeq: x INVITE\n\n"):
        raw.send(junk, a.port)
    assert raw.recv_all(0.3) == []
    a.expect_nothing()


def test_forked_branches_beyond_the_bound_are_not_held(ua_factory, raw):
    a = ua_factory("alice")
    a.ctx.set_option(Option.MAX_FORKED_DIALOGS, 4)
    cid = invite(a, "sip:peer@127.0.0.1:%d" % raw.port, "udp")
    req = raw.recv()
    raw.send(answer(req, 200, "b0", raw.port), a.port)
    ans = a.expect(T.call_answered)
    a.ctx.call_send_ack(did=ans.did)
    assert raw.recv().startswith("ACK ")
    for i in range(1, 12):
        raw.send(answer(req, 200, "b%d" % i, raw.port), a.port)
    got = raw.recv_all(0.4)  # before the BYEs are sent again (T1)
    acks = {to_tag_of(m) for m in got if m.startswith("ACK ")}
    byes = {to_tag_of(m): m for m in got if m.startswith("BYE ")}
    assert acks == {"b1", "b2", "b3"} and set(byes) == acks, got  # 4 dialogs in all: b0 and three more
    for m in byes.values():
        raw.send(answer(m, 200, to_tag_of(m), raw.port), a.port)
    for _ in byes:
        ev = a.expect(T.call_message_answered)
        assert ev.did != ans.did
    a.ctx.call_terminate(cid, ans.did)
    bye = raw.recv()
    while not (bye.startswith("BYE ") and to_tag_of(bye) == "b0"):  # late retransmissions of the others
        bye = raw.recv()
    raw.send(answer(bye, 200, "b0", raw.port), a.port)
    a.expect(T.call_message_answered)
    a.expect(T.call_released)


def to_tag_of(msg):
    return re.search(r"tag=([^;>\s]+)", header(msg, "To")).group(1)


# ---- the binding: terminate with a header, SDP by tid ---------------------------------------------

@pytest.mark.parametrize("transport", TRANSPORTS)
def test_terminate_with_header_and_sdp_by_tid(transport, ua_factory):
    from exosip2.sdp import SdpMessage

    a = ua_factory("alice", transport)
    b = ua_factory("bob", transport)
    cid = invite(a, b.uri.split(";")[0], transport)
    inv = b.expect(T.call_invite)
    offer = b.ctx.get_remote_sdp_from_tid(inv.tid)
    assert isinstance(offer, SdpMessage) and offer.media[0].port == 40000
    assert b.ctx.get_local_sdp_from_tid(inv.tid) is None
    ok = call.Answer(b.ctx, inv.tid, 200)
    ok.add_body(sdp("bob", 41000))
    ok.content_type = "application/sdp"
    ok.send()
    assert b.ctx.get_local_sdp_from_tid(inv.tid).media[0].port == 41000
    ans = a.expect(T.call_answered)
    assert a.ctx.get_remote_sdp_from_tid(ans.tid).media[0].port == 41000
    assert a.ctx.get_local_sdp_from_tid(ans.tid).media[0].port == 40000
    assert a.ctx.get_previous_local_sdp(ans.did) is None
    assert a.ctx.get_remote_sdp_from_tid(987654) is None
    a.ctx.call_send_ack(did=ans.did)
    b.expect(T.call_ack)
    tid = reinvite(a, ans.did, 2)
    assert a.ctx.get_local_sdp_from_tid(tid).media[0].port == 40002
    assert a.ctx.get_previous_local_sdp(ans.did).media[0].port == 40000
    re_ = b.expect(T.call_reinvite)
    b.ctx.call_send_answer(re_.tid, 488)
    a.expect(T.call_requestfailure)
    with pytest.raises(ValueError):
        a.ctx.call_terminate(cid, ans.did, reason="x", header=("X-A", "b"))
    with pytest.raises(TypeError):
        a.ctx.call_terminate(cid, ans.did, header="X-A: b")
    with pytest.raises(ValueError):
        a.ctx.call_terminate(cid, ans.did, header=("X-A", "b\r\nX-Evil: 1"))
    with pytest.raises(ValueError):  # the same for a Reason value
        a.ctx.call_terminate(cid, ans.did, reason='SIP;cause=200\r\nX-Evil: 1')
    a.ctx.call_terminate(cid, ans.did, header=("X-Why", "all said"))
    closed = b.expect_bye()
    assert closed.request.get_header("X-Why") == "all said"
    assert closed.request.get_header("X-Evil") is None
    a.expect(T.call_message_answered)
    a.expect(T.call_released)
    b.expect(T.call_released)


def test_unanswered_reinvite_gets_the_configured_status_and_the_call_stays(ua_factory):
    a = ua_factory("alice")
    b = ua_factory("bob")
    b.ctx.set_option(Option.INVITE_ANSWER_TIMEOUT_MS, 800)
    b.ctx.set_option(Option.INVITE_ANSWER_TIMEOUT_STATUS, 503)
    cid = invite(a, b.uri, "udp")
    inv = b.expect(T.call_invite)
    ok = call.Answer(b.ctx, inv.tid, 200)
    ok.add_body(sdp("bob", 41000))
    ok.content_type = "application/sdp"
    ok.send()
    ans = a.expect(T.call_answered)
    a.ctx.call_send_ack(did=ans.did)
    b.expect(T.call_ack)
    tid = reinvite(a, ans.did, 2)
    b.expect(T.call_reinvite)  # and never answered
    refused = a.expect(T.call_serverfailure, timeout=4)
    assert refused.tid == tid and refused.response.status_code == 503
    b.expect_nothing(0.3)  # bob's call goes on: no RELEASED
    a.ctx.call_terminate(cid, ans.did)
    b.expect_bye()
    b.expect(T.call_released)
    a.expect(T.call_message_answered)
    a.expect(T.call_released)
