#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""A simple outgoing call, written against exosip2ctypes' API:
the only change from an exosip2ctypes program is the package name in the import.

Calls URI, acknowledges the 200 with ``call.Ack(context, did)`` (the dialog id, as in
exosip2ctypes), hangs up after a second and exits 0 once the call is released.

    outgoing_call.py URI
"""

import socket
import sys
import threading

from exosip2 import Context, EventType, call, initialize

SDP = ("v=0\r\no=caller 1 1 IN IP4 127.0.0.1\r\ns=call\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
       "m=audio 40000 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n")

result = {}
finished = threading.Event()


def hang_up(context, cid, did):
    with context.lock:
        context.call_terminate(cid, did)


def on_event(context, event):
    sys.stdout.write("outgoing: %s\n" % event.type.name)  # one write: callbacks run in several threads
    sys.stdout.flush()
    if event.type == EventType.call_answered:
        with context.lock:
            context.build_message(call.Ack, event.did).send()
        result["answered"] = True
        threading.Timer(1.0, hang_up, (context, event.cid, event.did)).start()
    elif event.type in (EventType.call_requestfailure, EventType.call_serverfailure,
                        EventType.call_globalfailure):
        result["failed"] = event.response.status_code
    elif event.type == EventType.call_released:
        finished.set()


def main():
    initialize()
    ctx = Context(event_callback=on_event)
    try:
        port = ctx.listen_on_address("127.0.0.1", socket.IPPROTO_UDP, 0)
        ctx.start()
        with ctx.lock:
            invite = call.InitInvite(ctx, sys.argv[1], "sip:caller@127.0.0.1:%d" % port, subject="hello")
            invite.add_body(SDP)
            invite.content_type = "application/sdp"
            print("outgoing: cid %d" % ctx.call_send_init_invite(invite), flush=True)
        if not finished.wait(60):
            return 1
    finally:
        ctx.stop()
        ctx.quit()
    return 0 if result.get("answered") and "failed" not in result else 1


if __name__ == "__main__":
    sys.exit(main())
