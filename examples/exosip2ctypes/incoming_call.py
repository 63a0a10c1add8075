#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""A simple incoming call, written against exosip2ctypes' API:
the only change from an exosip2ctypes program is the package name in the import.

Listens on 127.0.0.1 (UDP), answers the first INVITE with 180 and 200 (with SDP) from the
event callback, which runs in the context's executor as in exosip2ctypes, and exits once
the call is over.

    incoming_call.py [PORT]    (0 or nothing: a free port, printed on the first line)
"""

import socket
import sys
import threading

from exosip2 import Context, EventType, call, initialize

SDP = ("v=0\r\no=callee 1 1 IN IP4 127.0.0.1\r\ns=call\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
       "m=audio 41000 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n")

finished = threading.Event()


def on_event(context, event):
    sys.stdout.write("incoming: %s\n" % event.type.name)  # one write: callbacks run in several threads
    sys.stdout.flush()
    if event.type == EventType.call_invite:
        with context.lock:
            context.call_send_answer(event.tid, 180)
            answer = context.build_message(call.Answer, event.tid, 200)
            answer.add_body(SDP)
            answer.content_type = "application/sdp"
            context.call_send_answer(answer=answer)
    elif event.type == EventType.call_released:
        finished.set()


def main():
    initialize()
    port = int(sys.argv[1]) if len(sys.argv) > 1 else 0
    ctx = Context(event_callback=on_event)
    try:
        port = ctx.listen_on_address("127.0.0.1", socket.IPPROTO_UDP, port)
        print("incoming: listening on 127.0.0.1:%d" % port, flush=True)
        ctx.start()
        if not finished.wait(60):
            print("incoming: no call within 60 s", flush=True)
            return 1
    finally:
        ctx.stop()
        ctx.quit()
    return 0


if __name__ == "__main__":
    sys.exit(main())
