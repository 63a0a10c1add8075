# SPDX-License-Identifier: Apache-2.0
"""Context and Event: lifetime, locking, the event loop (inline, executor, asyncio), fork, exit."""

import asyncio
import concurrent.futures
import gc
import logging
import os
import signal
import socket
import subprocess
import sys
import textwrap
import threading
import time
import warnings

import pytest

from exosip2 import call, request
from exosip2.context import INLINE, Context, ContextClosedError, ContextLock
from exosip2.error import OsipBadParameter, OsipError, OsipWrongState
from exosip2.event import Event, EventType
from exosip2.message import ExosipMessage, OsipMessage
from uapair import UA, WAIT, sdp

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_event_type_values():
    assert EventType.registration_success == 0
    assert EventType.call_invite == 2
    assert EventType.call_ack == 12
    assert EventType.call_released == 22
    assert EventType.message_new == 23
    assert EventType.in_subscription_new == 38
    assert EventType.notification_answered == 41
    assert EventType.notification_globalfailure == 45
    assert len(EventType) == 46


def test_wrappers_are_not_made_by_python():
    with pytest.raises(TypeError):
        Event()
    with pytest.raises(TypeError):
        ExosipMessage()
    with pytest.raises(TypeError):
        ContextLock()


def test_with_close_is_idempotent(no_leaks):
    with Context() as ctx:
        port = ctx.listen_on_address("127.0.0.1", port=0)
        assert port > 0 and ctx.port == port and ctx.ptr != 0
        assert not ctx.closed
    assert ctx.closed and ctx.ptr == 0
    ctx.close()
    ctx.quit()
    assert "closed" in repr(ctx)


def test_listen_port_zero_binds_a_real_port(no_leaks):
    with Context() as ctx:
        port = ctx.listen_on_address("127.0.0.1", socket.IPPROTO_TCP, port=0)
        s = socket.create_connection(("127.0.0.1", port), timeout=WAIT)
        s.close()


def test_listen_bad_arguments(no_leaks):
    with Context() as ctx:
        with pytest.raises(OsipBadParameter):
            ctx.listen_on_address("127.0.0.1", socket.IPPROTO_UDP, port=0, secure=True)
        with pytest.raises(TypeError):
            ctx.listen_on_address(12, port=0)


def test_user_agent_is_used(no_leaks):
    with Context() as ctx:
        assert ctx.user_agent is None
        ctx.user_agent = "tester/1.0"
        assert ctx.user_agent == "tester/1.0"
        port = ctx.listen_on_address("127.0.0.1", port=0)
        inv = call.InitInvite(ctx, "sip:bob@127.0.0.1:9", "sip:alice@127.0.0.1:%d" % port)
        assert inv.user_agent == "tester/1.0"
        del inv


def test_closed_context_raises(no_leaks):
    ctx = Context()
    port = ctx.listen_on_address("127.0.0.1", port=0)
    inv = call.InitInvite(ctx, "sip:bob@127.0.0.1:9", "sip:alice@127.0.0.1:%d" % port)
    opt = request.Options(ctx, "sip:bob@127.0.0.1:9", "sip:alice@127.0.0.1:%d" % port)
    ctx.close()
    assert issubclass(ContextClosedError, OsipError)
    for action in (inv.send, opt.send, lambda: ctx.event_wait(0, 10), lambda: ctx.listen_on_address(port=0),
                   lambda: call.Answer(ctx, 1, 200), lambda: ctx.call_terminate(1, 1), ctx.automatic_action,
                   lambda: ctx.lock.acquire(), lambda: ctx.start(), lambda: ctx.call_send_answer(1, 486),
                   lambda: setattr(ctx, "user_agent", "x")):
        with pytest.raises(ContextClosedError):
            action()
    # the message that could not be sent is still a readable, owned message
    assert inv.method == "INVITE" and inv.context is ctx and not inv.consumed
    del inv, opt


def test_unclosed_context_warns(no_leaks):
    ctx = Context()
    ctx.listen_on_address("127.0.0.1", port=0)
    with pytest.warns(ResourceWarning, match="unclosed"):
        del ctx
        gc.collect()


def test_event_messages_outlive_the_event_and_the_loop(no_leaks):
    a, b = UA("alice"), UA("bob")
    try:
        inv = call.InitInvite(a.ctx, b.uri, a.uri)
        inv.add_body(sdp("alice", 40000))
        inv.content_type = "application/sdp"
        inv.send()
        ev = b.expect(EventType.call_invite)
        req = ev.request
        assert isinstance(req, OsipMessage) and not req.owned
        tid = ev.tid
        del ev
        gc.collect()
        # the loop goes on and delivers more events meanwhile
        b.ctx.call_send_answer(tid, 486)
        b.expect(EventType.call_released)
        a.expect(EventType.call_requestfailure)
        assert req.method == "INVITE" and b"m=audio 40000" in req.raw_bodies[0]
        assert req.call_id and bytes(req).startswith(b"INVITE ")
        # and after the context is closed
        b.close()
        assert req.cseq.method == "INVITE"
        # a borrowed message cannot be handed over; a copy can
        with pytest.raises(OsipWrongState):
            b.ctx.call_send_init_invite(req)
        assert req.copy().owned
        del req
    finally:
        a.close()
        b.close()


def test_event_dispose(no_leaks):
    a, b = UA("alice"), UA("bob")
    try:
        call.InitInvite(a.ctx, b.uri, a.uri).send()
        ev = b.expect(EventType.call_invite)
        ev.dispose()
        ev.dispose()
        assert ev.disposed and ev.request is None and ev.response is None and ev.ack is None
        assert ev.type == EventType.call_invite and ev.tid > 0
        b.ctx.call_send_answer(ev.tid, 486)
        ev2 = a.expect(EventType.call_requestfailure)
        resp = ev2.response
        ev2.dispose()          # a message was lent: it stays valid
        assert ev2.response is None
        assert resp.status_code == 486
        del ev, ev2, resp
    finally:
        a.close()
        b.close()


def test_callback_errors_are_logged_and_the_loop_goes_on(no_leaks, caplog):
    seen = []

    def callback(ctx, event):
        seen.append(event.type)
        if len(seen) == 1:
            raise RuntimeError("boom in callback")

    a = UA("alice")
    ctx = Context(callback)
    try:
        port = ctx.listen_on_address("127.0.0.1", port=0)
        with caplog.at_level(logging.ERROR, logger="exosip2.context"):
            ctx.start(event_executor=INLINE)
            assert ctx.is_running
            for _ in range(2):
                request.Message(a.ctx, "sip:b@127.0.0.1:%d" % port, a.uri).send()
            deadline = time.monotonic() + WAIT
            while len(seen) < 2 and time.monotonic() < deadline:
                time.sleep(0.01)
        assert seen == [EventType.message_new, EventType.message_new]
        assert "boom in callback" in caplog.text
        caplog.clear()
        assert ctx.is_running
    finally:
        ctx.close()
        a.close()
    assert not ctx.is_running


@pytest.mark.parametrize("kind", ["default", "custom", "inline"])
def test_dispatch_threads(kind, no_leaks):
    threads = []
    done = threading.Event()

    def callback(ctx, event):
        threads.append(threading.current_thread().name)
        ctx.message_send_answer(event.tid, 200)
        done.set()

    executor = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="mine") if kind == "custom" else None
    a = UA("alice")
    ctx = Context(callback)
    try:
        port = ctx.listen_on_address("127.0.0.1", port=0)
        loop_thread = ctx.start(event_executor={"default": None, "custom": executor, "inline": "inline"}[kind])
        assert isinstance(loop_thread, threading.Thread)
        request.Message(a.ctx, "sip:b@127.0.0.1:%d" % port, a.uri).send()
        assert done.wait(WAIT)
        a.expect(EventType.message_answered)
        name = threads[0]
        if kind == "inline":
            assert name == loop_thread.name
        elif kind == "custom":
            assert name.startswith("mine")
        else:
            assert name.startswith("exosip2-event")
        ctx.stop()
        ctx.stop()
        assert not ctx.is_running and not loop_thread.is_alive()
        with pytest.raises(OsipBadParameter):
            ctx.start(0, 0)
    finally:
        ctx.close()
        a.close()
        if executor is not None:
            executor.shutdown()


def test_stop_and_close_from_inline_callback(no_leaks):
    a = UA("alice")
    closed = threading.Event()

    def callback(ctx, event):
        ctx.close()          # stops the loop it runs in, then releases the context
        closed.set()

    ctx = Context(callback)
    try:
        port = ctx.listen_on_address("127.0.0.1", port=0)
        thread = ctx.start(event_executor="inline")
        request.Message(a.ctx, "sip:b@127.0.0.1:%d" % port, a.uri).send()
        assert closed.wait(WAIT)
        thread.join(WAIT)
        assert not thread.is_alive() and ctx.closed
    finally:
        ctx.close()
        a.close()


def test_run_blocks_until_timeout(no_leaks):
    with Context() as ctx:
        ctx.listen_on_address("127.0.0.1", port=0)
        t0 = time.monotonic()
        ctx.run(ms=20, event_executor="inline", timeout=0.2)
        assert time.monotonic() - t0 >= 0.19
        assert ctx.is_running
        ctx.stop()
        assert not ctx.is_running


def test_lock_is_reentrant_and_excludes_other_threads(no_leaks):
    with Context() as ctx:
        port = ctx.listen_on_address("127.0.0.1", port=0)
        assert not ctx.locked and not ctx.lock.locked()
        got = threading.Event()

        def other():
            with ctx.lock:
                got.set()

        with ctx.lock:
            assert ctx.locked
            # the binding's own locking inside a held lock does not deadlock
            inv = call.InitInvite(ctx, "sip:bob@127.0.0.1:9", "sip:alice@127.0.0.1:%d" % port)
            ctx.lock_acquire()
            ctx.lock_release()
            t = threading.Thread(target=other)
            t.start()
            assert not got.wait(0.2)
            with pytest.raises(OsipWrongState):
                ctx.close()
        assert got.wait(WAIT)
        t.join(WAIT)
        assert not ctx.locked
        with pytest.raises(RuntimeError):
            ctx.lock_release()
        del inv


def test_build_and_send_from_many_threads(no_leaks):
    a, b = UA("alice"), UA("bob")
    try:
        def send(i):
            m = request.Message(a.ctx, b.uri, a.uri)
            m.add_body("n=%d" % i)
            m.content_type = "text/plain"
            return m.send()

        with concurrent.futures.ThreadPoolExecutor(4) as pool:
            tids = list(pool.map(send, range(40)))
        assert len(set(tids)) == 40
        bodies = set()
        for _ in range(40):
            ev = b.expect(EventType.message_new)
            bodies.add(ev.request.raw_bodies[0])
            b.ctx.message_send_answer(ev.tid, 200)
        assert bodies == {b"n=%d" % i for i in range(40)}
        for _ in range(40):
            a.expect(EventType.message_answered)
    finally:
        a.close()
        b.close()


def test_asyncio_events(no_leaks):
    async def main():
        a = UA("alice")
        try:
            with Context() as ctx:
                port = ctx.listen_on_address("127.0.0.1", port=0)
                uri = "sip:bob@127.0.0.1:%d" % port
                call.InitInvite(a.ctx, uri, a.uri).send()
                got = []
                async for event in ctx.events():
                    got.append(event.type)
                    if event.type == EventType.call_invite:
                        ctx.call_send_answer(event.tid, 486)
                    elif event.type == EventType.call_released:
                        break
                assert got == [EventType.call_invite, EventType.call_released]
                a.expect(EventType.call_requestfailure)
                # the awaitable helper
                request.Message(a.ctx, uri, a.uri).send()
                ev = await ctx.wait_event(timeout=WAIT)
                assert ev.type == EventType.message_new
                ctx.message_send_answer(ev.tid, 200)
                with pytest.raises(asyncio.TimeoutError):
                    await ctx.wait_event(timeout=0.1)
        finally:
            a.close()

    asyncio.run(asyncio.wait_for(main(), 30))


def test_asyncio_refuses_a_running_loop(no_leaks):
    async def main():
        with Context() as ctx:
            ctx.listen_on_address("127.0.0.1", port=0)
            ctx.start(event_executor="inline")
            with pytest.raises(OsipWrongState):
                async for _ in ctx.events():
                    pass

    asyncio.run(asyncio.wait_for(main(), 30))


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork()")
def test_fork_child_leaves_the_parent_context_alone(no_leaks):
    a, b = UA("alice"), UA("bob")
    try:
        pid = os.fork()
        if pid == 0:  # child: closing its copy must not tear down the parent's context
            signal.alarm(10)  # a child that hangs dies instead
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    a.ctx.close()
            finally:
                os._exit(0)
        deadline = time.monotonic() + 15
        while True:
            done, status = os.waitpid(pid, os.WNOHANG)
            if done:
                break
            if time.monotonic() > deadline:
                os.kill(pid, signal.SIGKILL)
                os.waitpid(pid, 0)
                raise AssertionError("the forked child hung in close()")
            time.sleep(0.05)
        assert os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0
        request.Message(a.ctx, b.uri, a.uri).send()
        ev = b.expect(EventType.message_new)
        b.ctx.message_send_answer(ev.tid, 200)
        a.expect(EventType.message_answered)
    finally:
        a.close()
        b.close()


def test_exit_without_close_is_silent():
    code = textwrap.dedent("""
        import exosip2.context, exosip2.call
        a = exosip2.context.Context(lambda c, e: None)
        b = exosip2.context.Context()
        pa = a.listen_on_address("127.0.0.1", port=0)
        pb = b.listen_on_address("127.0.0.1", port=0)
        a.start()
        b.start(event_executor="inline")
        exosip2.call.InitInvite(a, "sip:b@127.0.0.1:%d" % pb, "sip:a@127.0.0.1:%d" % pa).send()
        print("ok")
    """)
    env = dict(os.environ, PYTHONPATH=ROOT)
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, env=env)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == "ok\n"
    assert proc.stderr == ""


def test_an_unreferenced_context_is_freed_at_once():
    import weakref
    ctx = Context()
    lock = ctx.lock
    assert lock.context is ctx
    del lock
    ref = weakref.ref(ctx)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ResourceWarning)
        del ctx            # no reference cycle: freed by reference counting, no gc.collect() needed
    assert ref() is None


def test_masquerade_contact(no_leaks):
    with Context() as ctx:
        port = ctx.listen_on_address("127.0.0.1", port=0)
        ctx.masquerade_contact("192.0.2.1", 5099)
        inv = call.InitInvite(ctx, "sip:b@127.0.0.1:9", "sip:a@127.0.0.1:%d" % port)
        assert inv.contacts == ["<sip:a@192.0.2.1:5099>"] and "192.0.2.1:5099" in inv.vias[0]
        ctx.masquerade_contact()
        inv = call.InitInvite(ctx, "sip:b@127.0.0.1:9", "sip:a@127.0.0.1:%d" % port)
        assert inv.contacts == ["<sip:a@127.0.0.1:%d>" % port]
        del inv
