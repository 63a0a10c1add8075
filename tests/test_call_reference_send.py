# SPDX-License-Identifier: Apache-2.0
"""Call references stored by the send itself: ``InitInvite.send(reference=)``,
``call_send_answer(..., reference=)`` and ``Answer.send(reference=)`` for an incoming call, under a
plain ThreadPoolExecutor (which keeps no order, so a reference set after the send could miss events).
Two contexts over 127.0.0.1; every wait bounded."""

import concurrent.futures
import gc
import queue
import socket
import weakref

import pytest

from exosip2 import call, request
from exosip2.context import Context
from exosip2.error import OsipError, OsipNotFound
from uapair import UA, EventType as T, sdp

WAIT = 20.0


class Ref:
    def __init__(self, name):
        self.name = name


def _ok(ctx, tid):
    ok = call.Answer(ctx, tid, 200)
    ok.add_body(sdp("bob", 41000))
    ok.content_type = "application/sdp"
    return ok


def _events_until_released(q):
    got = []
    while not got or got[-1][0] != T.call_released:
        got.append(q.get(timeout=WAIT))
    return got


@pytest.mark.parametrize("how", ["call_send_answer", "Answer.send"])
def test_an_answer_attaches_its_reference_to_every_later_event_of_the_incoming_call(how, no_leaks):
    seen = queue.Queue()
    made = []

    def bob_cb(ctx, ev):
        before = ev.reference   # as the callback finds it, before it answers
        if ev.type == T.call_invite:
            ref = Ref("bob-%d" % ev.cid)
            made.append(weakref.ref(ref))
            if how == "call_send_answer":
                ctx.call_send_answer(ev.tid, 180, reference=ref)
                ctx.call_send_answer(answer=_ok(ctx, ev.tid))   # None: the reference stays
            else:
                ctx.call_send_answer(ev.tid, 180)
                _ok(ctx, ev.tid).send(reference=ref)
            assert ctx.get_call_reference(ev.cid) is ref
            del ref
        seen.put((ev.type, ev.cid, before))

    pool = concurrent.futures.ThreadPoolExecutor(4)
    bob = Context(bob_cb)
    alice = UA("alice")
    try:
        port = bob.listen_on_address("127.0.0.1", socket.IPPROTO_UDP, port=0)
        bob.start(event_executor=pool)
        inv = call.InitInvite(alice.ctx, "sip:bob@127.0.0.1:%d" % port, alice.uri)
        inv.add_body(sdp("alice", 40000))
        inv.content_type = "application/sdp"
        alice_ref = Ref("alice")
        cid = inv.send(reference=alice_ref)
        ans = alice.expect(T.call_ringing, T.call_answered, timeout=WAIT)
        if ans.type == T.call_ringing:
            assert ans.reference is alice_ref
            ans = alice.expect(T.call_answered, timeout=WAIT)
        assert ans.cid == cid and ans.reference is alice_ref
        alice.ctx.call_send_ack(tid=ans.tid)
        alice.ctx.call_terminate(ans.cid, ans.did)
        got = _events_until_released(seen)
        assert got[0][0] == T.call_invite and got[0][2] is None
        later = got[1:]
        assert {T.call_ack, T.call_closed, T.call_released} <= {g[0] for g in later}, got
        assert all(isinstance(g[2], Ref) and g[2].name == "bob-%d" % got[0][1] for g in later), got
        bob.stop()
        pool.shutdown(wait=True)
        assert bob.get_call_reference(got[0][1]) is None
    finally:
        bob.close()
        alice.close()
        pool.shutdown()
    del got, later
    gc.collect()
    assert [w for w in made if w() is not None] == []


def test_reference_on_an_answer_refuses_what_is_not_an_incoming_invite(no_leaks):
    bob = UA("bob")
    alice = UA("alice")
    try:
        request.Message(alice.ctx, bob.uri, alice.uri).send()
        msg = bob.expect(T.message_new, timeout=WAIT)
        inv = call.InitInvite(alice.ctx, bob.uri, alice.uri)
        inv.add_body(sdp("alice", 40000))
        inv.content_type = "application/sdp"
        inv.send()
        invite = bob.expect(T.call_invite, timeout=WAIT)
        ref = Ref("x")
        # a MESSAGE's transaction, made-up tids, negative and zero: refused before anything is sent
        for tid in (msg.tid, 999999, -1, 0, 2 ** 31 - 1):
            with pytest.raises(OsipNotFound, match="not the INVITE of an incoming call"):
                bob.ctx.call_send_answer(tid, 486, reference=ref)
        ok = _ok(bob.ctx, invite.tid)
        # the outgoing side's INVITE tid is no incoming call of alice
        with pytest.raises(OsipNotFound):
            alice.ctx.call_send_answer(invite.tid, 486, reference=ref)
        ok.send(reference=ref)            # the answer was not consumed by the refusals above
        assert bob.ctx.get_call_reference(invite.cid) is ref
        ans = alice.expect(T.call_answered, timeout=WAIT)
        alice.ctx.call_send_ack(tid=ans.tid)
        # a second final answer to the same INVITE fails: the reference given with it is not stored
        with pytest.raises(OsipError):
            bob.ctx.call_send_answer(invite.tid, 486, reference=Ref("late"))
        assert bob.ctx.get_call_reference(invite.cid) is ref
        alice.ctx.call_terminate(ans.cid, ans.did)
        bob.expect(T.call_ack, T.call_closed, timeout=WAIT)
    finally:
        alice.close()
        bob.close()


def test_init_invite_send_reference_is_returned_by_get_call_reference(no_leaks):
    silent = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    silent.bind(("127.0.0.1", 0))
    ctx = Context()
    try:
        port = ctx.listen_on_address("127.0.0.1", socket.IPPROTO_UDP, port=0)
        ref = Ref("out")
        inv = call.InitInvite(ctx, "sip:x@127.0.0.1:%d" % silent.getsockname()[1], "sip:a@127.0.0.1:%d" % port)
        cid = inv.send(reference=ref)
        assert ctx.get_call_reference(cid) is ref
        inv2 = call.InitInvite(ctx, "sip:x@127.0.0.1:%d" % silent.getsockname()[1], "sip:a@127.0.0.1:%d" % port)
        assert ctx.get_call_reference(inv2.send()) is None
    finally:
        ctx.close()
        silent.close()
