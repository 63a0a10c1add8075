#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""b2bua — a back-to-back user agent on exosip2: every incoming call is bridged to an outgoing one.

b2bua.py [-a ADDR] [-p PORT] [-t udp|tcp] [--dispatch inline|executor|pool] [-n EXIT_AFTER_CALLS] [-q]
         TARGET

TARGET is the SIP URI every call is sent to (``sip:service@127.0.0.1:5080``, with
``;transport=tcp`` for TCP). As a library, ``B2bua(ctx, target)`` also takes a callable
``target(event) -> uri`` that picks the destination from the incoming INVITE.

Prints ``b2bua: listening on PROTO ADDR:PORT`` once ready and, at exit (SIGINT/SIGTERM, or once
-n calls have ended on both legs), ``b2bua: calls=N bridged=N failed=N lost=N misordered=N alive=N``.
Exit is bounded: the main loop sees the signal within 0.1 s, ``ctx.stop(timeout=5)`` ends the event
loop and waits for the callbacks in flight, ``ctx.close(timeout=5)`` releases the stack; a shutdown
still running after 12 s prints every thread's stack to stderr, and one that times out exits 1 at
once. In the counts,
*bridged* calls had their 2xx relayed, *failed* ones a final failure; *lost* counts events of a
call that found no bridge and *misordered* relays that came in the wrong order (a provisional
answer after the final one): both stay 0; *alive* counts the bridges still in memory (0 once
every call has been released: the context let go of its call references).

What is relayed, both ways: the SDP of the INVITE and of its answers, 180/183 (with their SDP),
the final answer (2xx, or the failure status), re-INVITE and its answer, INFO / UPDATE / other
in-dialog requests and their answers, BYE from either side, and CANCEL from the caller.

Each call is one :class:`Bridge` holding both legs. It is attached to both calls as their call
reference (``call_send_init_invite(..., reference=bridge)`` for the outgoing leg,
``set_call_reference`` for the incoming one), so every event finds its bridge as
``event.reference``, with no table of call ids. ``--dispatch executor`` (the default executor of
``Context.start``) keeps each leg's events in order while different calls run in parallel; the two
legs of one call are two calls for the stack, so a bridge has a lock of its own. ``--dispatch pool``
passes a plain ThreadPoolExecutor instead, which keeps no order: under load some 180s are then
relayed after the 200 (counted as *misordered*).
"""

import argparse
import concurrent.futures
import faulthandler
import gc
import os
import signal
import socket
import sys
import threading
import weakref
from typing import Callable, Dict, List, Literal, Optional, Union

from exosip2 import call
from exosip2.context import Context
from exosip2.error import OsipError
from exosip2.event import Event, EventType
from exosip2.message import OsipMessage

T = EventType
SHUTDOWN_S = 5.0    # bound of ctx.stop() and of ctx.close() at exit
WATCHDOG_S = 12.0   # a shutdown still running then prints every thread's stack
FAILURES = (T.call_redirected, T.call_requestfailure, T.call_serverfailure, T.call_globalfailure)
ANSWERS = (T.call_message_answered, T.call_message_redirected, T.call_message_requestfailure,
           T.call_message_serverfailure, T.call_message_globalfailure)
Target = Union[str, Callable[[Event], str]]


class Bridge:
    """One bridged call: the incoming leg A (we are its UAS) and the outgoing leg B (its UAC)."""

    __slots__ = ("lock", "a_cid", "a_did", "a_tid", "b_cid", "b_did", "final_sent", "cancelled",
                 "cancel_sent", "ended", "a_released", "b_released", "relays", "__weakref__")

    def __init__(self, a_cid: int, a_did: int, a_tid: int) -> None:
        self.lock = threading.Lock()
        self.a_cid, self.a_did, self.a_tid = a_cid, a_did, a_tid
        self.b_cid = self.b_did = 0
        self.final_sent = False      # the INVITE of leg A has its final answer
        self.cancelled = False       # leg A was cancelled
        self.cancel_sent = False     # ... and leg B too
        self.ended = False           # a BYE was relayed
        self.a_released = self.b_released = False
        # tid of a request we sent on one leg -> tid of the request it relays on the other leg
        self.relays: Dict[int, int] = {}


def _copy_body(src: Optional[OsipMessage], dst: OsipMessage) -> None:
    if src is None:
        return
    bodies = src.raw_bodies
    if bodies:
        dst.add_body(bodies[0])
        ctype = src.content_type
        if ctype:
            dst.content_type = ctype


def _status(ev: Event, default: int) -> int:
    resp = ev.response
    status = resp.status_code if resp is not None else None
    return status if status else default


def _is_bye(ev: Event) -> bool:
    """A BYE reported as call_message_new: the stack has answered it; call_closed follows."""
    return ev.request is not None and ev.request.method == "BYE"


class B2bua:
    """The event handler: ``ctx.event_callback = B2bua(ctx, target).on_event``."""

    def __init__(self, ctx: Context, target: Target, from_uri: str, quiet: bool = True,
                 exit_after: int = 0) -> None:
        self.ctx = ctx
        self.target = target
        self.from_uri = from_uri
        self.quiet = quiet
        self.exit_after = exit_after
        self.calls = self.bridged = self.failed = self.lost = self.misordered = self.ended = 0
        self.count_lock = threading.Lock()
        self.done = threading.Event()
        # every Bridge made, weakly: once its two calls are released the context lets it go
        self.bridges: "weakref.WeakSet[Bridge]" = weakref.WeakSet()

    # -- counters -------------------------------------------------------------------------------
    def _count(self, name: str) -> None:
        with self.count_lock:
            setattr(self, name, getattr(self, name) + 1)

    def stats(self) -> str:
        gc.collect()
        return "calls=%d bridged=%d failed=%d lost=%d misordered=%d alive=%d" % (
            self.calls, self.bridged, self.failed, self.lost, self.misordered, len(self.bridges))

    def _say(self, text: str) -> None:
        if not self.quiet:
            print("b2bua: " + text, file=sys.stderr)

    # -- small senders, each tolerant of a leg that went away meanwhile -------------------------
    def _answer(self, tid: int, status: int, like: Optional[OsipMessage] = None) -> None:
        try:
            if (like is not None and like.raw_bodies) or 200 <= status < 300:
                ans = call.Answer(self.ctx, tid, status)
                _copy_body(like, ans)
                ans.send()
            else:
                self.ctx.call_send_answer(tid, status)
        except OsipError as exc:
            self._say("answer %d to tid %d: %s" % (status, tid, exc))

    def _relay_request(self, bridge: Bridge, ev: Event, did: int) -> None:
        req = ev.request
        if req is None or did <= 0:
            self._answer(ev.tid, 481 if did <= 0 else 400)
            return
        method = req.method or ""
        try:
            out = call.ReInvite(self.ctx, did) if method == "INVITE" else call.Request(self.ctx, did, method)
            _copy_body(req, out)
            bridge.relays[out.send()] = ev.tid
        except OsipError as exc:
            self._say("relay %s: %s" % (method, exc))
            self._answer(ev.tid, 500)

    def _terminate(self, cid: int, did: int) -> bool:
        try:
            self.ctx.call_terminate(cid, did)
            return True
        except OsipError as exc:
            self._say("terminate cid %d: %s" % (cid, exc))
            return False

    # -- the events -----------------------------------------------------------------------------
    def on_event(self, ctx: Context, ev: Event) -> None:
        t = ev.type
        if t == T.call_invite:
            self.incoming(ev)
            return
        bridge = ev.reference
        if not isinstance(bridge, Bridge):
            if ev.cid > 0:
                self._say("event without a bridge: %r" % (ev,))
                self._count("lost")
            return
        with bridge.lock:
            if ev.cid == bridge.a_cid:
                if ev.did > 0:
                    bridge.a_did = ev.did
                self.from_a(bridge, ev)
            else:
                self.from_b(bridge, ev)
            finished = bridge.a_released and bridge.b_released
        if finished and t == T.call_released:
            with self.count_lock:
                self.ended += 1
                if self.exit_after and self.ended >= self.exit_after:
                    self.done.set()

    def incoming(self, ev: Event) -> None:
        self._count("calls")
        bridge = Bridge(ev.cid, ev.did, ev.tid)
        self.bridges.add(bridge)
        with bridge.lock:   # B's first events wait here until b_cid is known
            try:
                self.ctx.set_call_reference(ev.cid, bridge)
            except OsipError:
                bridge.a_released = bridge.b_released = True   # cancelled and gone already
                return
            try:
                target = self.target(ev) if callable(self.target) else self.target
                invite = call.InitInvite(self.ctx, target, self.from_uri)
                _copy_body(ev.request, invite)
                bridge.b_cid = self.ctx.call_send_init_invite(invite, reference=bridge)
            except (OsipError, ValueError, TypeError) as exc:
                self._say("outgoing leg: %s" % (exc,))
                bridge.b_released = bridge.final_sent = True
                self._count("failed")
                self._answer(ev.tid, 502)

    def from_b(self, bridge: Bridge, ev: Event) -> None:
        """An event of the outgoing leg: relay it to the caller."""
        t = ev.type
        if t in (T.call_ringing, T.call_proceeding):
            status = _status(ev, 100)
            if status == 100:
                return
            if bridge.cancelled:
                if not bridge.cancel_sent:   # a CANCEL may only follow a provisional answer
                    bridge.cancel_sent = self._terminate(bridge.b_cid, 0)
                return
            if bridge.final_sent:
                if not bridge.cancelled:
                    self._count("misordered")
                return
            self._answer(bridge.a_tid, status, ev.response)
        elif t == T.call_answered:
            bridge.b_did = ev.did
            origin = bridge.relays.pop(ev.tid, None)
            try:
                self.ctx.call_send_ack(tid=ev.tid)
            except OsipError as exc:
                self._say("ACK on leg B: %s" % (exc,))
            if origin is not None:            # the answer of a re-INVITE relayed from A
                self._answer(origin, _status(ev, 200), ev.response)
            elif bridge.cancelled or bridge.final_sent:
                self._terminate(bridge.b_cid, ev.did)   # the caller is gone: hang up leg B
            else:
                bridge.final_sent = True
                self._answer(bridge.a_tid, _status(ev, 200), ev.response)
                self._count("bridged")
        elif t in FAILURES or t == T.call_noanswer:
            status = _status(ev, 408)
            origin = bridge.relays.pop(ev.tid, None)
            if origin is not None:
                self._answer(origin, status)
            elif not bridge.final_sent:
                bridge.final_sent = True
                if not bridge.cancelled:
                    self._answer(bridge.a_tid, status)
                self._count("failed")
        elif t == T.call_reinvite or (t == T.call_message_new and not _is_bye(ev)):
            self._relay_request(bridge, ev, bridge.a_did)
        elif t in ANSWERS:
            origin = bridge.relays.pop(ev.tid, None)
            if origin is not None:
                self._answer(origin, _status(ev, 500), ev.response)
        elif t == T.call_closed:
            if not bridge.ended:
                bridge.ended = True
                if bridge.final_sent:
                    self._terminate(bridge.a_cid, bridge.a_did)
        elif t == T.call_released:
            bridge.b_released = True
            if not bridge.final_sent:   # leg B ended without a final answer (transport failure)
                bridge.final_sent = True
                self._answer(bridge.a_tid, 503)
                self._count("failed")

    def from_a(self, bridge: Bridge, ev: Event) -> None:
        """An event of the incoming leg: relay it to the callee."""
        t = ev.type
        if t == T.call_cancelled:
            bridge.cancelled = True
            if not bridge.final_sent and bridge.b_cid:
                bridge.cancel_sent = self._terminate(bridge.b_cid, 0)
        elif t == T.call_closed:
            if not bridge.ended:
                bridge.ended = True
                if bridge.b_cid:
                    self._terminate(bridge.b_cid, bridge.b_did)
        elif t == T.call_reinvite or (t == T.call_message_new and not _is_bye(ev)):
            self._relay_request(bridge, ev, bridge.b_did)
        elif t == T.call_answered:   # the caller answered a re-INVITE relayed from B
            try:
                self.ctx.call_send_ack(tid=ev.tid)
            except OsipError as exc:
                self._say("ACK on leg A: %s" % (exc,))
            origin = bridge.relays.pop(ev.tid, None)
            if origin is not None:
                self._answer(origin, _status(ev, 200), ev.response)
        elif t in FAILURES or t in ANSWERS or t == T.call_noanswer:
            origin = bridge.relays.pop(ev.tid, None)
            if origin is not None:
                self._answer(origin, _status(ev, 408), ev.response)
        elif t == T.call_released:
            bridge.a_released = True
            if not bridge.b_released and not bridge.ended and not bridge.cancelled and bridge.b_cid:
                bridge.ended = True
                self._terminate(bridge.b_cid, bridge.b_did)


def main(argv: Optional[List[str]] = None) -> int:
    ap = argparse.ArgumentParser(prog="b2bua.py", description=__doc__.split("\n")[0])
    ap.add_argument("target", help="SIP URI every call is bridged to")
    ap.add_argument("-a", "--address", default="127.0.0.1")
    ap.add_argument("-p", "--port", type=int, default=5060, help="0: any free port")
    ap.add_argument("-t", "--transport", choices=("udp", "tcp"), default="udp")
    ap.add_argument("--dispatch", choices=("inline", "executor", "pool"), default="executor",
                    help="inline: in the event loop thread; executor: the default executor (per-call "
                         "order); pool: a plain ThreadPoolExecutor given by the program (no order)")
    ap.add_argument("-n", "--exit-after", type=int, default=0, help="exit once N calls have ended")
    ap.add_argument("-q", "--quiet", action="store_true")
    opts = ap.parse_args(argv)
    proto = socket.IPPROTO_TCP if opts.transport == "tcp" else socket.IPPROTO_UDP
    with Context() as ctx:
        try:
            port = ctx.listen_on_address(opts.address, proto, port=opts.port)
        except OsipError as exc:
            print("b2bua: cannot listen on %s %s:%d: %s" % (opts.transport, opts.address, opts.port, exc),
                  file=sys.stderr)
            return 2
        from_uri = "sip:b2bua@%s:%d" % (opts.address, port)
        if opts.transport == "tcp":
            from_uri += ";transport=tcp"
        b2b = B2bua(ctx, opts.target, from_uri, quiet=opts.quiet, exit_after=opts.exit_after)
        # The handler runs in the main thread between two bytecodes, which may be inside
        # b2b.done.wait() while it holds that Event's lock: so it takes no lock (Event.set()
        # would block there for ever), it only appends to a list the main loop looks at.
        signalled: List[int] = []

        def stop(signum: int, _frame: object) -> None:
            signalled.append(signum)

        signal.signal(signal.SIGTERM, stop)
        signal.signal(signal.SIGINT, stop)
        ctx.event_callback = b2b.on_event
        executor: Union[None, Literal["inline"], concurrent.futures.Executor] = None
        if opts.dispatch == "inline":
            executor = "inline"
        elif opts.dispatch == "pool":
            executor = concurrent.futures.ThreadPoolExecutor(thread_name_prefix="b2bua")
        ctx.start(s=0, ms=50, event_executor=executor)
        print("b2bua: listening on %s %s:%d" % (opts.transport, opts.address, port), flush=True)
        while not signalled and not b2b.done.wait(0.1):
            pass
        # Shutdown, bounded: SHUTDOWN_S for the loop and the callbacks in flight, as much for
        # close(); past WATCHDOG_S every thread's stack is printed to stderr.
        faulthandler.dump_traceback_later(WATCHDOG_S, exit=False)
        try:
            ctx.stop(timeout=SHUTDOWN_S)
            if isinstance(executor, concurrent.futures.Executor):
                executor.shutdown(wait=True)   # our own callbacks, which never block
        except OsipError as exc:
            print("b2bua: shutdown: %s" % (exc,), file=sys.stderr, flush=True)
            faulthandler.dump_traceback(all_threads=True)
            print("b2bua: " + b2b.stats(), flush=True)
            os._exit(1)   # a callback is stuck: do not wait for it at interpreter exit
        print("b2bua: " + b2b.stats(), flush=True)   # before close() drops what is still attached
        ctx.close(timeout=SHUTDOWN_S)
        faulthandler.cancel_dump_traceback_later()
    return 0


if __name__ == "__main__":
    sys.exit(main())
