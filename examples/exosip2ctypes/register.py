#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""A simple registration, written against exosip2ctypes' API:
the only change from an exosip2ctypes program is the package name in the import.

Registers USER at the registrar with digest credentials (the event loop's automatic
actions answer the 401), prints each registration event, then removes the binding
(a REGISTER with Expires: 0) and exits 0 once the registrar has accepted both.

    register.py REGISTRAR_URI USER PASSWORD [REALM]
"""

import socket
import sys
import threading

from exosip2 import Context, EventType, initialize, register

state = {"successes": 0, "refused": None}
progress = threading.Condition()


def on_sip_event(context, event):
    sys.stdout.write("register: %s %s\n" % (event.type.name, event.response.status_code
                                            if event.response is not None else "-"))
    sys.stdout.flush()
    with progress:
        if event.type == EventType.registration_success:
            state["successes"] += 1
        elif event.type == EventType.registration_failure and event.response is not None \
                and event.response.status_code not in (401, 407):
            state["refused"] = event.response.status_code  # a challenge is answered for us; this is final
        progress.notify_all()


def wait_successes(count, timeout=20.0):
    with progress:
        progress.wait_for(lambda: state["successes"] >= count or state["refused"], timeout)
        return state["successes"] >= count


def main():
    registrar, user, password = sys.argv[1:4]
    realm = sys.argv[4] if len(sys.argv) > 4 else None
    host = registrar.split(":", 1)[1].split(":")[0]
    initialize()
    ctx = Context(event_callback=on_sip_event)
    try:
        port = ctx.listen_on_address("127.0.0.1", socket.IPPROTO_UDP, 0)
        ctx.start()
        with ctx.lock:
            ctx.add_authentication_info(user, user, password, realm)
            req = register.InitialRegister(ctx, "sip:%s@%s" % (user, host), registrar,
                                           "sip:%s@127.0.0.1:%d" % (user, port), expires=300)
            rid = req.rid
            req.send()
        if not wait_successes(1):
            print("register: not registered (%s)" % (state["refused"] or "no answer within 20 s"), flush=True)
            return 1
        with ctx.lock:
            register.Register(ctx, rid, 0).send()
        if not wait_successes(2):
            print("register: the binding was not removed within 20 s", flush=True)
            return 1
    finally:
        ctx.stop()
        ctx.quit()
    return 0


if __name__ == "__main__":
    sys.exit(main())
