#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""uas — a user agent server on exosip2: answers every call (the Python twin of examples/c/uas.c).

uas.py [-a ADDR] [-p PORT] [-t udp|tcp] [-s STATUS] [-r] [-D ANSWER_DELAY_MS] [-b BYE_AFTER_MS]
       [-n EXIT_AFTER_CALLS] [-q] [--dispatch inline|executor|asyncio]

Prints ``uas: listening on PROTO ADDR:PORT`` once ready and ``uas: calls=N answered=N closed=N``
at exit (after SIGINT/SIGTERM, or once -n calls are released).

--dispatch picks how events reach Python: ``inline`` (default) runs the handler in the event
loop thread, ``executor`` in a thread pool (exosip2ctypes' way), ``asyncio`` with
``async for event in ctx.events()``.
"""

import argparse
import asyncio
import select
import signal
import socket
import sys
import threading
from typing import Any, Callable, List, Optional

from exosip2 import call
from exosip2.context import Context
from exosip2.error import OsipError
from exosip2.event import Event, EventType

T = EventType


class Uas:
    def __init__(self, opts: argparse.Namespace) -> None:
        self.calls = self.answered = self.closed = 0
        self.opts = opts
        self.count_lock = threading.Lock()
        self.done = threading.Event()
        self.signalled: List[int] = []  # signals received (appended by the handler, read by run_threaded)
        # run_threaded's main thread sleeps on this pair until a signal (signal.set_wakeup_fd) or the
        # last call (wake()) writes a byte: no polling while calls are served
        self.wake_r, self.wake_w = socket.socketpair()
        self.wake_w.setblocking(False)
        self.sdp = ("v=0\r\no=uas 1 1 IN IP4 {0}\r\ns=uas\r\nc=IN IP4 {0}\r\nt=0 0\r\n"
                    "m=audio 40000 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n").format(opts.address)
        self.schedule: Callable[..., Any] = self._schedule_thread

    def _schedule_thread(self, delay_ms: int, fn: Callable[..., Any], *args: Any) -> None:
        timer = threading.Timer(delay_ms / 1000.0, fn, args)
        timer.daemon = True
        timer.start()

    def answer(self, ctx: Context, tid: int, status: int) -> bool:
        try:
            if 200 <= status < 300:
                ans = call.Answer(ctx, tid, status)
                ans.add_body(self.sdp)
                ans.content_type = "application/sdp"
                ans.send()
                return True
            ctx.call_send_answer(tid, status)
        except OsipError as exc:   # e.g. the caller cancelled meanwhile
            if not self.opts.quiet:
                print("uas: answer %d to tid %d failed: %s" % (status, tid, exc), file=sys.stderr)
        return False

    def answer_call(self, ctx: Context, tid: int) -> None:
        if self.answer(ctx, tid, self.opts.status) and 200 <= self.opts.status < 300:
            with self.count_lock:
                self.answered += 1

    def hang_up(self, ctx: Context, cid: int, did: int) -> None:
        try:
            ctx.call_terminate(cid, did)
        except OsipError:
            pass

    def on_event(self, ctx: Context, ev: Event) -> None:
        t = ev.type
        if not self.opts.quiet:
            print("uas: event %d cid=%d did=%d tid=%d %s" % (t, ev.cid, ev.did, ev.tid, ev.textinfo),
                  file=sys.stderr)
        if t == T.call_invite:
            with self.count_lock:
                self.calls += 1
            if self.opts.ringing:
                ctx.call_send_answer(ev.tid, 180)
            if self.opts.answer_delay > 0:
                self.schedule(self.opts.answer_delay, self.answer_call, ctx, ev.tid)
            else:
                self.answer_call(ctx, ev.tid)
        elif t == T.call_reinvite:
            self.answer(ctx, ev.tid, 200)
        elif t == T.call_ack:
            if self.opts.bye_after > 0:
                self.schedule(self.opts.bye_after, self.hang_up, ctx, ev.cid, ev.did)
        elif t == T.call_message_new and ev.request is not None and ev.request.method != "BYE":
            # INFO, OPTIONS, ... inside the call (a BYE is answered by the stack, call_closed follows);
            # the answer is built explicitly, as eXosip2 5.3 has no default answer to them
            call.Answer(ctx, ev.tid, 200).send()
        elif t == T.message_new:
            ctx.message_send_answer(ev.tid, 200)
        elif t == T.in_subscription_new:
            # this UAS serves no event package: 489 Bad Event (RFC 6665), so nothing is held
            ctx.insubscription_send_answer(ev.tid, 489)
        elif t == T.call_released:
            with self.count_lock:
                self.closed += 1
                if self.opts.exit_after and self.closed >= self.opts.exit_after:
                    self.done.set()
                    self.wake()

    def wake(self) -> None:
        try:
            self.wake_w.send(b"\0")
        except (BlockingIOError, OSError):
            pass   # a byte is already waiting, or the program is ending

    def run_threaded(self, ctx: Context, executor: Optional[str]) -> None:
        ctx.event_callback = self.on_event
        ctx.start(s=0, ms=50, event_executor="inline" if executor == "inline" else None)
        while not self.signalled and not self.done.is_set():
            select.select([self.wake_r], [], [])
            try:
                self.wake_r.recv(64)
            except OSError:
                pass
        ctx.stop()

    async def run_asyncio(self, ctx: Context) -> None:
        # One plain ``async for``: the context takes events from the stack in bounded batches as
        # this loop asks for them and yields to the asyncio loop between batches, so the answer
        # timers (call_later) and the signal handlers below run even under a flood.
        loop = asyncio.get_running_loop()
        self.schedule = lambda delay_ms, fn, *args: loop.call_later(delay_ms / 1000.0, fn, *args)
        me = asyncio.current_task()
        assert me is not None

        def stop() -> None:
            self.done.set()
            me.cancel()

        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop)
        events = ctx.events()
        try:
            async for ev in events:
                self.on_event(ctx, ev)
                if self.done.is_set():
                    break
        except asyncio.CancelledError:
            pass
        finally:
            await events.aclose()


def parse_args(argv: Optional[List[str]]) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="uas", description="answer every call")
    p.add_argument("-a", dest="address", default="127.0.0.1")
    p.add_argument("-p", dest="port", type=int, default=5060)
    p.add_argument("-t", dest="transport", choices=("udp", "tcp"), default="udp")
    p.add_argument("-s", dest="status", type=int, default=200)
    p.add_argument("-r", dest="ringing", action="store_true")
    p.add_argument("-D", dest="answer_delay", type=int, default=0)
    p.add_argument("-b", dest="bye_after", type=int, default=0)
    p.add_argument("-n", dest="exit_after", type=int, default=0)
    p.add_argument("-q", dest="quiet", action="store_true")
    p.add_argument("--dispatch", choices=("inline", "executor", "asyncio"), default="inline")
    opts = p.parse_args(argv)
    if not 200 <= opts.status <= 699 or not 0 <= opts.port <= 65535:
        p.error("bad status or port")
    return opts


def main(argv: Optional[List[str]] = None) -> int:
    opts = parse_args(argv)
    uas = Uas(opts)
    if opts.dispatch != "asyncio":
        for sig in (signal.SIGINT, signal.SIGTERM):
            # a handler that takes no lock: Event.set() here could wait for ever on the lock of
            # the Event.wait() it interrupted in this same (main) thread
            signal.signal(sig, lambda signum, _frame: uas.signalled.append(signum))
        signal.set_wakeup_fd(uas.wake_w.fileno())   # the signal's number, written from C, wakes run_threaded
    family = socket.AF_INET6 if ":" in opts.address else socket.AF_INET
    proto = socket.IPPROTO_TCP if opts.transport == "tcp" else socket.IPPROTO_UDP
    with Context() as ctx:
        ctx.user_agent = "uas-example (python)"
        try:
            port = ctx.listen_on_address(opts.address, proto, opts.port, family)
        except OsipError as exc:
            print("uas: cannot listen on %s port %d: %s" % (opts.address, opts.port, exc), file=sys.stderr)
            return 1
        print("uas: listening on %s %s:%d" % (opts.transport, opts.address, port), flush=True)
        if opts.dispatch == "asyncio":
            asyncio.run(uas.run_asyncio(ctx))
        else:
            uas.run_threaded(ctx, "inline" if opts.dispatch == "inline" else None)
            signal.set_wakeup_fd(-1)
    uas.wake_r.close()
    uas.wake_w.close()
    print("uas: calls=%d answered=%d closed=%d" % (uas.calls, uas.answered, uas.closed), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
