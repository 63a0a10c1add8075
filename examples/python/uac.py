#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""uac — a user agent client on exosip2: places calls at a given rate (the twin of examples/c/uac.c).

uac.py [-a ADDR] [-p PORT] [-t udp|tcp] [-n CALLS] [-r RATE] [-l LIMIT] [-d HOLD_MS] [-T TIMEOUT_S]
       [-s START_DELAY_MS] URI

Each call: INVITE (with SDP), ACK of the 200, BYE after HOLD_MS (0: at once). Once bound it prints
``uac: listening on PROTO ADDR:PORT`` and waits START_DELAY_MS (default 0) before the first call (a
benchmark reads the CPU time spent on start-up then). At the end it prints
``uac: calls=N ok=N failed=N`` and exits 0 when every call ended cleanly, 1 otherwise. Events are
read by hand with Context.event_wait in the main thread.
"""

import argparse
import signal
import socket
import sys
import time
from typing import Dict, List, Optional

from exosip2 import call
from exosip2.context import Context
from exosip2.error import OsipError
from exosip2.event import EventType as T

CALLING, ANSWERED, BYE, FAILED = range(4)
FAILURES = {T.call_noanswer, T.call_redirected, T.call_requestfailure, T.call_serverfailure,
            T.call_globalfailure}
BYE_FAILURES = {T.call_message_requestfailure, T.call_message_serverfailure, T.call_message_globalfailure}


def parse_args(argv: Optional[List[str]]) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="uac", description="place calls")
    p.add_argument("-a", dest="address", default="127.0.0.1")
    p.add_argument("-p", dest="port", type=int, default=0)
    p.add_argument("-t", dest="transport", choices=("udp", "tcp"), default="udp")
    p.add_argument("-n", dest="calls", type=int, default=1)
    p.add_argument("-r", dest="rate", type=float, default=10.0)
    p.add_argument("-l", dest="limit", type=int, default=100)
    p.add_argument("-d", dest="hold", type=int, default=0)
    p.add_argument("-T", dest="timeout", type=float, default=60.0)
    p.add_argument("-s", dest="start_delay", type=int, default=0)
    p.add_argument("uri")
    opts = p.parse_args(argv)
    if opts.calls < 1 or opts.rate <= 0 or opts.limit < 1 or opts.start_delay < 0:
        p.error("calls, rate and limit must be positive, the start delay not negative")
    return opts


def main(argv: Optional[List[str]] = None) -> int:
    opts = parse_args(argv)
    stop: List[int] = []
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.append(1))
    family = socket.AF_INET6 if ":" in opts.address else socket.AF_INET
    proto = socket.IPPROTO_TCP if opts.transport == "tcp" else socket.IPPROTO_UDP
    target = opts.uri
    if opts.transport == "tcp" and "transport=" not in target:
        target += ";transport=tcp"
    with Context() as ctx:
        ctx.user_agent = "uac-example (python)"
        try:
            port = ctx.listen_on_address(opts.address, proto, opts.port, family)
        except OsipError as exc:
            print("uac: cannot listen on %s port %d: %s" % (opts.address, opts.port, exc), file=sys.stderr)
            return 1
        host = "[%s]" % opts.address if family == socket.AF_INET6 else opts.address
        from_url = "sip:uac@%s:%d" % (host, port)
        sdp = ("v=0\r\no=uac 1 1 IN IP4 %s\r\ns=uac\r\nc=IN IP4 %s\r\nt=0 0\r\n"
               "m=audio 40002 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n" % (opts.address, opts.address))
        print("uac: listening on %s %s:%d" % (opts.transport, opts.address, port), flush=True)
        if opts.start_delay and not stop:
            time.sleep(opts.start_delay / 1000.0)
        states: Dict[int, List[float]] = {}   # cid -> [state, did, bye_at]
        placed = ok = failed = finished = 0
        start = time.monotonic()
        next_call = start
        deadline = start + opts.timeout
        while not stop and finished < opts.calls and time.monotonic() < deadline:
            now = time.monotonic()
            while placed < opts.calls and len(states) < opts.limit and now >= next_call:
                try:
                    invite = call.InitInvite(ctx, target, from_url, subject="uac")
                    invite.add_body(sdp)
                    invite.content_type = "application/sdp"
                    states[invite.send()] = [CALLING, 0, 0.0]
                except OsipError:
                    failed += 1
                    finished += 1
                placed += 1
                next_call = start + placed / opts.rate
            if opts.hold > 0:
                for cid, st in states.items():
                    if st[0] == ANSWERED and st[2] <= now:
                        ctx.call_terminate(cid, int(st[1]))
                        st[0] = BYE
            ev = ctx.event_wait(0, 10)
            if ev is None:
                continue
            state = states.get(ev.cid)
            if state is None:
                continue
            t = ev.type
            if t == T.call_answered:
                ctx.call_send_ack(tid=ev.tid)
                if state[0] == CALLING:
                    state[1] = ev.did
                    if opts.hold > 0:
                        state[0], state[2] = ANSWERED, time.monotonic() + opts.hold / 1000.0
                    else:
                        state[0] = BYE
                        ctx.call_terminate(ev.cid, ev.did)
            elif t in FAILURES:
                if state[0] == CALLING:
                    state[0] = FAILED
            elif t in BYE_FAILURES:
                if state[0] == BYE:
                    state[0] = FAILED
            elif t == T.call_closed:
                if state[0] == ANSWERED:
                    state[0] = BYE
            elif t == T.call_released:
                if state[0] == BYE:
                    ok += 1
                else:
                    failed += 1
                del states[ev.cid]
                finished += 1
        failed += opts.calls - finished
    print("uac: calls=%d ok=%d failed=%d" % (placed, ok, failed), flush=True)
    return 0 if failed == 0 and ok == opts.calls else 1


if __name__ == "__main__":
    sys.exit(main())
