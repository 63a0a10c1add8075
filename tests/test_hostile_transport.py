# SPDX-License-Identifier: Apache-2.0
"""Hostile traffic against the transports and the pre-parse check of core/.

* TCP connection lifetime: requests the core answers by itself (BYE outside a dialog -> 481)
  pipelined in one segment, then an immediate close or reset, against an AddressSanitizer build
  of examples/c/uas: the answers hit a closed peer, the connection is closed while its input is
  being walked, and nothing may be read after it is freed;
* a half-closed client (shutdown(SHUT_WR) right after its request) still gets its answer;
* slowloris: a connection that starts a message and does not finish it in time is closed; an
  idle connection is closed after the idle timeout;
* bounds: connections per source address are refused beyond the limit; when the table is full,
  connections that never completed a message are evicted first, a working one stays;
* the linear pre-parse check: datagrams with too many headers, parameters or values, or that are
  not SIP at all, are dropped unanswered (and counted), and a valid OPTIONS sent right after is
  answered; OsipMessage.parse refuses the same messages and names the limit.

Every peer is on 127.0.0.1 on ports chosen at run time; every wait is bounded.
"""

import random
import re
import socket
import time

import pytest

from exosip2.context import Context
from exosip2.error import OsipSyntaxError
from exosip2.message import OsipMessage
from peers.sipp_fixtures import program_factory, uas_asan  # noqa: F401

# core-only option numbers (core/include/eXosip2/eX_core.h: EXOSIP_CORE_OPT_BASE + n)
OPT_BASE = 0x10000
OPT_MAX_TCP_CONNECTIONS = OPT_BASE + 1
OPT_MAX_TCP_CONNECTIONS_PER_SOURCE = OPT_BASE + 2
OPT_TCP_MESSAGE_TIMEOUT_MS = OPT_BASE + 3
OPT_TCP_IDLE_TIMEOUT_MS = OPT_BASE + 4

ASAN_ENV = {"ASAN_OPTIONS": "detect_leaks=1:halt_on_error=1:abort_on_error=0:exitcode=86",
            "LSAN_OPTIONS": "exitcode=87"}
WAIT = 5.0


def request(method, port, lport, transport="UDP", n=0, extra=b"", uri_params=b"", to_tag=True):
    """A complete request from 127.0.0.1:lport to the uas on port."""
    tag = b";tag=t%d" % n if to_tag else b""
    return (b"%s sip:uas@127.0.0.1:%d%s SIP/2.0\r\n"
            b"Via: SIP/2.0/%s 127.0.0.1:%d;branch=z9hG4bK-ht%d\r\n"
            b"Max-Forwards: 70\r\nFrom: <sip:probe@127.0.0.1>;tag=f%d\r\nTo: <sip:uas@127.0.0.1>%s\r\n"
            b"Call-ID: ht%d-%d@127.0.0.1\r\nCSeq: 7 %s\r\n%sContent-Length: 0\r\n\r\n"
            % (method, port, uri_params, transport.encode(), lport, n, n, tag, n, lport, method, extra))


def status_of(data):
    m = re.match(rb"SIP/2\.0 (\d{3}) ", data)
    return int(m.group(1)) if m else None


def udp_client():
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.1", 0))
    return s


def udp_answer(sock, branch, timeout=WAIT):
    """The first answer carrying *branch* (bytes) received within *timeout*, or None."""
    deadline = time.monotonic() + timeout
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            return None
        sock.settimeout(left)
        try:
            data = sock.recv(65536)
        except socket.timeout:
            return None
        if branch + b"\r\n" in data or branch + b";" in data:
            return data


def tcp_answers(sock, count, timeout=WAIT):
    """Read until *count* complete answers arrived (bounded); returns their status codes."""
    deadline = time.monotonic() + timeout
    buf = b""
    while buf.count(b"\r\n\r\n") < count:
        left = deadline - time.monotonic()
        if left <= 0:
            break
        sock.settimeout(left)
        try:
            chunk = sock.recv(65536)
        except socket.timeout:
            break
        if not chunk:
            break
        buf += chunk
    return [status_of(part) for part in re.split(rb"(?=SIP/2\.0 \d{3} )", buf) if part]


def closed_by_peer(sock, timeout):
    """True when the other side closes (EOF or reset) within *timeout* seconds."""
    deadline = time.monotonic() + timeout
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            return False
        sock.settimeout(left)
        try:
            if sock.recv(4096) == b"":
                return True
        except socket.timeout:
            return False
        except (ConnectionResetError, BrokenPipeError):
            return True


def start_uas(program_factory, path, transport):  # noqa: F811
    uas = program_factory(path, ["-a", "127.0.0.1", "-p", "0", "-t", transport, "-q"], env=ASAN_ENV)
    uas.start(timeout=30)
    return uas


def stop_clean(uas):
    """Stop the uas; it must exit 0 with no sanitizer report. Returns its dropped counter."""
    rc = uas.stop(check=False)
    assert "Sanitizer" not in uas.stderr, uas.describe()
    assert rc == 0, uas.describe()
    m = re.search(r"dropped=(\d+)", uas.stderr)
    assert m, uas.describe()
    return int(m.group(1))


# --- TCP connection lifetime (AddressSanitizer) --------------------------------------------------

def test_pipelined_byes_then_close_never_touches_a_freed_connection(uas_asan, program_factory):  # noqa: F811
    uas = start_uas(program_factory, uas_asan, "tcp")
    for r in range(40):
        s = socket.create_connection(("127.0.0.1", uas.port), timeout=WAIT)
        lport = s.getsockname()[1]
        s.sendall(b"".join(request(b"BYE", uas.port, lport, "TCP", n=r * 100 + i) for i in range(20)))
        if r % 2 == 0:
            # a reset: the first answer meets RST, the next send fails inside the receive path
            s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
        s.close()
    # the uas still serves a well-behaved client on a new connection
    with socket.create_connection(("127.0.0.1", uas.port), timeout=WAIT) as s:
        lport = s.getsockname()[1]
        s.sendall(request(b"BYE", uas.port, lport, "TCP", n=99999))
        assert tcp_answers(s, 1) == [481]
    stop_clean(uas)


def test_half_closed_client_still_gets_its_answers(uas_asan, program_factory):  # noqa: F811
    uas = start_uas(program_factory, uas_asan, "tcp")
    with socket.create_connection(("127.0.0.1", uas.port), timeout=WAIT) as s:
        lport = s.getsockname()[1]
        # one answered by the core itself, one answered by the program (OPTIONS -> 200)
        s.sendall(request(b"BYE", uas.port, lport, "TCP", n=1)
                  + request(b"OPTIONS", uas.port, lport, "TCP", n=2, to_tag=False))
        s.shutdown(socket.SHUT_WR)
        assert sorted(tcp_answers(s, 2)) == [200, 481]
    stop_clean(uas)


def test_a_connection_the_peer_closed_is_closed_once_its_answers_are_out(uas_asan, program_factory):  # noqa: F811
    """After the peer's EOF a connection is kept only while a request it carried waits for its
    final answer: once that is written we close our side too (it lingered for 64*T1 in
    CLOSE-WAIT, and each one held a slot of MAX_TCP_CONNECTIONS_PER_SOURCE)."""
    uas = start_uas(program_factory, uas_asan, "tcp")
    with socket.create_connection(("127.0.0.1", uas.port), timeout=WAIT) as s:
        lport = s.getsockname()[1]
        # the BYE is answered by the core at once, the OPTIONS by the program, after our EOF
        s.sendall(request(b"BYE", uas.port, lport, "TCP", n=1)
                  + request(b"OPTIONS", uas.port, lport, "TCP", n=2, to_tag=False))
        s.shutdown(socket.SHUT_WR)
        assert sorted(tcp_answers(s, 2)) == [200, 481]
        assert closed_by_peer(s, 3.0), "the half-closed connection was kept after its answers"
    with socket.create_connection(("127.0.0.1", uas.port), timeout=WAIT) as s:
        lport = s.getsockname()[1]
        s.sendall(request(b"OPTIONS", uas.port, lport, "TCP", n=3, to_tag=False))
        assert tcp_answers(s, 1) == [200]
        s.shutdown(socket.SHUT_WR)
        assert closed_by_peer(s, 3.0), "an answered connection was kept after the peer's EOF"
    stop_clean(uas)


def test_short_connections_beyond_the_per_source_limit_are_all_served(uas_asan, program_factory):  # noqa: F811
    """A client that opens a connection per request and closes it after the answer (a health
    check, a scanner, RFC 4475 replayed) is served every time, far beyond the 64 connections per
    source address: a connection the peer closed no longer holds a slot for 64*T1."""
    uas = start_uas(program_factory, uas_asan, "tcp")
    answered = []
    for n in range(200):
        with socket.create_connection(("127.0.0.1", uas.port), timeout=WAIT) as s:
            lport = s.getsockname()[1]
            method = b"OPTIONS" if n % 2 else b"BYE"
            s.sendall(request(method, uas.port, lport, "TCP", n=n, to_tag=method == b"BYE"))
            answered.append(tcp_answers(s, 1, timeout=WAIT))
            if n % 3 == 0:  # a reset now and then: nothing is pending, nothing may break
                s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
    assert answered == [[200] if n % 2 else [481] for n in range(200)], \
        [(n, a) for n, a in enumerate(answered) if a not in ([200], [481])][:5]
    stop_clean(uas)


@pytest.mark.parametrize("value", [b"", b" ", b"\t", b"+5", b"- 5", b"99999999999999999999999"])
def test_content_length_without_digits_is_read_within_its_line(uas_asan, program_factory, value):  # noqa: F811
    """A Content-Length with no digits on its line (the network fuzzer's find): the value was read
    with strtol, which skips line breaks as white space and ran on through the white space after
    the header block to the end of the receive buffer and past it. The value is read within its
    line now; the malformed one closes the stream."""
    uas = start_uas(program_factory, uas_asan, "tcp")
    with socket.create_connection(("127.0.0.1", uas.port), timeout=WAIT) as s:
        lport = s.getsockname()[1]
        head = request(b"OPTIONS", uas.port, lport, "TCP", n=1, to_tag=False)
        head = head.replace(b"Content-Length: 0\r\n", b"Content-Length:" + value + b"\r\n")
        try:
            s.sendall(head + b" " * 40000)
        except (ConnectionResetError, BrokenPipeError):
            pass
        assert closed_by_peer(s, WAIT)
    with socket.create_connection(("127.0.0.1", uas.port), timeout=WAIT) as s:
        lport = s.getsockname()[1]
        s.sendall(request(b"BYE", uas.port, lport, "TCP", n=2))
        assert tcp_answers(s, 1) == [481]
    stop_clean(uas)


# --- slowloris, idle connections, per-source bound, eviction (a Python context) -------------------

@pytest.fixture
def tcp_server():
    """``make(**limits)`` -> (context, port): a Context listening on TCP with the given core limits;
    the core answers an out-of-dialog BYE with 481 by itself, which the tests use as a probe."""
    made = []

    def make(**limits):
        ctx = Context()
        for opt, value in limits.items():
            ctx.set_option(globals()["OPT_" + opt.upper()], value)
        port = ctx.listen_on_address("127.0.0.1", socket.IPPROTO_TCP, port=0)
        ctx.start(event_executor="inline")
        made.append(ctx)
        return ctx, port

    yield make
    for ctx in made:
        ctx.close()


def bye_probe(s, port, n):
    """Send a BYE on connection *s*; the list of answer codes (481 when the connection works)."""
    s.sendall(request(b"BYE", port, s.getsockname()[1], "TCP", n=n))
    return tcp_answers(s, 1)


def test_slowloris_connection_is_closed_after_the_message_timeout(tcp_server):
    ctx, port = tcp_server(tcp_message_timeout_ms=400)
    msg = request(b"BYE", port, 1, "TCP", n=5)
    with socket.create_connection(("127.0.0.1", port), timeout=WAIT) as s:
        closed = False
        deadline = time.monotonic() + 10
        for b in msg[:-4]:  # one header byte every 20 ms, never the blank line
            try:
                s.send(bytes([b]))
            except (BrokenPipeError, ConnectionResetError):
                closed = True
                break
            if closed_by_peer(s, 0.02):
                closed = True
                break
            if time.monotonic() > deadline:
                break
        assert closed or closed_by_peer(s, WAIT), "the dripping connection was kept"
    # a prompt client on another connection is served
    with socket.create_connection(("127.0.0.1", port), timeout=WAIT) as s:
        assert bye_probe(s, port, 6) == [481]


def test_messages_dripped_a_byte_at_a_time_are_framed_correctly(tcp_server):
    """The header-end search resumes where it stopped: every split point, including inside the
    blank line and the body, still frames the messages right."""
    ctx, port = tcp_server()
    with socket.create_connection(("127.0.0.1", port), timeout=WAIT) as s:
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        lport = s.getsockname()[1]
        first = request(b"BYE", port, lport, "TCP", n=1).replace(
            b"Content-Length: 0\r\n\r\n", b"Content-Type: text/plain\r\nContent-Length: 5\r\n\r\nhello")
        data = b"\r\n" + first + request(b"BYE", port, lport, "TCP", n=2)
        for i in range(len(data)):
            s.send(data[i:i + 1])
            if i % 8 == 0:
                time.sleep(0.002)
        assert tcp_answers(s, 2) == [481, 481]


def test_idle_connection_is_closed_after_the_idle_timeout(tcp_server):
    ctx, port = tcp_server(tcp_idle_timeout_ms=1000)
    with socket.create_connection(("127.0.0.1", port), timeout=WAIT) as s:
        assert bye_probe(s, port, 1) == [481]
        assert closed_by_peer(s, 10.0)


def test_connections_per_source_are_refused_beyond_the_limit(tcp_server):
    ctx, port = tcp_server(max_tcp_connections_per_source=3)
    kept = [socket.create_connection(("127.0.0.1", port), timeout=WAIT) for _ in range(3)]
    try:
        assert bye_probe(kept[0], port, 1) == [481]
        extra = socket.create_connection(("127.0.0.1", port), timeout=WAIT)
        with extra:
            assert closed_by_peer(extra, WAIT), "a 4th connection from one address was accepted"
        # another source address is not affected
        other = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        with other:
            other.bind(("127.0.0.2", 0))
            other.settimeout(WAIT)
            other.connect(("127.0.0.1", port))
            assert bye_probe(other, port, 2) == [481]
        assert [bye_probe(s, port, 10 + i) for i, s in enumerate(kept)] == [[481]] * 3
    finally:
        for s in kept:
            s.close()


def test_full_table_evicts_connections_that_never_sent_a_message_first(tcp_server):
    ctx, port = tcp_server(max_tcp_connections=8)
    good = socket.create_connection(("127.0.0.1", port), timeout=WAIT)
    idle = []
    try:
        assert bye_probe(good, port, 1) == [481]
        for _ in range(20):  # opened after the good one, never send anything
            idle.append(socket.create_connection(("127.0.0.1", port), timeout=WAIT))
        assert bye_probe(good, port, 2) == [481], "a working connection was evicted"
        # the oldest idle ones made room for the newer ones
        assert closed_by_peer(idle[0], WAIT)
        assert bye_probe(idle[-1], port, 3) == [481]
    finally:
        good.close()
        for s in idle:
            s.close()


# --- the pre-parse check -----------------------------------------------------------------------

def hostile_datagrams(port, lport):
    """(name, datagram) pairs the check must drop; each names its own branch z9hG4bK-hx<i>."""
    base = request(b"OPTIONS", port, lport, n=0, to_tag=False)

    def mark(data, i):
        return data.replace(b"z9hG4bK-ht0", b"z9hG4bK-hx%d" % i, 1)

    via = b";p=1" * 15000
    out = [
        ("via with 15000 parameters", base.replace(b"branch=z9hG4bK-ht0", b"branch=z9hG4bK-ht0" + via, 1)),
        ("5000 header lines", base.replace(b"Content-Length", b"".join(b"X-H%d: v\r\n" % i for i in range(5000))
                                           + b"Content-Length", 1)),
        ("request-uri with 10000 parameters",
         base.replace(b"127.0.0.1:%d SIP/2.0" % port, b"127.0.0.1:%d" % port + b";u" * 10000 + b" SIP/2.0", 1)),
        ("to with 5000 values", base.replace(b"To: <sip:uas@127.0.0.1>", b"To: <sip:uas@127.0.0.1>" + b",<sip:b@c>" * 5000, 1)),
        ("folded via lines with 3000 parameters",
         base.replace(b"branch=z9hG4bK-ht0", b"branch=z9hG4bK-ht0" + b"\r\n ;q=1" * 3000, 1)),
        ("contact with commas outside quotes",
         base.replace(b"Max-Forwards", b"Contact: " + b'"a" <sip:a@b>,' * 200 + b"<sip:c@d>\r\nMax-Forwards", 1)),
        ("random bytes", bytes(random.Random(1).randrange(256) for _ in range(2000)) + b"z9hG4bK-ht0"),
        ("no SIP version", base.replace(b" SIP/2.0\r\n", b" HTTP/1.1\r\n", 1)),
        ("no request-uri", base.replace(b"OPTIONS sip:uas@127.0.0.1:%d SIP/2.0" % port, b"OPTIONS SIP/2.0", 1)),
        ("status line without a code", base.replace(b"OPTIONS sip:uas@127.0.0.1:%d SIP/2.0" % port, b"SIP/2.0 OK", 1)),
    ]
    return [(name, mark(data, i)) for i, (name, data) in enumerate(out)]


def test_hostile_datagrams_are_dropped_and_options_right_after_is_answered(uas_asan, program_factory):  # noqa: F811
    uas = start_uas(program_factory, uas_asan, "udp")
    sock = udp_client()
    lport = sock.getsockname()[1]
    try:
        cases = hostile_datagrams(uas.port, lport)
        for i, (name, data) in enumerate(cases):
            assert len(data) < 65000, name
            sock.sendto(data, ("127.0.0.1", uas.port))
            sock.sendto(request(b"OPTIONS", uas.port, lport, n=1000 + i, to_tag=False), ("127.0.0.1", uas.port))
            answer = udp_answer(sock, b"z9hG4bK-ht%d" % (1000 + i))
            assert answer is not None and status_of(answer) == 200, "no answer to OPTIONS after %s" % name
        # quoted commas and semicolons are not separators: this one is answered
        quoted = request(b"OPTIONS", uas.port, lport, n=2000, to_tag=False).replace(
            b"From: <sip:probe", b'From: "' + b",;" * 2000 + b'" <sip:probe', 1)
        sock.sendto(quoted, ("127.0.0.1", uas.port))
        answer = udp_answer(sock, b"z9hG4bK-ht2000")
        assert answer is not None and status_of(answer) == 200
        # nothing came back for any of the hostile ones
        sock.settimeout(0.2)
        late = []
        try:
            while True:
                late.append(sock.recv(65536))
        except socket.timeout:
            pass
        assert not [d for d in late if b"z9hG4bK-hx" in d]
    finally:
        sock.close()
    assert stop_clean(uas) >= len(cases)


def test_a_datagram_shorter_than_its_content_length_is_dropped(uas_asan, program_factory):  # noqa: F811
    """RFC 3261 18.3, measured from the first blank line (CRLF CRLF): a body that is short by one
    byte is never served, an exact one (also after a folded header line) is answered."""
    uas = start_uas(program_factory, uas_asan, "udp")
    sock = udp_client()
    lport = sock.getsockname()[1]

    def with_body(n, body, declared, extra=b""):
        return request(b"OPTIONS", uas.port, lport, n=n, to_tag=False, extra=extra).replace(
            b"Content-Length: 0\r\n\r\n", b"Content-Type: text/plain\r\nContent-Length: %d\r\n\r\n%s"
            % (declared, body), 1)

    try:
        cases = [
            (3000, with_body(3000, b"hello", 6), False),
            (3001, with_body(3001, b"hello", 5), True),
            (3002, with_body(3002, b"x" * 40, 40, extra=b"Subject: a\r\n b\r\n"), True),
        ]
        for n, data, answered in cases:
            sock.sendto(data, ("127.0.0.1", uas.port))
            answer = udp_answer(sock, b"z9hG4bK-ht%d" % n, timeout=WAIT if answered else 0.5)
            if answered:
                assert answer is not None and status_of(answer) == 200, n
            else:  # dropped here, or refused 400 when oSIP2 already refuses to parse it
                assert answer is None or status_of(answer) == 400, n
    finally:
        sock.close()
    assert stop_clean(uas) >= 1  # the short one


def test_over_tcp_a_message_over_the_limits_is_dropped_and_the_stream_goes_on(uas_asan, program_factory):  # noqa: F811
    uas = start_uas(program_factory, uas_asan, "tcp")
    with socket.create_connection(("127.0.0.1", uas.port), timeout=WAIT) as s:
        lport = s.getsockname()[1]
        bad = request(b"BYE", uas.port, lport, "TCP", n=1, extra=b"".join(b"X-H%d: v\r\n" % i for i in range(400)))
        s.sendall(bad + request(b"BYE", uas.port, lport, "TCP", n=2))
        assert tcp_answers(s, 1) == [481]
    assert stop_clean(uas) >= 1


@pytest.mark.parametrize("name,change,option", [
    ("via parameters", lambda m: m.replace(b"branch=z9hG4bK1", b"branch=z9hG4bK1" + b";p=1" * 15000), "MAX_PARAMS"),
    ("header lines", lambda m: m.replace(b"Content-Length", b"X-A: 1\r\n" * 5000 + b"Content-Length"), "MAX_HEADERS"),
    ("uri parameters", lambda m: m.replace(b"sip:a@127.0.0.1 ", b"sip:a@127.0.0.1" + b";u" * 10000 + b" "), "MAX_PARAMS"),
    ("header values", lambda m: m.replace(b"To: <sip:a@y>", b"To: <sip:a@y>" + b", <sip:c@d>" * 100), "MAX_HEADER_VALUES"),
])
def test_parse_refuses_what_the_receive_path_drops(name, change, option):
    ok = (b"OPTIONS sip:a@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 1.2.3.4;branch=z9hG4bK1\r\n"
          b"From: <sip:b@x>;tag=1\r\nTo: <sip:a@y>\r\nCall-ID: 1@x\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n")
    assert OsipMessage.parse(ok).call_id == "1@x"
    with pytest.raises(OsipSyntaxError, match="EXOSIP_CORE_OPT_" + option):
        OsipMessage.parse(change(ok))
    with pytest.raises(ValueError):
        OsipMessage.parse(change(ok))


def test_parse_refuses_non_sip_and_accepts_quoted_separators():
    for junk in (b"GET / HTTP/1.1\r\nHost: x\r\n\r\n", b"\x16\x03\x01\x02\x05\x01\x07\x01\xfc\x03\x03",
                 b"hello world"):
        with pytest.raises(OsipSyntaxError, match="not a SIP"):
            OsipMessage.parse(junk)
    msg = OsipMessage.parse(b'OPTIONS sip:a@b SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK2\r\n'
                            b'From: "' + b",;" * 1000 + b'" <sip:b@x>;tag=1\r\nTo: <sip:a@b>\r\n'
                            b"Call-ID: 2@x\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n")
    assert msg.call_id == "2@x"
    # the limits can be skipped for trusted input; the start line is still checked
    many = (b"OPTIONS sip:a@b SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK3\r\n" + b"X-A: 1\r\n" * 300
            + b"Content-Length: 0\r\n\r\n")
    assert len(OsipMessage.parse(many, check_limits=False).get_headers("X-A")) == 300
    with pytest.raises(OsipSyntaxError, match="not a SIP"):
        OsipMessage.parse(b"HELLO\r\n" + b"X-A: 1\r\n" * 300, check_limits=False)


def test_the_limits_scan_ends_quotes_escapes_and_lines_where_the_line_ends():
    """A quoted string, or a backslash escape inside one, never runs past the end of its line
    (CRLF, a bare LF or a bare CR): the separators of the next line count for that line's header;
    a header line without a line break at the end of the buffer is counted too."""
    head = (b"OPTIONS sip:a@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 1.2.3.4;branch=z9hG4bK1\r\n"
            b"To: <sip:a@y>\r\nCall-ID: 1@x\r\nCSeq: 1 OPTIONS\r\n")
    params = b";p" * 70  # over the default of 64
    for opener in (b'From: "open', b'From: "escape at the end\\', b'From: "a\\"b'):
        for eol in (b"\r\n", b"\n", b"\r"):
            with pytest.raises(OsipSyntaxError, match="header X-B has more than 64 parameters"):
                OsipMessage.parse(head + opener + eol + b"X-B: v" + params + b"\r\n\r\n")
    # the same separators inside a closed quoted string, escapes included, are not counted
    msg = OsipMessage.parse(head + b'From: "a\\"' + params + b'\\\\" <sip:b@x>;tag=1\r\nContent-Length: 0\r\n\r\n')
    assert msg.call_id == "1@x"
    # the last header line of a buffer that stops without a line break
    with pytest.raises(OsipSyntaxError, match="header X-B has more than 64 parameters"):
        OsipMessage.parse(head + b"X-B: v" + params)
    with pytest.raises(OsipSyntaxError, match="header X-C has more than 64 comma-separated values"):
        OsipMessage.parse(head + b"X-C: " + b"a," * 70)
    # a NUL in a header line, also after a bare CR ends the line before it
    for data in (head + b"X-D: a\x00b\r\n\r\n", head + b"X-D: a\rX-E: \x00\r\n\r\n"):
        with pytest.raises(OsipSyntaxError, match="NUL byte"):
            OsipMessage.parse(data)


# --- multipart bodies whose part repeats Content-Type (oSIP2 leaks the first one) -----------------

def multipart_invite(port, lport, n, parts, ctype=b"Content-Type: multipart/mixed;boundary=unique"):
    body = b"".join(b"--unique\r\n" + p for p in parts) + b"--unique--\r\n"
    return (b"INVITE sip:uas@127.0.0.1:%d SIP/2.0\r\n"
            b"Via: SIP/2.0/UDP 127.0.0.1:%d;branch=z9hG4bK-mp%d\r\n"
            b"Max-Forwards: 70\r\nFrom: <sip:probe@127.0.0.1>;tag=f%d\r\nTo: <sip:uas@127.0.0.1>\r\n"
            b"Call-ID: mp%d@127.0.0.1\r\nCSeq: 1 INVITE\r\nContact: <sip:probe@127.0.0.1:%d>\r\n"
            b"%s\r\nContent-Length: %d\r\n\r\n%s"
            % (port, lport, n, n, n, lport, ctype, len(body), body))


SDP_PART = (b"Content-Type: application/sdp\r\n\r\nv=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\n"
            b"c=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0\r\n")
TWICE = [
    # the fuzzer's shape: a part whose header lines carry two Content-Type lines
    b"Content-Type: application/sdp\r\nContent-Type: application/isup\r\n\r\nv=0\r\n",
    b"content-type: text/plain\r\nX-A: 1\r\nCONTENT-TYPE: text/html\r\n\r\nhi\r\n",
    b"Content-Type: a/b\r\n Content-Type: c/d\r\n\r\nfolded\r\n",
    b"Content-Typeless: a/b\r\nContent-Type: c/d\r\n\r\nprefix match, as oSIP2 compares names\r\n",
    # oSIP2 finds a boundary anywhere, not only at the start of a line
    b"Content-Type: a/b\r\n\r\nbody text--uniqueXContent-Type: c/d\r\nContent-Type: e/f\r\n\r\nx\r\n",
]


@pytest.mark.parametrize("check_limits", [True, False])
@pytest.mark.parametrize("index", range(len(TWICE)))
def test_parse_refuses_a_multipart_part_with_two_content_types(index, check_limits):
    """Refused with and without the limits: the leak is oSIP2's whatever the limits are."""
    data = multipart_invite(5060, 5061, index, [SDP_PART, TWICE[index]])
    with pytest.raises(OsipSyntaxError, match="names Content-Type more than once"):
        OsipMessage.parse(data, check_limits=check_limits)


@pytest.mark.parametrize("ctype", [
    b"c: multipart/mixed;boundary=unique",
    b"Content-Type: MULTIPART/related ; boundary = unique ; type=application/sdp",
    b"Content-Type: multipart/mixed",  # no boundary here: every run of lines is looked at
    b'Content-Type: multipart/mixed;boundary="unique"',
    b"Content-Type: multipart/mixed;xboundary=q;boundary=unique",  # a decoy that is no parameter
    b"Content-Type: multipart/mixed;boundary=zzz;boundary=unique",  # the parameter twice
    b"Content-Type: text/plain\r\nContent-Type: multipart/mixed;boundary=unique",  # the second names it
])
@pytest.mark.parametrize("check_limits", [True, False])
def test_the_multipart_check_reads_every_spelling_of_the_content_type(ctype, check_limits):
    data = multipart_invite(5060, 5061, 1, [SDP_PART, TWICE[0]], ctype=ctype)
    with pytest.raises(OsipSyntaxError, match="names Content-Type more than once"):
        OsipMessage.parse(data, check_limits=check_limits)


def test_multipart_bodies_with_one_content_type_per_part_still_parse():
    sipfrag = (b"Content-Type: message/sipfrag\r\n\r\nSIP/2.0 200 OK\r\n"
               b"Content-Type: application/sdp\r\n")  # Content-Type inside a part's body is fine
    for parts in ([SDP_PART], [SDP_PART, sipfrag, SDP_PART], [sipfrag, SDP_PART],
                  [b"X-A: 1\r\n\r\nno content type\r\n", SDP_PART]):
        for check_limits in (True, False):
            msg = OsipMessage.parse(multipart_invite(5060, 5061, 2, parts), check_limits=check_limits)
            assert msg.call_id == "mp2@127.0.0.1"
    # not multipart: a body that happens to hold Content-Type lines is the program's business
    plain = multipart_invite(5060, 5061, 3, [TWICE[0]], ctype=b"Content-Type: text/plain")
    assert OsipMessage.parse(plain).call_id == "mp3@127.0.0.1"


def test_multipart_part_with_two_content_types_is_answered_400_and_leaks_nothing(uas_asan, program_factory):  # noqa: F811
    """The libFuzzer find (fuzz/corpus/incoming/leak-content-type-multipart): oSIP2 overwrote a part's
    Content-Type with the second one without freeing the first, 70 bytes per message. The
    receive path refuses such a message before oSIP2 reads it, answers 400, and the uas under
    LeakSanitizer exits clean after a few hundred of them."""
    uas = start_uas(program_factory, uas_asan, "udp")
    sock = udp_client()
    lport = sock.getsockname()[1]
    try:
        for n in range(300):
            sock.sendto(multipart_invite(uas.port, lport, n, [SDP_PART, TWICE[n % len(TWICE)]]),
                        ("127.0.0.1", uas.port))
            if n % 50 == 0:
                answer = udp_answer(sock, b"z9hG4bK-mp%d" % n)
                assert answer is not None and status_of(answer) == 400, answer
        sock.sendto(request(b"OPTIONS", uas.port, lport, n=3000, to_tag=False), ("127.0.0.1", uas.port))
        answer = udp_answer(sock, b"z9hG4bK-ht3000")
        assert answer is not None and status_of(answer) == 200
    finally:
        sock.close()
    assert stop_clean(uas) >= 300
