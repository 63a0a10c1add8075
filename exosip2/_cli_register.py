# SPDX-License-Identifier: Apache-2.0
"""``python -m exosip2 register``: stay registered with a SIP registrar until told to stop.

    python -m exosip2 register sip:alice@example.org --password secret|--ha1 HEX [--user alice]
        [--expires 3600] [--transport udp|tcp] [--port 0] [--address ADDR]
        [--registrar sip:proxy.example.org] [--realm REALM] [--duration SECONDS]
        [--tls --cert FILE --key FILE [--ca FILE] [--no-verify]]

It sends the REGISTER, answers the registrar's challenge with the credentials,
lets the context's automatic actions refresh the binding before it runs out,
and prints one line per change of state::

    register: registering sip:alice@example.org at sip:example.org (udp, port 5062)
    register: challenged 401 Unauthorized
    register: registered expires=3600
    register: refreshed expires=3600
    register: unregistering
    register: unregistered

On Ctrl-C or SIGTERM (or after ``--duration`` seconds) it removes the binding
(a REGISTER with ``Expires: 0``) and exits 0. A registration the registrar
refuses (403, 404, a challenge the credentials cannot answer, no answer)
prints ``register: failed STATUS REASON`` and exits 1.

The credential options (:func:`add_credential_options`,
:func:`apply_credentials`) are shared with the ``call`` and ``answer``
commands.
"""

import logging
import signal
import socket
import sys
import threading
import time

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2

# A challenge not followed by another REGISTER within this time is final: nothing answers it.
CHALLENGE_WAIT = 3.0
# How long the final REGISTER (Expires: 0) may take.
UNREGISTER_WAIT = 8.0


class UsageError(ValueError):
    """A command-line argument that cannot be used."""


def parse_aor(aor):
    """Split ``sip:user@host[:port]`` into (user, hostport); raise :class:`UsageError` otherwise."""
    if not isinstance(aor, str) or not aor.lower().startswith("sip:"):
        raise UsageError("the address of record must be a sip: URI like sip:alice@example.org, not %r" % (aor,))
    rest = aor[4:].split(";", 1)[0].split("?", 1)[0]
    user, at, hostport = rest.rpartition("@")
    if not at or not user or not hostport or any(c in rest for c in " <>\"'"):
        raise UsageError("the address of record must name a user and a host (sip:alice@example.org), not %r"
                         % (aor,))
    host, _, port = hostport.rpartition(":") if not hostport.endswith("]") else (hostport, "", "")
    if port and (not port.isdigit() or not 0 < int(port) < 65536):
        raise UsageError("bad port in %r" % (aor,))
    return user.split(":", 1)[0], hostport


def _host_of(hostport):
    if hostport.startswith("["):
        return hostport[1:].split("]", 1)[0]
    return hostport.rsplit(":", 1)[0] if hostport.count(":") == 1 else hostport


def add_credential_options(parser):
    """Add ``--user``, ``--password``, ``--ha1`` and ``--realm`` to an argparse (sub)parser."""
    parser.add_argument("--user", help="the user name of the credentials (default: the user of the URI)")
    parser.add_argument("--password", help="the password answering 401/407 challenges")
    parser.add_argument("--ha1", help="instead of --password: MD5(user:realm:password) as 32 hex digits")
    parser.add_argument("--realm", default=None, help="the realm the credentials are for (default: any)")


def apply_credentials(ctx, args, uri=None):
    """Give the context the credentials of *args* (if a password or HA1 was given); return the user name used.

    The user name is ``--user``, or else the user part of *uri*.
    """
    user = getattr(args, "user", None)
    if user is None and uri is not None:
        try:
            user = parse_aor(uri)[0]
        except UsageError:
            user = None
    password = getattr(args, "password", None)
    ha1 = getattr(args, "ha1", None)
    if password is None and ha1 is None:
        return user
    if not user:
        raise UsageError("--password needs --user (or a URI with a user part)")
    ctx.add_authentication_info(user, user, password, getattr(args, "realm", None), ha1=ha1)
    return user


def add_tls_options(parser):
    """Add ``--tls``, ``--ca``, ``--cert``, ``--key`` and ``--no-verify`` to an argparse (sub)parser."""
    parser.add_argument("--tls", action="store_true",
                        help="SIP over TLS: listen for TLS and send requests with ;transport=tls "
                             "(needs --cert and --key)")
    parser.add_argument("--ca", metavar="FILE", default=None,
                        help="trusted root certificates (PEM file or folder), besides the system store")
    parser.add_argument("--cert", metavar="FILE", default=None, help="our certificate (PEM)")
    parser.add_argument("--key", metavar="FILE", default=None, help="the private key of --cert (PEM)")
    parser.add_argument("--no-verify", action="store_true",
                        help="accept any certificate from the peer (default: verify it and its name)")


def apply_tls(ctx, args):
    """Set up TLS from *args* (``--tls`` and friends); True when the command runs over TLS."""
    if not getattr(args, "tls", False):
        if any(getattr(args, n, None) for n in ("ca", "cert", "key")) or getattr(args, "no_verify", False):
            raise UsageError("--ca, --cert, --key and --no-verify go with --tls")
        return False
    if getattr(args, "transport", "udp") != "udp":
        raise UsageError("--tls replaces --transport")
    if args.cert is None or args.key is None:
        raise UsageError("--tls needs --cert and --key (a TLS listener presents a certificate)")
    try:
        ctx.set_tls(root_ca=args.ca, cert=args.cert, key=args.key, verify=not args.no_verify)
    except (OSError, ValueError) as exc:
        raise UsageError(str(exc)) from None
    return True


def tls_uri(uri):
    """*uri* with ``;transport=tls`` added when it is a ``sip:`` URI naming no transport."""
    if uri.lower().startswith("sip:") and "transport=" not in uri.lower() and "?" not in uri and ">" not in uri:
        return uri + ";transport=tls"
    return uri


def add_trace_options(parser):
    """Add ``--trace`` and ``--pcap FILE`` to a command's parser."""
    parser.add_argument("--trace", action="store_true",
                        help="print every SIP message sent and received as a ladder line")
    parser.add_argument("--pcap", metavar="FILE", default=None,
                        help="write every SIP message sent and received to this pcap file")


class _Ladder(logging.Handler):
    """Prints the records of the ``exosip2.sip`` logger as ladder lines (exosip2.trace.format_ladder)."""

    def __init__(self, out):
        super().__init__(logging.DEBUG)
        self.out = out
        self.start = time.time()

    def emit(self, record):
        t = getattr(record, "sip_trace", None)
        if t is None:
            return
        from exosip2.trace import format_ladder
        try:
            self.out.write(format_ladder(t, self.start) + "\n")  # one write: lines never interleave
            self.out.flush()
        except (OSError, ValueError):
            pass  # a closed or broken standard output must not stop the program


def start_trace(ctx, args, out=None):
    """Switch on what ``--trace`` and ``--pcap`` ask for; returns what :func:`stop_trace` needs.

    :raises UsageError: the pcap file cannot be written.
    """
    ladder = None
    if getattr(args, "pcap", None):
        try:
            ctx.trace_pcap(args.pcap)
        except OSError as exc:
            raise UsageError("--pcap: cannot write %s: %s" % (args.pcap, exc.strerror or exc)) from None
    if getattr(args, "trace", False):
        log = logging.getLogger("exosip2.sip")
        ladder = _Ladder(out if out is not None else sys.stdout)
        log.addHandler(ladder)
        old = (log.level, log.propagate)
        log.setLevel(logging.DEBUG)
        log.propagate = False
        ladder.old = old
        ctx.trace(True)
    return ladder


def stop_trace(ctx, ladder):
    """Write out what is still queued, close the pcap file and remove the ladder printer."""
    if ctx.closed:
        return
    try:
        ctx.trace_drain()
        ctx.trace_pcap(None)
        ctx.trace(False)
    finally:
        if ladder is not None:
            log = logging.getLogger("exosip2.sip")
            log.removeHandler(ladder)
            log.setLevel(ladder.old[0])
            log.propagate = ladder.old[1]


def add_register_parser(sub):
    """Add the ``register`` command to the subparsers *sub* of the main parser."""
    p = sub.add_parser("register", help="register with a registrar, stay registered, unregister on Ctrl-C",
                       description="Register with a SIP registrar, stay registered (refreshes), and "
                       "unregister on Ctrl-C or SIGTERM.")
    p.add_argument("aor", metavar="sip:USER@HOST[:PORT]", help="the address of record to register")
    add_credential_options(p)
    p.add_argument("--expires", type=int, default=3600, help="the lifetime asked for, seconds (default 3600; eXosip2 5.3 "
                   "raises 1 to 29 to 30, the core/ build keeps what is asked)")
    p.add_argument("--transport", choices=("udp", "tcp"), default="udp", help="the transport (default udp)")
    p.add_argument("--port", type=int, default=0, help="the local port (default: any free one)")
    p.add_argument("--address", default=None,
                   help="the local address to listen on (default: 127.0.0.1 for a loopback registrar, "
                        "else every interface)")
    p.add_argument("--registrar", default=None, help="the registrar's URI (default: sip:HOST[:PORT] of the AOR)")
    add_tls_options(p)
    p.add_argument("--duration", type=float, default=None,
                   help="unregister and exit after this many seconds (default: run until Ctrl-C)")
    add_trace_options(p)
    p.set_defaults(func=cmd_register)
    return p


def _say(text):
    # one write per line: --trace prints ladder lines from the event loop's thread meanwhile
    sys.stdout.write("register: %s\n" % text)
    sys.stdout.flush()


def _granted(event):
    """The lifetime the registrar granted, from the Expires header or a Contact's expires parameter."""
    resp = event.response
    if resp is None:
        return None
    for contact in resp.contacts:
        for part in contact.split(";")[1:]:
            name, _, value = part.partition("=")
            if name.strip().lower() == "expires" and value.strip().isdigit():
                return int(value)
    value = resp.get_header("Expires")
    if value is not None and value.strip().isdigit():
        return int(value)
    return None


class _Registration:
    """What the event callback learnt, read by the main thread."""

    def __init__(self):
        self.cond = threading.Condition()
        self.rid = 0
        self.registered = False
        self.successes = 0
        self.final_failure = None      # (status, reason)
        self.challenged_at = None      # monotonic time of the last unanswered challenge
        self.last_status = None
        self.unregistering = False
        self.unregistered = False

    def on_event(self, ctx, event):
        from exosip2.event import EventType

        t = event.type
        if t not in (EventType.registration_success, EventType.registration_failure) or event.rid != self.rid:
            return
        resp = event.response
        status = resp.status_code if resp is not None else 0
        reason = (resp.reason_phrase or "") if resp is not None else "no answer"
        with self.cond:
            self.last_status = status
            if t == EventType.registration_success:
                self.challenged_at = None
                if self.unregistering:
                    self.unregistered = True
                    self.registered = False
                else:
                    granted = _granted(event)
                    _say("%s expires=%s" % ("refreshed" if self.successes else "registered",
                                            "?" if granted is None else granted))
                    self.successes += 1
                    self.registered = True
            elif status in (401, 407):
                _say("challenged %d %s" % (status, reason))
                self.challenged_at = time.monotonic()
            elif status == 423:
                _say("interval too brief (423), retrying with the registrar's minimum")
                self.challenged_at = time.monotonic()
            else:
                self.challenged_at = None
                self.registered = False
                if self.unregistering:
                    self.unregistered = True
                self.final_failure = (status, reason)
            self.cond.notify_all()


def cmd_register(args):
    from exosip2 import register
    from exosip2.context import Context
    from exosip2.error import OsipError, OsipWrongState
    from exosip2.options import Option
    from exosip2.version import get_library_kind

    try:
        user, hostport = parse_aor(args.aor)
        if not 0 <= args.expires <= 0x7fffffff:
            raise UsageError("--expires must be 0 or more seconds")
        if not 0 <= args.port < 65536:
            raise UsageError("--port must be in 0..65535")
        if args.duration is not None and args.duration < 0:
            raise UsageError("--duration must not be negative")
    except UsageError as exc:
        print("error: %s" % exc, file=sys.stderr)
        return EXIT_USAGE
    registrar = args.registrar or "sip:%s" % hostport
    if args.transport == "tcp" and "transport=" not in registrar.lower():
        registrar += ";transport=tcp"
    if args.tls:
        registrar = tls_uri(registrar)
    address = args.address
    if address is None:
        host = _host_of(hostport)
        address = "127.0.0.1" if host in ("127.0.0.1", "localhost") else None

    stop = threading.Event()

    def on_signal(signum, frame):
        stop.set()

    old = {s: signal.signal(s, on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
    state = _Registration()
    ctx = Context()
    ladder = None
    try:
        try:
            ladder = start_trace(ctx, args)
            secure = apply_tls(ctx, args)
            proto = socket.IPPROTO_TCP if args.transport == "tcp" or secure else socket.IPPROTO_UDP
            port = ctx.listen_on_address(address, transport=proto, port=args.port, secure=secure)
            ctx.user_agent = "exosip2-register"
            apply_credentials(ctx, args, args.aor)
            if 0 < args.expires < 30 and get_library_kind() == "core":
                # eXosip2 raises an Expires under 30 s to 30; the lifetime typed here is kept on core/
                ctx.set_option(Option.MIN_REGISTER_EXPIRES, args.expires)
            reg = register.InitialRegister(ctx, args.aor, registrar, expires=args.expires)
        except (OsipError, UsageError, ValueError, TypeError, OSError) as exc:
            print("error: %s" % exc, file=sys.stderr)
            return EXIT_USAGE
        state.rid = reg.rid
        ctx.event_callback = state.on_event
        ctx.start(event_executor="inline")
        _say("registering %s at %s (%s, port %d)" % (args.aor, registrar, "tls" if args.tls else args.transport,
                                                      port))
        reg.send()

        deadline = None if args.duration is None else time.monotonic() + args.duration
        with state.cond:
            while not stop.is_set() and state.final_failure is None:
                if deadline is not None and time.monotonic() >= deadline:
                    break
                if state.challenged_at is not None and time.monotonic() - state.challenged_at > CHALLENGE_WAIT:
                    state.final_failure = (state.last_status, "challenge not answered (credentials?)")
                    break
                state.cond.wait(0.1)
            failure = state.final_failure
            was_registered = state.registered or state.successes > 0
        if failure is not None and not stop.is_set():
            _say("failed %s %s" % failure)
            return EXIT_FAILED
        if not was_registered:
            _say("stopped before the registration succeeded")
            return EXIT_FAILED if failure is not None else EXIT_OK

        # Remove the binding: Expires: 0, once no REGISTER of ours waits for its answer.
        _say("unregistering")
        with state.cond:
            state.unregistering = True
            state.final_failure = None
        until = time.monotonic() + UNREGISTER_WAIT
        sent = False
        while not sent and time.monotonic() < until:
            try:
                register.Register(ctx, state.rid, 0).send()
                sent = True
            except OsipWrongState:
                time.sleep(0.05)
        with state.cond:
            while sent and not state.unregistered and time.monotonic() < until:
                state.cond.wait(0.1)
            done = state.unregistered and state.final_failure is None
            failure = state.final_failure
        if done:
            _say("unregistered")
            return EXIT_OK
        _say("unregistering failed %s" % ("%s %s" % failure if failure else "(no answer)"))
        return EXIT_FAILED
    finally:
        stop_trace(ctx, ladder)
        ctx.close()
        for s, handler in old.items():
            signal.signal(s, handler)
