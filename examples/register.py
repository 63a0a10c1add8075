#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""A simple registration, driven from standard input.

    python3 examples/register.py sip:alice@127.0.0.1:5060 --password alicepw [--port 0]

Type ``r`` (and Enter) to register, ``u`` to remove the registration, ``q``
to quit. Registration results are logged to standard output; challenges (401)
are answered and the binding refreshed by the context's automatic actions,
which its event loop runs.
"""

import argparse
import logging
import sys
from typing import Any, List, Optional

from exosip2 import initialize, register
from exosip2.context import Context
from exosip2.event import EventType

logging.basicConfig(
    level=logging.DEBUG, stream=sys.stdout,
    format="%(asctime)-15s [%(threadName)-10s] [%(levelname)-7s] %(name)s - %(message)s",
)


def on_sip_event(context: Any, evt: Any) -> None:
    if evt.type == EventType.registration_success:
        logging.info("registration success: %s", evt)
    elif evt.type == EventType.registration_failure:
        status = evt.response.status_code if evt.response is not None else 0
        logging.error("registration failure: %s (status %s)", evt, status)
    elif evt.type == EventType.message_new:
        logging.debug("%s", evt.request)


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(description="Register from standard input: r, u, q.")
    parser.add_argument("aor", help="the address of record, e.g. sip:alice@127.0.0.1:5060")
    parser.add_argument("--registrar", help="the registrar (default: sip:HOST[:PORT] of the address of record)")
    parser.add_argument("--user", help="user name of the credentials (default: the user of the address)")
    parser.add_argument("--password", required=True)
    parser.add_argument("--realm", default=None, help="realm of the credentials (default: any)")
    parser.add_argument("--address", default="127.0.0.1", help="local address to listen on")
    parser.add_argument("--port", type=int, default=0, help="local port (default: a free one)")
    parser.add_argument("--expires", type=int, default=3600)
    args = parser.parse_args(argv)
    user_part, _, hostport = args.aor[4:].partition("@")
    registrar = args.registrar or "sip:" + hostport
    user = args.user or user_part

    initialize()
    ctx = Context(event_callback=on_sip_event)
    logging.debug("listening...")
    port = ctx.listen_on_address(args.address, port=args.port)
    logging.debug("listening on %s:%d", args.address, port)
    logging.debug("starting...")
    ctx.start()
    logging.debug("started!")

    with ctx.lock:
        ctx.add_authentication_info(user, user, args.password, args.realm)

    rid = 0
    try:
        while True:
            s = sys.stdin.readline()
            if not s:          # end of input: as q
                break
            s = s.strip().lower()
            if s in ("q", "quit"):
                break
            elif s == "r":
                with ctx.lock:
                    register_req = register.InitialRegister(ctx, args.aor, registrar, expires=args.expires)
                    rid = register_req.rid
                    logging.debug("rid=%s", register_req.rid)
                    logging.debug("InitialRegister=%r", register_req)
                    register_req.send()
            elif s == "u" and rid:
                with ctx.lock:
                    unregister_req = register.Register(ctx, rid, 0)
                    logging.debug("Register=%r", unregister_req)
                    unregister_req.send()
    finally:
        ctx.stop()
        ctx.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
