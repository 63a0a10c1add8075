# SPDX-License-Identifier: Apache-2.0
"""The command line: ``python -m exosip2 …``.

``--version``
    the package, eXosip2 API and oSIP2 versions.
``parse FILE|-``
    parse a SIP message and print its start line, every header and, for an
    SDP body, its fields; exit 2 with a clear error on a malformed message.
``demo``
    two contexts on loopback: a call (INVITE, 180, 200, ACK, INFO, BYE) printed
    as a SIP ladder with timings; exit 0 when it went through.
``call URI``
    call URI, acknowledge the answer, hang up after ``--duration`` or at Ctrl-C.
``answer --port N``
    answer every call on port N until Ctrl-C.
``register sip:USER@HOST[:PORT] --password PW``
    register, stay registered (refreshes), unregister on Ctrl-C or SIGTERM
    (see exosip2/_cli_register.py).
``watch sip:USER@HOST [--event presence]``
    subscribe, print each NOTIFY's state and body, unsubscribe at Ctrl-C;
``publish sip:USER@HOST --status open|closed [--note TEXT]``
    publish a PIDF presence status (see exosip2/_cli_presence.py).
``serve --workers N --port P [--handler uas|module:function]``
    N worker processes on ports P..P+N-1 behind a SIP load balancer (see exosip2/serve.py).
"""

import argparse
import sys

EXIT_OK = 0
EXIT_USAGE = 2


def cmd_version(args):
    from exosip2 import version

    print("exosip2 %s" % version.__version__)
    print("eXosip2 API %s (%s)" % (version.get_library_version(), version.get_library_kind()))
    print("oSIP2 %s" % version.get_osip_version())
    return EXIT_OK


def _read_input(path):
    if path == "-":
        return sys.stdin.buffer.read()
    with open(path, "rb") as f:
        return f.read()


def _split_headers(raw):
    """Yield (name, value) for each header line of a serialised message."""
    head = raw.split(b"\r\n\r\n", 1)[0]
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        yield name.strip().decode("utf-8", "replace"), value.strip().decode("utf-8", "replace")


def _print_sdp(sdp, out):
    print("SDP:", file=out)
    o = sdp.origin
    print("  version: %s" % sdp.version, file=out)
    if o is not None:
        print("  origin: %s" % " ".join(str(x) for x in o), file=out)
    print("  session: %s" % sdp.session_name, file=out)
    c = sdp.connection
    if c is not None:
        print("  connection: %s" % " ".join(str(x) for x in c), file=out)
    for t in sdp.times:
        print("  time: %s %s" % tuple(t), file=out)
    for field, value in sdp.attributes:
        print("  attribute: %s" % (field if value is None else "%s:%s" % (field, value)), file=out)
    for i, m in enumerate(sdp.media):
        print("  media %d: %s %s %s %s" % (i, m.type, m.port, m.protocol, " ".join(m.formats)), file=out)
        for fmt in m.formats:
            try:
                rtpmap = m.rtpmap(fmt)
            except ValueError:  # an a=rtpmap line without encoding/clock rate (RFC 4475's "31 LPC")
                raw = [v for v in m.attribute_values("rtpmap") if v and v.split(" ", 1)[0] == fmt]
                print("    rtpmap %s: malformed: %r" % (fmt, raw[0] if raw else None), file=out)
                continue
            if rtpmap is not None:
                print("    rtpmap %s: %s" % (fmt, "/".join(str(x) for x in rtpmap if x is not None)), file=out)
        for field, value in m.attributes:
            print("    attribute: %s" % (field if value is None else "%s:%s" % (field, value)), file=out)


def cmd_parse(args):
    from exosip2.error import OsipError
    from exosip2.message import OsipMessage
    from exosip2.sdp import SdpMessage

    out = sys.stdout
    try:
        data = _read_input(args.file)
    except OSError as exc:
        print("error: cannot read %s: %s" % (args.file, exc.strerror or exc), file=sys.stderr)
        return EXIT_USAGE
    try:
        msg = OsipMessage.parse(data)
    except (OsipError, ValueError) as exc:
        print("error: %s is not a valid SIP message: %s" % (args.file, exc), file=sys.stderr)
        return EXIT_USAGE
    if msg.is_request:
        print("Request: %s %s" % (msg.method, msg.uri), file=out)
    else:
        print("Response: %s %s" % (msg.status_code, msg.reason_phrase), file=out)
    print("Headers:", file=out)
    for name, value in _split_headers(bytes(msg)):
        print("  %s: %s" % (name, value), file=out)
    bodies = msg.bodies
    ctype = (msg.content_type or "").lower()
    if bodies and ctype.startswith("application/sdp"):
        try:
            sdp = SdpMessage.from_message(msg)
        except (OsipError, ValueError) as exc:
            print("error: the SDP body does not parse: %s" % exc, file=sys.stderr)
            return EXIT_USAGE
        _print_sdp(sdp, out)
    elif bodies:
        for i, body in enumerate(bodies):
            print("Body %d (%d bytes)" % (i, len(body.encode("utf-8", "surrogateescape"))), file=out)
    return EXIT_OK


def build_parser():
    parser = argparse.ArgumentParser(prog="python -m exosip2", description="The exosip2 command line.")
    parser.add_argument("--version", action="store_true", help="print package, eXosip2 API and oSIP2 versions")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    p = sub.add_parser("version", help="print package, eXosip2 API and oSIP2 versions")
    p.set_defaults(func=cmd_version)
    p = sub.add_parser("parse", help="parse a SIP message and print its fields")
    p.add_argument("file", metavar="FILE|-", help="file holding one SIP message, or - for standard input")
    p.set_defaults(func=cmd_parse)
    from exosip2._calls_cli import add_commands
    from exosip2._cli_register import add_register_parser
    from exosip2._cli_presence import add_presence_parsers

    add_commands(sub)
    add_register_parser(sub)
    add_presence_parsers(sub)
    from exosip2.serve import add_serve_parser

    add_serve_parser(sub)
    return parser


def main(argv=None):
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.version:
        return cmd_version(args)
    if not getattr(args, "func", None):
        parser.print_help(sys.stderr)
        return EXIT_USAGE
    try:
        return args.func(args)
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
