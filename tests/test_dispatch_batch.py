# SPDX-License-Identifier: Apache-2.0
"""The event path under load and bursts: the loop thread (inline), the default executor (runners
that wait for the next event, woken as the loop thread goes back to its wait) and asyncio (batches
that stop at an empty queue) lose no event and never reorder the events of a call. A real SIPp UAC (``-sn uac -d 0``) calls a Context on 127.0.0.1;
bursts are forced by a callback that holds its thread while SIPp keeps sending."""

import asyncio
import logging
import os
import socket
import threading
import time

import pytest

from exosip2 import call
from exosip2.context import Context
from exosip2.event import EventType as T
from peers.sipp import Sipp

SDP = ("v=0\r\no=uas 1 1 IN IP4 127.0.0.1\r\ns=uas\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
       "m=audio 40000 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n")
WAIT = 30.0


class Recorder:
    """Answers every INVITE (200 with SDP); records per cid the event types in the order the
    callbacks ran and overlapping callbacks of one call. *hold_s*: the first call_invite callback
    sleeps that long first, so that events pile up in the stack's queue behind it. *fail_on*: a
    type whose callback raises after recording (the dispatch must carry on)."""

    def __init__(self, calls, hold_s=0.0, fail_on=None):
        self.calls = calls
        self.hold_s = hold_s
        self.fail_on = fail_on
        self.lock = threading.Lock()
        self.seen = {}
        self.active = set()
        self.overlaps = 0
        self.threads = set()
        self.released = 0
        self.done = threading.Event()
        self.held = False

    def __call__(self, ctx, ev):
        t = ev.type
        cid = ev.cid
        with self.lock:
            if cid in self.active:
                self.overlaps += 1
            self.active.add(cid)
            self.seen.setdefault(cid, []).append(t)
            self.threads.add(threading.current_thread().name)
            hold = self.hold_s if t == T.call_invite and not self.held else 0.0
            self.held = self.held or hold > 0
        try:
            if hold:
                time.sleep(hold)
            if t == T.call_invite:
                ans = call.Answer(ctx, ev.tid, 200)
                ans.add_body(SDP)
                ans.content_type = "application/sdp"
                ans.send()
            if t == self.fail_on:
                raise RuntimeError("a callback that fails on %s" % t.name)
        finally:
            with self.lock:
                self.active.discard(cid)
                if t == T.call_released:
                    self.released += 1
                    if self.released >= self.calls:
                        self.done.set()

    def check(self):
        assert self.overlaps == 0
        assert len(self.seen) == self.calls, (len(self.seen), self.calls)
        for cid, types in self.seen.items():
            assert cid > 0, types
            for once in (T.call_invite, T.call_ack, T.call_closed, T.call_released):
                assert types.count(once) == 1, (cid, types)
            assert types[0] == T.call_invite, (cid, types)
            assert types[-1] == T.call_released, (cid, types)
            assert types.index(T.call_ack) < types.index(T.call_closed), (cid, types)


def load(port, calls, rate):
    """SIPp UAC: *calls* calls at *rate* per second, no pause; returns the started Sipp."""
    sipp = Sipp("uac", "127.0.0.1:%d" % port, calls=calls, rate=rate, limit=max(200, calls),
                pause_ms=0, timeout_s=25)
    sipp.start(wait_bound=False)
    return sipp


def pool_threads(rec_threads):
    return [t for t in threading.enumerate() if t.name in rec_threads and t.name.startswith("exosip2-event-")]


@pytest.mark.parametrize("executor", ["inline", None], ids=["inline", "default-executor"])
def test_loop_takes_bursts_without_losing_or_reordering_events(executor, no_leaks):
    calls = 400
    rec = Recorder(calls, hold_s=0.3)
    ctx = Context(rec)
    sipp = None
    try:
        port = ctx.listen_on_address("127.0.0.1", socket.IPPROTO_UDP, port=0)
        ctx.start(s=0, ms=50, event_executor=executor)
        sipp = load(port, calls, 400)
        result = sipp.wait()
        result.assert_clean(calls)
        assert rec.done.wait(WAIT), "only %d of %d calls released" % (rec.released, calls)
        ctx.stop(timeout=WAIT)
        rec.check()
        if executor is None:
            # callbacks ran on the pool, and never on more threads than the pool has
            assert rec.threads and all(n.startswith("exosip2-event-") for n in rec.threads), rec.threads
            assert len(rec.threads) <= min(32, (os.cpu_count() or 1) + 4), rec.threads
            # stop() shut the pool down: its waiting runners give their threads back at once
            deadline = time.monotonic() + 5.0
            while pool_threads(rec.threads) and time.monotonic() < deadline:
                time.sleep(0.01)
            assert pool_threads(rec.threads) == []
        else:
            assert len(rec.threads) == 1 and next(iter(rec.threads)).startswith("exosip2-loop-"), rec.threads
    finally:
        if sipp is not None:
            sipp.cleanup()
        ctx.close()
    rec.seen.clear()


class CountFailures(logging.Handler):
    """Counts the "event callback failed" records of exosip2.context and keeps none (a kept
    record holds its event, which no_leaks would then count)."""

    def __init__(self):
        super().__init__(logging.ERROR)
        self.count = 0
        self.logger = logging.getLogger("exosip2.context")

    def emit(self, record):
        if "event callback failed" in record.getMessage():
            self.count += 1

    def __enter__(self):
        self.propagate = self.logger.propagate
        self.logger.propagate = False
        self.logger.addHandler(self)
        return self

    def __exit__(self, *exc):
        self.logger.removeHandler(self)
        self.logger.propagate = self.propagate


def test_default_executor_carries_on_past_failing_callbacks_under_load(no_leaks):
    # every call_ack callback raises: logged, and the events after it (its call's call_closed and
    # call_released, the other calls) still come, in order
    calls = 200
    rec = Recorder(calls, fail_on=T.call_ack)
    ctx = Context(rec)
    sipp = None
    failures = CountFailures()
    try:
        failures.__enter__()
        port = ctx.listen_on_address("127.0.0.1", socket.IPPROTO_UDP, port=0)
        ctx.start()
        sipp = load(port, calls, 400)
        sipp.wait().assert_clean(calls)
        assert rec.done.wait(WAIT), "only %d of %d calls released" % (rec.released, calls)
        ctx.stop(timeout=WAIT)
        rec.check()
    finally:
        failures.__exit__()
        if sipp is not None:
            sipp.cleanup()
        ctx.close()
    assert failures.count == calls
    rec.seen.clear()


def test_default_executor_runner_waits_for_the_next_event_then_stops_cleanly(no_leaks):
    # events that come one by one, further apart than a runner waits: each still reaches its
    # callback, in order, and stop() returns at once after the pool's runners gave up waiting
    calls = 3
    rec = Recorder(calls)
    ctx = Context(rec)
    try:
        port = ctx.listen_on_address("127.0.0.1", socket.IPPROTO_UDP, port=0)
        ctx.start()
        for _ in range(calls):
            load(port, 1, 1).wait().assert_clean(1)
            time.sleep(0.2)
        assert rec.done.wait(WAIT), "only %d of %d calls released" % (rec.released, calls)
        t0 = time.monotonic()
        ctx.stop(timeout=WAIT)
        assert time.monotonic() - t0 < 2.0
        rec.check()
    finally:
        ctx.close()
    rec.seen.clear()


def test_asyncio_batches_without_losing_or_reordering_events(no_leaks):
    calls = 400
    rec = Recorder(calls)

    async def consume(ctx):
        async for ev in ctx.events():
            rec(ctx, ev)
            if ev.type == T.call_invite and not rec.held:
                rec.held = True
                time.sleep(0.3)   # blocks the asyncio loop: the stack queues what comes meanwhile
            if rec.done.is_set():
                break

    ctx = Context()
    sipp = None
    try:
        port = ctx.listen_on_address("127.0.0.1", socket.IPPROTO_UDP, port=0)
        sipp = load(port, calls, 400)

        async def main():
            await asyncio.wait_for(consume(ctx), WAIT)

        asyncio.run(main())
        sipp.wait().assert_clean(calls)
        rec.check()
    finally:
        if sipp is not None:
            sipp.cleanup()
        ctx.close()
    rec.seen.clear()


def test_asyncio_gets_an_event_that_comes_after_an_idle_wait(no_leaks):
    # the batch stops at an empty queue without a wait on the stack; the reader must still wake
    # the iterator for the next event, however long the queue stayed empty
    ctx = Context()
    try:
        port = ctx.listen_on_address("127.0.0.1", socket.IPPROTO_UDP, port=0)

        async def main():
            seen = []
            for _ in range(2):
                sipp = load(port, 1, 1)
                try:
                    while True:
                        ev = await ctx.wait_event(10.0)
                        seen.append(ev.type)
                        if ev.type == T.call_invite:
                            ans = call.Answer(ctx, ev.tid, 200)
                            ans.add_body(SDP)
                            ans.content_type = "application/sdp"
                            ans.send()
                        if ev.type == T.call_released:
                            break
                    sipp.wait().assert_clean(1)
                finally:
                    sipp.cleanup()
                await asyncio.sleep(0.3)
            return seen

        seen = asyncio.run(main())
        assert seen.count(T.call_invite) == 2 and seen.count(T.call_released) == 2, seen
    finally:
        ctx.close()
