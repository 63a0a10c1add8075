# SPDX-License-Identifier: Apache-2.0
"""Context.stop() and close() with the default executor: bounded, and they wait for the callbacks in
flight (MESSAGEs sent by a second context over 127.0.0.1 feed the loop)."""

import threading
import time

import pytest

from exosip2 import request
from exosip2.context import Context
from exosip2.error import OsipTimeout, OsipWrongState
from uapair import UA, WAIT


def _server(callback):
    ctx = Context(callback)
    port = ctx.listen_on_address("127.0.0.1", port=0)
    return ctx, port


def _send(ua, port, n=1):
    for _ in range(n):
        request.Message(ua.ctx, "sip:b@127.0.0.1:%d" % port, ua.uri).send()


def test_stop_returns_once_the_callbacks_in_flight_have_returned(no_leaks):
    started, finished = threading.Event(), []

    def callback(ctx, event):
        ctx.message_send_answer(event.tid, 200)
        started.set()
        time.sleep(0.3)
        finished.append(event.tid)

    a = UA("alice")
    ctx, port = _server(callback)
    try:
        ctx.start()
        _send(a, port)
        assert started.wait(WAIT)
        ctx.stop()
        assert finished, "stop() returned while a callback of the default executor still ran"
        assert not ctx.is_running
    finally:
        ctx.close()
        a.close()


def test_stop_with_timeout_raises_while_a_callback_blocks_and_the_loop_is_stopped_all_the_same(no_leaks):
    started, release = threading.Event(), threading.Event()

    def callback(ctx, event):
        ctx.message_send_answer(event.tid, 200)
        started.set()
        release.wait(WAIT)

    a = UA("alice")
    ctx, port = _server(callback)
    try:
        ctx.start()
        _send(a, port)
        assert started.wait(WAIT)
        t0 = time.monotonic()
        with pytest.raises(OsipTimeout, match="callbacks still run after 0.2 s"):
            ctx.stop(timeout=0.2)
        assert 0.15 < time.monotonic() - t0 < 2.0
        assert not ctx.is_running
        release.set()
        ctx.stop(timeout=WAIT)   # now it returns: the callback ended
    finally:
        release.set()
        ctx.close()
        a.close()


def test_stop_while_holding_the_context_lock_is_refused_instead_of_hanging(no_leaks):
    # The loop thread runs the automatic actions under the context lock after every empty wait;
    # joining it while holding that lock waited for ever once it had started waiting for the lock.
    ctx, port = _server(lambda c, e: None)
    try:
        loop = ctx.start(s=0, ms=10)
        with ctx.lock:
            time.sleep(0.1)   # the loop thread now waits for the lock
            with pytest.raises(OsipWrongState, match="holds the context lock"):
                ctx.stop()
            assert ctx.is_running
        ctx.stop(timeout=WAIT)
        assert not loop.is_alive()
    finally:
        ctx.close()


def test_stop_from_a_callback_of_the_default_executor_does_not_wait_for_itself(no_leaks):
    stopped = threading.Event()

    def callback(ctx, event):
        ctx.message_send_answer(event.tid, 200)
        ctx.stop()
        stopped.set()

    a = UA("alice")
    ctx, port = _server(callback)
    try:
        loop = ctx.start()
        _send(a, port)
        assert stopped.wait(WAIT)
        loop.join(WAIT)
        assert not loop.is_alive() and not ctx.is_running
        ctx.stop(timeout=WAIT)   # idempotent; the callback has returned
    finally:
        ctx.close()
        a.close()


def test_close_waits_for_the_callbacks_in_flight_within_its_timeout(no_leaks):
    started, finished = threading.Event(), []

    def callback(ctx, event):
        ctx.message_send_answer(event.tid, 200)
        started.set()
        time.sleep(0.3)
        finished.append(ctx.closed)

    a = UA("alice")
    ctx, port = _server(callback)
    try:
        ctx.start()
        _send(a, port)
        assert started.wait(WAIT)
        ctx.close()
        assert finished == [False], "close() released the stack under a running callback"
    finally:
        ctx.close()
        a.close()


def test_close_is_bounded_by_its_timeout_when_a_callback_never_returns(no_leaks):
    started, release = threading.Event(), threading.Event()
    seen = []

    def callback(ctx, event):
        ctx.message_send_answer(event.tid, 200)
        started.set()
        release.wait(WAIT)
        seen.append(ctx.closed)

    a = UA("alice")
    ctx, port = _server(callback)
    try:
        ctx.start()
        _send(a, port)
        assert started.wait(WAIT)
        t0 = time.monotonic()
        ctx.close(timeout=0.3)
        assert time.monotonic() - t0 < 2.0
        assert ctx.closed
        release.set()
        deadline = time.monotonic() + WAIT
        while not seen and time.monotonic() < deadline:
            time.sleep(0.01)
        assert seen == [True]
    finally:
        release.set()
        ctx.close()
        a.close()


@pytest.mark.parametrize("bad", [-1, "1", True, float("nan")])
def test_stop_refuses_a_bad_timeout(bad, no_leaks):
    ctx, port = _server(None)
    try:
        ctx.start()
        with pytest.raises(ValueError, match="timeout"):
            ctx.stop(timeout=bad)
        assert ctx.is_running
    finally:
        ctx.close()
