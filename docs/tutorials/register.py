#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Tutorial: register with digest authentication, then remove the binding.

    python3 register.py REGISTRAR_URI USER PASSWORD
"""

import queue
import socket
import sys

from exosip2 import register
from exosip2.context import Context
from exosip2.event import Event, EventType


def main() -> int:
    registrar, user, password = sys.argv[1:4]
    host = registrar.split(":")[1]                       # "sip:127.0.0.1:5060" -> "127.0.0.1"
    events: "queue.Queue[Event]" = queue.Queue()
    # register-start
    with Context(event_callback=lambda ctx, ev: events.put(ev)) as ctx:
        port = ctx.listen_on_address("127.0.0.1", socket.IPPROTO_UDP, 0)
        ctx.add_authentication_info(user, user, password, None)    # None: whatever realm challenges
        ctx.start(event_executor="inline")               # its automatic actions answer the 401
        req = register.InitialRegister(ctx, "sip:%s@%s" % (user, host), registrar,
                                       "sip:%s@127.0.0.1:%d" % (user, port), expires=300)
        rid = req.rid
        req.send()
        # register-end
        # wait-start
        for expected in ("registered", "unregistered"):
            while True:
                ev = events.get(timeout=20)
                status = ev.response.status_code if ev.response else 0
                print("register: %s %d" % (ev.type.name, status), flush=True)
                if ev.type == EventType.registration_success:
                    break
                if status not in (401, 407):             # a challenge is answered for us; this is final
                    return 1
            if expected == "registered":
                register.Register(ctx, rid, expires=0).send()      # Expires: 0 removes the binding
        # wait-end
        ctx.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
