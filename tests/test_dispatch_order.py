# SPDX-License-Identifier: Apache-2.0
"""Order and identity in the event loop: the default executor keeps each call's events in order and
runs different calls in parallel; call references (``call_send_init_invite(reference=)``,
``set_call_reference``, ``Event.reference``) reach every event of their call and are released with it.
Two contexts over 127.0.0.1; every wait bounded."""

import concurrent.futures
import gc
import queue
import random
import socket
import threading
import time
import weakref

import pytest

from exosip2 import call
from exosip2.context import Context
from exosip2.error import OsipBadParameter, OsipNotFound
from uapair import UA, EventType as T, sdp

WAIT = 20.0


class Ref:
    """A reference object that weakref can follow."""

    def __init__(self, n):
        self.n = n


def answering_bob(transport="udp", ring=True):
    """A callee (inline) that answers every INVITE at once: 180 (optional), then 200 with SDP."""
    bob = UA("bob", transport)

    def on_event(ctx, ev):
        if ev.type == T.call_invite:
            if ring:
                ctx.call_send_answer(ev.tid, 180)
            ok = call.Answer(ctx, ev.tid, 200)
            ok.add_body(sdp("bob", 41000))
            ok.content_type = "application/sdp"
            ok.send()
        bob.events.put(ev)

    bob.ctx.event_callback = on_event
    return bob


def send_invite(ctx, to_uri, from_uri, reference):
    inv = call.InitInvite(ctx, to_uri, from_uri)
    inv.add_body(sdp("alice", 40000))
    inv.content_type = "application/sdp"
    return ctx.call_send_init_invite(inv, reference=reference)


class Recorder:
    """Alice's callback: per call, the event types in the order the callbacks ran, overlaps of two
    callbacks of one call, events whose reference is not their call's; ACK + BYE on the answer."""

    def __init__(self, jitter=True):
        self.lock = threading.Lock()
        self.seen = {}          # cid -> [types]
        self.active = set()     # cids whose callback runs now
        self.overlaps = 0
        self.wrong_ref = []
        self.released = set()
        self.done = threading.Event()
        self.expected = 0
        self.jitter = jitter

    def __call__(self, ctx, ev):
        cid = ev.cid
        if cid <= 0:
            return
        with self.lock:
            if cid in self.active:
                self.overlaps += 1
            self.active.add(cid)
            self.seen.setdefault(cid, []).append(ev.type)
        try:
            ref = ev.reference
            if not isinstance(ref, Ref) or ref.n != cid:
                self.wrong_ref.append((ev.type, cid, ref))
            if self.jitter:
                time.sleep(random.random() * 0.002)   # lets a plain pool reorder; the default must not
            if ev.type == T.call_answered:
                ctx.call_send_ack(tid=ev.tid)
                ctx.call_terminate(cid, ev.did)
        finally:
            with self.lock:
                self.active.discard(cid)
                if ev.type == T.call_released:
                    self.released.add(cid)
                    if len(self.released) >= self.expected:
                        self.done.set()


def run_calls(alice_ctx, alice_uri, bob_uri, calls, recorder):
    """Place *calls* calls, each with a Ref whose n is its cid (set under the lock, before any event)."""
    recorder.expected = calls
    refs = []
    for _ in range(calls):
        ref = Ref(0)
        with alice_ctx.lock:
            # holding the lock only to fill in ref.n before an event of the call can be handled
            ref.n = send_invite(alice_ctx, bob_uri, alice_uri, ref)
        refs.append(weakref.ref(ref))
        del ref
    assert recorder.done.wait(WAIT), "only %d of %d calls released" % (len(recorder.released), calls)
    return refs


def check_order(recorder):
    for cid, types in recorder.seen.items():
        assert types[-1] == T.call_released, (cid, types)
        assert types.count(T.call_released) == 1, (cid, types)
        if T.call_ringing in types:
            assert types.index(T.call_ringing) < types.index(T.call_answered), (cid, types)
        assert T.call_answered in types, (cid, types)


@pytest.mark.parametrize("transport", ["udp", "tcp"])
def test_default_executor_keeps_each_call_in_order(transport, no_leaks):
    bob = answering_bob(transport)
    rec = Recorder()
    alice = Context(rec)
    try:
        proto = socket.IPPROTO_TCP if transport == "tcp" else socket.IPPROTO_UDP
        port = alice.listen_on_address("127.0.0.1", proto, port=0)
        uri = "sip:alice@127.0.0.1:%d" % port + (";transport=tcp" if transport == "tcp" else "")
        alice.start()   # the default executor
        refs = run_calls(alice, uri, bob.uri, 150, rec)
        assert rec.overlaps == 0
        assert rec.wrong_ref == []
        check_order(rec)
        assert all(alice.get_call_reference(cid) is None for cid in rec.seen)
        alice.stop()
    finally:
        alice.close()
        bob.close()
    rec.seen.clear()
    gc.collect()
    assert [r for r in refs if r() is not None] == []


def test_default_executor_runs_different_calls_in_parallel(no_leaks):
    # The 180 callbacks of two calls meet at a barrier: with one call at a time they never would.
    # Meanwhile the 200 of each call waits for its own 180 callback to return.
    bob = answering_bob()
    barrier = threading.Barrier(2, timeout=WAIT)
    log = queue.Queue()
    finished = threading.Event()
    released = []

    def on_event(ctx, ev):
        if ev.type == T.call_ringing:
            log.put(("ring-start", ev.cid))
            try:
                barrier.wait()
            except threading.BrokenBarrierError:
                log.put(("broken", ev.cid))
            log.put(("ring-end", ev.cid))
        elif ev.type == T.call_answered:
            log.put(("answered", ev.cid))
            ctx.call_send_ack(tid=ev.tid)
            ctx.call_terminate(ev.cid, ev.did)
        elif ev.type == T.call_released:
            released.append(ev.cid)
            if len(released) == 2:
                finished.set()

    alice = UA("alice", executor=None)
    alice.ctx.event_callback = on_event
    try:
        cids = [send_invite(alice.ctx, bob.uri, alice.uri, None) for _ in range(2)]
        assert finished.wait(WAIT)
        entries = []
        while not log.empty():
            entries.append(log.get_nowait())
        assert not [e for e in entries if e[0] == "broken"], entries
        for cid in cids:
            mine = [kind for kind, c in entries if c == cid]
            assert mine == ["ring-start", "ring-end", "answered"], (cid, entries)
    finally:
        alice.close()
        bob.close()


def test_inline_keeps_order_and_references(no_leaks):
    bob = answering_bob()
    rec = Recorder(jitter=False)
    alice = Context(rec)
    try:
        port = alice.listen_on_address("127.0.0.1", socket.IPPROTO_UDP, port=0)
        alice.start(event_executor="inline")
        refs = run_calls(alice, "sip:alice@127.0.0.1:%d" % port, bob.uri, 40, rec)
        assert rec.overlaps == 0 and rec.wrong_ref == []
        check_order(rec)
    finally:
        alice.close()
        bob.close()
    gc.collect()
    assert [r for r in refs if r() is not None] == []


class CountingExecutor(concurrent.futures.ThreadPoolExecutor):
    """A user-given executor: the loop must submit each event to it, once, as before."""

    def __init__(self):
        super().__init__(max_workers=4)
        self.submits = 0

    def submit(self, fn, *args, **kwargs):
        self.submits += 1
        return super().submit(fn, *args, **kwargs)


def test_user_executor_gets_every_event_and_references_are_released(no_leaks):
    bob = answering_bob()
    rec = Recorder(jitter=False)
    pool = CountingExecutor()
    alice = Context(rec)
    try:
        port = alice.listen_on_address("127.0.0.1", socket.IPPROTO_UDP, port=0)
        alice.start(event_executor=pool)
        refs = run_calls(alice, "sip:alice@127.0.0.1:%d" % port, bob.uri, 20, rec)
        alice.stop()
        assert rec.wrong_ref == []
        assert pool.submits == sum(len(types) for types in rec.seen.values())
        assert all(alice.get_call_reference(cid) is None for cid in rec.seen)
    finally:
        alice.close()
        bob.close()
        pool.shutdown()
    gc.collect()
    assert [r for r in refs if r() is not None] == []


def test_events_without_a_call_still_reach_the_default_executor(no_leaks):
    # out-of-dialog MESSAGEs carry no cid/rid/sid/nid: they go to the pool directly
    from exosip2 import request
    bob = UA("bob")
    got = queue.Queue()

    def on_event(ctx, ev):
        if ev.type == T.message_new:
            ctx.message_send_answer(ev.tid, 200)
        got.put(ev)

    bob.ctx.event_callback = on_event
    alice = UA("alice", executor=None)
    try:
        for _ in range(5):
            request.Message(alice.ctx, bob.uri, alice.uri).send()
        answers = [alice.expect(T.message_answered, timeout=WAIT) for _ in range(5)]
        assert all(a.cid == 0 and a.reference is None for a in answers)
        news = [got.get(timeout=WAIT) for _ in range(5)]
        assert all(n.type == T.message_new for n in news)
    finally:
        alice.close()
        bob.close()


def test_set_call_reference_on_an_incoming_call(no_leaks):
    seen = queue.Queue()
    ref = Ref(7)
    wref = weakref.ref(ref)
    holder = [ref]
    del ref

    def bob_cb(ctx, ev):
        if ev.type == T.call_invite:
            ctx.set_call_reference(ev.cid, holder.pop())
            assert ctx.get_call_reference(ev.cid).n == 7
            ok = call.Answer(ctx, ev.tid, 200)
            ok.add_body(sdp("bob", 41000))
            ok.content_type = "application/sdp"
            ok.send()
        seen.put((ev.type, ev.cid, ev.reference))

    bob = UA("bob", executor=None)
    bob.ctx.event_callback = bob_cb
    alice = UA("alice")
    try:
        send_invite(alice.ctx, bob.uri, alice.uri, None)
        ans = alice.expect(T.call_answered, timeout=WAIT)
        alice.ctx.call_send_ack(tid=ans.tid)
        assert ans.reference is None   # alice attached nothing
        alice.ctx.call_terminate(ans.cid, ans.did)
        got = []
        while not got or got[-1][0] != T.call_released:
            got.append(seen.get(timeout=WAIT))
        cid = got[0][1]
        types = [g[0] for g in got]
        assert types[0] == T.call_invite and T.call_ack in types and T.call_closed in types, types
        assert all(isinstance(g[2], Ref) and g[2].n == 7 for g in got[1:]), got
        assert bob.ctx.get_call_reference(cid) is None
        with pytest.raises(OsipNotFound, match="no call %d" % cid):
            bob.ctx.set_call_reference(cid, Ref(1))
        assert bob.ctx.get_call_reference(cid) is None
    finally:
        alice.close()
        bob.close()
    del got
    gc.collect()
    assert wref() is None


def test_set_call_reference_replaces_and_drops(no_leaks):
    # a silent peer (a bound UDP socket that never answers): the call stays up until close()
    silent = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    silent.bind(("127.0.0.1", 0))
    ctx = Context()
    try:
        port = ctx.listen_on_address("127.0.0.1", socket.IPPROTO_UDP, port=0)
        first, second = Ref(1), Ref(2)
        w1, w2 = weakref.ref(first), weakref.ref(second)
        cid = send_invite(ctx, "sip:x@127.0.0.1:%d" % silent.getsockname()[1],
                          "sip:alice@127.0.0.1:%d" % port, first)
        assert ctx.get_call_reference(cid) is first
        ctx.set_call_reference(cid, second)
        del first
        gc.collect()
        assert w1() is None and ctx.get_call_reference(cid) is second
        ctx.set_call_reference(cid, None)
        assert ctx.get_call_reference(cid) is None
        ctx.set_call_reference(cid, second)
        del second
    finally:
        ctx.close()          # the call is never released: close() drops the reference
        silent.close()
    gc.collect()
    assert w2() is None


def test_set_call_reference_bad_arguments(no_leaks):
    with Context() as ctx:
        ctx.listen_on_address("127.0.0.1", socket.IPPROTO_UDP, port=0)
        with pytest.raises(TypeError, match="cid must be an int, not str"):
            ctx.set_call_reference("1", object())
        with pytest.raises(TypeError, match="cid must be an int, not bool"):
            ctx.set_call_reference(True, object())
        for bad in (0, -3, 2 ** 40):
            with pytest.raises(OsipBadParameter, match="cid must be a positive id"):
                ctx.set_call_reference(bad, object())
        with pytest.raises(OsipNotFound, match="no call 12345"):
            ctx.set_call_reference(12345, object())
        assert ctx.get_call_reference(12345) is None
        assert ctx.get_call_reference("junk") is None


def test_reference_through_event_wait(no_leaks):
    # no event loop: the reference is read as each event is taken, and dropped with call_released
    bob = answering_bob(ring=False)
    ctx = Context()
    try:
        port = ctx.listen_on_address("127.0.0.1", socket.IPPROTO_UDP, port=0)
        ref = Ref(0)
        wref = weakref.ref(ref)
        cid = send_invite(ctx, bob.uri, "sip:alice@127.0.0.1:%d" % port, ref)
        del ref
        events = []
        deadline = time.monotonic() + WAIT
        while time.monotonic() < deadline:
            ev = ctx.event_wait(0, 100)
            if ev is None:
                continue
            events.append(ev)
            if ev.type == T.call_answered:
                ctx.call_send_ack(tid=ev.tid)
                ctx.call_terminate(cid, ev.did)
            if ev.type == T.call_released:
                break
        assert events and events[-1].type == T.call_released
        assert all(isinstance(e.reference, Ref) for e in events if e.cid == cid)
        assert ctx.get_call_reference(cid) is None
        assert wref() is not None      # the events still hold it
        del events, ev
        gc.collect()
        assert wref() is None
    finally:
        ctx.close()
        bob.close()


def test_hostile_reference_objects_do_not_disturb_the_loop(no_leaks):
    # a reference that cannot be hashed and whose __eq__ raises is stored and released like any other
    class Nasty:
        def __eq__(self, other):
            raise RuntimeError("eq")

        __hash__ = None  # type: ignore[assignment]

    bob = answering_bob()
    done = threading.Event()
    refs = []

    def on_event(ctx, ev):
        refs.append(type(ev.reference).__name__)
        if ev.type == T.call_answered:
            ctx.call_send_ack(tid=ev.tid)
            ctx.call_terminate(ev.cid, ev.did)
        if ev.type == T.call_released:
            done.set()

    alice = UA("alice", executor=None)
    alice.ctx.event_callback = on_event
    try:
        cid = send_invite(alice.ctx, bob.uri, alice.uri, Nasty())
        assert done.wait(WAIT)
        assert set(refs) == {"Nasty"}
        assert alice.ctx.get_call_reference(cid) is None
    finally:
        alice.close()
        bob.close()


@pytest.mark.parametrize("executor", [None, "inline"])
def test_reference_reaches_every_event_of_a_call_that_fails_at_once(executor, no_leaks):
    # a target that does not resolve (RFC 6761 .invalid): the failure is reported while the INVITE
    # is being sent, before call_send_init_invite has returned; its events carry the reference too
    alice = UA("alice", executor=executor)
    try:
        refs = []
        for n in range(20):
            ref = Ref(n)
            refs.append(weakref.ref(ref))
            inv = call.InitInvite(alice.ctx, "sip:x@nonexistent.invalid", alice.uri)
            cid = alice.ctx.call_send_init_invite(inv, reference=ref)
            del ref
            while True:
                ev = alice.expect(T.call_noanswer, T.call_requestfailure, T.call_serverfailure,
                                  T.call_globalfailure, T.call_released, timeout=WAIT)
                assert ev.cid == cid
                assert isinstance(ev.reference, Ref) and ev.reference.n == n, ev
                if ev.type == T.call_released:
                    break
            assert alice.ctx.get_call_reference(cid) is None
        del ev
    finally:
        alice.close()
    gc.collect()
    assert [r for r in refs if r() is not None] == []
