# SPDX-License-Identifier: Apache-2.0
"""The real peers used by the registration and call tests, proven with SIPp.

Kamailio (registrar and proxy with digest authentication) and baresip (a
softphone driven over its TCP control socket) are started by fixtures on free
ports; SIPp scenarios from tests/scenarios/ play the other side.  Each test is
bounded and checks that nothing it started is left running.
"""

import socket
import threading
import time
from pathlib import Path

import pytest

from peers import sipprobe
from peers.baresip import baresip_factory  # noqa: F401 (fixture)
from peers.kamailio import kamailio, kamailio_factory, kamailio_invite_auth  # noqa: F401 (fixtures)
from peers.kamailio import Kamailio
from peers.proc import LOOPBACK, PeerError, PeerProcess, free_port, free_ports, pid_alive, require_binary, \
    run_bounded, wait_process, wait_until

pytestmark = [pytest.mark.peers, pytest.mark.timeout(30)]

SCENARIOS = Path(__file__).resolve().parent / "scenarios"
SIPP_TIMEOUT = 15


# --- SIPp, run by small local helpers ---------------------------------------------------------------------

class Sipp:
    """Builds SIPp command lines for one test; every run is bounded and kept in tmp_path."""

    def __init__(self, workdir):
        self.binary = require_binary("sipp", "sip-tester")
        self.workdir = Path(workdir)
        self.runs = 0
        self.started = []

    def argv(self, scenario, target, transport="udp", service=None, port=None, auth=None, keys=None,
             duration_ms=None, timeout=SIPP_TIMEOUT):
        self.runs += 1
        name = "sipp-%d-%s" % (self.runs, Path(scenario).stem)
        argv = [self.binary, "-sf", SCENARIOS / scenario, "-i", LOOPBACK, "-p", port or free_port(),
                "-t", "u1" if transport == "udp" else "t1", "-m", "1",
                "-timeout", "%ds" % timeout, "-timeout_error", "-nostdin", "-trace_err",
                "-error_file", self.workdir / (name + "_errors.log"),
                "-trace_msg", "-message_file", self.workdir / (name + "_messages.log"),
                "-mp", free_ports(4)]
        if service:
            argv += ["-s", service]
        if auth:
            argv += ["-au", auth[0], "-ap", auth[1]]
        for key, value in (keys or {}).items():
            argv += ["-key", key, value]
        if duration_ms is not None:
            argv += ["-d", duration_ms]
        if target:
            argv.append("%s:%d" % target)
        return name, [str(a) for a in argv]

    def diagnostics(self, name):
        parts = []
        for suffix in ("_errors.log", "_messages.log"):
            path = self.workdir / (name + suffix)
            if path.exists():
                parts.append("--- %s ---\n%s" % (path.name, path.read_text(errors="replace")[-4000:]))
        return "\n".join(parts)

    def run(self, scenario, target, **options):
        """Run a UAC scenario to its end; return (exit code, output + logs)."""
        timeout = options.get("timeout", SIPP_TIMEOUT)
        name, argv = self.argv(scenario, target, **options)
        rc, out = run_bounded(argv, timeout + 5, cwd=self.workdir)
        return rc, out + "\n" + self.diagnostics(name)

    def start(self, scenario, target=None, **options):
        """Start a scenario (typically a UAS) in the background; return (PeerProcess, name)."""
        name, argv = self.argv(scenario, target, **options)
        proc = PeerProcess(argv, self.workdir / (name + ".out"), cwd=self.workdir, name=name)
        self.started.append(proc)
        proc.start()
        return proc, name


@pytest.fixture
def local_sipp(tmp_path):
    """Local SIPp runner; background SIPp processes are stopped and checked gone at teardown."""
    runner = Sipp(tmp_path)
    yield runner
    for proc in runner.started:
        proc.stop()
        assert not pid_alive(proc.pid), "sipp pid %d still alive" % proc.pid


def register(runner, k, user, password, transport="udp", expires=60, contact_port=None, forbidden=False,
             auth_user=None):
    """REGISTER *user* at Kamailio *k* with SIPp; assert the expected outcome."""
    port = free_port()
    scenario = "kamailio_register_forbidden.xml" if forbidden else "kamailio_register.xml"
    rc, log = runner.run(scenario, (k.host, k.port), transport=transport, service=user, port=port,
                         auth=(auth_user or user, password),
                         keys={"expires": expires, "contact_port": contact_port or port})
    assert rc == 0, "SIPp %s for %s failed (rc %d):\n%s\n--- kamailio ---\n%s" % (
        scenario, user, rc, log[-6000:], k.process.log_tail())
    return rc


# --- Kamailio alone ---------------------------------------------------------------------------------------

def test_kamailio_answers_options_on_udp_and_tcp(kamailio):
    for proto in ("udp", "tcp"):
        resp = sipprobe.request(kamailio.host, kamailio.port, proto, "OPTIONS", timeout=2)
        assert resp.status == 200, (proto, resp)
        assert resp.header("server") == "exosip2-test-registrar"
    assert kamailio.count("OPTIONS", proto="udp") >= 2  # readiness probe + this one
    assert kamailio.count("OPTIONS", proto="tcp") >= 2


def test_kamailio_challenges_register_without_credentials(kamailio):
    resp = sipprobe.request(kamailio.host, kamailio.port, "udp", "REGISTER", uri=kamailio.uri,
                            from_uri=kamailio.aor("alice"), extra_headers=["Expires: 60"], timeout=2)
    assert resp.status == 401
    challenge = resp.header("www-authenticate")
    assert challenge.startswith("Digest ") and 'realm="127.0.0.1"' in challenge and "nonce=" in challenge
    assert "qop" not in challenge
    assert kamailio.register_count("alice") == 1


@pytest.mark.parametrize("transport", ["udp", "tcp"])
def test_register_with_right_password(kamailio, local_sipp, transport):
    before = time.time()
    register(local_sipp, kamailio, "alice", "alicepw", transport=transport, expires=120)
    seen = kamailio.seen("REGISTER", user="alice")
    assert [r.proto for r in seen] == [transport, transport]
    assert [r.expires for r in seen] == [120, 120]
    assert [r.cseq for r in seen] == ["1", "2"]
    assert before - 1 <= seen[0].time <= seen[1].time <= time.time() + 1
    assert kamailio.auth_results("alice") == ["1"]


@pytest.mark.parametrize("transport", ["udp", "tcp"])
def test_register_with_wrong_password_gets_403(kamailio, local_sipp, transport):
    register(local_sipp, kamailio, "alice", "not-alicepw", transport=transport, forbidden=True)
    # One unauthenticated REGISTER, one with the wrong credentials, nothing else.
    assert kamailio.register_count("alice", proto=transport) == 2
    assert kamailio.auth_results("alice") == ["-2"]


def test_register_with_another_users_credentials_gets_403(kamailio, local_sipp):
    register(local_sipp, kamailio, "alice", "bobpw", auth_user="bob", forbidden=True)
    assert kamailio.auth_results("bob") == ["-8"]


def test_register_unknown_user_gets_403(kamailio, local_sipp):
    register(local_sipp, kamailio, "mallory", "guess", forbidden=True)
    assert kamailio.auth_results("mallory") == ["unknown"]


def test_register_with_qop_auth(kamailio_factory, local_sipp):
    k = kamailio_factory(qop=True)
    resp = sipprobe.request(k.host, k.port, "udp", "REGISTER", uri=k.uri, from_uri=k.aor("bob"), timeout=2)
    assert 'qop="auth"' in resp.header("www-authenticate")
    register(local_sipp, k, "bob", "bobpw", transport="tcp")
    assert k.auth_results("bob") == ["1"]


class _Answerer(threading.Thread):
    """A UDP socket that answers the first request it gets with 200 and remembers it."""

    def __init__(self, timeout):
        super().__init__(daemon=True)
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind((LOOPBACK, 0))
        self.sock.settimeout(timeout)
        self.port = self.sock.getsockname()[1]
        self.request = None

    def run(self):
        try:
            data, addr = self.sock.recvfrom(65536)
        except socket.timeout:
            return
        self.request = data
        head = data.split(b"\r\n\r\n", 1)[0].decode("utf-8", "replace").split("\r\n")
        keep = [h for h in head[1:] if h.split(":", 1)[0].strip().lower() in ("via", "from", "call-id", "cseq")]
        to = [h for h in head[1:] if h.split(":", 1)[0].strip().lower() == "to"][0]
        reply = ["SIP/2.0 200 OK"] + keep + [to + ";tag=answerer", "Content-Length: 0"]
        self.sock.sendto(("\r\n".join(reply) + "\r\n\r\n").encode(), addr)

    def close(self):
        self.join(5)
        self.sock.close()


def test_unregister_removes_the_binding(kamailio, local_sipp):
    answerer = _Answerer(timeout=5)
    answerer.start()
    try:
        register(local_sipp, kamailio, "bob", "bobpw", contact_port=answerer.port)
        # While registered, a MESSAGE for bob reaches the registered contact.
        resp = sipprobe.request(kamailio.host, kamailio.port, "udp", "MESSAGE", uri=kamailio.aor("bob"),
                                from_uri=kamailio.aor("alice"), to_uri=kamailio.aor("bob"),
                                extra_headers=["Content-Type: text/plain"], body=b"hello", timeout=5)
    finally:
        answerer.close()
    assert resp.status == 200
    assert answerer.request is not None and answerer.request.startswith(b"MESSAGE sip:bob@127.0.0.1:%d"
                                                                        % answerer.port)
    assert answerer.request.endswith(b"hello")
    [(contact, left)] = kamailio.bindings("bob")
    assert contact == "sip:bob@127.0.0.1:%d;transport=UDP" % answerer.port
    assert 55 <= left <= 60

    register(local_sipp, kamailio, "bob", "bobpw", expires=0, contact_port=answerer.port)
    assert kamailio.bindings("bob") == []
    assert [r.expires for r in kamailio.seen("REGISTER", user="bob")] == [60, 60, 0, 0]
    rc, log = local_sipp.run("kamailio_invite_not_found.xml", (kamailio.host, kamailio.port), service="bob")
    assert rc == 0, log[-6000:]
    # The 404 came from the lookup (sl absorbs the ACK for its own reply before the script sees it).
    assert kamailio.count("INVITE", user="bob") == 1


def test_missing_peer_binary_fails_loudly():
    with pytest.raises(PeerError, match=r"no-such-sip-peer is not installed.*apt-get install .*some-package"):
        require_binary("no-such-sip-peer", "some-package")


def test_short_registration_lapses(kamailio, local_sipp):
    register(local_sipp, kamailio, "alice", "alicepw", expires=3)
    [(contact, left)] = kamailio.bindings("alice")
    assert 1 <= left <= 3
    assert wait_until(lambda: kamailio.bindings("alice") == [], timeout=5, interval=0.2)
    assert kamailio.bindings("bob") == []


@pytest.mark.parametrize("variant", [{}, {"invite_auth": True}, {"invite_auth": True, "indialog_auth": True},
                                     {"qop": True, "users": {}}])
def test_kamailio_config_variants_parse(tmp_path, variant):
    Kamailio(tmp_path / "check", **variant).check_config()


def test_kamailio_rejects_unsafe_passwords(tmp_path):
    for bad in ('with"quote', "with space", "with$dollar", "back\\slash", ""):
        with pytest.raises(ValueError):
            Kamailio(tmp_path / "bad", users={"alice": bad})


def test_kamailio_stop_leaves_no_process(kamailio_factory):
    k = kamailio_factory()
    pids = k.all_pids()
    assert len(pids) >= 5                          # main, 2 UDP workers, 2 TCP workers and helpers
    assert all(pid_alive(p) for p in pids)
    assert k.stop() == 0
    assert [p for p in pids if pid_alive(p)] == []
    assert "peers-seen method=OPTIONS" in k.log_text()


def test_second_kamailio_on_a_busy_port_fails_loudly(kamailio, tmp_path):
    second = Kamailio(tmp_path / "second", port=kamailio.port)
    with pytest.raises(PeerError, match="kamailio"):
        second.start(timeout=5)
    assert not second.running()
    # The first one is unharmed.
    assert kamailio.answers("udp") and kamailio.answers("tcp")


def _register_once(k, user, authorization=None, proto="udp", cseq=1, call_id=None):
    headers = ["Expires: 60"] + (["Authorization: " + authorization] if authorization else [])
    return sipprobe.request(k.host, k.port, proto, "REGISTER", uri=k.uri, from_uri=k.aor(user),
                            extra_headers=headers, timeout=2, cseq=cseq, call_id=call_id)


def test_expired_nonce_gets_a_stale_challenge(kamailio_factory):
    k = kamailio_factory(qop=True, nonce_expire=1)
    first = _register_once(k, "alice")
    assert first.status == 401 and "stale" not in first.header("www-authenticate")
    auth = sipprobe.digest_credentials(first.header("www-authenticate"), "alice", "alicepw", "REGISTER", k.uri)
    assert _register_once(k, "alice", auth, cseq=2).status == 200
    # Once the nonce has expired, the same (right) credentials draw a fresh challenge marked stale.
    ok = wait_until(lambda: _register_once(k, "alice", auth, cseq=3).status == 401, timeout=5, interval=0.25)
    assert ok
    again = _register_once(k, "alice", auth, cseq=4)
    params = sipprobe.parse_challenge(again.header("www-authenticate"))
    assert params["stale"] == "true" and params["qop"] == "auth"
    assert params["nonce"] != sipprobe.parse_challenge(first.header("www-authenticate"))["nonce"]
    assert "-4" in k.auth_results("alice")


def test_invite_auth_challenges_message_from_local_users_only(kamailio_invite_auth):
    k = kamailio_invite_auth
    local = sipprobe.request(k.host, k.port, "udp", "MESSAGE", uri=k.aor("bob"), from_uri=k.aor("alice"),
                             to_uri=k.aor("bob"), extra_headers=["Content-Type: text/plain"], body=b"hi",
                             timeout=2)
    assert local.status == 407
    assert 'realm="127.0.0.1"' in local.header("proxy-authenticate")
    auth = sipprobe.digest_credentials(local.header("proxy-authenticate"), "alice", "alicepw", "MESSAGE",
                                       k.aor("bob"))
    # Authenticated, the MESSAGE gets as far as the lookup: bob is not registered.
    resp = sipprobe.request(k.host, k.port, "tcp", "MESSAGE", uri=k.aor("bob"), from_uri=k.aor("alice"),
                            to_uri=k.aor("bob"), extra_headers=["Content-Type: text/plain",
                                                                "Proxy-Authorization: " + auth],
                            body=b"hi", timeout=2, cseq=2)
    assert resp.status == 404
    wrong = sipprobe.digest_credentials(local.header("proxy-authenticate"), "alice", "nope", "MESSAGE",
                                        k.aor("bob"))
    resp = sipprobe.request(k.host, k.port, "udp", "MESSAGE", uri=k.aor("bob"), from_uri=k.aor("alice"),
                            to_uri=k.aor("bob"), extra_headers=["Proxy-Authorization: " + wrong],
                            timeout=2, cseq=3)
    assert resp.status == 403
    # A request from another domain is not challenged.
    foreign = sipprobe.request(k.host, k.port, "udp", "MESSAGE", uri=k.aor("bob"),
                               from_uri="sip:carol@example.invalid", to_uri=k.aor("bob"), timeout=2)
    assert foreign.status == 404
    assert k.auth_results("alice") == ["1", "-2"]


# --- baresip through Kamailio -------------------------------------------------------------------------

def _call_events(b):
    return [t for t in b.ctrl.event_types() if t.startswith("CALL_")]


def test_baresip_registers_and_unregisters_on_quit(kamailio, baresip_factory):
    alice = baresip_factory("alice", "alicepw", (kamailio.host, kamailio.port))
    alice.wait_registered(timeout=10)
    assert kamailio.auth_results("alice") == ["1"]
    assert kamailio.register_count("alice") == 2       # challenged, then authenticated
    [(contact, left)] = kamailio.bindings("alice")
    assert contact.startswith("sip:alice") and contact.endswith(":%d" % alice.sip_port)
    assert 55 <= left <= 60
    alice.stop()
    assert not pid_alive(alice.pid)
    # On quit baresip removes its binding (again challenged, then expires=0).
    assert kamailio.wait_for("REGISTER", 4, timeout=3, user="alice") == 4
    assert wait_until(lambda: kamailio.bindings("alice") == [], timeout=2)


def test_baresip_registers_over_tcp(kamailio, baresip_factory):
    bob = baresip_factory("bob", "bobpw", (kamailio.host, kamailio.port), transport="tcp", regint=30)
    bob.wait_registered(timeout=10)
    seen = kamailio.seen("REGISTER", user="bob")
    assert [r.proto for r in seen] == ["tcp", "tcp"]
    # baresip asks for its interval in the Contact's expires parameter, and the registrar grants it.
    assert [r.expires for r in seen] == [None, None]
    assert "Expires 30s" in bob.reginfo()


def test_baresip_with_wrong_password_is_refused(kamailio, baresip_factory):
    alice = baresip_factory("alice", "wrongpw", (kamailio.host, kamailio.port))
    assert alice.wait_registration("ERR", timeout=10) == "ERR"
    assert "403 Forbidden" in alice.log_tail()
    # One challenge, one wrong answer, then baresip stops trying.
    assert kamailio.auth_results("alice") == ["-2"]
    assert kamailio.register_count("alice") == 2


def test_baresip_calls_sipp_through_kamailio(kamailio, baresip_factory, local_sipp):
    # SIPp answers for bob: one SIPp registers bob with a Contact on the port where a second one waits.
    uas_port = free_port()
    register(local_sipp, kamailio, "bob", "bobpw", contact_port=uas_port)
    uas, uas_name = local_sipp.start("kamailio_uas.xml", service="bob", port=uas_port)

    alice = baresip_factory("alice", "alicepw", (kamailio.host, kamailio.port))
    alice.wait_registered(timeout=10)
    assert alice.dial(kamailio.aor("bob"))["ok"]
    established = alice.ctrl.wait_event("CALL_ESTABLISHED", timeout=10)
    assert established["direction"] == "outgoing"
    assert established["peeruri"].startswith(kamailio.aor("bob"))
    assert "CALL_RINGING" in alice.ctrl.event_types()
    assert alice.hangup()["ok"]
    closed = alice.ctrl.wait_event("CALL_CLOSED", timeout=5)
    assert closed["id"] == established["id"]
    rc = wait_process(uas, timeout=10)
    assert rc == 0, "SIPp UAS failed (rc %d):\n%s\n%s" % (rc, uas.log_tail(), local_sipp.diagnostics(uas_name))
    # The call went through the proxy both ways: INVITE, ACK and BYE all logged by Kamailio.
    assert kamailio.count("INVITE", user="bob") == 1
    assert kamailio.count("ACK", user="bob") == 1
    assert kamailio.count("BYE") == 1


@pytest.mark.parametrize("transport", ["udp", "tcp"])
def test_sipp_calls_baresip_through_kamailio(kamailio, baresip_factory, local_sipp, transport):
    alice = baresip_factory("alice", "alicepw", (kamailio.host, kamailio.port))
    alice.wait_registered(timeout=10)
    rc, log = local_sipp.run("kamailio_uac_call.xml", (kamailio.host, kamailio.port), transport=transport,
                       service="alice", keys={"caller": "bob"}, duration_ms=500)
    assert rc == 0, "SIPp UAC failed (rc %d):\n%s\n--- baresip ---\n%s" % (rc, log[-6000:], alice.log_tail())
    established = alice.ctrl.wait_event("CALL_ESTABLISHED", timeout=5)
    assert established["direction"] == "incoming"
    assert established["peeruri"].startswith("sip:bob@")
    closed = alice.ctrl.wait_event("CALL_CLOSED", timeout=5)
    assert closed["id"] == established["id"]
    assert [r.proto for r in kamailio.seen("INVITE", user="alice")] == [transport]
    assert kamailio.count("BYE") == 1


def test_baresip_sends_message_with_proxy_auth(kamailio_invite_auth, baresip_factory, local_sipp):
    k = kamailio_invite_auth
    answerer = _Answerer(timeout=8)
    answerer.start()
    try:
        register(local_sipp, k, "bob", "bobpw", contact_port=answerer.port)
        alice = baresip_factory("alice", "alicepw", (k.host, k.port), contacts=[k.aor("bob")])
        alice.wait_registered(timeout=10)
        assert alice.message("hello bob")["ok"]
        assert wait_until(lambda: answerer.request is not None, timeout=5)
    finally:
        answerer.close()
    assert answerer.request.startswith(b"MESSAGE sip:bob@127.0.0.1:%d" % answerer.port)
    assert answerer.request.endswith(b"hello bob")
    # baresip answered the 407 for its MESSAGE with alice's credentials.
    assert k.count("MESSAGE", user="bob") == 2
    assert k.auth_results("alice") == ["1", "1"]   # REGISTER, then MESSAGE
    assert len(k.sent("MESSAGE")) == 1


def test_baresip_answers_by_command(kamailio, baresip_factory, local_sipp):
    alice = baresip_factory("alice", "alicepw", (kamailio.host, kamailio.port), answermode="manual")
    alice.wait_registered(timeout=10)
    caller, name = local_sipp.start("kamailio_uac_call.xml", (kamailio.host, kamailio.port), service="alice",
                                    keys={"caller": "bob"}, duration_ms=200)
    incoming = alice.ctrl.wait_event("CALL_INCOMING", timeout=5)
    assert incoming["peeruri"].startswith("sip:bob@")
    assert "CALL_ESTABLISHED" not in alice.ctrl.event_types()
    assert alice.answer()["ok"]
    established = alice.ctrl.wait_event("CALL_ESTABLISHED", timeout=5)
    assert established["id"] == incoming["id"]
    alice.ctrl.wait_event("CALL_CLOSED", timeout=5)
    rc = wait_process(caller, timeout=10)
    assert rc == 0, "SIPp UAC failed (rc %d):\n%s" % (rc, local_sipp.diagnostics(name))


def test_sipp_calls_baresip_with_invite_auth(kamailio_invite_auth, baresip_factory, local_sipp):
    k = kamailio_invite_auth
    alice = baresip_factory("alice", "alicepw", (k.host, k.port))
    alice.wait_registered(timeout=10)
    rc, log = local_sipp.run("kamailio_uac_call_auth.xml", (k.host, k.port), service="alice",
                             auth=("bob", "bobpw"), keys={"caller": "bob"}, duration_ms=300)
    assert rc == 0, "SIPp UAC failed (rc %d):\n%s\n--- kamailio ---\n%s" % (rc, log[-6000:], k.process.log_tail())
    alice.ctrl.wait_event("CALL_ESTABLISHED", timeout=5)
    alice.ctrl.wait_event("CALL_CLOSED", timeout=5)
    # The first INVITE drew the 407, the second passed with bob's credentials.
    assert k.count("INVITE", user="alice") == 2
    assert k.auth_results("bob") == ["1"]


def test_sipp_reinvite_and_bye_challenged_in_dialog(kamailio_factory, baresip_factory, local_sipp):
    k = kamailio_factory(invite_auth=True, indialog_auth=True)
    alice = baresip_factory("alice", "alicepw", (k.host, k.port))
    alice.wait_registered(timeout=10)
    rc, log = local_sipp.run("kamailio_uac_call_indialog_auth.xml", (k.host, k.port), service="alice",
                             auth=("bob", "bobpw"), keys={"caller": "bob"}, duration_ms=200)
    assert rc == 0, "SIPp UAC failed (rc %d):\n%s\n--- kamailio ---\n%s" % (rc, log[-8000:], k.process.log_tail())
    established = alice.ctrl.wait_event("CALL_ESTABLISHED", timeout=5)
    closed = alice.ctrl.wait_event("CALL_CLOSED", timeout=5)
    assert closed["id"] == established["id"]
    # INVITE, re-INVITE and BYE each came twice: without, then with credentials; every check passed.
    assert k.count("INVITE", user="alice") == 4
    assert k.count("BYE") == 2
    assert k.auth_results("bob") == ["1", "1", "1"]
    # Only the authenticated ones went on to baresip; the ACK of the re-INVITE's 407 stopped at the proxy.
    sent = [(r.method, r.cseq, r.proto) for r in k.sent() if r.method in ("INVITE", "ACK", "BYE")]
    assert sent == [("INVITE", "2", "udp"), ("ACK", "2", "udp"), ("INVITE", "4", "udp"), ("ACK", "4", "udp"),
                    ("BYE", "6", "udp")]
    assert {r.destination for r in k.sent("BYE")} == {"127.0.0.1:%d" % alice.sip_port}


def test_sipp_call_without_credentials_gets_407(kamailio_invite_auth, baresip_factory, local_sipp):
    k = kamailio_invite_auth
    alice = baresip_factory("alice", "alicepw", (k.host, k.port))
    alice.wait_registered(timeout=10)
    rc, log = local_sipp.run("kamailio_uac_call.xml", (k.host, k.port), service="alice", keys={"caller": "bob"},
                       duration_ms=0, timeout=5)
    assert rc != 0, "an INVITE without credentials got through:\n%s" % log[-4000:]
    assert "407" in log
    assert _call_events(alice) == []


def test_baresip_calls_baresip_with_invite_and_indialog_auth(kamailio_factory, baresip_factory):
    k = kamailio_factory(invite_auth=True, indialog_auth=True, qop=True)
    alice = baresip_factory("alice", "alicepw", (k.host, k.port))
    bob = baresip_factory("bob", "bobpw", (k.host, k.port))
    alice.wait_registered(timeout=10)
    bob.wait_registered(timeout=10)
    assert alice.dial(k.aor("bob"))["ok"]
    out = alice.ctrl.wait_event("CALL_ESTABLISHED", timeout=10)
    inc = bob.ctrl.wait_event("CALL_ESTABLISHED", timeout=10)
    assert out["id"] == inc["id"]
    assert bob.hangup()["ok"]          # bob's BYE is challenged (407) and retried with his credentials
    bob.ctrl.wait_event("CALL_CLOSED", timeout=5)
    alice.ctrl.wait_event("CALL_CLOSED", timeout=5)
    assert k.count("INVITE", user="bob") == 2
    assert k.count("BYE") == 2
    assert "1" in k.auth_results("bob") and "1" in k.auth_results("alice")
