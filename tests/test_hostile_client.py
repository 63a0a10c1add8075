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

import os
import re
import subprocess

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
LIB_DIR = os.path.join(ROOT, "exosip2")


def _osip_flags():
    out = subprocess.run(["pkg-config", "--cflags", "--libs", "libosip2"], capture_output=True, text=True,
                         check=True, timeout=30)
    return out.stdout.split()


def compile_c_test(tmp_path_factory, name):
    """tests/core/NAME.c compiled against core/ (public eXosip2 API only)."""
    assert os.path.exists(os.path.join(LIB_DIR, "libexosip2core.so")), "run `make build` first"
    exe = str(tmp_path_factory.mktemp(name) / name)
    cmd = ["cc", "-std=gnu11", "-Wall", "-Wextra", "-Werror", "-O1", "-g",
           "-I" + os.path.join(ROOT, "core", "include"), os.path.join(ROOT, "tests", "core", name + ".c"),
           "-o", exe, "-L" + LIB_DIR, "-lexosip2core", "-Wl,-rpath," + LIB_DIR] + _osip_flags()
    subprocess.run(cmd, check=True, timeout=120)
    return exe


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


# --- a raw SIP client on 127.0.0.1 -----------------------------------------------------------------

import socket  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
import uuid  # noqa: E402


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

HOSTILE_USERS = [">", "<", '"', ",", "%3E", "%3C", "%22", "%2C", "%20", "a%20b", "%25", "%0D%0AX-Injected:%201",
                 "%00", "a" * 300, "%3E" * 100, "%22%3E%2C"]


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


from peers.sipp_fixtures import program_factory  # noqa: E402,F401


@pytest.mark.parametrize("transport", ["udp", "tcp"])
@pytest.mark.parametrize("dispatch", ["inline", "executor", "asyncio"])
def test_python_uas_answers_hostile_request_uri_users(dispatch, transport, program_factory):  # noqa: F811
    uas = program_factory(os.path.join(ROOT, "examples", "python", "uas.py"),
                          ["-a", "127.0.0.1", "-p", "0", "-t", transport, "--dispatch", dispatch],
                          wrapper=[sys.executable], name="uas", env={"PYTHONPATH": ROOT})
    uas.prefix = "uas"
    uas.start(timeout=20)
    client = RawClient(transport, uas.port)
    try:
        for user in HOSTILE_USERS:
            for method in ("OPTIONS", "MESSAGE", "SUBSCRIBE", "INVITE"):
                ruri = "sip:%s@127.0.0.1:%d" % (user, uas.port)
                cid = client.request(method, ruri)
                answer = client.final(cid)
                assert answer is not None, "no answer to %s %s\n%s" % (method, ruri, uas.describe())
                status = int(answer.split()[1])
                assert status < 500, (method, ruri, answer)
                contacts = _contact_parses(answer)
                assert "\r\nX-Injected" not in answer, answer
                if method == "INVITE" and status == 200:
                    assert contacts, answer
                    to_tag = re.search(r";tag=([^;>\s]+)", _header(answer, "to", "t")).group(1)
                    client.request("ACK", ruri, call_id=cid, to_tag=to_tag)
                    client.request("BYE", ruri, call_id=cid, cseq=2, to_tag=to_tag)
                    bye = client.final(cid)
                    assert bye is not None and bye.startswith("SIP/2.0 200"), bye
        _normal_call(client, uas.port)
    finally:
        client.close()
    assert uas.proc.poll() is None, uas.describe()
    assert uas.stop() == 0, uas.describe()
    assert "Traceback" not in uas.stderr and "failed" not in uas.stderr, uas.describe()
