#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Tutorial: a user agent server that answers CALLS calls with 200 and SDP, then exits.

    python3 uas.py PORT CALLS     (PORT 0: a free port, printed as "uas: listening on 127.0.0.1:N")
"""

import socket
import sys
import threading

from exosip2 import call
from exosip2.context import Context
from exosip2.event import Event, EventType

SDP = ("v=0\r\no=uas 1 1 IN IP4 127.0.0.1\r\ns=tutorial\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
       "m=audio 40000 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n")


class Answerer:
    """Answers every INVITE and counts the calls that are over."""

    def __init__(self, calls: int) -> None:
        self.wanted = calls
        self.released = 0
        self.done = threading.Event()

    # on-event-start
    def on_event(self, ctx: Context, ev: Event) -> None:
        if ev.type == EventType.call_invite:
            ctx.call_send_answer(ev.tid, 180)            # ringing, no body
            answer = call.Answer(ctx, ev.tid, 200)       # the 200 carries our SDP answer
            answer.add_body(SDP)
            answer.content_type = "application/sdp"
            answer.send()
        elif ev.type == EventType.call_message_new and ev.request is not None and ev.request.method != "BYE":
            call.Answer(ctx, ev.tid, 200).send()         # INFO, OPTIONS, ... inside the call
            # (a BYE is answered by the stack itself; call_closed follows it)
        elif ev.type == EventType.call_released:         # the call is over and forgotten
            self.released += 1
            if self.released >= self.wanted:
                self.done.set()
    # on-event-end


def main() -> int:
    port, calls = int(sys.argv[1]), int(sys.argv[2])
    answerer = Answerer(calls)
    # main-start
    with Context(event_callback=answerer.on_event) as ctx:
        port = ctx.listen_on_address("127.0.0.1", socket.IPPROTO_UDP, port)
        print("uas: listening on 127.0.0.1:%d" % port, flush=True)
        ctx.start(event_executor="inline")               # callbacks run in the loop thread, in order
        finished = answerer.done.wait(60)
        ctx.stop()
    # main-end
    print("uas: %d calls released" % answerer.released, flush=True)
    return 0 if finished else 1


if __name__ == "__main__":
    sys.exit(main())
