# SPDX-License-Identifier: Apache-2.0
"""A blind transfer with REFER (RFC 3515) between three of our contexts: A calls B, B refers A to C,
A calls C and reports the progress in NOTIFYs with message/sipfrag bodies (the implicit subscription),
which reach B as call_message_new events in the A-B call."""

import pytest

from exosip2 import call
from exosip2.notify import SubscriptionState
from test_call import establish
from uapair import UA, EventType as T


@pytest.fixture(params=["udp", "tcp"])
def trio(request):
    uas = [UA(name, request.param) for name in ("alice", "bob", "carol")]
    yield uas
    for ua in uas:
        ua.close()


def sipfrag_notify(ua, did, state, frag):
    n = call.Notify(ua.ctx, did, int(state))
    n.set_header("Event", "refer")
    n.set_body(frag, "message/sipfrag;version=2.0")
    return n.send()


def test_blind_transfer(trio):
    a, b, c = trio
    a_cid, a_did, b_cid, b_did, _ = establish(a, b)

    # B refers A to C
    refer_tid = call.Refer(b.ctx, b_did, c.uri).send()
    got = a.expect(T.call_message_new)
    assert (got.cid, got.did) == (a_cid, a_did) and got.request.method == "REFER"
    target = got.request.get_header("Refer-To")
    assert target == c.uri
    a.ctx.call_send_answer(got.tid, 202)
    accepted = b.expect(T.call_message_answered)
    assert accepted.tid == refer_tid and accepted.response.status_code == 202

    # the implicit subscription: A tells B it is trying
    sipfrag_notify(a, a_did, SubscriptionState.active, "SIP/2.0 100 Trying\r\n")
    trying = b.expect(T.call_message_new)
    assert (trying.cid, trying.did) == (b_cid, b_did) and trying.request.method == "NOTIFY"
    assert trying.request.get_header("Event") == "refer"
    assert trying.request.content_type.startswith("message/sipfrag")
    assert trying.request.bodies[0].startswith("SIP/2.0 100 Trying")
    b.ctx.call_send_answer(trying.tid, 200)
    a.expect(T.call_message_answered)

    # A calls C
    inv = call.InitInvite(a.ctx, target, a.uri)
    new_cid = inv.send()
    ring = c.expect(T.call_invite)
    ok = call.Answer(c.ctx, ring.tid, 200)
    ok.send()
    ans = a.expect(T.call_answered)
    assert ans.cid == new_cid and ans.response.status_code == 200
    call.Ack(a.ctx, ans.did).send()
    c.expect(T.call_ack)

    # the outcome, and the end of the implicit subscription
    sipfrag_notify(a, a_did, SubscriptionState.terminated, "SIP/2.0 200 OK\r\n")
    done = b.expect(T.call_message_new)
    assert done.request.bodies[0].startswith("SIP/2.0 200 OK")
    assert done.request.get_header("Subscription-State").startswith("terminated")
    b.ctx.call_send_answer(done.tid, 200)
    a.expect(T.call_message_answered)

    # B leaves: the A-B call ends, the A-C call goes on
    b.ctx.call_terminate(b_cid, b_did)
    assert a.expect_bye().cid == a_cid
    a.expect(T.call_released)
    a.ctx.call_terminate(new_cid, ans.did)
    assert c.expect_bye().did == ring.did
