# SPDX-License-Identifier: Apache-2.0
"""The call commands of ``python -m exosip2``: ``demo``, ``call URI`` and ``answer --port N``."""

import queue
import signal
import socket
import sys
import time

from exosip2 import call, register
from exosip2._cli_register import (
    UsageError, add_credential_options, add_tls_options, add_trace_options, apply_credentials, apply_tls, parse_aor,
    start_trace, stop_trace, tls_uri,
)
from exosip2.context import Context
from exosip2.error import OsipError
from exosip2.event import EventType as T

EXIT_OK = 0
EXIT_FAIL = 1
# Seconds a 401/407 may wait for the request to go out again with credentials.
CHALLENGE_WAIT = 3.0

_SDP = ("v=0\r\no=%s 1 1 IN IP4 %s\r\ns=exosip2\r\nc=IN IP4 %s\r\nt=0 0\r\n"
        "m=audio %d RTP/AVP 0 8\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:8 PCMA/8000\r\n")


def _sdp(user, address, port):
    return _SDP % (user, address, address, port)


def _proto(name):
    return socket.IPPROTO_TCP if name == "tcp" else socket.IPPROTO_UDP


class _Collector:
    """Events of one or more contexts, queued from their inline event loops with a timestamp."""

    def __init__(self):
        self.q = queue.Queue()

    def callback(self, side):
        def on_event(ctx, event):
            self.q.put((time.monotonic(), side, event))
        return on_event

    def get(self, timeout):
        return self.q.get(timeout=timeout)


def _status(event):
    r = event.response
    return "%d %s" % (r.status_code, r.reason_phrase or "") if r is not None else ""


# --- demo ------------------------------------------------------------------------------------

def cmd_demo(args, out=sys.stdout):
    """Two contexts on loopback; alice calls bob: INVITE, 180, 200, ACK, INFO, BYE; print the ladder."""
    col = _Collector()
    width = 34
    with Context(col.callback("alice")) as alice, Context(col.callback("bob")) as bob:
        proto = _proto(args.transport)
        pa = alice.listen_on_address("127.0.0.1", proto, 0)
        pb = bob.listen_on_address("127.0.0.1", proto, 0)
        alice.user_agent = bob.user_agent = "exosip2-demo"
        suffix = ";transport=tcp" if args.transport == "tcp" else ""
        a_uri = "sip:alice@127.0.0.1:%d%s" % (pa, suffix)
        b_uri = "sip:bob@127.0.0.1:%d%s" % (pb, suffix)
        alice.start(event_executor="inline")
        bob.start(event_executor="inline")
        print("exosip2 demo over %s: alice %s calls bob %s" % (args.transport.upper(), a_uri, b_uri), file=out)
        print("%10s  %-*s %s" % ("time", width, "alice", "bob"), file=out)
        t0 = time.monotonic()

        def line(when, text, to_bob):
            arrow = ("%s " % text).ljust(width, "-") + ">" if to_bob else "<" + (" %s" % text).rjust(width, "-")
            print("%8.2f ms  %s" % ((when - t0) * 1000.0, arrow), file=out, flush=True)

        # A request's line is dated when its sender sends it and an answer's when alice's event
        # loop sees it: the order of the ladder is then the order of cause and effect. (Dating a
        # request when bob's loop sees it races alice's loop, which may already have the answer
        # bob's stack sent before it handed bob the event: a 100 Trying above its INVITE.)
        invite = call.InitInvite(alice, b_uri, a_uri, subject="exosip2 demo")
        invite.add_body(_sdp("alice", "127.0.0.1", 40000))
        invite.content_type = "application/sdp"
        line(time.monotonic(), "INVITE (SDP)", True)
        a_cid = invite.send()
        a_did = b_cid = b_did = 0
        info_sent = bye_sent = False
        done = {"bob_closed": False, "alice_bye_ok": False}
        deadline = time.monotonic() + args.timeout
        while not all(done.values()):
            left = deadline - time.monotonic()
            if left <= 0:
                print("demo: timed out waiting for the call to finish", file=sys.stderr)
                return EXIT_FAIL
            try:
                when, side, ev = col.get(left)
            except queue.Empty:
                continue
            t = ev.type
            if side == "bob":
                if t == T.call_invite:
                    b_cid, b_did = ev.cid, ev.did
                    bob.call_send_answer(ev.tid, 180)
                    ok = call.Answer(bob, ev.tid, 200)
                    ok.add_body(_sdp("bob", "127.0.0.1", 41000))
                    ok.content_type = "application/sdp"
                    ok.send()
                elif t == T.call_ack:
                    info = call.Info(alice, a_did)
                    info.add_body("Signal=1\r\nDuration=100\r\n")
                    info.content_type = "application/dtmf-relay"
                    line(time.monotonic(), "INFO", True)
                    info.send()
                    info_sent = True
                elif t == T.call_message_new and ev.request.method == "BYE":
                    pass  # answered by the stack itself; call_closed follows and is shown
                elif t == T.call_message_new:
                    call.Answer(bob, ev.tid, 200).send()
                elif t == T.call_closed:
                    done["bob_closed"] = True
                elif t != T.call_released:
                    line(when, "(bob: %s)" % ev.textinfo, True)
            else:
                if t in (T.call_proceeding, T.call_ringing):
                    line(when, _status(ev), False)
                    a_did = ev.did or a_did
                elif t == T.call_answered:
                    line(when, _status(ev) + " (SDP)", False)
                    a_did = ev.did
                    line(time.monotonic(), "ACK", True)
                    alice.call_send_ack(did=a_did)
                elif t == T.call_message_answered:
                    method = ev.request.method
                    line(when, "%s (%s)" % (_status(ev), method), False)
                    if method == "INFO" and info_sent and not bye_sent:
                        line(time.monotonic(), "BYE", True)
                        alice.call_terminate(a_cid, a_did)
                        bye_sent = True
                    elif method == "BYE":
                        done["alice_bye_ok"] = True
                elif t in (T.call_released, T.call_message_proceeding):
                    pass
                else:
                    line(when, "(alice: %s %s)" % (ev.textinfo, _status(ev)), False)
                    if t in (T.call_requestfailure, T.call_serverfailure, T.call_globalfailure,
                             T.call_noanswer):
                        return EXIT_FAIL
        print("call %d/%d done in %.2f ms" % (a_cid, b_cid, (time.monotonic() - t0) * 1000.0), file=out)
    return EXIT_OK


# --- call and answer ------------------------------------------------------------------------

class _Flag:
    """A flag set by a signal handler: no lock (a threading.Event's set() in the handler would
    block for ever when the signal lands while the main thread holds that Event's lock, in its
    clear() or wait())."""

    __slots__ = ("_set",)

    def __init__(self):
        self._set = False

    def set(self):
        self._set = True

    def clear(self):
        self._set = False

    def is_set(self):
        return self._set


class _Interrupt:
    """SIGINT/SIGTERM set a flag instead of raising in whatever code runs."""

    def __init__(self):
        self.flag = _Flag()
        self.old = {}

    def __enter__(self):
        for sig in (signal.SIGINT, signal.SIGTERM):
            self.old[sig] = signal.signal(sig, lambda *_: self.flag.set())
        return self.flag

    def __exit__(self, *exc):
        for sig, handler in self.old.items():
            signal.signal(sig, handler)


def _say(text):
    # one write per line: --trace prints ladder lines from the event loop's thread meanwhile
    sys.stdout.write(text + "\n")
    sys.stdout.flush()


def _usage_errors(func):
    """Turn a :class:`UsageError` raised by *func* into a message and exit status 2."""
    def run(args):
        try:
            return func(args)
        except UsageError as exc:
            print("error: %s" % exc, file=sys.stderr)
            return 2
    run.__doc__ = func.__doc__
    return run


class _Traced:
    """``--trace`` and ``--pcap`` for the life of a command's context (exosip2._cli_register.start_trace)."""

    def __init__(self, ctx, args):
        self.ctx = ctx
        self.args = args
        self.ladder = None

    def __enter__(self):
        self.ladder = start_trace(self.ctx, self.args)
        return self

    def __exit__(self, *exc):
        stop_trace(self.ctx, self.ladder)


def _listen(ctx, args):
    """Listen as the arguments say (``--tls``: set up TLS and listen for it); a busy port, a bad
    address or an unusable certificate is a :class:`UsageError`."""
    if not 0 <= args.port <= 65535:
        raise UsageError("--port must be in 0..65535, not %d" % args.port)
    secure = apply_tls(ctx, args)
    try:
        if secure:
            return ctx.listen_on_address(args.address, socket.IPPROTO_TCP, args.port, secure=True)
        return ctx.listen_on_address(args.address, _proto(args.transport), args.port)
    except (OsipError, ValueError, TypeError) as exc:
        raise UsageError(str(exc)) from None


@_usage_errors
def cmd_call(args):
    """Call URI, ACK the answer, hang up after --duration seconds (or at Ctrl-C)."""
    col = _Collector()
    with _Interrupt() as stop, Context(col.callback("me")) as ctx, _Traced(ctx, args):
        port = _listen(ctx, args)
        ctx.user_agent = "exosip2-cli"
        me = args.from_uri or "sip:%s@%s:%d" % (args.user or "exosip2", args.address, port)
        apply_credentials(ctx, args, me)
        try:
            invite = call.InitInvite(ctx, tls_uri(args.uri) if args.tls else args.uri, me, subject="exosip2 call")
        except (OsipError, ValueError, TypeError) as exc:
            raise UsageError(str(exc)) from None
        ctx.start(event_executor="inline")
        invite.add_body(_sdp(args.user, args.address, 40000))
        invite.content_type = "application/sdp"
        try:
            cid = invite.send()
        except OsipError as exc:
            raise UsageError("cannot call %s: %s" % (args.uri, exc)) from None
        _say("calling %s from %s (cid %d)" % (args.uri, me, cid))
        did, answered, hang_up_at, ended = 0, False, None, None
        # A 401/407 is answered by the context's automatic action with the credentials;
        # it is final only when no credentials were given or nothing follows it.
        has_credentials = args.password is not None or args.ha1 is not None
        challenged_at = None
        deadline = time.monotonic() + args.timeout
        while ended is None:
            now = time.monotonic()
            if challenged_at is not None and now - challenged_at > CHALLENGE_WAIT:
                _say("challenge not answered (credentials?)")
                ended = EXIT_FAIL
                break
            if stop.is_set() or (hang_up_at is not None and now >= hang_up_at) or (not answered and now > deadline):
                try:
                    ctx.call_terminate(cid, did)
                except OsipError:
                    pass
                if not answered:
                    ended = EXIT_OK if stop.is_set() else EXIT_FAIL
                    _say("cancelled" if stop.is_set() else "no answer within %.0f s" % args.timeout)
                    break
                hang_up_at, stop_wait = None, time.monotonic() + 5
                deadline = stop_wait
                stop.clear()
                answered = "bye"
            try:
                _, _, ev = col.get(0.05)
            except queue.Empty:
                if answered == "bye" and time.monotonic() > deadline:
                    ended = EXIT_OK
                continue
            t = ev.type
            _say("event: %s %s" % (T(t).name if isinstance(t, T) else t, _status(ev)))
            if t in (T.call_proceeding, T.call_ringing, T.call_answered):
                challenged_at = None
            if t == T.call_answered:
                did = ev.did
                ctx.call_send_ack(did=did)
                if not answered:
                    answered = True
                    if args.duration is not None:
                        hang_up_at = time.monotonic() + args.duration
            elif t in (T.call_requestfailure, T.call_serverfailure, T.call_globalfailure, T.call_noanswer,
                       T.call_redirected):
                status = ev.response.status_code if ev.response is not None else 0
                if status in (401, 407) and has_credentials and challenged_at is None:
                    challenged_at = time.monotonic()
                    continue
                ended = EXIT_FAIL
            elif t == T.call_released:
                ended = EXIT_OK if answered else EXIT_FAIL
        _say("call ended")
        return ended


@_usage_errors
def cmd_answer(args):
    """Answer every call on --port (180 then 200 with SDP) until Ctrl-C (or --count calls ended)."""
    col = _Collector()
    calls = 0
    with _Interrupt() as stop, Context(col.callback("me")) as ctx, _Traced(ctx, args):
        port = _listen(ctx, args)
        ctx.user_agent = "exosip2-cli"
        reg = None
        if args.register:
            apply_credentials(ctx, args, args.register)
            registrar = args.registrar or "sip:%s" % parse_aor(args.register)[1]
            if args.transport == "tcp" and "transport=" not in registrar.lower():
                registrar += ";transport=tcp"
            if args.tls:
                registrar = tls_uri(registrar)
            try:
                reg = register.InitialRegister(ctx, args.register, registrar, expires=args.expires)
            except (OsipError, ValueError, TypeError) as exc:
                raise UsageError(str(exc)) from None
        else:
            apply_credentials(ctx, args)
        ctx.start(event_executor="inline")
        _say("answering on %s %s:%d" % ("tls" if args.tls else args.transport, args.address, port))
        if reg is not None:
            rid = reg.rid
            reg.send()
        while not stop.is_set():
            try:
                _, _, ev = col.get(0.1)
            except queue.Empty:
                continue
            t = ev.type
            _say("event: %s cid=%d did=%d %s" % (T(t).name if isinstance(t, T) else t, ev.cid, ev.did,
                                                 ev.textinfo))
            try:
                if t == T.registration_success and reg is not None and ev.rid == rid:
                    _say("registered %s" % args.register)
                elif t == T.registration_failure and reg is not None and ev.rid == rid:
                    status = ev.response.status_code if ev.response is not None else 0
                    if status not in (401, 407):
                        _say("registration failed: %s" % _status(ev))
                        return EXIT_FAIL
                elif t in (T.call_invite, T.call_reinvite):
                    if t == T.call_invite:
                        ctx.call_send_answer(ev.tid, 180)
                    ok = call.Answer(ctx, ev.tid, 200)
                    ok.add_body(_sdp("answer", args.address, 41000))
                    ok.content_type = "application/sdp"
                    ok.send()
                elif t == T.call_message_new and ev.request.method != "BYE":
                    call.Answer(ctx, ev.tid, 200).send()  # the BYE is answered by the stack
                elif t == T.message_new:
                    if ev.request.method == "OPTIONS":
                        ctx.options_send_answer(ev.tid, 200)
                    else:
                        ctx.message_send_answer(ev.tid, 200)
                elif t == T.call_released:
                    calls += 1
                    if args.count and calls >= args.count:
                        break
            except OsipError as exc:
                _say("could not answer: %s" % exc)
        if reg is not None:
            _unregister(ctx, col, rid)
        _say("stopped after %d calls" % calls)
    return EXIT_OK


def _unregister(ctx, col, rid, timeout=5.0):
    """Remove the binding (REGISTER with Expires: 0) and wait, bounded, for the registrar's answer."""
    try:
        register.Register(ctx, rid, expires=0).send()
    except OsipError as exc:
        _say("could not unregister: %s" % exc)
        return
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            _, _, ev = col.get(0.1)
        except queue.Empty:
            continue
        if ev.rid == rid and ev.type == T.registration_success:
            _say("unregistered")
            return
        if ev.rid == rid and ev.type == T.registration_failure and ev.response is not None \
                and ev.response.status_code not in (401, 407):
            break
    _say("unregistering got no final answer")


def add_commands(sub):
    p = sub.add_parser("demo", help="two contexts on loopback place a call; print the SIP ladder")
    p.add_argument("--transport", choices=("udp", "tcp"), default="udp")
    p.add_argument("--timeout", type=float, default=10.0, help="give up after this many seconds")
    p.set_defaults(func=cmd_demo)
    p = sub.add_parser("call", help="call a SIP URI; hang up after --duration or at Ctrl-C")
    p.add_argument("uri")
    p.add_argument("--address", default="127.0.0.1", help="local address to bind")
    p.add_argument("--port", type=int, default=0, help="local port (0: any free one)")
    p.add_argument("--transport", choices=("udp", "tcp"), default="udp")
    p.add_argument("--from", dest="from_uri", default=None,
                   help="the From URI (default sip:USER@ADDRESS:PORT); its user is the credentials' user")
    add_credential_options(p)
    p.add_argument("--duration", type=float, default=None, help="seconds to stay in the call")
    p.add_argument("--timeout", type=float, default=30.0, help="seconds to wait for an answer")
    add_tls_options(p)
    add_trace_options(p)
    p.set_defaults(func=cmd_call)
    p = sub.add_parser("answer", help="answer every call on a port until Ctrl-C")
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--address", default="127.0.0.1")
    p.add_argument("--transport", choices=("udp", "tcp"), default="udp")
    p.add_argument("--count", type=int, default=0, help="exit after this many calls ended")
    p.add_argument("--register", metavar="sip:USER@HOST[:PORT]", default=None,
                   help="register this address of record first (and unregister at the end)")
    p.add_argument("--registrar", default=None, help="the registrar's URI (default: sip:HOST[:PORT] of the AOR)")
    p.add_argument("--expires", type=int, default=3600, help="the registration lifetime asked for, seconds")
    add_credential_options(p)
    add_tls_options(p)
    add_trace_options(p)
    p.set_defaults(func=cmd_answer)
