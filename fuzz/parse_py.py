#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""atheris harness: exosip2's OsipMessage.parse and SdpMessage.parse, with their round trips.

Every input is given to both parsers (as bytes, and as str when it decodes). A parsed message is
printed (to_bytes, str, bytes), read through its properties, copied, and parsed again from its own
text; the same for SDP, through its media too. The documented failures are allowed: subclasses of
exosip2.error.OsipError, ValueError, TypeError and UnicodeError. Any other exception, or a crash of
the native code, ends the run as a failure.

Coverage feedback comes from this file only (the binding and oSIP2 are native code built without
coverage instrumentation); the libFuzzer harnesses give core/ its coverage-guided fuzzing.

Arguments are libFuzzer's (fuzz/run.py passes them): ``parse_py.py [-max_total_time=N …] DIR…``.
Run it from the repository root after ``make build``.
"""

import sys

import atheris

with atheris.instrument_imports():
    from exosip2.error import OsipError
    from exosip2.message import OsipMessage
    from exosip2.sdp import SdpMessage

ALLOWED = (OsipError, ValueError, TypeError, UnicodeError)

MESSAGE_PROPERTIES = ("is_request", "is_response", "method", "uri", "status_code", "reason_phrase", "sip_version",
                      "call_id", "from_", "to", "contacts", "allows", "content_type", "content_length", "bodies",
                      "raw_bodies", "cseq", "vias", "routes", "record_routes", "max_forwards", "expires",
                      "user_agent")
SDP_PROPERTIES = ("version", "origin", "session_name", "session_info", "uri", "emails", "phones", "connection",
                  "bandwidths", "times", "attributes", "direction", "media")
MEDIA_PROPERTIES = ("type", "port", "number_of_ports", "protocol", "formats", "info", "connections", "connection",
                    "effective_connection", "bandwidths", "attributes")


@atheris.instrument_func
def allowed(call, *args):
    """call(*args), or None when it raises one of the documented exceptions."""
    try:
        return call(*args)
    except ALLOWED:
        return None


@atheris.instrument_func
def read_all(obj, names):
    for name in names:
        allowed(getattr, obj, name)


@atheris.instrument_func
def message_round_trip(data):
    msg = allowed(OsipMessage.parse, data)
    if msg is None:
        return
    read_all(msg, MESSAGE_PROPERTIES)
    allowed(msg.get_headers, "Via")
    allowed(msg.get_header, "X-Nothing")
    text = allowed(msg.to_bytes)
    allowed(str, msg)
    allowed(bytes, msg)
    copy = allowed(msg.copy)
    if copy is not None:
        allowed(copy.to_bytes)
    if text:
        again = allowed(OsipMessage.parse, text)
        if again is not None:
            allowed(again.to_bytes)
    sdp = allowed(SdpMessage.from_message, msg)
    if sdp is not None:
        allowed(sdp.to_bytes)


@atheris.instrument_func
def sdp_round_trip(data):
    sdp = allowed(SdpMessage.parse, data)
    if sdp is None:
        return
    read_all(sdp, SDP_PROPERTIES)
    for media in allowed(getattr, sdp, "media") or []:
        read_all(media, MEDIA_PROPERTIES)
        for fmt in (allowed(getattr, media, "formats") or [])[:8]:
            allowed(media.rtpmap, fmt)
    allowed(sdp.attribute, "rtpmap")
    text = allowed(sdp.to_bytes)
    allowed(str, sdp)
    copy = allowed(sdp.copy)
    if copy is not None:
        allowed(copy.to_bytes)
    if text:
        again = allowed(SdpMessage.parse, text)
        if again is not None:
            allowed(again.to_bytes)


@atheris.instrument_func
def TestOneInput(data):
    message_round_trip(data)
    sdp_round_trip(data)
    try:
        text = data.decode("utf-8")
    except UnicodeError:
        return
    message_round_trip(text)
    sdp_round_trip(text)


def main():
    atheris.Setup(sys.argv, TestOneInput)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
