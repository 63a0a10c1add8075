# SPDX-License-Identifier: Apache-2.0
"""What a hostile or broken peer must not be able to do to our side of a conversation.

- tokens (Call-ID, tags, Via branches, cnonces) are unpredictable and never repeat across fork();
- a registrar or proxy cannot make us send requests without bound (423, 401/407, stale nonces,
  redirect loops, 422): every automatic retry of one request or registration spends one budget;
- digest challenges with very long values or with qop=auth-int only are answered correctly or
  reported as failures, never answered wrongly;
- peer text copied into the headers of our default answers (the Request-URI user in the Contact)
  never makes an answer unparseable.

Every peer is a raw socket on 127.0.0.1 (or a program of the project) on a port chosen at run time;
every wait is bounded and everything started here is stopped here.
"""

import hashlib
import os
import re
import socket
import subprocess
import sys
import threading
import time
import uuid

import pytest

from peers.sipp_fixtures import c_examples, program_factory  # noqa: F401 (fixtures)

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
LIB_DIR = os.path.join(ROOT, "exosip2")

from test_core_register import _compile as compile_c_test  # noqa: E402  tests/core/NAME.c against core/


# --- tokens ---------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def fork_tokens(tmp_path_factory):
    return compile_c_test(tmp_path_factory, "fork_tokens")


TOKEN = re.compile(r"^[0-9a-z]+$")


def _token_lines(exe, children):
    res = subprocess.run([exe, str(children)], capture_output=True, text=True, timeout=60)
    assert res.returncode == 0, "%s\n%s" % (res.stdout, res.stderr)
    rows = {}
    for line in res.stdout.splitlines():
        who, *pairs = line.split()
        rows[who] = dict(p.split("=", 1) for p in pairs)
    assert set(rows) == {"parent"} | {"child%d" % i for i in range(children)}, res.stdout
    return rows


def test_tokens_have_at_least_64_random_bits(fork_tokens):
    """Each token is drawn from 36 symbols: 13 characters carry 67 bits."""
    rows = _token_lines(fork_tokens, 1)
    for who, row in rows.items():
        for key in ("callid", "invite_callid", "tag", "invite_tag"):
            assert TOKEN.match(row[key]) and len(row[key]) >= 13, (who, key, row[key])
        for key in ("branch", "invite_branch"):
            assert row[key].startswith("z9hG4bK"), (who, key, row[key])
            rest = row[key][len("z9hG4bK"):]
            assert TOKEN.match(rest) and len(rest) >= 13, (who, key, row[key])


def test_parent_and_children_of_one_context_never_share_a_token(fork_tokens):
    children = 4
    rows = _token_lines(fork_tokens, children)
    values = [v for row in rows.values() for v in row.values()]
    assert len(values) == 6 * (children + 1)
    assert len(set(values)) == len(values), rows
    # and across runs: nothing carried over from one process to the next
    again = _token_lines(fork_tokens, 1)
    assert not set(values) & {v for row in again.values() for v in row.values()}


@pytest.fixture(scope="module")
def fork_send(tmp_path_factory):
    return compile_c_test(tmp_path_factory, "fork_send")


def _param(text, name):
    m = re.search(r'[;,\s]%s="?([^";,\s]+)' % name, text)
    return m.group(1) if m else None


def test_parent_and_children_send_tokens_of_their_own(fork_send, scripted):
    """The parent and its forked children send a MESSAGE each on the context made before the fork;
    what reaches the peer (Call-ID, From tag, both Via branches, cnonce) never repeats."""
    children = 3

    def script(n, text):
        if _header(text, "authorization") is None:
            return "401 Unauthorized", ['WWW-Authenticate: Digest realm="fork", nonce="f%d", qop="auth"' % n]
        return "200 OK", []

    peer = scripted("MESSAGE", script)
    res = subprocess.run([fork_send, str(peer.port), str(children)], capture_output=True, text=True, timeout=60)
    assert res.returncode == 0, (res.stdout, res.stderr)
    who = sorted(line.split()[0] for line in res.stdout.splitlines())
    assert who == sorted(["parent"] + ["child%d" % i for i in range(children)]), res.stdout
    by_sender = {}
    for _, text in peer.requests:  # a retransmission repeats a request whole: kept once
        body = _body_of(text).decode()
        auth = _header(text, "authorization")
        entry = by_sender.setdefault(body, {"callid": set(), "tag": set(), "branch": set(), "cnonce": set()})
        entry["callid"].add(_header(text, "call-id", "i"))
        entry["tag"].add(_param(_header(text, "from", "f"), "tag"))
        entry["branch"].add(_param(_header(text, "via", "v"), "branch"))
        if auth is not None:
            entry["cnonce"].add(_param(auth, "cnonce"))
    assert sorted(by_sender) == who, sorted(by_sender)
    for key, per in (("callid", 1), ("tag", 1), ("branch", 2), ("cnonce", 1)):
        values = [v for entry in by_sender.values() for v in entry[key]]
        assert all(len(entry[key]) == per for entry in by_sender.values()), (key, by_sender)
        assert len(set(values)) == len(values) == per * (children + 1), (key, by_sender)
        assert all(v and len(v) >= 13 for v in values), (key, values)


# --- a raw SIP client on 127.0.0.1 -----------------------------------------------------------------


def _headers(text):
    head = text.split("\r\n\r\n", 1)[0].split("\r\n")
    out = []
    for line in head[1:]:
        name, _, value = line.partition(":")
        out.append((name.strip().lower(), value.strip()))
    return out


def _header(text, *names):
    for name, value in _headers(text):
        if name in names:
            return value
    return None


class RawClient:
    """Requests written by hand over UDP or TCP from 127.0.0.1; answers read with a bounded wait."""

    def __init__(self, transport, port):
        self.transport = transport
        self.port = port
        kind = socket.SOCK_DGRAM if transport == "udp" else socket.SOCK_STREAM
        self.sock = socket.socket(socket.AF_INET, kind)
        self.sock.bind(("127.0.0.1", 0))
        if transport == "tcp":
            self.sock.settimeout(5)
            self.sock.connect(("127.0.0.1", port))
        self.local_port = self.sock.getsockname()[1]
        self.buf = b""

    def close(self):
        self.sock.close()

    def request(self, method, ruri, body="", extra=(), call_id=None, cseq=1, to_tag=None):
        call_id = call_id or uuid.uuid4().hex
        branch = "z9hG4bK" + uuid.uuid4().hex
        proto = self.transport.upper()
        lines = ["%s %s SIP/2.0" % (method, ruri),
                 "Via: SIP/2.0/%s 127.0.0.1:%d;branch=%s;rport" % (proto, self.local_port, branch),
                 "Max-Forwards: 70",
                 "From: <sip:mallory@127.0.0.1:%d>;tag=m%s" % (self.local_port, call_id[:8]),
                 "To: <sip:bob@127.0.0.1:%d>%s" % (self.port, ";tag=" + to_tag if to_tag else ""),
                 "Call-ID: %s" % call_id,
                 "CSeq: %d %s" % (cseq, method),
                 "Contact: <sip:mallory@127.0.0.1:%d;transport=%s>" % (self.local_port, self.transport)]
        given = {h.split(":", 1)[0].strip().lower() for h in extra}
        lines = [lines[0]] + [h for h in lines[1:] if h.split(":", 1)[0].lower() not in given]
        if method == "SUBSCRIBE":
            lines += ["Event: presence", "Expires: 60"]
        if body:
            lines.append("Content-Type: application/sdp")
        lines += list(extra) + ["Content-Length: %d" % len(body.encode()), "", body]
        data = "\r\n".join(lines).encode()
        if self.transport == "udp":
            self.sock.sendto(data, ("127.0.0.1", self.port))
        else:
            self.sock.sendall(data)
        return call_id

    def _next_message(self, deadline):
        while True:
            if self.transport == "udp":
                left = deadline - time.time()
                if left <= 0:
                    return None
                self.sock.settimeout(left)
                try:
                    data, _ = self.sock.recvfrom(65535)
                except socket.timeout:
                    return None
                return data.decode("utf-8", "replace")
            end = self.buf.find(b"\r\n\r\n")
            if end >= 0:
                head = self.buf[:end].decode("utf-8", "replace")
                m = re.search(r"(?im)^(?:content-length|l)\s*:\s*(\d+)", head)
                total = end + 4 + (int(m.group(1)) if m else 0)
                if len(self.buf) >= total:
                    msg, self.buf = self.buf[:total], self.buf[total:]
                    return msg.decode("utf-8", "replace")
            left = deadline - time.time()
            if left <= 0:
                return None
            self.sock.settimeout(left)
            try:
                chunk = self.sock.recv(65535)
            except socket.timeout:
                return None
            if not chunk:
                return None
            self.buf += chunk

    def final(self, call_id, timeout=5.0):
        """The first final answer (or request, e.g. a NOTIFY, is skipped) for call_id, or None."""
        deadline = time.time() + timeout
        while True:
            msg = self._next_message(deadline)
            if msg is None:
                return None
            if not msg.startswith("SIP/2.0 ") or _header(msg, "call-id", "i") != call_id:
                continue
            if int(msg.split()[1]) >= 200:
                return msg


# --- peer text in the Contact of our answers ------------------------------------------------------

HOSTILE_USERS = [">", "<", '"', ",", " ", "a b", "%3E", "%3C", "%22", "%2C", "%20", "a%20b", "%25", "%0D%0AX-Injected:%201",
                 "%00", "a" * 300, "%3E" * 100, "%22%3E%2C"]


# Peer text in the headers an answer copies (From, To, Record-Route) and in the Contact of a request.
HOSTILE_HEADERS = [
    ['From: "a\\"b,c<>" <sip:%3E@127.0.0.1>;tag=x1'],
    ["To: <sip:%0D%0A%3E@127.0.0.1>"],
    ['To: "x\\"<>,;" <sip:bob@127.0.0.1>'],
    ['Contact: <sip:%3E%0D%0A@127.0.0.1;x="a,b">'],
    ["Record-Route: <sip:%3E@127.0.0.1;lr>"],
]


def _contact_parses(answer):
    from exosip2.message import OsipMessage
    msg = OsipMessage.parse(answer.encode())
    contacts = msg.contacts
    assert len(contacts) <= 1, contacts
    return contacts


def _normal_call(client, port):
    """An INVITE answered 200, ACKed and ended by BYE (answered 200)."""
    sdp = ("v=0\r\no=m 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
           "m=audio 40002 RTP/AVP 0\r\n")
    cid = client.request("INVITE", "sip:bob@127.0.0.1:%d" % port, body=sdp)
    ok = client.final(cid, timeout=10)
    assert ok is not None and ok.startswith("SIP/2.0 200"), ok
    to_tag = re.search(r";tag=([^;>\s]+)", _header(ok, "to", "t")).group(1)
    client.request("ACK", "sip:bob@127.0.0.1:%d" % port, call_id=cid, to_tag=to_tag)
    client.request("BYE", "sip:bob@127.0.0.1:%d" % port, call_id=cid, cseq=2, to_tag=to_tag)
    bye = client.final(cid, timeout=10)
    assert bye is not None and bye.startswith("SIP/2.0 200"), bye


def _answers_every_hostile_request(uas, transport):
    """Send every hostile request to *uas* (a started Program), then a normal call."""
    client = RawClient(transport, uas.port)
    try:
        cases = [(user, ()) for user in HOSTILE_USERS] + [("bob", extra) for extra in HOSTILE_HEADERS]
        for user, extra in cases:
            for method in ("OPTIONS", "MESSAGE", "SUBSCRIBE", "INVITE"):
                ruri = "sip:%s@127.0.0.1:%d" % (user, uas.port)
                cid = client.request(method, ruri, extra=extra)
                answer = client.final(cid)
                assert answer is not None, "no answer to %s %s %s\n%s" % (method, ruri, extra, uas.describe())
                status = int(answer.split()[1])
                assert status < 500, (method, ruri, extra, answer)
                contacts = _contact_parses(answer)
                assert "\r\nX-Injected" not in answer, answer
                if method == "INVITE" and status == 200:
                    assert contacts, answer
                    to_tag = re.search(r";tag=([^;>\s]+)", _header(answer, "to", "t")).group(1)
                    in_dialog = [h for h in extra if not h.lower().startswith(("to:", "record-route:"))]
                    client.request("ACK", ruri, call_id=cid, to_tag=to_tag, extra=in_dialog)
                    client.request("BYE", ruri, call_id=cid, cseq=2, to_tag=to_tag, extra=in_dialog)
                    bye = client.final(cid)
                    assert bye is not None and bye.startswith("SIP/2.0 200"), bye
        _normal_call(client, uas.port)
    finally:
        client.close()
    assert uas.proc.poll() is None, uas.describe()


@pytest.mark.parametrize("transport", ["udp", "tcp"])
@pytest.mark.parametrize("dispatch", ["inline", "executor", "asyncio"])
def test_python_uas_answers_hostile_request_uri_users(dispatch, transport, program_factory):  # noqa: F811
    uas = program_factory(os.path.join(ROOT, "examples", "python", "uas.py"),
                          ["-a", "127.0.0.1", "-p", "0", "-t", transport, "--dispatch", dispatch],
                          wrapper=[sys.executable], name="uas", env={"PYTHONPATH": ROOT})
    uas.prefix = "uas"
    uas.start(timeout=20)
    _answers_every_hostile_request(uas, transport)
    assert uas.stop() == 0, uas.describe()
    assert "Traceback" not in uas.stderr and "failed" not in uas.stderr, uas.describe()


@pytest.mark.parametrize("transport", ["udp", "tcp"])
def test_c_uas_answers_hostile_request_uri_users(transport, program_factory, c_examples):  # noqa: F811
    uas = program_factory(c_examples["uas"], ["-q", "-a", "127.0.0.1", "-p", "0", "-t", transport], name="uas")
    uas.prefix = "uas"
    uas.start(timeout=20)
    _answers_every_hostile_request(uas, transport)
    assert uas.stop() == 0, uas.describe()


# --- retry storms: every automatic retry of one request or registration spends one budget ---------


# ctx->limits.max_automatic_retries by default (EXOSIP_CORE_OPT_MAX_AUTOMATIC_RETRIES)
MAX_RETRIES = 5
# a REGISTER is re-sent at most three times, as by eXosip2 5.3 (core/src/register.c)
REGISTER_RETRIES = min(MAX_RETRIES, 3)


def _backoff_s(k):
    """The least wait before the k-th automatic re-send (retry.c, ex_retry_backoff_us)."""
    return 0.0 if k <= 1 else min(0.25 * 2 ** (k - 2), 8.0)


class ScriptedPeer:
    """A UDP SIP peer on 127.0.0.1 answering the n-th request of *method* with ``script(n, text)``
    (a status line and extra header lines). ACKs are read and dropped. Stopped at teardown."""

    def __init__(self, method, script):
        self.method = method
        self.script = script
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.settimeout(0.1)
        self.port = self.sock.getsockname()[1]
        self.requests = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self):
        while not self._stop.is_set():
            try:
                data, peer = self.sock.recvfrom(65535)
            except OSError:
                continue
            text = data.decode("utf-8", "replace")
            if not text.startswith(self.method + " "):
                continue
            self.requests.append((time.time(), text))
            status, extra = self.script(len(self.requests), text)
            lines = ["SIP/2.0 %s" % status]
            for name, value in _headers(text):
                if name in ("via", "v", "from", "f", "call-id", "i", "cseq"):
                    lines.append("%s: %s" % (name, value))
                elif name in ("to", "t"):
                    lines.append("To: %s%s" % (value, "" if ";tag=" in value else ";tag=scripted"))
            lines += list(extra) + ["Content-Length: 0", "", ""]
            self.sock.sendto("\r\n".join(lines).encode(), peer)

    def quiet_for(self, seconds, bound):
        """Wait (at most *bound* s) for a first request, then until none has come for *seconds*;
        True if so."""
        end = time.time() + bound
        while time.time() < end:
            if self.requests and time.time() - self.requests[-1][0] >= seconds:
                return True
            time.sleep(0.1)
        return False

    def close(self):
        self._stop.set()
        self._thread.join(timeout=5)
        self.sock.close()


@pytest.fixture
def scripted():
    made = []

    def make(method, script):
        peer = ScriptedPeer(method, script)
        made.append(peer)
        return peer

    yield make
    for peer in made:
        peer.close()


def _expires(text):
    m = re.search(r"(?im)^expires:\s*(\d+)", text)
    return int(m.group(1)) if m else None


# Each hostile mode: (script, the status of the final failure, the most REGISTERs it may get).
REGISTRAR_MODES = {
    "423_growing": (lambda n, text: ("423 Interval Too Brief", ["Min-Expires: %d" % (_expires(text) + 60)]),
                    423, 1 + REGISTER_RETRIES),
    "423_huge": (lambda n, text: ("423 Interval Too Brief", ["Min-Expires: 4000000000"]), 423, 1),
    "423_above_ceiling": (lambda n, text: ("423 Interval Too Brief", ["Min-Expires: 86401"]), 423, 1),
    "401_fresh_nonce": (lambda n, text: ("401 Unauthorized",
                                         ['WWW-Authenticate: Digest realm="r", nonce="fresh%d"' % n]), 401, 2),
    "401_stale": (lambda n, text: ("401 Unauthorized",
                                   ['WWW-Authenticate: Digest realm="r", nonce="s%d", stale=true' % n]),
                  401, 1 + REGISTER_RETRIES),
    "407_forever": (lambda n, text: ("407 Proxy Authentication Required",
                                     ['Proxy-Authenticate: Digest realm="p", nonce="p%d", qop="auth"' % n]),
                    407, 2),
    "302_loop": (lambda n, text: ("302 Moved Temporarily", ["Contact: <sip:127.0.0.1:%d;n=%d>" % (9, n)]),
                 302, 1),
    # the kinds of retry taking turns: they spend one budget, not one each (so the answer that
    # ends it is the one to the last request allowed: 401, 423, 407, then 401 again)
    "mixed": (lambda n, text: [("401 Unauthorized", ['WWW-Authenticate: Digest realm="r", nonce="m%d", stale=true'
                                                     % n]),
                               ("423 Interval Too Brief", ["Min-Expires: %d" % (_expires(text) + 60)]),
                               ("407 Proxy Authentication Required",
                                ['Proxy-Authenticate: Digest realm="p", nonce="q%d", stale=true' % n])][(n - 1) % 3],
              (401, 423, 407)[REGISTER_RETRIES % 3], 1 + REGISTER_RETRIES),
}


@pytest.fixture(scope="module")
def register_example():
    examples = os.path.join(ROOT, "examples", "c")
    subprocess.run(["make", "-s", "-C", examples, "register"], check=True, timeout=300,
                   stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL)
    return os.path.join(examples, "register")


@pytest.mark.parametrize("mode", sorted(REGISTRAR_MODES))
def test_register_example_against_a_hostile_registrar_is_bounded(mode, scripted, register_example):
    script, status, most = REGISTRAR_MODES[mode]
    reg = scripted("REGISTER", script)
    proc = subprocess.Popen([register_example, "-a", "127.0.0.1", "-p", "0", "-e", "60", "-w", "pw",
                             "sip:alice@127.0.0.1:%d" % reg.port], stdin=subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        out, err = proc.communicate(timeout=40)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate(timeout=10)
    assert proc.returncode == 1, (out, err)
    assert out.strip().splitlines()[-1] == "register: failure status=%d" % status, out
    assert 1 <= len(reg.requests) <= most, (mode, len(reg.requests))
    if mode in ("423_growing", "401_stale", "mixed"):
        assert len(reg.requests) >= 3, len(reg.requests)  # the legitimate retries still happen
        # backing off: the k-th re-send is not sent before 0, 0.25, 0.5, 1, 2 s after the refusal it
        # answers (a lower bound the core enforces; a loaded machine only makes the span longer)
        span = reg.requests[-1][0] - reg.requests[0][0]
        least = sum(_backoff_s(k) for k in range(1, len(reg.requests)))
        assert span >= 0.9 * least, (span, least)
    if mode == "423_growing":
        asked = [_expires(t) for _, t in reg.requests]
        assert asked[:3] == [60, 120, 180], asked


def _alice_recording(ident=None):
    """A context with alice's credentials, running inline, recording every event as (type, status),
    or (type, ident(event), status) when ident is given: (ctx, events, cond), cond notified at each
    event. The caller closes ctx."""
    from exosip2.context import Context
    events = []
    cond = threading.Condition()

    def on_event(ctx, ev):
        status = ev.response.status_code if ev.response is not None else None
        with cond:
            events.append((ev.type, status) if ident is None else (ev.type, ident(ev), status))
            cond.notify_all()

    ctx = Context(event_callback=on_event)
    try:
        ctx.listen_on_address("127.0.0.1", port=0)
        ctx.add_authentication_info("alice", "alice", "pw", None)
        ctx.start(event_executor="inline")
    except BaseException:
        ctx.close()
        raise
    return ctx, events, cond


@pytest.mark.parametrize("mode", sorted(REGISTRAR_MODES))
def test_binding_registration_against_a_hostile_registrar_is_bounded(mode, scripted):
    from exosip2 import register
    from exosip2.event import EventType

    script, status, most = REGISTRAR_MODES[mode]
    reg = scripted("REGISTER", script)
    ctx, events, cond = _alice_recording(lambda ev: ev.rid)
    try:
        msg = register.InitialRegister(ctx, "sip:alice@127.0.0.1", "sip:127.0.0.1:%d" % reg.port, expires=60)
        rid = msg.rid
        msg.send()
        # the context keeps running its automatic actions: the requests must stop by themselves
        assert reg.quiet_for(3.0, bound=30), len(reg.requests)
        count = len(reg.requests)
        assert 1 <= count <= most, (mode, count)
        with cond:
            assert cond.wait_for(lambda: len([e for e in events if e[1] == rid]) >= count, 5), events
            mine = [e for e in events if e[1] == rid]
        assert all(t == EventType.registration_failure for t, _, _ in mine), mine
        assert mine[-1][2] == status, mine
        assert len(mine) == count, mine  # one failure event per refusal, the last one final
    finally:
        ctx.close()


def _min_se(text):
    m = re.search(r"(?im)^(?:session-expires|x)\s*:\s*(\d+)", text)
    return int(m.group(1)) if m else 90


# Hostile answers to an INVITE: (script, the status of the last answer, the most INVITEs it may get).
PROXY_MODES = {
    "407_forever": (lambda n, text: ("407 Proxy Authentication Required",
                                     ['Proxy-Authenticate: Digest realm="p", nonce="p%d"' % n]), 407, 2),
    "407_stale": (lambda n, text: ("407 Proxy Authentication Required",
                                   ['Proxy-Authenticate: Digest realm="p", nonce="p%d", stale=true' % n]),
                  407, 1 + MAX_RETRIES),
    "302_loop": (lambda n, text: ("302 Moved Temporarily",
                                  ["Contact: <sip:bob%d@127.0.0.1:%s>" % (n % 2, re.search(
                                      r"^INVITE sip:[^@]*@127\.0\.0\.1:(\d+)", text).group(1))]),
                 302, 1 + MAX_RETRIES),
    "422_growing": (lambda n, text: ("422 Session Interval Too Small", ["Min-SE: %d" % (_min_se(text) + 60)]),
                    422, 1 + MAX_RETRIES),
    # the kinds of retry taking turns: they spend one budget, not one each
    "mixed": (lambda n, text: [("407 Proxy Authentication Required",
                                ['Proxy-Authenticate: Digest realm="p", nonce="x%d", stale=true' % n]),
                               ("302 Moved Temporarily", ["Contact: <sip:bob%d@127.0.0.1:%s>" % (n, re.search(
                                   r"^INVITE sip:[^@]*@127\.0\.0\.1:(\d+)", text).group(1))]),
                               ("422 Session Interval Too Small", ["Min-SE: %d" % (_min_se(text) + 60)])][(n - 1) % 3],
              422, 1 + MAX_RETRIES),
}


@pytest.mark.parametrize("mode", sorted(PROXY_MODES))
def test_binding_call_against_a_hostile_peer_is_bounded(mode, scripted):
    from exosip2 import call
    from exosip2.event import EventType

    script, status, most = PROXY_MODES[mode]
    peer = scripted("INVITE", script)
    ctx, events, cond = _alice_recording(lambda ev: ev.cid)
    try:
        inv = call.InitInvite(ctx, "sip:bob@127.0.0.1:%d" % peer.port, "sip:alice@127.0.0.1")
        cid = inv.send()
        assert peer.quiet_for(3.0, bound=30), len(peer.requests)
        count = len(peer.requests)
        assert 1 <= count <= most, (mode, count)
        if most > 2:
            assert count >= 3, count  # the legitimate retries still happen
        with cond:
            assert cond.wait_for(lambda: any(e[0] == EventType.call_released and e[1] == cid for e in events), 10), \
                events
            answers = [e[2] for e in events if e[1] == cid and e[2] is not None and e[2] >= 300]
        # every refusal was reported, and the last one is the failure the call ended with
        assert len(answers) == count and answers[-1] == status, (answers, count)
    finally:
        ctx.close()


def test_binding_message_against_challenges_and_redirections_taking_turns_is_bounded(scripted):
    """Out of dialog too: a MESSAGE refused by stale challenges and redirections in turn is sent
    again within one budget, backing off, and the last refusal is the failure reported."""
    from exosip2 import request
    from exosip2.event import EventType

    def script(n, text):
        if n % 2:
            return "407 Proxy Authentication Required", [
                'Proxy-Authenticate: Digest realm="p", nonce="t%d", stale=true' % n]
        port = re.search(r"^MESSAGE sip:[^@]*@127\.0\.0\.1:(\d+)", text).group(1)
        return "302 Moved Temporarily", ["Contact: <sip:bob%d@127.0.0.1:%s>" % (n, port)]

    peer = scripted("MESSAGE", script)
    ctx, events, cond = _alice_recording()
    try:
        msg = request.Message(ctx, "sip:bob@127.0.0.1:%d" % peer.port, "sip:alice@127.0.0.1")
        msg.send()
        assert peer.quiet_for(3.0, bound=30), len(peer.requests)
        count = len(peer.requests)
        assert count == 1 + MAX_RETRIES, count
        span = peer.requests[-1][0] - peer.requests[0][0]
        least = sum(_backoff_s(k) for k in range(1, count))
        assert span >= 0.9 * least, (span, least)
        with cond:
            assert cond.wait_for(lambda: len(events) >= count, 5), events
            answers = [status for _, status in events if status is not None and status >= 300]
        assert answers == [407, 302] * (count // 2), answers
        assert events[-1] == (EventType.message_redirected, 302), events
    finally:
        ctx.close()


# --- digest: long values, qop=auth-int, qop values we do not speak -------------------------------


def _md5(data):
    return hashlib.md5(data if isinstance(data, bytes) else data.encode()).hexdigest()


def _auth_params(value):
    out = {}
    for k, v in re.findall(r'([\w-]+)=("(?:[^"\\]|\\.)*"|[^,\s]+)', value):
        out[k] = re.sub(r"\\(.)", r"\1", v[1:-1]) if v.startswith('"') else v
    return out


def _body_of(text):
    return text.encode("utf-8", "replace").split(b"\r\n\r\n", 1)[1]


def _expected_response(p, method, password, body=b""):
    ha1 = _md5("%s:%s:%s" % (p["username"], p["realm"], password))
    if p.get("qop") == "auth-int":
        ha2 = _md5("%s:%s:%s" % (method, p["uri"], _md5(body)))
    else:
        ha2 = _md5("%s:%s" % (method, p["uri"]))
    if "qop" in p:
        return _md5(":".join([ha1, p["nonce"], p["nc"], p["cnonce"], p["qop"], ha2]))
    return _md5(":".join([ha1, p["nonce"], ha2]))


def _checking_script(challenge_header, challenge, password, verdicts, method="REGISTER", status=401):
    """Challenge every request without credentials; check the credentials of the others by RFC 2617."""
    def script(n, text):
        auth = [v for name, v in _headers(text) if name == challenge_header.lower().replace("www-authenticate",
                                                                                              "authorization")
                .replace("proxy-authenticate", "proxy-authorization")]
        if not auth:
            reason = "Unauthorized" if status == 401 else "Proxy Authentication Required"
            return "%d %s" % (status, reason), ["%s: %s" % (challenge_header, challenge)]
        p = _auth_params(auth[0])
        ok = p.get("response") == _expected_response(p, method, password, _body_of(text))
        verdicts.append((ok, p))
        if not ok:
            return "403 Forbidden", []
        extra = ["Expires: %s" % _expires(text)] if method == "REGISTER" else []
        return "200 OK", extra
    return script


def _run_register(register_example, port, *args, timeout=40):
    return _run_register_wrapped([], register_example, port, *args, timeout=timeout)


def _run_register_wrapped(wrapper, register_example, port, *args, timeout=60):
    proc = subprocess.Popen(wrapper + [register_example, "-a", "127.0.0.1", "-p", "0", "-e", "60", *args,
                             "sip:alice@127.0.0.1:%d" % port], stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        out, err = proc.communicate(timeout=timeout)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate(timeout=10)
    return proc.returncode, out, err


@pytest.mark.parametrize("length", [255, 256, 1000, 4000])
def test_long_realm_and_nonce_are_answered_whole(length, scripted, register_example):
    realm = ("R" * length)[:length]
    nonce = ("n0123456789" * (length // 10 + 1))[:length]
    opaque = "o" * length
    verdicts = []
    reg = scripted("REGISTER", _checking_script(
        "WWW-Authenticate", 'Digest realm="%s", nonce="%s", opaque="%s", qop="auth"' % (realm, nonce, opaque),
        "pw", verdicts))
    rc, out, err = _run_register(register_example, reg.port, "-w", "pw", "-x", "1")
    assert rc == 0, (out, err)
    assert verdicts and all(ok for ok, _ in verdicts), verdicts
    p = verdicts[0][1]
    assert p["realm"] == realm and p["nonce"] == nonce and p["opaque"] == opaque
    assert re.match(r"^[0-9a-z]{13,}$", p["cnonce"]), p["cnonce"]


@pytest.mark.parametrize("what", ["realm", "nonce", "opaque"])
def test_a_challenge_value_over_the_bound_is_refused_not_cut(what, scripted, register_example):
    values = {"realm": "r", "nonce": "n", "opaque": "o"}
    values[what] = "x" * 5000
    verdicts = []
    reg = scripted("REGISTER", _checking_script(
        "WWW-Authenticate", 'Digest realm="%(realm)s", nonce="%(nonce)s", opaque="%(opaque)s"' % values, "pw",
        verdicts))
    rc, out, err = _run_register(register_example, reg.port, "-w", "pw")
    assert rc == 1, (out, err)
    assert out.strip().splitlines()[-1] == "register: failure status=401", out
    assert len(reg.requests) == 1 and verdicts == []


def test_qop_auth_int_only_is_answered_with_the_body_hash(scripted, register_example):
    verdicts = []
    reg = scripted("REGISTER", _checking_script(
        "WWW-Authenticate", 'Digest realm="scripted", nonce="ai1", qop="auth-int"', "pw", verdicts))
    rc, out, err = _run_register(register_example, reg.port, "-w", "pw", "-x", "1")
    assert rc == 0, (out, err)
    assert verdicts and all(ok for ok, _ in verdicts), verdicts
    assert verdicts[0][1]["qop"] == "auth-int"


def test_auth_is_preferred_when_both_qops_are_offered(scripted, register_example):
    verdicts = []
    reg = scripted("REGISTER", _checking_script(
        "WWW-Authenticate", 'Digest realm="scripted", nonce="b1", qop="auth-int, auth"', "pw", verdicts))
    rc, out, err = _run_register(register_example, reg.port, "-w", "pw", "-x", "1")
    assert rc == 0, (out, err)
    assert verdicts and verdicts[0][1]["qop"] == "auth", verdicts


@pytest.mark.parametrize("qop", ["auth-conf", "x-unknown, other"])
def test_a_challenge_offering_only_unknown_qops_is_not_answered(qop, scripted, register_example):
    verdicts = []
    reg = scripted("REGISTER", _checking_script(
        "WWW-Authenticate", 'Digest realm="scripted", nonce="q1", qop="%s"' % qop, "pw", verdicts))
    rc, out, err = _run_register(register_example, reg.port, "-w", "pw")
    assert rc == 1, (out, err)
    assert out.strip().splitlines()[-1] == "register: failure status=401", out
    assert len(reg.requests) == 1 and verdicts == []


def test_auth_int_hashes_the_body_of_a_message(scripted):
    """A MESSAGE with a body, challenged by a proxy with qop=auth-int only: HA2 covers the body."""
    from exosip2 import request
    from exosip2.event import EventType

    verdicts = []
    peer = scripted("MESSAGE", _checking_script(
        "Proxy-Authenticate", 'Digest realm="proxy", nonce="m1", qop="auth-int"', "pw", verdicts,
        method="MESSAGE", status=407))
    ctx, events, cond = _alice_recording()
    try:
        msg = request.Message(ctx, "sip:bob@127.0.0.1:%d" % peer.port, "sip:alice@127.0.0.1")
        msg.set_body("hello, \"bob\"\r\nline two", "text/plain")
        msg.send()
        with cond:
            assert cond.wait_for(lambda: (EventType.message_answered, 200) in events, 10), events
    finally:
        ctx.close()
    assert len(verdicts) == 1 and verdicts[0][0], verdicts
    assert verdicts[0][1]["qop"] == "auth-int"
    assert _body_of(peer.requests[1][1]) == b"hello, \"bob\"\r\nline two"


def test_hostile_challenges_under_valgrind(scripted, register_example):
    """Long values, auth-int, a stale storm and a refused challenge: no invalid access, no leak."""
    import shutil
    valgrind = shutil.which("valgrind")
    assert valgrind, "valgrind is not installed (`make deps` installs it)"
    nonce = "v" * 3000

    def script(n, text):
        if n == 1:
            return "401 Unauthorized", ['WWW-Authenticate: Digest realm="%s", nonce="%s", qop="auth-int"'
                                        % ("R" * 2000, nonce)]
        # three refusals in a row: the most re-sends a REGISTER gets (eXosip2 5.3's count)
        if n == 2:
            return "401 Unauthorized", ['WWW-Authenticate: Digest realm="%s", nonce="s%d", stale=true, '
                                        'qop="auth-int"' % ("R" * 2000, n)]
        if n == 3:
            return "423 Interval Too Brief", ["Min-Expires: %d" % (_expires(text) + 60)]
        return "200 OK", ["Expires: %s" % _expires(text)]

    reg = scripted("REGISTER", script)
    rc, out, err = _run_register_wrapped(
        [valgrind, "--tool=memcheck", "-q", "--error-exitcode=3", "--leak-check=full",
         "--errors-for-leak-kinds=definite", "--show-leak-kinds=definite"],
        register_example, reg.port, "-w", "pw", "-x", "3")
    assert rc == 0, (out, err[-6000:])
    assert "register: success expires=120" in out, out
    assert len(reg.requests) >= 5, len(reg.requests)  # 3 refusals, the success, the removal
