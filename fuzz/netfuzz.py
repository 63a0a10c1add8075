#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""A network fuzzer for SIP user agents on loopback: mutated SIP over UDP and TCP.

    fuzz/netfuzz.py udp|tcp PORT [--seconds N] [--max N] [--seed N] [--rate N]

Messages start from the seed requests and responses of fuzz/make_corpus.py (every method, with
fresh Call-IDs, branches and tags so each one makes the target create state), addressed to the
target and with Via/Contact pointing back at the fuzzer's own socket. Each is then changed by one to
three mutations: byte flips, truncation, duplicated headers, duplicated parameters, huge values,
deleted headers, a wrong Content-Length, garbage lines, folded lines. Over TCP one connection carries
1-20 such messages pipelined in one or several writes, and is then closed abruptly (RST) or after a
short half-closed read. Every template is sent once unmutated first, so a run always carries the
known-dangerous inputs (a default answer to `sip:>@host`, BYEs outside any dialog pipelined and
closed at once).

Only 127.0.0.1 is ever addressed. Runs are bounded by time and by count; the same seed gives the
same sequence of messages.
"""

import argparse
import os
import random
import select
import socket
import struct
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import make_corpus  # noqa: E402

HOST = "127.0.0.1"
PLACEHOLDER_CALL_ID = b"a84b4c76e66710@pc33.example.com"
PLACEHOLDER_BRANCH = b"z9hG4bK776asdhds"
PLACEHOLDER_TAG = b"1928301774"


def templates():
    """The seed messages (requests first), as bytes with the corpus' placeholder addresses."""
    return list(make_corpus.REQUESTS.values()) + list(make_corpus.RESPONSES.values())


class Mutator:
    """Makes mutated SIP messages addressed to HOST:target_port, replies going to HOST:own_port."""

    def __init__(self, target_port, own_port, transport, seed=1):
        self.rng = random.Random(seed)
        self.target_port = target_port
        self.own_port = own_port
        self.transport = transport.upper().encode()
        self.templates = templates()
        self.unsent = list(self.templates)  # each template once, unmutated, first
        self.counter = 0

    def token(self, n=10):
        return "".join(self.rng.choice("0123456789abcdefghijklmnopqrstuvwxyz") for _ in range(n)).encode()

    def fill(self, msg):
        """Fresh identifiers and loopback addresses in one template."""
        self.counter += 1
        me = ("%s:%d" % (HOST, self.own_port)).encode()
        target = ("%s:%d" % (HOST, self.target_port)).encode()
        msg = msg.replace(b"192.0.2.1:5060", me).replace(b"192.0.2.1", me)
        msg = msg.replace(b"192.0.2.2", target).replace(b"192.0.2.3", target).replace(b"192.0.2.9", target)
        msg = msg.replace(b"p1.example.com", target).replace(b"p2.example.com", target)
        msg = msg.replace(b"SIP/2.0/UDP", b"SIP/2.0/" + self.transport)
        msg = msg.replace(b"SIP/2.0/TCP", b"SIP/2.0/" + self.transport)
        msg = msg.replace(PLACEHOLDER_CALL_ID, self.token(16) + b"@fuzz")
        msg = msg.replace(PLACEHOLDER_BRANCH, b"z9hG4bK" + self.token(12))
        msg = msg.replace(PLACEHOLDER_TAG, self.token(8))
        return msg

    # ---- mutations: each takes and returns bytes ----
    def flip(self, m):
        b = bytearray(m)
        for _ in range(self.rng.randint(1, 8)):
            if b:
                b[self.rng.randrange(len(b))] = self.rng.randrange(256)
        return bytes(b)

    def truncate(self, m):
        return m[:self.rng.randrange(1, max(2, len(m)))]

    def lines(self, m):
        head, sep, body = m.partition(b"\r\n\r\n")
        return head.split(b"\r\n"), sep, body

    def join(self, lines, sep, body):
        return b"\r\n".join(lines) + sep + body

    def dup_header(self, m):
        lines, sep, body = self.lines(m)
        if len(lines) < 2:
            return m
        i = self.rng.randrange(1, len(lines))
        n = self.rng.choice((2, 10, 100, 1000))
        return self.join(lines[:i] + [lines[i]] * n + lines[i + 1:], sep, body)

    def dup_param(self, m):
        lines, sep, body = self.lines(m)
        i = self.rng.randrange(len(lines))
        param = self.rng.choice((b";x=y", b";lr", b";rport", b";branch=z9hG4bK1", b";tag=a", b";maddr=127.0.0.1",
                                 b";transport=tcp", b";q=0.1", b";expires=1", b";received=127.0.0.1"))
        lines[i] = lines[i] + param * self.rng.choice((10, 300, 3000, 15000))
        return self.join(lines, sep, body)

    def huge_value(self, m):
        lines, sep, body = self.lines(m)
        if len(lines) < 2:
            return m
        i = self.rng.randrange(1, len(lines))
        name = lines[i].split(b":", 1)[0]
        size = self.rng.choice((300, 5000, 40000, 64000))
        filler = self.rng.choice((b"a", b"%", b"<", b"\"", b",", b" ", b"9", b"@"))
        lines[i] = name + b": " + filler * size
        return self.join(lines, sep, body)

    def delete_header(self, m):
        lines, sep, body = self.lines(m)
        if len(lines) < 2:
            return m
        del lines[self.rng.randrange(1, len(lines))]
        return self.join(lines, sep, body)

    def content_length(self, m):
        value = self.rng.choice((b"-1", b"0", b"1", b"99999", b"4294967296", b"18446744073709551617", b"abc", b""))
        lines, sep, body = self.lines(m)
        lines = [l for l in lines if not l.lower().startswith((b"content-length", b"l:"))]
        lines.append(b"Content-Length: " + value)
        return self.join(lines, sep, body)

    def garbage_line(self, m):
        lines, sep, body = self.lines(m)
        junk = bytes(self.rng.randrange(256) for _ in range(self.rng.randint(1, 60)))
        lines.insert(self.rng.randrange(len(lines) + 1), junk)
        return self.join(lines, sep, body)

    def fold(self, m):
        lines, sep, body = self.lines(m)
        i = self.rng.randrange(len(lines))
        lines[i] = lines[i].replace(b" ", b"\r\n ", 1)
        return self.join(lines, sep, body)

    def uri_user(self, m):
        lines, sep, body = self.lines(m)
        user = self.rng.choice((b">", b"<", b"\"", b",", b" ", b"%3E", b"a b", b"\x00", b"\xff", b"a" * 3000))
        first = lines[0].split(b" ")
        if len(first) == 3 and b"@" in first[1]:
            scheme, _, rest = first[1].partition(b":")
            first[1] = scheme + b":" + user + b"@" + rest.split(b"@", 1)[-1]
            lines[0] = b" ".join(first)
        return self.join(lines, sep, body)

    MUTATIONS = ("flip", "truncate", "dup_header", "dup_param", "huge_value", "delete_header",
                 "content_length", "garbage_line", "fold", "uri_user")

    def message(self):
        """The next message: an unsent template as it is, or a mutated one."""
        if self.unsent:
            return self.fill(self.unsent.pop(0))
        m = self.fill(self.rng.choice(self.templates))
        for _ in range(self.rng.randint(1, 3)):
            m = getattr(self, self.rng.choice(self.MUTATIONS))(m)
        return m[:65000] if self.transport == b"UDP" else m


OPTIONS = ("OPTIONS sip:{host}:{port} SIP/2.0\r\n"
           "Via: SIP/2.0/{proto} {host}:{me};branch=z9hG4bK{tag};rport\r\n"
           "Max-Forwards: 70\r\nTo: <sip:{host}:{port}>\r\nFrom: <sip:probe@{host}:{me}>;tag={tag}\r\n"
           "Call-ID: {tag}@probe\r\nCSeq: 1 OPTIONS\r\nContact: <sip:probe@{host}:{me}>\r\n"
           "Content-Length: 0\r\n\r\n")


def options_answered(port, transport, timeout=5.0):
    """Send one valid OPTIONS; return the status line of the answer, or None after *timeout*."""
    tag = "%x" % int(time.monotonic() * 1e6)
    kind = socket.SOCK_DGRAM if transport == "udp" else socket.SOCK_STREAM
    deadline = time.monotonic() + timeout
    with socket.socket(socket.AF_INET, kind) as sock:
        sock.bind((HOST, 0))
        sock.settimeout(timeout)
        me = sock.getsockname()[1]
        msg = OPTIONS.format(host=HOST, port=port, me=me, tag=tag, proto=transport.upper()).encode()
        try:
            if transport == "udp":
                sock.sendto(msg, (HOST, port))
            else:
                sock.connect((HOST, port))
                sock.sendall(msg)
            data = b""
            while time.monotonic() < deadline:
                sock.settimeout(max(0.05, deadline - time.monotonic()))
                chunk = sock.recv(65536)
                if not chunk:
                    break
                data += chunk
                for line in data.split(b"\r\n"):
                    if line.startswith(b"SIP/2.0 ") and line[8:9] != b"1":
                        return line.decode(errors="replace")
        except OSError:
            return None
    return None


def run_udp(target_port, seconds, max_messages, seed=1, rate=0, alive=None):
    """Send mutated datagrams to HOST:target_port; returns a dict of counts.

    *alive*, when given, is called every 256 messages; the run stops early when it returns false
    and the result then says after how many messages (``target_died_after``)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind((HOST, 0))
    sock.setblocking(False)
    mut = Mutator(target_port, sock.getsockname()[1], "udp", seed)
    sent = answers = 0
    start = time.monotonic()
    deadline = start + seconds
    died = None
    while sent < max_messages and time.monotonic() < deadline:
        if alive is not None and sent % 256 == 0 and not alive():
            died = sent
            break
        try:
            sock.sendto(mut.message(), (HOST, target_port))
            sent += 1
        except OSError:
            pass  # EMSGSIZE, ENOBUFS, ECONNREFUSED from an earlier ICMP: keep going
        while True:
            try:
                sock.recv(65536)
                answers += 1
            except OSError:
                break
        if rate > 0:
            ahead = sent / rate - (time.monotonic() - start)
            if ahead > 0:
                time.sleep(ahead)
    sock.close()
    return {"transport": "udp", "messages": sent, "answers": answers, "target_died_after": died,
            "seconds": round(time.monotonic() - start, 1)}


def _abort(sock):
    """Close with RST (SO_LINGER 0): an abrupt end, as a crashing client's."""
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    except OSError:
        pass
    sock.close()


def run_tcp(target_port, seconds, max_messages, seed=1, rate=0, alive=None):
    """Pipelined mutated messages over short TCP connections; returns a dict of counts.

    *alive* as for :func:`run_udp`, called before each connection."""
    rng = random.Random(seed + 1)
    sent = conns = refused = answered_bytes = 0
    start = time.monotonic()
    deadline = start + seconds
    own_port = 0
    mut = None
    died = None
    while sent < max_messages and time.monotonic() < deadline:
        if alive is not None and not alive():
            died = sent
            break
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.settimeout(2.0)
        try:
            sock.bind((HOST, 0))
            own_port = sock.getsockname()[1]
            if mut is None:
                mut = Mutator(target_port, own_port, "tcp", seed)
            mut.own_port = own_port
            sock.connect((HOST, target_port))
        except OSError:
            refused += 1
            sock.close()
            time.sleep(0.05)
            continue
        conns += 1
        batch = [mut.message() for _ in range(rng.choice((1, 1, 2, 5, 20)))]
        if conns <= 1:
            # the pattern of the known use-after-free: BYEs outside any dialog, pipelined, closed at once
            batch = [mut.fill(make_corpus.request(
                b"BYE", to_tag=b"t%d" % i, branch=b"z9hG4bKpb%d" % i,
                call_id=b"pb%d@fuzz" % i, via_proto=b"TCP")) for i in range(20)]
        data = b"".join(batch)
        try:
            if rng.random() < 0.3 and len(data) > 10:
                cut = rng.randrange(1, len(data))
                sock.sendall(data[:cut])
                sock.sendall(data[cut:])
            else:
                sock.sendall(data)
            sent += len(batch)
            if rng.random() < 0.5:
                _abort(sock)
            else:
                sock.shutdown(socket.SHUT_WR)
                end = time.monotonic() + 0.05
                while time.monotonic() < end:
                    r, _, _ = select.select([sock], [], [], max(0.0, end - time.monotonic()))
                    if not r:
                        break
                    chunk = sock.recv(65536)
                    if not chunk:
                        break
                    answered_bytes += len(chunk)
                _abort(sock)
        except OSError:
            sent += len(batch)
            sock.close()
        if rate > 0:
            ahead = sent / rate - (time.monotonic() - start)
            if ahead > 0:
                time.sleep(ahead)
    return {"transport": "tcp", "messages": sent, "connections": conns, "refused": refused, "target_died_after": died,
            "answer_bytes": answered_bytes, "seconds": round(time.monotonic() - start, 1)}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("transport", choices=("udp", "tcp"))
    ap.add_argument("port", type=int, help="the target's port on 127.0.0.1")
    ap.add_argument("--seconds", type=float, default=30)
    ap.add_argument("--max", type=int, default=100000, help="at most this many messages")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--rate", type=int, default=0, help="messages per second (0: as fast as possible)")
    args = ap.parse_args(argv)
    run = run_udp if args.transport == "udp" else run_tcp
    print(run(args.port, args.seconds, args.max, args.seed, args.rate))
    return 0


if __name__ == "__main__":
    sys.exit(main())
