# SPDX-License-Identifier: Apache-2.0
"""A program that falls behind sheds new work, not the requests that end what it holds.

With MAX_QUEUED_EVENTS reached (the program reads no events), a new request gets 503 with
Retry-After; a BYE of a confirmed call still gets its 200 and frees the call: refusing it would
keep the call until CALL_IDLE_TIMEOUT, so an overload would leave state behind it. The peer is a
raw UDP socket on 127.0.0.1; the context is read with event_wait only when the test says so.
"""

import re
import time

from exosip2 import call
from exosip2.context import Context
from exosip2.event import EventType as T
from exosip2.options import Option
from test_hostile_state import Peer, header, sdp, status_of, token

QUEUE = 16


def _answers(p, want, timeout=5.0):
    """Answers received until one for each CSeq method of *want* came; {method: [status, ...]}."""
    got = {}
    deadline = time.monotonic() + timeout
    while not all(m in got for m in want):
        left = deadline - time.monotonic()
        assert left > 0, got
        msg = p.recv(timeout=left)
        if not msg.startswith("SIP/2.0 "):
            continue
        method = header(msg, "CSeq").split()[1]
        got.setdefault(method, []).append(status_of(msg))
    return got


def _event(ctx, *types, timeout=5.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        ev = ctx.event_wait(0, 100)
        if ev is not None and ev.type in types:
            return ev
    raise AssertionError("no event %s within %.1f s" % (types, timeout))


def test_a_bye_is_served_while_the_event_queue_is_full():
    ctx = Context()
    p = None
    try:
        ctx.set_option(Option.MAX_QUEUED_EVENTS, QUEUE)
        ctx.listen_on_address("127.0.0.1", port=0)
        p = Peer(ctx.port)
        inv = p.request("INVITE", body=sdp("peer", 40000))
        ev = _event(ctx, T.call_invite)
        ok = call.Answer(ctx, ev.tid, 200)
        ok.add_body(sdp("uas", 41000))
        ok.content_type = "application/sdp"
        ok.send()
        resp = p.recv()
        assert status_of(resp) == 200
        to_tag = re.search(r";tag=([^;>\s]+)", header(resp, "To")).group(1)
        p.request("ACK", callid=inv["callid"], ftag=inv["ftag"], to_tag=to_tag)
        _event(ctx, T.call_ack)
        # the program stops reading: MESSAGEs fill the queue, the ones beyond it get 503
        for _ in range(QUEUE + 4):
            p.request("MESSAGE")
        assert 503 in _answers(p, ["MESSAGE"])["MESSAGE"]
        # new work is still refused ...
        p.request("OPTIONS")
        assert _answers(p, ["OPTIONS"])["OPTIONS"] == [503]
        # ... but the BYE of the call is served, and the call goes
        p.request("BYE", callid=inv["callid"], ftag=inv["ftag"], to_tag=to_tag, cseq=2)
        assert _answers(p, ["BYE"])["BYE"] == [200]
        assert _event(ctx, T.call_closed).cid == ev.cid
        assert _event(ctx, T.call_released, timeout=40).cid == ev.cid
        assert ctx.get_statistics().allocated_calls == 0
    finally:
        ctx.close()
        if p is not None:
            p.close()


def test_a_bye_of_no_dialog_is_still_refused_while_the_queue_is_full():
    """Only a BYE that ends a call gets past the bound: one for no call is new work (503)."""
    ctx = Context()
    p = None
    try:
        ctx.set_option(Option.MAX_QUEUED_EVENTS, QUEUE)
        ctx.listen_on_address("127.0.0.1", port=0)
        p = Peer(ctx.port)
        for _ in range(QUEUE + 4):
            p.request("MESSAGE")
        assert 503 in _answers(p, ["MESSAGE"])["MESSAGE"]
        p.request("BYE", to_tag=token(), cseq=2)
        assert _answers(p, ["BYE"])["BYE"] == [503]
    finally:
        ctx.close()
        if p is not None:
            p.close()
