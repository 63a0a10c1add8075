#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Write the generated part of the seed corpus (fuzz/corpus/{incoming,message,sdp,python}/).

Seeds are SIP requests of every method, responses of every class, SDP bodies, and for the incoming
harness UDP sequences (a call from INVITE to BYE, CANCEL, REGISTER with credentials) and TCP framing
cases. Files named crash-* are inputs that crashed a harness: the crash-tcp-uaf-* written here
reproduce the TCP use-after-free (tcp.c consume() after ex_tcp_send() closed the connection),
crash-osip-sdp-* an out-of-bounds read in oSIP2's SDP parser; the others were found by fuzzing and
are kept as found (the script never touches them). The output is deterministic.
"""

import os

HERE = os.path.dirname(os.path.abspath(__file__))
SEP = b"\n--next--\n"
F_TCP, F_PEER_GONE, F_APP, F_IPV6, F_AUTO = 1, 2, 4, 8, 16

SDP = (b"v=0\r\no=alice 2890844526 2890844526 IN IP4 192.0.2.1\r\ns=call\r\nc=IN IP4 192.0.2.1\r\n"
       b"t=0 0\r\nm=audio 49170 RTP/AVP 0 8 101\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:8 PCMA/8000\r\n"
       b"a=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-15\r\na=sendrecv\r\n")

# the smallest SDP found that makes oSIP2 5.3's sdp_message_parse read out of bounds
BAD_SDP = b"v=0\r\no=- 0 0 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\nm=audio 0 RTP/AVP\n"

SDPS = {
    "audio": SDP,
    "video": SDP + b"m=video 51372 RTP/AVP 96\r\na=rtpmap:96 H264/90000\r\na=fmtp:96 profile-level-id=42e01f\r\n",
    "hold": SDP.replace(b"a=sendrecv", b"a=sendonly").replace(b"c=IN IP4 192.0.2.1", b"c=IN IP4 0.0.0.0"),
    "ipv6": (b"v=0\r\no=- 1 1 IN IP6 2001:db8::1\r\ns=-\r\nc=IN IP6 2001:db8::1\r\nt=0 0\r\n"
             b"m=audio 5004 RTP/AVP 9\r\na=rtpmap:9 G722/8000\r\n"),
    "srtp": SDP.replace(b"RTP/AVP", b"RTP/SAVP") + b"a=crypto:1 AES_CM_128_HMAC_SHA1_80 "
            b"inline:WVNfX19zZW1jdGwgKCkgewkyMjA7fQp9CnVubGVz|2^20|1:4\r\n",
    "full": (b"v=0\r\no=jdoe 2890844526 2890842807 IN IP4 10.47.16.5\r\ns=SDP Seminar\r\n"
             b"i=A Seminar on the session description protocol\r\nu=http://www.example.com/seminars/sdp.pdf\r\n"
             b"e=j.doe@example.com (Jane Doe)\r\np=+1 617 555-6011\r\nc=IN IP4 224.2.17.12/127\r\n"
             b"b=AS:128\r\nt=2873397496 2873404696\r\nr=7d 1h 0 25h\r\nz=2882844526 -1h 2898848070 0\r\n"
             b"k=clear:secret\r\na=recvonly\r\nm=audio 49170 RTP/AVP 0\r\nm=video 51372/2 RTP/AVP 99\r\n"
             b"b=CT:256\r\na=rtpmap:99 h263-1998/90000\r\nm=application 32416 udp wb\r\na=orient:portrait\r\n"),
    "webrtc": (b"v=0\r\no=- 4611731400430051336 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n"
               b"a=group:BUNDLE 0\r\na=msid-semantic: WMS\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\n"
               b"c=IN IP4 0.0.0.0\r\na=rtcp:9 IN IP4 0.0.0.0\r\na=ice-ufrag:abcd\r\na=ice-pwd:0123456789abcdef01234567\r\n"
               b"a=fingerprint:sha-256 AB:CD:EF:01:23:45:67:89:AB:CD:EF:01:23:45:67:89:AB:CD:EF:01:23:45:67:89:AB:CD:EF:01:23:45:67:89\r\n"
               b"a=setup:actpass\r\na=mid:0\r\na=rtcp-mux\r\na=rtpmap:111 opus/48000/2\r\n"
               b"a=candidate:1 1 udp 2122260223 192.0.2.5 54321 typ host generation 0\r\n"),
    "empty_media": b"v=0\r\no=- 0 0 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\nm=audio 0 RTP/AVP 0\r\n",
    "lf_only": SDP.replace(b"\r\n", b"\n"),
}


def request(method, uri=b"sip:bob@192.0.2.2", cseq=1, extra=b"", body=b"", ctype=b"application/sdp",
            branch=b"z9hG4bK776asdhds", via_proto=b"UDP", call_id=b"a84b4c76e66710@pc33.example.com",
            to_tag=b"", cseq_method=None):
    head = (method + b" " + uri + b" SIP/2.0\r\n"
            b"Via: SIP/2.0/" + via_proto + b" 192.0.2.1:5060;branch=" + branch + b";rport\r\n"
            b"Max-Forwards: 70\r\n"
            b"To: Bob <sip:bob@192.0.2.2>" + (b";tag=" + to_tag if to_tag else b"") + b"\r\n"
            b"From: Alice <sip:alice@192.0.2.1>;tag=1928301774\r\n"
            b"Call-ID: " + call_id + b"\r\n"
            b"CSeq: " + str(cseq).encode() + b" " + (cseq_method or method) + b"\r\n"
            b"Contact: <sip:alice@192.0.2.1:5060>\r\n" + extra)
    if body:
        head += b"Content-Type: " + ctype + b"\r\n"
    return head + b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body


def response(code, reason, method=b"INVITE", cseq=1, extra=b"", body=b"", to_tag=b"8321234356"):
    head = (b"SIP/2.0 " + str(code).encode() + b" " + reason + b"\r\n"
            b"Via: SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bK776asdhds;received=192.0.2.7;rport=5062\r\n"
            b"To: Bob <sip:bob@192.0.2.2>" + (b";tag=" + to_tag if to_tag else b"") + b"\r\n"
            b"From: Alice <sip:alice@192.0.2.1>;tag=1928301774\r\n"
            b"Call-ID: a84b4c76e66710@pc33.example.com\r\n"
            b"CSeq: " + str(cseq).encode() + b" " + method + b"\r\n" + extra)
    if body:
        head += b"Content-Type: application/sdp\r\n"
    return head + b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body


REQUESTS = {
    "invite": request(b"INVITE", body=SDP, extra=b"Allow: INVITE, ACK, CANCEL, BYE, OPTIONS\r\n"
                      b"Supported: timer, 100rel\r\nSession-Expires: 1800\r\nUser-Agent: seed\r\n"),
    "invite_no_sdp": request(b"INVITE"),
    "ack": request(b"ACK", to_tag=b"8321234356", branch=b"z9hG4bKack1"),
    "bye": request(b"BYE", cseq=2, to_tag=b"8321234356", branch=b"z9hG4bKbye1"),
    "bye_no_dialog": request(b"BYE", cseq=2, to_tag=b"nosuchtag", branch=b"z9hG4bKbye2",
                             call_id=b"unknown@192.0.2.1"),
    "cancel": request(b"CANCEL"),
    "options": request(b"OPTIONS", uri=b"sip:192.0.2.2", extra=b"Accept: application/sdp\r\n"),
    "register": request(b"REGISTER", uri=b"sip:example.com", extra=b"Expires: 3600\r\n"),
    "register_auth": request(b"REGISTER", uri=b"sip:example.com", cseq=2, extra=(
        b"Authorization: Digest username=\"alice\", realm=\"example.com\", nonce=\"dcd98b7102dd2f0e8b11d0f600bfb0c093\","
        b" uri=\"sip:example.com\", response=\"6629fae49393a05397450978507c4ef1\", algorithm=MD5,"
        b" qop=auth, nc=00000001, cnonce=\"0a4f113b\"\r\nExpires: 0\r\n")),
    "message": request(b"MESSAGE", body=b"Hello, Bob.", ctype=b"text/plain"),
    "message_user_gt": request(b"MESSAGE", uri=b"sip:%3E@192.0.2.2", body=b"x", ctype=b"text/plain"),
    "info": request(b"INFO", cseq=3, to_tag=b"8321234356", body=b"Signal=5\r\nDuration=160\r\n",
                    ctype=b"application/dtmf-relay"),
    "update": request(b"UPDATE", cseq=4, to_tag=b"8321234356", body=SDP),
    "refer": request(b"REFER", cseq=5, to_tag=b"8321234356",
                     extra=b"Refer-To: <sip:carol@192.0.2.3?Replaces=abc%40x%3Bto-tag%3D1%3Bfrom-tag%3D2>\r\n"
                           b"Referred-By: <sip:alice@192.0.2.1>\r\n"),
    "subscribe": request(b"SUBSCRIBE", extra=b"Event: presence\r\nAccept: application/pidf+xml\r\nExpires: 600\r\n"),
    "subscribe_odd_user": request(b"SUBSCRIBE", uri=b"sip:>@192.0.2.2", extra=b"Event: presence\r\n"),
    "notify": request(b"NOTIFY", to_tag=b"8321234356", extra=b"Event: presence\r\n"
                      b"Subscription-State: active;expires=599\r\n",
                      body=b"<?xml version=\"1.0\"?><presence/>", ctype=b"application/pidf+xml"),
    "publish": request(b"PUBLISH", extra=b"Event: presence\r\nExpires: 3600\r\n",
                       body=b"<?xml version=\"1.0\"?><presence/>", ctype=b"application/pidf+xml"),
    "prack": request(b"PRACK", cseq=2, to_tag=b"8321234356", extra=b"RAck: 1 1 INVITE\r\n"),
    "unknown_method": request(b"FOO", extra=b"Require: nothing\r\n"),
    "compact": (b"INVITE sip:bob@192.0.2.2 SIP/2.0\r\nv: SIP/2.0/UDP 192.0.2.1;branch=z9hG4bKc1\r\n"
                b"f: <sip:alice@192.0.2.1>;tag=1\r\nt: <sip:bob@192.0.2.2>\r\ni: compact@192.0.2.1\r\n"
                b"CSeq: 1 INVITE\r\nm: <sip:alice@192.0.2.1>\r\nc: application/sdp\r\nl: " +
                str(len(SDP)).encode() + b"\r\n\r\n" + SDP),
    "multipart": request(b"INVITE", ctype=b"multipart/mixed;boundary=unique", body=(
        b"--unique\r\nContent-Type: application/sdp\r\n\r\n" + SDP +
        b"\r\n--unique\r\nContent-Type: application/isup;version=nxv3\r\n\r\n\x01\x00\x49\x00\x00\r\n--unique--\r\n")),
    "proxied": request(b"INVITE", body=SDP, extra=b"Record-Route: <sip:p2.example.com;lr>, <sip:p1.example.com;lr>\r\n"
                       b"Route: <sip:192.0.2.2;lr>\r\n") .replace(
        b"Via: SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bK776asdhds;rport\r\n",
        b"Via: SIP/2.0/UDP p2.example.com;branch=z9hG4bKp2\r\nVia: SIP/2.0/UDP p1.example.com;branch=z9hG4bKp1\r\n"
        b"Via: SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bK776asdhds;rport\r\n"),
    "tcp_invite": request(b"INVITE", via_proto=b"TCP", body=SDP),
    "sips_tel": request(b"OPTIONS", uri=b"tel:+1-201-555-0123;phone-context=example.com"),
}

RESPONSES = {
    "100": response(100, b"Trying", to_tag=b""),
    "180": response(180, b"Ringing"),
    "183": response(183, b"Session Progress", body=SDP),
    "200_invite": response(200, b"OK", body=SDP, extra=b"Contact: <sip:bob@192.0.2.2>\r\n"
                           b"Record-Route: <sip:p1.example.com;lr>\r\n"),
    "200_options": response(200, b"OK", method=b"OPTIONS", extra=b"Allow: INVITE, ACK, BYE\r\n"),
    "200_register": response(200, b"OK", method=b"REGISTER",
                             extra=b"Contact: <sip:alice@192.0.2.1:5060>;expires=3600\r\n"),
    "302": response(302, b"Moved Temporarily", extra=b"Contact: <sip:bob@192.0.2.9>\r\n"),
    "401": response(401, b"Unauthorized", method=b"REGISTER", extra=(
        b"WWW-Authenticate: Digest realm=\"example.com\", qop=\"auth\", nonce=\"dcd98b7102dd2f0e8b11d0f600bfb0c093\","
        b" opaque=\"5ccc069c403ebaf9f0171e9517f40e41\", algorithm=MD5\r\n")),
    "407": response(407, b"Proxy Authentication Required", extra=(
        b"Proxy-Authenticate: Digest realm=\"example.com\", nonce=\"abc\", stale=TRUE\r\n")),
    "423": response(423, b"Interval Too Brief", method=b"REGISTER", extra=b"Min-Expires: 7200\r\n"),
    "481": response(481, b"Call/Transaction Does Not Exist", method=b"BYE", cseq=2),
    "486": response(486, b"Busy Here"),
    "500": response(500, b"Server Internal Error", extra=b"Retry-After: 5\r\n"),
    "603": response(603, b"Decline"),
}


def write(folder, name, data):
    path = os.path.join(HERE, "corpus", folder, name)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as fh:
        fh.write(data)


def incoming_cases():
    """Seeds for the incoming harness: a flags byte (top bit set), then pieces."""
    inv = REQUESTS["invite"]
    ack = REQUESTS["ack"]
    bye = REQUESTS["bye"]
    cases = {
        "udp_call": (F_APP | F_AUTO, [inv, ack, bye]),
        "udp_call_retransmit": (F_APP, [inv, inv, ack, ack, bye, bye]),
        "udp_cancel": (0, [inv, REQUESTS["cancel"]]),
        "udp_reinvite": (F_APP, [inv, ack, request(b"INVITE", cseq=2, to_tag=b"8321234356",
                                                    branch=b"z9hG4bKre1", body=SDP), bye]),
        "udp_register": (F_AUTO, [REQUESTS["register"], REQUESTS["register_auth"]]),
        "udp_responses": (F_APP | F_AUTO, list(RESPONSES.values())),
        "udp_v6_options": (F_IPV6 | F_APP, [REQUESTS["options"]]),
        "udp_in_dialog": (F_APP, [inv, ack, REQUESTS["info"], REQUESTS["update"], REQUESTS["refer"],
                                  REQUESTS["notify"], REQUESTS["prack"], bye]),
        "udp_odd_users": (F_APP, [REQUESTS["message_user_gt"], REQUESTS["subscribe_odd_user"],
                                  request(b"INVITE", uri=b"sip:%22%20%2C@192.0.2.2")]),
        "tcp_call": (F_TCP | F_APP, [REQUESTS["tcp_invite"], ack, bye]),
        "tcp_split": (F_TCP | F_APP, [inv[:37], inv[37:200], inv[200:], ack]),
        "tcp_pipelined": (F_TCP, [REQUESTS["options"] + REQUESTS["message"] + bye]),
        "tcp_keepalive": (F_TCP, [b"\r\n\r\n", REQUESTS["options"], b"\r\n", b"\r\n\r\n"]),
        "tcp_compact_len": (F_TCP | F_APP, [REQUESTS["compact"]]),
        "tcp_bad_length": (F_TCP, [REQUESTS["options"].replace(b"Content-Length: 0", b"Content-Length: -5")]),
        "tcp_huge_length": (F_TCP, [REQUESTS["options"].replace(b"Content-Length: 0",
                                                                b"Content-Length: 99999999999999999999")]),
        "tcp_body_short": (F_TCP, [REQUESTS["message"][:-4]]),
        "tcp_no_header_end": (F_TCP, [REQUESTS["options"][:-4] + b"X-Pad: " + b"a" * 40000]),
        # twenty BYEs outside any dialog in one segment, then the peer is gone (core answers 481 itself)
        "crash-tcp-uaf-pipelined-bye-close": (F_TCP | F_PEER_GONE, [b"".join(
            request(b"BYE", to_tag=b"t%d" % i, branch=b"z9hG4bKpb%d" % i, call_id=b"pb%d@192.0.2.7" % i,
                    via_proto=b"TCP") for i in range(20))]),
        # oSIP2 5.3's sdp_message_parse reads past the end of an SDP whose last line is an m= line
        # without formats ending in a bare LF; reached through eXosip_get_remote_sdp()
        "crash-osip-sdp-overread-invite-body": (F_APP, [request(b"INVITE", body=BAD_SDP)]),
        "crash-tcp-uaf-close-after-invite": (F_TCP | F_PEER_GONE | F_APP, [REQUESTS["tcp_invite"]]),
    }
    for name, (flags, pieces) in cases.items():
        write("incoming", name, bytes([0x80 | flags]) + SEP.join(pieces))


def main():
    for name, data in REQUESTS.items():
        write("message", "req_" + name + ".sip", data)
        write("python", "req_" + name + ".sip", data)
        write("incoming", "req_" + name + ".sip", data)
    for name, data in RESPONSES.items():
        write("message", "resp_" + name + ".sip", data)
        write("python", "resp_" + name + ".sip", data)
        write("incoming", "resp_" + name + ".sip", data)
    for name, data in SDPS.items():
        write("sdp", name + ".sdp", data)
        write("python", "sdp_" + name + ".sdp", data)
    incoming_cases()


if __name__ == "__main__":
    main()
