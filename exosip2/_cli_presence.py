# SPDX-License-Identifier: Apache-2.0
"""``python -m exosip2 watch`` and ``python -m exosip2 publish``: presence from the command line.

    python -m exosip2 watch sip:bob@example.org [--event presence] [--expires 600]
        [--from sip:alice@example.org] [--proxy sip:proxy.example.org] [--duration SECONDS]
        [--password PW|--ha1 HEX] [--user U] [--realm R] [--transport udp|tcp] [--port N]

subscribes, prints each NOTIFY's state and body, and at Ctrl-C or SIGTERM (or after
``--duration``) unsubscribes with ``Expires: 0``::

    watch: subscribing to sip:bob@example.org (presence, udp, port 5062)
    watch: accepted 200 OK expires=600
    watch: NOTIFY active (expires=600) basic=open note=at my desk
      <?xml version="1.0"?> ...
    watch: unsubscribing
    watch: terminated

    python -m exosip2 publish sip:bob@example.org --status open|closed [--note TEXT]
        [--expires 3600] [--proxy ...] [credentials, transport options as above]

sends a PUBLISH with a PIDF document (RFC 3863) for the address of record and prints the answer
(``publish: published status=open expires=3600 etag=...``); ``--expires 0`` removes a publication.
Both answer a 401/407 with the credentials given. Exit codes: 0 done, 1 refused or no answer,
2 bad arguments.
"""

import re
import signal
import socket
import sys
import threading
import time
from xml.sax.saxutils import escape

from exosip2._cli_register import (
    UsageError, _host_of, add_credential_options, add_trace_options, apply_credentials, parse_aor, start_trace,
    stop_trace,
)

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2

# How long an answer (or the retry after a challenge) may take.
ANSWER_WAIT = 10.0
# After the unsubscribe is answered, how long the final NOTIFY may take.
FINAL_NOTIFY_WAIT = 3.0
# A challenge not followed by the request sent again within this time is final.
CHALLENGE_WAIT = 3.0


def _has_credentials(args):
    return getattr(args, "password", None) is not None or getattr(args, "ha1", None) is not None

PIDF = ('<?xml version="1.0" encoding="UTF-8"?>\r\n'
        '<presence xmlns="urn:ietf:params:xml:ns:pidf" entity="%s">\r\n'
        '<tuple id="exosip2-cli"><status><basic>%s</basic></status>%s</tuple>\r\n'
        '</presence>\r\n')


def pidf(entity, status, note=None):
    """A PIDF document for *entity* with a basic *status* ("open"/"closed") and an optional note."""
    note_xml = "<note>%s</note>" % escape(note) if note else ""
    return PIDF % (escape(entity, {'"': "&quot;"}), status, note_xml)


def _common(p):
    add_credential_options(p)
    p.add_argument("--from", dest="from_", default=None, help="our address (default: the target's)")
    p.add_argument("--proxy", default=None, help="send through this proxy (a loose Route)")
    p.add_argument("--transport", choices=("udp", "tcp"), default="udp", help="the transport (default udp)")
    p.add_argument("--port", type=int, default=0, help="the local port (default: any free one)")
    p.add_argument("--address", default=None, help="the local address (default: 127.0.0.1 for a loopback peer)")
    add_trace_options(p)


def add_presence_parsers(sub):
    """Add the ``watch`` and ``publish`` commands to the subparsers *sub* of the main parser."""
    p = sub.add_parser("watch", help="subscribe to a resource, print each NOTIFY, unsubscribe on Ctrl-C",
                       description="Subscribe (SUBSCRIBE) to a resource's event package, print each NOTIFY's "
                       "state and body, and unsubscribe (Expires: 0) on Ctrl-C or SIGTERM.")
    p.add_argument("target", metavar="sip:USER@HOST[:PORT]", help="the resource to watch")
    p.add_argument("--event", default="presence", help="the event package (default presence)")
    p.add_argument("--expires", type=int, default=600, help="the lifetime asked for, seconds (default 600)")
    p.add_argument("--duration", type=float, default=None, help="unsubscribe and exit after this many seconds")
    _common(p)
    p.set_defaults(func=cmd_watch)
    p = sub.add_parser("publish", help="publish a presence status (PUBLISH with a PIDF body)",
                       description="Publish an open or closed presence status for an address of record.")
    p.add_argument("target", metavar="sip:USER@HOST[:PORT]", help="the address of record published for")
    p.add_argument("--status", choices=("open", "closed"), required=True, help="the basic status")
    p.add_argument("--note", default=None, help="a note in the PIDF document")
    p.add_argument("--expires", type=int, default=3600, help="the lifetime, seconds (0 removes; default 3600)")
    _common(p)
    p.set_defaults(func=cmd_publish)


def _say(cmd, text):
    sys.stdout.write("%s: %s\n" % (cmd, text))
    sys.stdout.flush()


def _setup(cmd, args):
    """Check the arguments and make a listening context; returns (ctx, ladder, target, from, route)."""
    from exosip2.context import Context

    _, hostport = parse_aor(args.target)
    if not 0 <= args.expires <= 0x7fffffff:
        raise UsageError("--expires must be 0 or more seconds")
    if not 0 <= args.port < 65536:
        raise UsageError("--port must be in 0..65535")
    if getattr(args, "duration", None) is not None and args.duration < 0:
        raise UsageError("--duration must not be negative")
    target = args.target
    if args.transport == "tcp" and "transport=" not in target.lower():
        target += ";transport=tcp"
    route = None
    if args.proxy:
        if not args.proxy.lower().startswith("sip:"):
            raise UsageError("--proxy must be a sip: URI")
        route = "<%s;lr%s>" % (args.proxy, ";transport=tcp" if args.transport == "tcp" else "")
    address = args.address
    if address is None and _host_of(hostport) in ("127.0.0.1", "localhost"):
        address = "127.0.0.1"
    ctx = Context()
    try:
        ladder = start_trace(ctx, args)
        proto = socket.IPPROTO_TCP if args.transport == "tcp" else socket.IPPROTO_UDP
        port = ctx.listen_on_address(address, transport=proto, port=args.port)
        ctx.user_agent = "exosip2-" + cmd
        apply_credentials(ctx, args, args.from_ or args.target)
    except BaseException:
        ctx.close()
        raise
    return ctx, ladder, port, target, args.from_ or args.target.split(";", 1)[0], route


class _Waiter:
    """Events handed from the event loop to the main thread."""

    def __init__(self):
        self.cond = threading.Condition()
        self.events = []

    def on_event(self, ctx, event):
        with self.cond:
            self.events.append(event)
            self.cond.notify_all()

    def next(self, until, stop=None):
        with self.cond:
            while not self.events:
                left = until - time.monotonic()
                if left <= 0 or (stop is not None and stop.is_set()):
                    return None
                self.cond.wait(min(left, 0.1))
            return self.events.pop(0)


def _status(event):
    resp = event.response
    if resp is None:
        return 408, "no answer"
    return resp.status_code, resp.reason_phrase or ""


def describe_notify(event):
    """One line for a NOTIFY: its state, expires or reason, and the PIDF basic status and note."""
    from exosip2.notify import SubscriptionReason, SubscriptionState

    req = event.request
    state = req.get_header("Subscription-State") if req is not None else None
    try:
        name = SubscriptionState(event.ss_status).name
    except ValueError:
        name = "unknown"
    extra = ""
    m = re.search(r"expires=(\d+)", state or "")
    if m and name != "terminated":
        extra = " (expires=%s)" % m.group(1)
    elif name == "terminated":
        try:
            extra = " (reason=%s)" % SubscriptionReason(event.ss_reason).name
        except ValueError:
            pass
    body = (req.bodies[0] if req is not None and req.bodies else "")
    basic = re.search(r"<(?:\w+:)?basic>\s*(\w+)\s*</", body)
    note = re.search(r"<(?:\w+:)?note[^>]*>([^<]*)</", body)
    text = "NOTIFY %s%s" % (name, extra)
    if basic:
        text += " basic=%s" % basic.group(1)
    if note:
        text += " note=%s" % note.group(1).strip()
    return text, body


def cmd_watch(args):
    from exosip2 import subscribe
    from exosip2.error import OsipError, OsipNotFound, OsipWrongState
    from exosip2.event import EventType

    stop = threading.Event()
    old = {s: signal.signal(s, lambda signum, frame: stop.set()) for s in (signal.SIGINT, signal.SIGTERM)}
    ctx = ladder = None
    try:
        try:
            ctx, ladder, port, target, from_, route = _setup("watch", args)
            msg = subscribe.InitialSubscribe(ctx, target, from_, args.event, expires=args.expires, route=route)
        except (OsipError, UsageError, ValueError, TypeError, OSError) as exc:
            print("error: %s" % exc, file=sys.stderr)
            return EXIT_USAGE
        waiter = _Waiter()
        ctx.event_callback = waiter.on_event
        ctx.start(event_executor="inline")
        _say("watch", "subscribing to %s (%s, %s, port %d)" % (args.target, args.event, args.transport, port))
        sid = msg.send()
        did = 0
        accepted = False
        terminated = False
        end = None if args.duration is None else time.monotonic() + args.duration
        answer_by = time.monotonic() + ANSWER_WAIT
        while not stop.is_set() and not terminated:
            if end is not None and time.monotonic() >= end:
                break
            until = time.monotonic() + 0.2
            ev = waiter.next(until, stop)
            if ev is None:
                if not accepted and did == 0 and time.monotonic() > answer_by:
                    _say("watch", "failed 408 no answer")
                    return EXIT_FAILED
                continue
            if ev.sid != sid:
                continue
            if ev.did:
                did = ev.did
            if ev.type == EventType.subscription_notify:
                line, body = describe_notify(ev)
                _say("watch", line)
                for text in body.splitlines():
                    sys.stdout.write("  %s\n" % text)
                sys.stdout.flush()
                terminated = ev.ss_status == 3
            elif ev.type == EventType.subscription_answered:
                status, reason = _status(ev)
                expires = ev.response.get_header("Expires") if ev.response is not None else None
                if not accepted:
                    _say("watch", "accepted %d %s expires=%s" % (status, reason, expires or "?"))
                accepted = True
            elif ev.type != EventType.subscription_proceeding:
                status, reason = _status(ev)
                if status in (401, 407) and not accepted and _has_credentials(args):
                    _say("watch", "challenged %d %s" % (status, reason))
                    answer_by = time.monotonic() + ANSWER_WAIT
                    continue
                _say("watch", "failed %d %s" % (status, reason))
                return EXIT_FAILED
        if terminated:
            _say("watch", "terminated by the notifier")
            return EXIT_OK
        if not did:
            _say("watch", "stopped before the subscription was made")
            return EXIT_OK
        _say("watch", "unsubscribing")
        until = time.monotonic() + ANSWER_WAIT
        sent = False
        while not sent and time.monotonic() < until:
            try:
                subscribe.Refresh(ctx, did, expires=0).send()
                sent = True
            except OsipWrongState:
                time.sleep(0.05)  # a refresh is in flight
            except OsipNotFound:
                break  # ended meanwhile
        final_by = None
        while sent:
            limit = until if final_by is None else min(until, final_by)
            ev = waiter.next(limit)
            if ev is None:
                break
            if ev.sid != sid:
                continue
            if ev.type == EventType.subscription_notify:
                line, _ = describe_notify(ev)
                _say("watch", line)
                if ev.ss_status == 3:
                    break
            elif ev.type == EventType.subscription_answered:
                final_by = time.monotonic() + FINAL_NOTIFY_WAIT
            elif ev.type != EventType.subscription_proceeding:
                _say("watch", "unsubscribe failed %d %s" % _status(ev))
                return EXIT_FAILED
        _say("watch", "unsubscribed")
        return EXIT_OK
    finally:
        if ctx is not None:
            stop_trace(ctx, ladder)
            ctx.close()
        for s, handler in old.items():
            signal.signal(s, handler)


def cmd_publish(args):
    from exosip2 import publish
    from exosip2.error import OsipError
    from exosip2.event import EventType

    ctx = ladder = None
    try:
        try:
            ctx, ladder, port, target, from_, route = _setup("publish", args)
            aor = args.target.split(";", 1)[0]
            body = None if args.expires == 0 else pidf(aor, args.status, args.note)
            msg = publish.Publish(ctx, target, from_, "presence", args.expires,
                                  None if body is None else "application/pidf+xml", body, route=route)
        except (OsipError, UsageError, ValueError, TypeError, OSError) as exc:
            print("error: %s" % exc, file=sys.stderr)
            return EXIT_USAGE
        waiter = _Waiter()
        ctx.event_callback = waiter.on_event
        ctx.start(event_executor="inline")
        what = "removing the publication" if args.expires == 0 else "status=%s" % args.status
        _say("publish", "publishing %s for %s (%s, port %d)" % (what, aor, args.transport, port))
        ctx.publish(msg, aor)
        until = time.monotonic() + ANSWER_WAIT
        last = None
        while True:
            ev = waiter.next(until)
            if ev is None:
                _say("publish", "failed %s" % (last or "408 no answer"))
                return EXIT_FAILED
            if ev.type == EventType.message_proceeding:
                continue
            status, reason = _status(ev)
            if ev.type == EventType.message_answered:
                if args.expires == 0:
                    _say("publish", "removed")
                else:
                    _say("publish", "published status=%s expires=%s etag=%s" % (
                        args.status, ev.response.get_header("Expires") or args.expires,
                        ev.response.get_header("SIP-ETag") or "-"))
                return EXIT_OK
            if status in (401, 407) and _has_credentials(args):
                # sent again by the automatic actions, unless the credentials cannot answer it
                _say("publish", "challenged %d %s" % (status, reason))
                last = "%d %s (challenge not answered: credentials?)" % (status, reason)
                until = time.monotonic() + CHALLENGE_WAIT
                continue
            _say("publish", "failed %d %s" % (status, reason))
            return EXIT_FAILED
    finally:
        if ctx is not None:
            stop_trace(ctx, ladder)
            ctx.close()
