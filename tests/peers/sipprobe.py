# SPDX-License-Identifier: Apache-2.0
"""A tiny raw-socket SIP client for readiness probes and hand-made requests in tests.

It speaks just enough SIP to send one request over UDP or TCP and read the
final response: it is test infrastructure, not part of the package under test.
"""

import os
import re
import socket
import time

from .proc import LOOPBACK


class ProbeError(RuntimeError):
    """No usable response arrived in time."""


def _token():
    return os.urandom(6).hex()


def build_request(method, uri, local, proto, from_uri, to_uri=None, call_id=None, cseq=1,
                  extra_headers=(), body=b""):
    """Return the bytes of a SIP request; *local* is the (host, port) of our socket."""
    to_uri = to_uri or from_uri
    call_id = call_id or "probe-%s@%s" % (_token(), local[0])
    via_proto = proto.upper()
    lines = [
        "%s %s SIP/2.0" % (method, uri),
        "Via: SIP/2.0/%s %s:%d;branch=z9hG4bK%s;rport" % (via_proto, local[0], local[1], _token()),
        "Max-Forwards: 70",
        "From: <%s>;tag=%s" % (from_uri, _token()),
        "To: <%s>" % to_uri,
        "Call-ID: %s" % call_id,
        "CSeq: %d %s" % (cseq, method),
        "Contact: <sip:probe@%s:%d;transport=%s>" % (local[0], local[1], proto.lower()),
    ]
    lines.extend(extra_headers)
    lines.append("Content-Length: %d" % len(body))
    return ("\r\n".join(lines) + "\r\n\r\n").encode("ascii") + body


class Response:
    """A parsed SIP response: status, reason, headers (lower-case names, lists) and body."""

    def __init__(self, raw):
        head, _, body = raw.partition(b"\r\n\r\n")
        text = head.decode("utf-8", "replace")
        first, *rest = text.split("\r\n")
        m = re.match(r"SIP/2\.0 (\d{3}) ?(.*)", first)
        if not m:
            raise ProbeError("not a SIP response: %r" % first)
        self.status = int(m.group(1))
        self.reason = m.group(2)
        self.headers = {}
        for line in rest:
            if ":" in line:
                name, _, value = line.partition(":")
                self.headers.setdefault(name.strip().lower(), []).append(value.strip())
        self.body = body
        self.raw = raw

    def header(self, name):
        values = self.headers.get(name.lower())
        return values[0] if values else None

    def __repr__(self):
        return "<Response %d %s>" % (self.status, self.reason)


def _same_call(raw, call_id):
    return ("Call-ID: %s" % call_id).encode() in raw or ("i: %s" % call_id).encode() in raw


def _read_tcp_message(sock, buf, deadline):
    """Read one whole SIP message from a stream; return (message, leftover bytes)."""
    while True:
        end = buf.find(b"\r\n\r\n")
        if end >= 0:
            m = re.search(rb"\r\n(?:content-length|l)\s*:\s*(\d+)", buf[:end + 2], re.I)
            length = int(m.group(1)) if m else 0
            total = end + 4 + length
            if len(buf) >= total:
                return buf[:total], buf[total:]
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise ProbeError("timed out reading a TCP response")
        sock.settimeout(remaining)
        chunk = sock.recv(65536)
        if not chunk:
            raise ProbeError("connection closed before a full response")
        buf += chunk


def request(host, port, proto="udp", method="OPTIONS", uri=None, from_uri=None, to_uri=None,
            extra_headers=(), body=b"", timeout=1.0, call_id=None, cseq=1):
    """Send one request and return its final :class:`Response` (provisional ones are skipped).

    Raises :class:`ProbeError` when nothing final arrives within *timeout* seconds.
    """
    proto = proto.lower()
    uri = uri or "sip:%s:%d" % (host, port)
    from_uri = from_uri or "sip:probe@%s" % LOOPBACK
    call_id = call_id or "probe-%s@%s" % (_token(), LOOPBACK)
    deadline = time.monotonic() + timeout
    kind = socket.SOCK_DGRAM if proto == "udp" else socket.SOCK_STREAM
    sock = socket.socket(socket.AF_INET, kind)
    try:
        sock.bind((LOOPBACK, 0))
        local = sock.getsockname()
        data = build_request(method, uri, local, proto, from_uri, to_uri, call_id, cseq, extra_headers, body)
        if proto == "udp":
            sock.sendto(data, (host, port))
            while True:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise ProbeError("no response to %s over UDP from %s:%d" % (method, host, port))
                sock.settimeout(remaining)
                try:
                    raw, _ = sock.recvfrom(65536)
                except socket.timeout:
                    continue
                if not _same_call(raw, call_id):
                    continue
                resp = Response(raw)
                if resp.status >= 200:
                    return resp
        else:
            sock.settimeout(max(deadline - time.monotonic(), 0.01))
            try:
                sock.connect((host, port))
                sock.sendall(data)
            except OSError as exc:
                raise ProbeError("TCP %s:%d: %s" % (host, port, exc))
            rest = b""
            while True:
                raw, rest = _read_tcp_message(sock, rest, deadline)
                resp = Response(raw)
                if resp.status >= 200:
                    return resp
    except socket.timeout:
        raise ProbeError("no response to %s over %s from %s:%d" % (method, proto.upper(), host, port))
    finally:
        sock.close()


def options_ok(host, port, proto, timeout=0.3):
    """True when the server answers an OPTIONS to itself with 200 over *proto*."""
    try:
        return request(host, port, proto, "OPTIONS", timeout=timeout).status == 200
    except (ProbeError, OSError):
        return False


def parse_challenge(value):
    """The parameters of a ``Digest`` WWW-/Proxy-Authenticate value, as a dict."""
    scheme, _, rest = value.partition(" ")
    if scheme.lower() != "digest":
        raise ValueError("not a Digest challenge: %r" % value)
    params = {}
    for name, quoted, bare in re.findall(r'(\w+)\s*=\s*(?:"([^"]*)"|([^\s,]+))', rest):
        params[name.lower()] = quoted if quoted or not bare else bare
    return params


def digest_credentials(challenge, user, password, method, uri, nc=1, cnonce=None):
    """An Authorization value answering *challenge* (MD5, with qop=auth when offered)."""
    import hashlib

    def h(text):
        return hashlib.md5(text.encode("utf-8")).hexdigest()

    p = parse_challenge(challenge)
    ha1 = h("%s:%s:%s" % (user, p["realm"], password))
    ha2 = h("%s:%s" % (method, uri))
    fields = ['username="%s"' % user, 'realm="%s"' % p["realm"], 'nonce="%s"' % p["nonce"], 'uri="%s"' % uri]
    if "auth" in [q.strip() for q in p.get("qop", "").split(",")]:
        cnonce = cnonce or _token()
        ncv = "%08x" % nc
        digest = h(":".join([ha1, p["nonce"], ncv, cnonce, "auth", ha2]))
        fields += ['response="%s"' % digest, "qop=auth", "nc=%s" % ncv, 'cnonce="%s"' % cnonce]
    else:
        fields.append('response="%s"' % h(":".join([ha1, p["nonce"], ha2])))
    fields.append("algorithm=MD5")
    if "opaque" in p:
        fields.append('opaque="%s"' % p["opaque"])
    return "Digest " + ", ".join(fields)
