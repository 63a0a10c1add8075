# SPDX-License-Identifier: Apache-2.0
"""Registration and digest authentication in core/, against a real Kamailio registrar.

examples/c/register (public eXosip2 API only) registers, answers the 401 challenge, refreshes
before the binding lapses and removes it with Expires: 0 on SIGTERM. What went over the wire is
read back from Kamailio's own log (REGISTER count, Expires values, arrival times, credential
checks) and its location table (``bindings``).
"""

import os
import re
import shutil
import signal
import subprocess
import threading
import time

import pytest

from peers import sipprobe
from peers.kamailio import kamailio, kamailio_factory, kamailio_invite_auth  # noqa: F401 (fixtures)
from peers.proc import PeerError, wait_until

pytestmark = pytest.mark.peers

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
EXAMPLES_C = os.path.join(ROOT, "examples", "c")


@pytest.fixture(scope="session")
def register_program():
    """examples/c/register, built with ``make -C examples/c`` once per session."""
    proc = subprocess.run(["make", "-C", EXAMPLES_C, "register"], stdin=subprocess.DEVNULL,
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=300)
    if proc.returncode != 0:
        raise PeerError("make -C examples/c register failed:\n%s" % proc.stdout[-4000:])
    path = os.path.join(EXAMPLES_C, "register")
    assert os.access(path, os.X_OK), path
    return path


class Running:
    """A program whose stdout lines are collected by a thread; stopped by its pid at teardown."""

    def __init__(self, argv):
        self.argv = argv
        self.lines = []
        self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, text=True)
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        self.stderr = ""

    def _read(self):
        for line in self.proc.stdout:
            self.lines.append((time.time(), line.rstrip("\n")))

    def wait_line(self, pattern, timeout, count=1):
        """Wait (bounded) until *count* lines match *pattern*; return the matching lines."""
        rx = re.compile(pattern)
        ok = wait_until(lambda: len(self.matching(rx)) >= count or self.proc.poll() is not None, timeout)
        found = self.matching(rx)
        if len(found) < count:
            # the process may have exited just after printing
            self._reader.join(timeout=2)
            found = self.matching(rx)
        assert ok and len(found) >= count, "no %d lines %r within %.1f s: %s" % (count, pattern, timeout,
                                                                                 self.describe())
        return found

    def matching(self, rx):
        return [(t, line) for t, line in list(self.lines) if rx.search(line)]

    def wait(self, timeout):
        try:
            rc = self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.stop()
            raise AssertionError("%s did not exit within %.0f s: %s" % (self.argv[0], timeout, self.describe()))
        self._reader.join(timeout=5)
        self.stderr = self.proc.stderr.read()
        return rc

    def signal(self, sig):
        self.proc.send_signal(sig)

    def stop(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)
        self.proc.stdout.close()
        self.proc.stderr.close()

    def describe(self):
        return "%s\nstdout:\n%s\nstderr:\n%s" % (" ".join(self.argv), "\n".join(l for _, l in self.lines),
                                                 self.stderr)


@pytest.fixture
def run_register(register_program):
    started = []

    def start(aor, *args, wrapper=()):
        prog = Running(list(wrapper) + [register_program, "-a", "127.0.0.1", "-p", "0"] + list(args) + [aor])
        started.append(prog)
        return prog

    yield start
    for prog in started:
        prog.stop()


def registers(k, user="alice"):
    return k.seen("REGISTER", user=user)


@pytest.mark.parametrize("transport", ["udp", "tcp"])
def test_register_right_password_then_unregister(transport, kamailio, run_register):  # noqa: F811
    prog = run_register(kamailio.aor("alice"), "-t", transport, "-e", "60", "-w", "alicepw")
    prog.wait_line(r"^register: success expires=60$", timeout=10)
    bound = kamailio.bindings("alice")
    assert len(bound) == 1, bound
    contact, left = bound[0]
    assert contact.startswith("sip:alice@127.0.0.1:") and 50 <= left <= 60, bound
    assert ("transport=tcp" in contact) == (transport == "tcp"), contact
    # the first REGISTER is challenged, the second carries credentials that Kamailio accepts
    seen = registers(kamailio)
    assert len(seen) == 2, seen
    assert all(r.proto.lower() == transport for r in seen), seen
    assert kamailio.auth_results("alice") == ["1"]

    prog.signal(signal.SIGTERM)
    assert prog.wait(timeout=15) == 0, prog.describe()
    prog.wait_line(r"^register: unregistered$", timeout=1)
    assert kamailio.bindings("alice") == []
    seen = registers(kamailio)
    # the removal carries credentials of the remembered challenge: no new 401
    assert len(seen) == 3, seen
    assert seen[-1].expires == 0, seen
    assert kamailio.auth_results("alice") == ["1", "1"]
    # nobody is registered as alice any more: the proxy answers an INVITE to her with 404
    resp = sipprobe.request(kamailio.host, kamailio.port, "udp", "INVITE", uri=kamailio.aor("alice"),
                            to_uri=kamailio.aor("alice"), timeout=3)
    assert resp.status == 404, resp


@pytest.mark.parametrize("transport", ["udp", "tcp"])
def test_wrong_password_fails_with_403_after_exactly_two_registers(transport, kamailio, run_register):  # noqa: F811
    prog = run_register(kamailio.aor("alice"), "-t", transport, "-e", "60", "-w", "not-the-password")
    assert prog.wait(timeout=15) == 1, prog.describe()
    prog.wait_line(r"^register: failure status=403$", timeout=1)
    assert not prog.matching(re.compile("success")), prog.describe()
    assert kamailio.auth_results("alice") == ["-2"]  # one wrong-password check
    # give a looping client the time to send more: there must be nothing after the 403
    time.sleep(1.5)
    seen = registers(kamailio)
    assert len(seen) == 2, seen
    assert [int(r.cseq) for r in seen] == [1, 2], seen
    assert kamailio.bindings("alice") == []


def test_unknown_realm_credentials_are_not_sent(kamailio, run_register):  # noqa: F811
    # credentials bound to another realm cannot answer the registrar's challenge: one REGISTER only
    prog = run_register(kamailio.aor("alice"), "-e", "60", "-w", "alicepw", "-r", "elsewhere.example")
    assert prog.wait(timeout=15) == 1, prog.describe()
    prog.wait_line(r"^register: challenge status=401$", timeout=1)
    time.sleep(1.0)
    assert len(registers(kamailio)) == 1
    assert kamailio.auth_results("alice") == []


def test_realm_matched_credentials_register(kamailio, run_register):  # noqa: F811
    prog = run_register(kamailio.aor("alice"), "-e", "60", "-w", "alicepw", "-r", kamailio.realm, "-x", "1")
    assert prog.wait(timeout=15) == 0, prog.describe()
    prog.wait_line(r"^register: success expires=60$", timeout=1)
    prog.wait_line(r"^register: unregistered$", timeout=1)
    assert kamailio.auth_results("alice") == ["1", "1"]


@pytest.mark.parametrize("qop,transport", [(False, "udp"), (True, "udp"), (True, "tcp")])
def test_short_expires_is_refreshed_before_it_lapses(qop, transport, kamailio_factory, run_register):  # noqa: F811
    k = kamailio_factory(qop=qop, min_expires=1)
    prog = run_register(k.aor("alice"), "-t", transport, "-e", "5", "-m", "1", "-w", "alicepw", "-x", "12")
    prog.wait_line(r"^register: success expires=5$", timeout=10)
    # the binding must never lapse while the program runs: look it up a few times on the way
    samples = []
    end = time.monotonic() + 9
    while time.monotonic() < end:
        samples.append(k.bindings("alice"))
        time.sleep(0.7)
    assert prog.wait(timeout=20) == 0, prog.describe()
    assert all(len(s) == 1 for s in samples), samples
    assert k.bindings("alice") == []

    seen = registers(k)
    assert {r.proto.lower() for r in seen} == {transport}, seen
    refreshes = [r for r in seen if r.expires == 5]
    times = [r.time for r in refreshes]
    # 1 challenged + 1 accepted, then a refresh every ~2.6 s (half of 5 s, plus the program's 200 ms
    # polling of eXosip_automatic_action), then Expires: 0
    assert seen[-1].expires == 0, seen
    assert 2 + 3 <= len(refreshes) <= 2 + 4, seen
    gaps = [b - a for a, b in zip(times[1:], times[2:])]
    assert all(2.0 <= g <= 4.5 for g in gaps), gaps
    # the refreshes reuse the challenge's nonce: Kamailio checked each one and accepted it
    assert set(k.auth_results("alice")) == {"1"}, k.auth_results("alice")
    assert len(seen) == len(refreshes) + 1


def test_stale_nonce_is_answered_again(kamailio_factory, run_register):  # noqa: F811
    # nonces live 2 s, refreshes come every 3 s: each refresh meets "stale=true" and answers it once
    k = kamailio_factory(qop=True, min_expires=1, nonce_expire=2)
    prog = run_register(k.aor("alice"), "-e", "5", "-m", "1", "-w", "alicepw", "-x", "8")
    prog.wait_line(r"^register: success expires=5$", timeout=10)
    assert prog.wait(timeout=20) == 0, prog.describe()
    results = k.auth_results("alice")
    assert "-4" in results or "-6" in results, results  # a stale nonce was presented ...
    assert results.count("1") >= 3, results  # ... and the fresh one accepted each time
    seen = registers(k)
    assert len(seen) <= 2 + 2 * 3 + 2, seen  # never more than one retry per refresh
    assert len(prog.wait_line(r"^register: success expires=5$", timeout=1, count=3)) >= 3
    assert k.bindings("alice") == []


def test_valgrind_register_refresh_unregister(kamailio_factory, run_register, tmp_path):  # noqa: F811
    valgrind = shutil.which("valgrind")
    if valgrind is None:
        raise PeerError("valgrind is not installed (`make deps` installs it)")
    k = kamailio_factory(qop=True, min_expires=1)
    log = tmp_path / "valgrind.log"
    wrapper = [valgrind, "--tool=memcheck", "--leak-check=full", "--errors-for-leak-kinds=definite",
               "--show-leak-kinds=definite", "--num-callers=30", "--log-file=%s" % log]
    prog = run_register(k.aor("alice"), "-e", "4", "-m", "1", "-w", "alicepw", "-x", "6", wrapper=wrapper)
    rc = prog.wait(timeout=60)
    report = log.read_text(errors="replace")
    assert rc == 0, "%s\n%s" % (prog.describe(), report[-6000:])
    assert len(prog.matching(re.compile(r"^register: success expires=4$"))) >= 2, prog.describe()
    prog.wait_line(r"^register: unregistered$", timeout=1)
    assert re.search(r"ERROR SUMMARY: 0 errors", report), report[-6000:]
    lost = re.search(r"definitely lost: ([\d,]+) bytes", report)
    assert lost is None or lost.group(1) == "0", report[-6000:]
    assert k.bindings("alice") == []


# --- INVITE, re-INVITE, MESSAGE and BYE challenged with 407 by the proxy -------------------------

def _osip_flags():
    out = subprocess.run(["pkg-config", "--cflags", "--libs", "libosip2"], capture_output=True, text=True,
                         check=True, timeout=30)
    return out.stdout.split()


def _compile(tmp_path_factory, name):
    """tests/core/NAME.c compiled against core/ (public eXosip2 API only)."""
    lib_dir = os.path.join(ROOT, "exosip2")
    assert os.path.exists(os.path.join(lib_dir, "libexosip2core.so")), "run `make build` first"
    exe = str(tmp_path_factory.mktemp(name) / name)
    cmd = ["cc", "-std=gnu11", "-Wall", "-Wextra", "-Werror", "-O1", "-g",
           "-I" + os.path.join(ROOT, "core", "include"), os.path.join(ROOT, "tests", "core", name + ".c"),
           "-o", exe, "-L" + lib_dir, "-lexosip2core", "-Wl,-rpath," + lib_dir] + _osip_flags()
    subprocess.run(cmd, check=True, timeout=120)
    return exe


@pytest.fixture(scope="module")
def auth_call(tmp_path_factory):
    return _compile(tmp_path_factory, "auth_call")


@pytest.fixture(scope="module")
def retry_call(tmp_path_factory):
    return _compile(tmp_path_factory, "retry_call")


VALGRIND = ["--tool=memcheck", "-q", "--error-exitcode=3", "--leak-check=full",
            "--errors-for-leak-kinds=definite", "--show-leak-kinds=definite", "--num-callers=30"]


def _valgrind():
    path = shutil.which("valgrind")
    if path is None:
        raise PeerError("valgrind is not installed (`make deps` installs it)")
    return path


@pytest.mark.parametrize("transport", ["udp", "tcp"])
def test_call_through_proxy_answers_each_407_once(transport, kamailio_factory, auth_call):  # noqa: F811
    k = kamailio_factory(invite_auth=True, indialog_auth=True)
    res = subprocess.run([auth_call, k.host, str(k.port), transport], capture_output=True, text=True, timeout=90)
    assert res.returncode == 0, "%s\n%s" % (res.stdout, res.stderr)
    assert "invite_407=1 reinvite_407=0 info_407=0 message_407=1 bye_407=0 answered=2" in res.stdout, res.stdout
    # on the wire: the INVITE and the MESSAGE (a new Call-ID) twice (refused, then with credentials);
    # the re-INVITE, INFO and BYE once: they carried credentials of the INVITE's challenge from the start
    from_alice = [r for r in k.seen() if r.from_uri.startswith("sip:alice@")]
    methods = [r.method for r in from_alice if r.method != "ACK"]
    assert methods == ["INVITE"] * 3 + ["INFO"] + ["MESSAGE"] * 2 + ["BYE"], from_alice
    assert len({r.call_id for r in from_alice if r.method in ("INVITE", "INFO", "BYE")}) == 1, from_alice
    cseqs = [int(r.cseq) for r in from_alice if r.method in ("INVITE", "INFO", "BYE")]
    assert cseqs == sorted(set(cseqs)), cseqs  # each new request takes the next CSeq
    # the credentials were checked and accepted for each of alice's five requests
    assert k.auth_results("alice") == ["1"] * 5, k.auth_results()
    assert k.bindings("bob") == []


def test_wrong_password_for_an_invite_is_not_retried_twice(kamailio_invite_auth, auth_call):  # noqa: F811
    k = kamailio_invite_auth
    res = subprocess.run([auth_call, k.host, str(k.port), "udp", "wrong"], capture_output=True, text=True,
                         timeout=60)
    assert res.returncode == 0, "%s\n%s" % (res.stdout, res.stderr)
    assert "invite_407=1 forbidden=1" in res.stdout, res.stdout
    invites = k.seen("INVITE")
    assert len(invites) == 2, invites  # refused with 407, then 403 for the wrong password: no third
    assert [int(r.cseq) for r in invites] == [20, 21], invites
    assert k.auth_results("alice") == ["-2"]


# --- a scripted registrar on 127.0.0.1: answers the registrar in the suite does not give ----------

class ScriptedRegistrar:
    """A UDP SIP peer that answers the n-th REGISTER with ``script(n, request_text)`` (a status line
    plus extra header lines); it records every REGISTER it receives. Stopped at teardown."""

    def __init__(self, script):
        import socket
        self.script = script
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.settimeout(0.1)
        self.port = self.sock.getsockname()[1]
        self.requests = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    @staticmethod
    def _headers(text):
        head = text.split("\r\n\r\n", 1)[0].split("\r\n")
        out = []
        for line in head[1:]:
            name, _, value = line.partition(":")
            out.append((name.strip().lower(), value.strip()))
        return out

    def _serve(self):
        while not self._stop.is_set():
            try:
                data, peer = self.sock.recvfrom(65535)
            except OSError:
                continue
            text = data.decode("utf-8", "replace")
            if not text.startswith("REGISTER "):
                continue
            self.requests.append((time.time(), text))
            status, extra = self.script(len(self.requests), text)
            keep = [(n, v) for n, v in self._headers(text) if n in ("via", "v", "from", "f", "call-id", "i",
                                                                   "cseq", "to", "t")]
            lines = ["SIP/2.0 %s" % status]
            for name, value in keep:
                if name in ("to", "t") and ";tag=" not in value:
                    value += ";tag=scripted"
                lines.append("%s: %s" % (name, value))
            lines += list(extra) + ["Content-Length: 0", "", ""]
            self.sock.sendto("\r\n".join(lines).encode(), peer)

    def header(self, n, name):
        for hname, value in self._headers(self.requests[n][1]):
            if hname == name:
                return value
        return None

    def close(self):
        self._stop.set()
        self._thread.join(timeout=5)
        self.sock.close()


@pytest.fixture
def scripted_registrar():
    made = []

    def make(script):
        reg = ScriptedRegistrar(script)
        made.append(reg)
        return reg

    yield make
    for reg in made:
        reg.close()


def test_endless_stale_challenges_are_answered_a_bounded_number_of_times(scripted_registrar, run_register):
    def script(n, text):
        return "401 Unauthorized", ['WWW-Authenticate: Digest realm="scripted", nonce="n%d", stale=true' % n]

    reg = scripted_registrar(script)
    prog = run_register("sip:alice@127.0.0.1:%d" % reg.port, "-e", "60", "-w", "pw")
    assert prog.wait(timeout=20) == 1, prog.describe()
    prog.wait_line(r"^register: failure status=401$", timeout=1)
    time.sleep(0.5)
    # the first REGISTER, then at most three answers to stale challenges
    assert 2 <= len(reg.requests) <= 4, [t for t, _ in reg.requests]
    assert 'nonce="n1"' in reg.header(1, "authorization")


def test_challenges_we_cannot_answer_are_not_answered(scripted_registrar, run_register):
    def script(n, text):
        return "401 Unauthorized", ['WWW-Authenticate: Basic realm="scripted"',
                                    'WWW-Authenticate: Digest realm="scripted", nonce="x", algorithm=SHA-512']

    reg = scripted_registrar(script)
    prog = run_register("sip:alice@127.0.0.1:%d" % reg.port, "-e", "60", "-w", "pw")
    assert prog.wait(timeout=20) == 1, prog.describe()
    assert len(reg.requests) == 1


def test_interval_too_brief_is_retried_with_min_expires(scripted_registrar, run_register):
    def script(n, text):
        if n == 1:
            return "423 Interval Too Brief", ["Min-Expires: 120"]
        expires = re.search(r"(?im)^expires:\s*(\d+)", text).group(1)
        return "200 OK", ["Contact: <sip:alice@127.0.0.1>;expires=%s" % expires, "Expires: %s" % expires]

    reg = scripted_registrar(script)
    prog = run_register("sip:alice@127.0.0.1:%d" % reg.port, "-e", "30", "-x", "2")
    assert prog.wait(timeout=20) == 0, prog.describe()
    assert reg.header(0, "expires") == "30"
    assert reg.header(1, "expires") == "120"
    prog.wait_line(r"^register: success expires=120$", timeout=1)
    assert reg.header(len(reg.requests) - 1, "expires") == "0"


@pytest.mark.parametrize("secret", ["password", "ha1", "HA1"])
def test_digest_answer_matches_rfc2617(secret, scripted_registrar, run_register):
    """The credentials sent are checked here, by the MD5 arithmetic of RFC 2617 (qop=auth)."""
    import hashlib

    def md5(s):
        return hashlib.md5(s.encode()).hexdigest()

    def params(value):
        out = {}
        for k, v in re.findall(r'(\w+)=("(?:[^"\\]|\\.)*"|[^,\s]+)', value):
            out[k] = re.sub(r"\\(.)", r"\1", v[1:-1]) if v.startswith('"') else v
        return out

    verdicts = []

    def script(n, text):
        auth = [v for name, v in ScriptedRegistrar._headers(text) if name == "authorization"]
        if not auth:
            return "401 Unauthorized", ['WWW-Authenticate: Digest realm="scripted", nonce="abc\\"def", '
                                        'opaque="op", qop="auth-int,auth", algorithm=MD5']
        p = params(auth[0])
        ha1 = md5("alice:scripted:s3cret")
        ha2 = md5("REGISTER:%s" % p["uri"])
        expect = md5(":".join([ha1, p["nonce"], p["nc"], p["cnonce"], "auth", ha2]))
        verdicts.append((p["response"] == expect, p))
        if p["response"] != expect:
            return "403 Forbidden", []
        expires = re.search(r"(?im)^expires:\s*(\d+)", text).group(1)
        return "200 OK", ["Expires: %s" % expires]

    reg = scripted_registrar(script)
    # Expires 2: refreshed after 1 s with the remembered challenge, its nonce count going up
    ha1 = md5("alice:scripted:s3cret")
    given = {"password": ["-w", "s3cret"], "ha1": ["-H", ha1, "-r", "scripted"],
             "HA1": ["-H", ha1.upper(), "-r", "scripted"]}[secret]
    prog = run_register("sip:alice@127.0.0.1:%d" % reg.port, "-e", "2", "-m", "1", "-x", "3", *given)
    assert prog.wait(timeout=20) == 0, prog.describe()
    assert len(verdicts) >= 3, verdicts  # the answer to the challenge, a refresh or more, the removal
    assert all(ok for ok, _ in verdicts), verdicts
    first = verdicts[0][1]
    assert first["qop"] == "auth" and first["opaque"] == "op" and first["nc"] == "00000001", first
    assert first["username"] == "alice" and first["realm"] == "scripted" and first["nonce"] == 'abc"def', first
    assert [int(p["nc"], 16) for _, p in verdicts] == list(range(1, len(verdicts) + 1)), verdicts
    assert len({p["cnonce"] for _, p in verdicts}) == len(verdicts), verdicts
    assert len(reg.requests) == len(verdicts) + 1  # one 401 only: the refreshes were not challenged


def test_call_through_proxy_auth_under_valgrind(kamailio_factory, auth_call):  # noqa: F811
    k = kamailio_factory(invite_auth=True, indialog_auth=True, qop=True)
    res = subprocess.run([_valgrind()] + VALGRIND + [auth_call, k.host, str(k.port), "udp"], capture_output=True,
                         text=True, timeout=120)
    assert res.returncode == 0, "%s\n%s" % (res.stdout, res.stderr[-6000:])
    assert "all checks passed" in res.stdout
    assert k.auth_results("alice") == ["1"] * 5


# --- a 302 and a 422 answered by eXosip_automatic_action, in one call -----------------------------

@pytest.mark.parametrize("transport", ["udp", "tcp"])
def test_redirect_and_session_interval_too_small_are_retried(transport, retry_call):
    res = subprocess.run([retry_call, transport], capture_output=True, text=True, timeout=60)
    assert res.returncode == 0, "%s\n%s" % (res.stdout, res.stderr)
    assert "invites=3 redirected=1 refused_422=1 answered=1 session_expires=1800" in res.stdout, res.stdout


def test_redirect_and_422_under_valgrind(retry_call):
    res = subprocess.run([_valgrind()] + VALGRIND + [retry_call, "udp"], capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, "%s\n%s" % (res.stdout, res.stderr[-6000:])
    assert "all checks passed" in res.stdout


def test_a_flood_of_oversized_challenges_is_bounded(scripted_registrar, run_register):
    nonce = "N" * 500

    def script(n, text):
        if n == 1:
            return "401 Unauthorized", ['WWW-Authenticate: Digest realm="r%d", nonce="%s%d"' % (i, nonce, i)
                                        for i in range(100)]
        return "403 Forbidden", []

    reg = scripted_registrar(script)
    prog = run_register("sip:alice@127.0.0.1:%d" % reg.port, "-e", "60", "-w", "pw")
    assert prog.wait(timeout=20) == 1, prog.describe()
    prog.wait_line(r"^register: failure status=403$", timeout=1)
    assert len(reg.requests) == 2
    answers = [line for line in reg.requests[1][1].split("\r\n") if line.lower().startswith("authorization:")]
    assert 1 <= len(answers) <= 16, len(answers)


# --- eXosip2 5.3's registration details: the 30 s floor, three re-sends, the CSeq of an unsent one ---

def test_short_expires_is_raised_to_30_as_in_53(scripted_registrar, run_register):
    def script(n, text):
        expires = re.search(r"(?im)^expires:\s*(\d+)", text).group(1)
        return "200 OK", ["Expires: %s" % expires]

    reg = scripted_registrar(script)
    # no -m: the 5 s asked for goes out as 30 s, and so does each later REGISTER but the removal
    prog = run_register("sip:alice@127.0.0.1:%d" % reg.port, "-e", "5", "-x", "1")
    assert prog.wait(timeout=20) == 0, prog.describe()
    prog.wait_line(r"^register: success expires=30$", timeout=1)
    assert [reg.header(i, "expires") for i in range(len(reg.requests))] == ["30", "0"]


@pytest.mark.parametrize("floor,asked,sent", [("1", "1", "1"), ("10", "5", "10"), ("10", "29", "29"),
                                              ("86400", "60", "86400")])
def test_the_floor_option_sets_what_short_expires_become(floor, asked, sent, scripted_registrar, run_register):
    def script(n, text):
        return "200 OK", ["Expires: %s" % re.search(r"(?im)^expires:\s*(\d+)", text).group(1)]

    reg = scripted_registrar(script)
    prog = run_register("sip:alice@127.0.0.1:%d" % reg.port, "-e", asked, "-m", floor, "-x", "1")
    assert prog.wait(timeout=20) == 0, prog.describe()
    assert reg.header(0, "expires") == sent
    assert reg.header(len(reg.requests) - 1, "expires") == "0"  # the removal is never raised


@pytest.mark.parametrize("bad", ["0", "-1", "86401", "2147483647"])
def test_the_floor_option_refuses_values_out_of_range(bad, run_register):
    prog = run_register("sip:alice@127.0.0.1:9", "-e", "60", "-m", bad, "-x", "1")
    rc = prog.wait(timeout=10)
    # "-m 0" and "-m -1" mean "not given" to the example; the others are refused by the core
    assert rc == (2 if bad not in ("0", "-1") else 1), prog.describe()


def test_a_challenge_to_every_register_is_answered_three_times_at_most(scripted_registrar, run_register):
    # a registrar refusing every answer with a fresh stale challenge: 5.3 re-sends 3 times, so does core/
    def script(n, text):
        return "407 Proxy Authentication Required", [
            'Proxy-Authenticate: Digest realm="scripted", nonce="s%d", stale=true' % n]

    reg = scripted_registrar(script)
    prog = run_register("sip:alice@127.0.0.1:%d" % reg.port, "-e", "60", "-w", "pw")
    assert prog.wait(timeout=30) == 1, prog.describe()
    time.sleep(1.5)  # room for a fourth re-send that must not come
    assert len(reg.requests) == 1 + 3, [t for t, _ in reg.requests]
    assert [int(re.search(r"(?im)^cseq:\s*(\d+)", text).group(1)) for _, text in reg.requests] == [1, 2, 3, 4]


# --- credentials inside a dialog, from the INVITE's challenge: a raw-socket callee -------------------

def _scripted_callee(script):
    from test_send_and_wait import ScriptedServer
    return ScriptedServer(script)


@pytest.mark.parametrize("code", [401, 407])
def test_in_dialog_request_carries_credentials_on_the_first_try(code):
    """INVITE challenged, answered with credentials, 200; the INFO then carries credentials for that
    challenge (nonce count 2) before anything challenges it. Hostile next: the INFO is challenged
    with a fresh nonce that is not stale, which is answered once; a second fresh one is final."""
    from exosip2 import call
    from exosip2.context import Context
    from exosip2.event import EventType
    hname = "Proxy-Authenticate" if code == 407 else "WWW-Authenticate"
    aname = "Proxy-Authorization" if code == 407 else "Authorization"
    infos = []

    def script(text):
        method = text.split(" ", 1)[0]
        has_auth = re.search(r"(?im)^%s:\s*Digest" % aname, text) is not None
        if method == "INVITE":
            if not has_auth:
                return code, '%s: Digest realm="test", nonce="inv1", qop="auth", algorithm=MD5' % hname
            return 200, "Contact: <sip:bob@127.0.0.1:%d>" % server.port
        if method == "INFO":
            infos.append(text)
            if len(infos) <= 2:
                return code, '%s: Digest realm="test", nonce="info%d", qop="auth"' % (hname, len(infos))
            return 200, ""
        return 200, ""

    server = _scripted_callee(script)
    events = []
    cond = threading.Condition()

    def on_event(ctx, ev):
        with cond:
            events.append(ev)
            cond.notify_all()

    def wait(pred, timeout=5.0):
        with cond:
            assert cond.wait_for(lambda: any(pred(e) for e in events), timeout), [(e.type, e.response and
                                                                                    e.response.status_code)
                                                                                   for e in events]
            return [e for e in events if pred(e)][-1]

    ctx = Context(event_callback=on_event)
    try:
        ctx.listen_on_address("127.0.0.1", port=0)
        ctx.add_authentication_info("alice", "alice", "secret", "test")
        ctx.start(event_executor="inline")
        call.InitInvite(ctx, "sip:bob@127.0.0.1:%d" % server.port, "sip:alice@127.0.0.1").send()
        answered = wait(lambda e: e.type == EventType.call_answered)
        ctx.call_send_ack(answered.did)
        call.Info(ctx, answered.did).send()
        time.sleep(2.0)   # the fresh challenge answered once, the second one final, nothing after
        ctx.automatic_action()
        time.sleep(0.5)
        assert len(infos) == 2, infos
        first = re.search(r"(?im)^%s:(.*)$" % aname, infos[0])
        assert first is not None and 'nonce="inv1"' in first.group(1), infos[0]
        assert "nc=00000002" in first.group(1), first.group(1)
        second = re.search(r"(?im)^%s:(.*)$" % aname, infos[1]).group(1)
        assert 'nonce="info1"' in second, second
        with cond:
            failures = [e.response.status_code for e in events
                        if e.type == EventType.call_message_requestfailure]
        assert failures == [code, code], failures
    finally:
        ctx.close()
        server.close()


# -- load mode (-n COUNT -R RATE): what benchmarks/cpu_per_call.py --role register drives -------------------
LOAD_LINE = r"^register: registrations=(\d+) ok=(\d+) failed=(\d+) elapsed_ms=(\d+)$"


def load_result(prog):
    """(registrations, ok, failed, elapsed_ms) of a load-mode run's final line."""
    line = prog.wait_line(LOAD_LINE, timeout=1)[-1][1]
    return tuple(int(v) for v in re.match(LOAD_LINE, line).groups())


def test_load_mode_registers_every_binding_through_digest_auth(kamailio, run_register):  # noqa: F811
    prog = run_register(kamailio.aor("alice"), "-n", "20", "-R", "50", "-w", "alicepw", "-x", "20")
    assert prog.wait(timeout=30) == 0, prog.describe()
    prog.wait_line(r"^register: listening on udp 127\.0\.0\.1:\d+$", timeout=1)
    sent, ok, failed, elapsed = load_result(prog)
    assert (sent, ok, failed) == (20, 20, 0), prog.describe()
    # 20 started at 50/s: about 0.4 s, plus the challenge round trips (answered within 100 ms each)
    assert 300 <= elapsed <= 3000, elapsed
    seen = registers(kamailio)
    # each binding its own Call-ID: challenged once (CSeq 1), then accepted with credentials (CSeq 2)
    assert len(seen) == 40, seen
    by_call = {}
    for r in seen:
        by_call.setdefault(r.call_id, []).append(int(r.cseq))
    assert len(by_call) == 20 and all(c == [1, 2] for c in by_call.values()), by_call
    assert kamailio.auth_results("alice") == ["1"] * 20


def test_load_mode_counts_a_wrong_password_as_failures(kamailio, run_register):  # noqa: F811
    prog = run_register(kamailio.aor("alice"), "-n", "5", "-R", "50", "-w", "not-the-password", "-x", "20")
    assert prog.wait(timeout=30) == 1, prog.describe()
    assert load_result(prog)[:3] == (5, 0, 5), prog.describe()
    assert kamailio.auth_results("alice") == ["-2"] * 5


def test_load_mode_mixed_answers_are_each_counted_once(scripted_registrar, run_register):
    # every third REGISTER refused with 503, the others accepted; a 401 without credentials to give is
    # a failure at once, not a wait for the deadline
    def script(n, text):
        if n % 3 == 0:
            return "503 Service Unavailable", []
        if n % 4 == 0:
            return "401 Unauthorized", ['WWW-Authenticate: Digest realm="scripted", nonce="n%d"' % n]
        return "200 OK", []

    reg = scripted_registrar(script)
    prog = run_register("sip:alice@127.0.0.1:%d" % reg.port, "-n", "12", "-R", "100", "-x", "20")
    t0 = time.monotonic()
    assert prog.wait(timeout=30) == 1, prog.describe()
    assert time.monotonic() - t0 < 10, prog.describe()
    refused = [n for n in range(1, 13) if n % 3 == 0 or n % 4 == 0]  # 3 4 6 8 9 12
    assert load_result(prog)[:3] == (12, 12 - len(refused), len(refused)), prog.describe()
    time.sleep(0.3)
    assert len(reg.requests) == 12, [t for t, _ in reg.requests]
    assert len({reg.header(i, "call-id") for i in range(12)}) == 12


def test_load_mode_unanswered_registrations_fail_at_the_deadline(run_register):
    prog = run_register("sip:alice@127.0.0.1:9", "-n", "3", "-R", "10", "-x", "1")
    assert prog.wait(timeout=15) == 1, prog.describe()
    assert load_result(prog)[:3] == (3, 0, 3), prog.describe()


@pytest.mark.parametrize("bad", [["-n", "-1"], ["-n", "2", "-R", "0"], ["-n", "2", "-R", "-5"],
                                 ["-n", "2", "-s", "-1"]])
def test_load_mode_refuses_bad_numbers(bad, run_register):
    prog = run_register("sip:alice@127.0.0.1:9", *bad)
    assert prog.wait(timeout=10) == 2, prog.describe()
    assert not prog.matching(re.compile("listening")), prog.describe()
