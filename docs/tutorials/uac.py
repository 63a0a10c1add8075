#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Tutorial: a user agent client that calls URI, acknowledges the 200, hangs up after a second.

    python3 uac.py URI            (exit status 0 when the call was answered and ended cleanly)
"""

import socket
import sys
import threading
from typing import Dict

from exosip2 import call
from exosip2.context import Context
from exosip2.event import Event, EventType

SDP = ("v=0\r\no=uac 1 1 IN IP4 127.0.0.1\r\ns=tutorial\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
       "m=audio 40002 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n")

outcome: Dict[str, int] = {}
released = threading.Event()


# on-event-start
def on_event(ctx: Context, ev: Event) -> None:
    if ev.type == EventType.call_answered:
        ctx.call_send_ack(tid=ev.tid)                    # eXosip2 5.x acknowledges by transaction id
        outcome["answered"] = ev.response.status_code if ev.response else 0
        timer = threading.Timer(1.0, ctx.call_terminate, (ev.cid, ev.did))   # BYE in a second
        timer.daemon = True
        timer.start()
    elif ev.type in (EventType.call_requestfailure, EventType.call_serverfailure,
                     EventType.call_globalfailure):
        outcome["failed"] = ev.response.status_code if ev.response else 0
    elif ev.type == EventType.call_released:
        released.set()
# on-event-end


def main() -> int:
    uri = sys.argv[1]
    # main-start
    with Context(event_callback=on_event) as ctx:
        port = ctx.listen_on_address("127.0.0.1", socket.IPPROTO_UDP, 0)
        ctx.start(event_executor="inline")
        invite = call.InitInvite(ctx, uri, "sip:tutorial@127.0.0.1:%d" % port, subject="tutorial")
        invite.add_body(SDP)
        invite.content_type = "application/sdp"
        cid = ctx.call_send_init_invite(invite)
        print("uac: calling %s (cid %d)" % (uri, cid), flush=True)
        over = released.wait(30)
        ctx.stop()
    # main-end
    print("uac: %s" % sorted(outcome.items()), flush=True)
    return 0 if over and outcome.get("answered") == 200 and "failed" not in outcome else 1


if __name__ == "__main__":
    sys.exit(main())
