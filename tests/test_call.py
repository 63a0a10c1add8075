# SPDX-License-Identifier: Apache-2.0
"""Calls between two contexts in one process, over 127.0.0.1: every event's type and ids checked."""

import pytest

from exosip2 import call, request, version
from exosip2.error import OsipError, OsipNotFound, OsipWrongState
from exosip2.sdp import SdpMessage
from uapair import UA, EventType as T, sdp


@pytest.fixture(params=["udp", "tcp"])
def pair(request, no_leaks):
    a = UA("alice", request.param)
    b = UA("bob", request.param)
    yield a, b
    a.close()
    b.close()


# eXosip_call_send_request returns OSIP_SUCCESS in eXosip2 5.3, so an in-dialog request's send()
# has a tid to return only on core/ (eX_core.h); with an installed libeXosip2 it is 0.
CORE = version.get_library_kind() == "core"


def sent_tid(returned, event):
    """The tid of an in-dialog request as send() returned it, checked against its answer's event."""
    assert returned == (event.tid if CORE else 0), (returned, event)
    return event.tid


def expect_bye(ua, cid, did):
    """As in eXosip2 5.3: an incoming BYE is reported (already answered 200), then the call's end."""
    bye = ua.expect(T.call_message_new)
    assert (bye.cid, bye.did) == (cid, did) and bye.request.method == "BYE"
    assert bye.response is not None and bye.response.status_code == 200
    closed = ua.expect(T.call_closed)
    assert (closed.cid, closed.did) == (cid, did) and closed.request.method == "BYE"
    return closed


def invite(a, b, body=True):
    inv = call.InitInvite(a.ctx, b.uri, a.uri, subject="test call")
    assert inv.method == "INVITE" and inv.subject == "test call" and inv.to_url == b.uri
    if body:
        inv.add_body(sdp("alice", 40000))
        inv.content_type = "application/sdp"
    cid = inv.send()
    assert isinstance(cid, int) and cid > 0
    assert inv.consumed
    with pytest.raises(OsipWrongState):
        inv.send()
    return cid


def establish(a, b):
    """INVITE, 180, 200, ACK; returns (a_cid, a_did, b_cid, b_did, invite_tid_at_b)."""
    a_cid = invite(a, b)
    ev = b.expect(T.call_invite)
    assert ev.cid > 0 and ev.tid > 0 and ev.did > 0
    # as in eXosip2 5.3, the event carries the 100 Trying the stack sent by itself
    assert ev.request.method == "INVITE" and ev.response.status_code == 100
    assert SdpMessage.parse(ev.request.raw_bodies[0]).media[0].port == 40000
    b_cid, b_did, b_tid = ev.cid, ev.did, ev.tid
    b.ctx.call_send_answer(b_tid, 180)
    ring = a.expect(T.call_proceeding, T.call_ringing)
    if ring.type == T.call_proceeding:
        assert ring.cid == a_cid and ring.response.status_code == 100
        ring = a.expect(T.call_ringing)
    assert ring.cid == a_cid and ring.did > 0 and ring.response.status_code == 180
    a_did, a_tid = ring.did, ring.tid
    ok = call.Answer(b.ctx, b_tid, 200)
    assert (ok.tid, ok.status) == (b_tid, 200)
    ok.add_body(sdp("bob", 41000))
    ok.content_type = "application/sdp"
    ok.send()
    ans = a.expect(T.call_answered)
    assert (ans.cid, ans.did, ans.tid) == (a_cid, a_did, a_tid)
    assert ans.response.status_code == 200 and ans.request.method == "INVITE"
    assert ans.response.contacts, "a 2xx establishing a dialog carries a Contact"
    ack = call.Ack(a.ctx, a_did)
    assert ack.tid == a_tid and ack.did == a_did and ack.method == "ACK"
    ack.send()
    got = b.expect(T.call_ack)
    assert (got.cid, got.did) == (b_cid, b_did)
    assert got.ack is not None and got.ack.method == "ACK"
    return a_cid, a_did, b_cid, b_did, b_tid


def test_call_bye_from_caller(pair):
    a, b = pair
    a_cid, a_did, b_cid, b_did, _ = establish(a, b)
    a.ctx.call_terminate(a_cid, a_did)
    expect_bye(b, b_cid, b_did)
    rel = b.expect(T.call_released)
    assert rel.cid == b_cid
    done = a.expect(T.call_message_answered, T.call_released)
    if done.type == T.call_message_answered:
        assert done.cid == a_cid and done.response.status_code == 200 and done.request.method == "BYE"
        done = a.expect(T.call_released)
    assert done.cid == a_cid
    a.expect_nothing()
    b.expect_nothing()


def test_call_bye_from_callee(pair):
    a, b = pair
    a_cid, a_did, b_cid, b_did, _ = establish(a, b)
    b.ctx.call_terminate(b_cid, b_did)
    expect_bye(a, a_cid, a_did)
    assert a.expect(T.call_released).cid == a_cid
    done = b.expect(T.call_message_answered, T.call_released)
    if done.type == T.call_message_answered:
        assert done.cid == b_cid and done.response.status_code == 200
        done = b.expect(T.call_released)
    assert done.cid == b_cid


def test_reinvite_with_changed_sdp(pair):
    a, b = pair
    a_cid, a_did, b_cid, b_did, b_first_tid = establish(a, b)
    re = call.ReInvite(a.ctx, a_did)
    assert re.method == "INVITE" and re.did == a_did
    re.add_body(sdp("alice", 40002, version=2))
    re.content_type = "application/sdp"
    re_tid = re.send()
    ev = b.expect(T.call_reinvite)
    assert (ev.cid, ev.did) == (b_cid, b_did) and ev.tid != b_first_tid
    assert SdpMessage.parse(ev.request.raw_bodies[0]).media[0].port == 40002
    ok = call.Answer(b.ctx, ev.tid, 200)
    ok.add_body(sdp("bob", 41002, version=2))
    ok.content_type = "application/sdp"
    ok.send()
    ans = a.expect(T.call_answered)
    assert (ans.cid, ans.did) == (a_cid, a_did)
    re_tid = sent_tid(re_tid, ans)
    assert SdpMessage.parse(ans.response.raw_bodies[0]).media[0].port == 41002
    # Ack(context, did) now acknowledges the re-INVITE
    assert a.ctx.ack_tid(a_did) == re_tid
    a.ctx.call_send_ack(did=a_did)
    ack = b.expect(T.call_ack)
    assert (ack.cid, ack.did) == (b_cid, b_did)
    a.ctx.call_terminate(a_cid, a_did)
    expect_bye(b, b_cid, b_did)


def test_info_and_other_in_dialog_requests(pair):
    a, b = pair
    a_cid, a_did, b_cid, b_did, _ = establish(a, b)
    info = call.Info(a.ctx, a_did)
    info.add_body("Signal=5\r\nDuration=160\r\n")
    info.content_type = "application/dtmf-relay"
    tid = a.ctx.call_send_request(info)
    ev = b.expect(T.call_message_new)
    assert (ev.cid, ev.did) == (b_cid, b_did) and ev.request.method == "INFO"
    assert ev.request.raw_bodies[0] == b"Signal=5\r\nDuration=160\r\n"
    b.ctx.call_send_answer(ev.tid, 200)
    ans = a.expect(T.call_message_answered)
    assert (ans.cid, ans.did) == (a_cid, a_did) and ans.response.status_code == 200
    sent_tid(tid, ans)
    # OPTIONS, UPDATE, a generic request and NOTIFY, each answered with a different status
    for build, method, status in [
        (lambda: call.Options(b.ctx, b_did), "OPTIONS", 200),
        (lambda: call.Update(b.ctx, b_did), "UPDATE", 200),
        (lambda: call.Request(b.ctx, b_did, "MESSAGE"), "MESSAGE", 415),
        (lambda: call.Notify(b.ctx, b_did, 2), "NOTIFY", 481),
    ]:
        req = build()
        assert req.method == method
        if method == "NOTIFY":
            req.set_header("Event", "dialog")
        tid = req.send()
        ev = a.expect(T.call_message_new)
        assert (ev.cid, ev.did) == (a_cid, a_did) and ev.request.method == method
        a.ctx.call_send_answer(ev.tid, status)
        ans = b.expect(T.call_message_answered if status < 300 else T.call_message_requestfailure)
        assert (ans.cid, ans.did) == (b_cid, b_did) and ans.response.status_code == status
        sent_tid(tid, ans)
    refer = call.Refer(a.ctx, a_did, "sip:carol@127.0.0.1")
    assert refer.method == "REFER" and "carol" in refer.get_header("Refer-To")
    a.ctx.call_terminate(a_cid, a_did)
    expect_bye(b, b_cid, b_did)


def test_cancel_before_answer(pair):
    a, b = pair
    a_cid = invite(a, b)
    ev = b.expect(T.call_invite)
    b_cid, b_tid = ev.cid, ev.tid
    b.ctx.call_send_answer(b_tid, 180)
    ring = a.expect(T.call_proceeding, T.call_ringing)
    if ring.type == T.call_proceeding:
        ring = a.expect(T.call_ringing)
    a.ctx.call_terminate(a_cid, 0)
    cancelled = b.expect(T.call_cancelled)
    # as in eXosip2 5.3, the event is the CANCEL's: its own transaction, the CANCEL and its 200
    assert cancelled.cid == b_cid and cancelled.tid > 0 and cancelled.tid != b_tid
    assert cancelled.request.method == "CANCEL" and cancelled.response.status_code == 200
    fail = a.expect(T.call_requestfailure)
    assert fail.cid == a_cid and fail.response.status_code == 487
    assert a.expect(T.call_released).cid == a_cid
    assert b.expect(T.call_released).cid == b_cid
    # a CANCELled, released call can no longer be answered
    with pytest.raises(OsipError):
        b.ctx.call_send_answer(b_tid, 486)


def test_busy_486(pair):
    a, b = pair
    a_cid = invite(a, b)
    ev = b.expect(T.call_invite)
    b.ctx.call_send_answer(ev.tid, 486)
    fail = a.expect(T.call_proceeding, T.call_requestfailure)
    if fail.type == T.call_proceeding:
        fail = a.expect(T.call_requestfailure)
    assert fail.cid == a_cid and fail.response.status_code == 486 and fail.request.method == "INVITE"
    assert a.expect(T.call_released).cid == a_cid
    assert b.expect(T.call_released).cid == ev.cid
    with pytest.raises(OsipNotFound):
        call.Ack(a.ctx, fail.did or 12345)


def test_out_of_dialog_message_and_options(pair):
    a, b = pair
    msg = request.Message(a.ctx, b.uri, a.uri)
    msg.add_body("hello bob")
    msg.content_type = "text/plain"
    assert msg.method == "MESSAGE"
    tid = msg.send()
    ev = b.expect(T.message_new)
    assert ev.request.method == "MESSAGE" and ev.request.raw_bodies[0] == b"hello bob"
    assert ev.cid == 0 and ev.did == 0 and ev.tid > 0
    ans = request.MessageAnswer(b.ctx, ev.tid, 202)
    ans.send()
    got = a.expect(T.message_answered)
    assert got.tid == tid and got.response.status_code == 202
    # OPTIONS, refused with a default 403
    opt = request.Options(a.ctx, b.uri, a.uri)
    assert opt.method == "OPTIONS"
    tid = a.ctx.options_send_request(opt)
    ev = b.expect(T.message_new)
    assert ev.request.method == "OPTIONS"
    b.ctx.options_send_answer(ev.tid, 403)
    got = a.expect(T.message_requestfailure)
    assert got.tid == tid and got.response.status_code == 403
    # OPTIONS answered with an explicit answer object
    tid = request.Options(a.ctx, b.uri, a.uri).send()
    ev = b.expect(T.message_new)
    ok = request.OptionsAnswer(b.ctx, ev.tid, 200)
    ok.set_header("Accept", "application/sdp")
    b.ctx.options_send_answer(answer=ok)
    got = a.expect(T.message_answered)
    assert got.tid == tid and got.response.get_header("Accept") == "application/sdp"
    # a MESSAGE with another method name
    assert request.Message(a.ctx, b.uri, a.uri, method="PUBLISH").method == "PUBLISH"


def test_build_message_helper(pair):
    a, b = pair
    inv = a.ctx.build_message(call.InitInvite, b.uri, a.uri)
    assert isinstance(inv, call.InitInvite) and inv.context is a.ctx
    cid = a.ctx.call_send_init_invite(inv)
    ev = b.expect(T.call_invite)
    b.ctx.call_send_answer(answer=b.ctx.build_message(call.Answer, ev.tid, 603))
    fail = a.expect(T.call_proceeding, T.call_globalfailure)
    if fail.type == T.call_proceeding:
        fail = a.expect(T.call_globalfailure)
    assert fail.cid == cid and fail.response.status_code == 603


def test_bad_arguments_raise_clear_errors(no_leaks):
    a = UA("alice")
    try:
        ctx = a.ctx
        for bad in ("not a uri", "", "sip:", "<sip:a@b"):
            with pytest.raises(OsipError):
                call.InitInvite(ctx, bad, a.uri)
        with pytest.raises(TypeError):
            call.InitInvite(ctx, 42, a.uri)
        with pytest.raises(TypeError):
            call.InitInvite(None, a.uri, a.uri)
        for build in (lambda: call.Answer(ctx, 99999, 200), lambda: call.Info(ctx, 99999),
                      lambda: call.ReInvite(ctx, 99999), lambda: call.Ack(ctx, tid=99999),
                      lambda: call.Refer(ctx, 99999, "sip:c@d"), lambda: call.Notify(ctx, 99999, 2),
                      lambda: ctx.call_terminate(99999, 0), lambda: ctx.call_send_answer(99999, 486),
                      lambda: request.MessageAnswer(ctx, 99999, 200),
                      lambda: request.OptionsAnswer(ctx, 99999, 200)):
            with pytest.raises(OsipError):
                build()
        with pytest.raises(OsipError):
            ctx.call_send_answer(tid=1)          # status missing
        with pytest.raises(OsipError):
            ctx.call_send_ack()                  # neither did, tid nor ack
        a.expect_nothing(0.1)
    finally:
        a.close()
