# SPDX-License-Identifier: Apache-2.0
"""SIP over TLS (core/src/tls.c): two contexts calling each other, certificate verification on and
off, mutual TLS, pinning, the errors of Context.set_tls, and hostile TLS clients.

Certificates come from throwaway authorities made with the `openssl` command in tmp_path. A TCP
relay between the two contexts records every byte the caller sends, to show that nothing goes out
in clear when verification refuses the server.
"""

import glob
import os
import queue
import select
import socket
import ssl
import subprocess
import sys
import threading
import time

import pytest

from exosip2 import call
from exosip2.context import Context
from exosip2.error import OsipBadParameter
from exosip2.event import EventType as T
from exosip2.options import Option, option_type
from tlscerts import CA, public_key_der
from uapair import WAIT, sdp

FAILURES = (T.call_noanswer, T.call_requestfailure, T.call_serverfailure, T.call_globalfailure)


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    """Two unrelated roots; leaves for 127.0.0.1 from each; an encrypted key; a cert for another name."""
    d = tmp_path_factory.mktemp("pki")
    good, other = CA(d, "good"), CA(d, "other")
    out = {"ca": good.cert, "other_ca": other.cert, "dir": str(d)}
    out["server"] = good.issue("server")
    out["client"] = good.issue("client")
    out["stranger"] = other.issue("stranger")
    out["wrong_name"] = good.issue("wrongname", san="DNS:sip.example.test")
    out["locked"] = good.issue("locked", password="s3cret")
    out["pin"] = public_key_der(out["server"][0], os.path.join(str(d), "server.der"))
    out["other_pin"] = public_key_der(out["stranger"][0], os.path.join(str(d), "stranger.der"))
    return out


class TlsUA:
    """A Context listening for TLS on a free 127.0.0.1 port, events in a queue."""

    def __init__(self, name, port=0, options=None, **tls):
        self.name = name
        self.events = queue.Queue()
        self.ctx = Context(lambda ctx, ev: self.events.put(ev))
        for opt, value in (options or {}).items():
            self.ctx.set_option(opt, value)
        self.ctx.set_tls(**tls)
        self.port = self.ctx.listen_on_address("127.0.0.1", socket.IPPROTO_TCP, port=port, secure=True)
        self.uri = "sips:%s@127.0.0.1:%d" % (name, self.port)
        self.ctx.start(event_executor="inline")

    def expect(self, *types, timeout=WAIT):
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            try:
                ev = self.events.get(timeout=max(left, 0.01))
            except queue.Empty:
                raise AssertionError("%s: nothing within %.0f s (expected %s)" % (self.name, timeout, types))
            if ev.type in types:
                return ev
            if ev.type == T.call_proceeding:
                continue
            raise AssertionError("%s: got %r, expected %s" % (self.name, ev, types))

    def expect_nothing(self, timeout=0.3):
        try:
            ev = self.events.get(timeout=timeout)
        except queue.Empty:
            return
        raise AssertionError("%s: unexpected %r" % (self.name, ev))

    def close(self):
        self.ctx.close()
        while not self.events.empty():
            self.events.get_nowait()


@pytest.fixture
def uas(no_leaks):
    made = []

    def make(name, **tls):
        ua = TlsUA(name, **tls)
        made.append(ua)
        return ua

    yield make
    for ua in made:
        ua.close()


def invite(a, target):
    inv = call.InitInvite(a.ctx, target, a.uri, subject="tls")
    inv.add_body(sdp(a.name, 40000))
    inv.content_type = "application/sdp"
    return inv.send()


def full_call(a, b, target=None, bye_from_callee=False):
    """INVITE, 200, ACK, BYE over TLS; checks the Via and Contact say TLS. Returns b's INVITE."""
    a_cid = invite(a, target or b.uri)
    ev = b.expect(T.call_invite)
    req = ev.request.to_bytes()
    assert b"Via: SIP/2.0/TLS 127.0.0.1:%d" % a.port in req, req
    assert b";transport=tls" in req and b":%d;transport=tls" % a.port in req, req
    b_cid, b_did = ev.cid, ev.did
    ok = call.Answer(b.ctx, ev.tid, 200)
    ok.add_body(sdp(b.name, 41000))
    ok.content_type = "application/sdp"
    ok.send()
    ans = a.expect(T.call_answered)
    assert b"SIP/2.0/TLS" in ans.response.to_bytes()
    assert b";transport=tls" in ans.response.to_bytes()
    a_did = ans.did
    call.Ack(a.ctx, a_did).send()
    b.expect(T.call_ack)
    byer, other, cid, did = (b, a, b_cid, b_did) if bye_from_callee else (a, b, a_cid, a_did)
    byer.ctx.call_terminate(cid, did)
    # a peer's BYE as eXosip2 5.3 reports it: the BYE (answered 200 by the stack), then call_closed
    assert other.expect(T.call_message_new).request.method == "BYE"
    assert other.expect(T.call_closed).request.method == "BYE"
    other.expect(T.call_released)
    done = byer.expect(T.call_message_answered, T.call_released)
    if done.type == T.call_message_answered:
        assert done.response.status_code == 200
        byer.expect(T.call_released)
    return req


def established(port):
    """ESTABLISHED TCP connections on 127.0.0.1 with *port* at either end (both ends listed)."""
    out = subprocess.run(["ss", "-Htn", "state", "established"], capture_output=True, text=True,
                         timeout=10).stdout
    return [line for line in out.splitlines() if ":%d " % port in line + " "]


def test_call_over_tls_with_verification_both_ways_one_connection(pki, uas, no_leaks):
    bob = uas("bob", cert=pki["server"][0], key=pki["server"][1], root_ca=pki["ca"], verify=True)
    alice = uas("alice", cert=pki["client"][0], key=pki["client"][1], root_ca=pki["ca"], verify=True)
    full_call(alice, bob)
    # the BYE from the callee travels the connection the caller opened: one connection in all
    full_call(alice, bob, bye_from_callee=True)
    conns = established(bob.port)
    assert len(conns) == 2, conns  # the two ends of one connection
    # ;transport=tls on a sip: URI asks for TLS as sips: does
    full_call(alice, bob, target="sip:bob@127.0.0.1:%d;transport=tls" % bob.port)
    assert len(established(bob.port)) == 2


def test_verification_off_by_default_accepts_any_certificate(pki, uas, no_leaks):
    bob = uas("bob", cert=pki["stranger"][0], key=pki["stranger"][1], verify=False)
    alice = uas("alice", cert=pki["client"][0], key=pki["client"][1], verify=False)
    full_call(alice, bob)


class Relay:
    """A TCP relay 127.0.0.1:port -> target that records what the client sent."""

    def __init__(self, target_port):
        self.sent = bytearray()
        self.srv = socket.socket()
        self.srv.bind(("127.0.0.1", 0))
        self.srv.listen(8)
        self.port = self.srv.getsockname()[1]
        self.target = target_port
        self.stop = False
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        pairs, callers = {}, set()
        self.srv.settimeout(0.05)
        while not self.stop:
            try:
                c, _ = self.srv.accept()
                s = socket.create_connection(("127.0.0.1", self.target), timeout=2)
                pairs[c] = s
                pairs[s] = c
                callers.add(c)
            except socket.timeout:
                pass
            if not pairs:
                continue
            r, _, _ = select.select(list(pairs), [], [], 0.05)
            for sock in r:
                try:
                    data = sock.recv(65536)
                except OSError:
                    data = b""
                peer = pairs.get(sock)
                if not data or peer is None:
                    for x in (sock, peer):
                        if x is not None:
                            pairs.pop(x, None)
                            x.close()
                    continue
                if sock in callers:
                    self.sent += data
                peer.sendall(data)
        for x in list(pairs):
            x.close()

    def close(self):
        self.stop = True
        self.thread.join(5)
        self.srv.close()


@pytest.mark.parametrize("case", ["other_ca", "wrong_name", "pin_mismatch"])
def test_a_server_that_does_not_verify_is_refused_and_nothing_goes_out_in_clear(pki, uas, no_leaks, case):
    if case == "other_ca":
        bob = uas("bob", cert=pki["stranger"][0], key=pki["stranger"][1], verify=False)
        tls = dict(root_ca=pki["ca"], verify=True)
    elif case == "wrong_name":
        bob = uas("bob", cert=pki["wrong_name"][0], key=pki["wrong_name"][1], verify=False)
        tls = dict(root_ca=pki["ca"], verify=True)
    else:  # a good chain, but not the public key we pinned
        bob = uas("bob", cert=pki["server"][0], key=pki["server"][1], verify=False)
        tls = dict(root_ca=pki["ca"], verify=True, pinned_public_key=pki["other_pin"])
    alice = uas("alice", cert=pki["client"][0], key=pki["client"][1], **tls)
    relay = Relay(bob.port)
    try:
        t0 = time.monotonic()
        cid = invite(alice, "sips:bob@127.0.0.1:%d" % relay.port)
        ev = alice.expect(*FAILURES, timeout=10)
        assert ev.cid == cid and ev.response is None
        assert time.monotonic() - t0 < 5, "the failure is reported at once, not after timer B"
        bob.expect_nothing(0.3)
    finally:
        relay.close()
    assert relay.sent, "the handshake started"
    assert b"INVITE" not in relay.sent and b"SIP/2.0" not in relay.sent and b"alice" not in relay.sent


def test_pinned_public_key_that_matches_is_accepted(pki, uas, no_leaks):
    bob = uas("bob", cert=pki["server"][0], key=pki["server"][1], verify=False)
    alice = uas("alice", cert=pki["client"][0], key=pki["client"][1], root_ca=pki["ca"],
                pinned_public_key=pki["pin"])
    full_call(alice, bob)


def test_mutual_tls_the_server_refuses_a_client_certificate_it_cannot_verify(pki, uas, no_leaks):
    bob = uas("bob", cert=pki["server"][0], key=pki["server"][1], root_ca=pki["ca"], verify=True)
    # TLS 1.2: the client learns of the refusal within the handshake (with TLS 1.3 the server
    # refuses after the client's Finished, once the request went out: it then ends at timer B)
    mallory = uas("mallory", cert=pki["stranger"][0], key=pki["stranger"][1], root_ca=pki["ca"], verify=True,
                  tls_flags=ssl.OP_NO_TLSv1_3)
    invite(mallory, bob.uri)
    mallory.expect(*FAILURES, timeout=10)
    bob.expect_nothing(0.3)
    # a client certificate from the trusted root is taken
    alice = uas("alice", cert=pki["client"][0], key=pki["client"][1], root_ca=pki["ca"], verify=True)
    full_call(alice, bob)


def test_cipher_list_is_honoured(pki, uas, no_leaks):
    bob = uas("bob", cert=pki["server"][0], key=pki["server"][1], verify=False, tls_flags=ssl.OP_NO_TLSv1_3,
              cipher_list="ECDHE-ECDSA-AES128-GCM-SHA256")
    alice = uas("alice", cert=pki["client"][0], key=pki["client"][1], verify=False)
    full_call(alice, bob)
    # a client that offers only another TLS 1.2 suite gets no handshake
    cctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    cctx.check_hostname = False
    cctx.verify_mode = ssl.CERT_NONE
    cctx.maximum_version = ssl.TLSVersion.TLSv1_2
    cctx.set_ciphers("ECDHE-ECDSA-AES256-GCM-SHA384")
    with socket.create_connection(("127.0.0.1", bob.port), timeout=5) as raw:
        with pytest.raises(ssl.SSLError):
            cctx.wrap_socket(raw)


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_tls_1_1_and_older_are_refused(pki, uas, no_leaks):
    bob = uas("bob", cert=pki["server"][0], key=pki["server"][1], verify=False)
    cctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    cctx.check_hostname = False
    cctx.verify_mode = ssl.CERT_NONE
    try:
        cctx.minimum_version = ssl.TLSVersion.TLSv1
        cctx.maximum_version = ssl.TLSVersion.TLSv1_1
        cctx.set_ciphers("ALL:@SECLEVEL=0")
    except (ValueError, ssl.SSLError):
        pytest.fail("this Python cannot offer TLS 1.1 to test the refusal")
    with socket.create_connection(("127.0.0.1", bob.port), timeout=5) as raw:
        with pytest.raises((ssl.SSLError, ConnectionResetError)):
            cctx.wrap_socket(raw)


# --- set_tls: clear errors ------------------------------------------------------------------------

def test_set_tls_errors_are_clear(pki, tmp_path, no_leaks):
    with Context() as ctx:
        with pytest.raises(FileNotFoundError, match="root_ca"):
            ctx.set_tls(root_ca=str(tmp_path / "nope.pem"))
        with pytest.raises(FileNotFoundError, match="cert"):
            ctx.set_tls(cert=str(tmp_path / "nope.pem"), key=pki["server"][1])
        with pytest.raises(ValueError, match="both a certificate and its key"):
            ctx.set_tls(cert=pki["server"][0])
        with pytest.raises(ValueError, match="does not match"):
            ctx.set_tls(cert=pki["server"][0], key=pki["client"][1])
        with pytest.raises(ValueError, match="password"):
            ctx.set_tls(cert=pki["locked"][0], key=pki["locked"][1], key_password="wrong")
        with pytest.raises(ValueError, match="password"):
            ctx.set_tls(cert=pki["locked"][0], key=pki["locked"][1])
        notpem = tmp_path / "junk.pem"
        notpem.write_bytes(b"not a certificate\n")
        with pytest.raises(ValueError, match="root_ca"):
            ctx.set_tls(root_ca=str(notpem))
        with pytest.raises(ValueError, match="cipher"):
            ctx.set_tls(cipher_list="NO-SUCH-CIPHER")
        with pytest.raises(OsipBadParameter, match="certificate"):
            ctx.listen_on_address("127.0.0.1", socket.IPPROTO_TCP, port=0, secure=True)
        with pytest.raises(OsipBadParameter, match="IPPROTO_TCP"):
            ctx.listen_on_address("127.0.0.1", socket.IPPROTO_UDP, port=0, secure=True)
        # the right password opens the key; a folder of certificates is a valid root_ca
        ctx.set_tls(cert=pki["locked"][0], key=pki["locked"][1], key_password="s3cret", root_ca=pki["dir"])
        assert ctx.listen_on_address("127.0.0.1", socket.IPPROTO_TCP, port=0, secure=True) > 0


@pytest.fixture(scope="module")
def bad_files(tmp_path_factory, pki):
    """Files set_tls must refuse: empty, not PEM, 8 MiB of random bytes, the wrong PEM block."""
    d = tmp_path_factory.mktemp("bad_tls_files")
    out = {"dir": str(d)}
    for name, data in (("empty", b""), ("junk", b"not a certificate\n"), ("huge", os.urandom(8 << 20)),
                       ("truncated", open(pki["server"][0], "rb").read()[:200])):
        (d / name).write_bytes(data)
        out[name] = str(d / name)
    # a key under a cipher that OpenSSL 3 keeps in its legacy provider (PBE-MD5-DES), which core/ does not load
    out["legacy"] = str(d / "legacy.key")
    subprocess.run(["openssl", "pkcs8", "-topk8", "-in", pki["server"][1], "-out", out["legacy"], "-v1", "PBE-MD5-DES",
                    "-passout", "pass:s3cret", "-provider", "legacy", "-provider", "default"],
                   check=True, capture_output=True, timeout=30)
    return out


def _core_reason(ctx, **kw):
    with pytest.raises(ValueError) as info:
        ctx.set_tls(**kw)
    return str(info.value)


# (set_tls arguments, what the reason must say), with names resolved from pki and bad_files
CORE_CHECK_CASES = [
    ("mismatch", dict(cert="server.cert", key="client.key"),
     r"the key \S+client\.key does not match the certificate \S+server\.pem"),
    ("server_mismatch", dict(server_cert="server.cert", server_key="client.key"),
     r"the server key \S+client\.key does not match the server certificate \S+server\.pem"),
    ("wrong_password", dict(cert="locked.cert", key="locked.key", key_password="wrong"),
     r"cannot read the key \S+locked\.enc\.key: wrong or missing password"),
    ("missing_password", dict(cert="locked.cert", key="locked.key"),
     r"cannot read the key \S+locked\.enc\.key: wrong or missing password"),
    ("cert_not_pem", dict(cert="bad.junk", key="server.key"), r"certificate \S+junk is not PEM"),
    ("key_not_pem", dict(cert="server.cert", key="bad.junk"), r"key \S+junk is not PEM"),
    ("cert_is_a_key", dict(cert="server.key", key="server.key"),
     r"certificate \S+server\.key holds no CERTIFICATE \(its PEM blocks: PRIVATE KEY\)"),
    ("key_is_a_cert", dict(cert="server.cert", key="server.cert"),
     r"key \S+server\.pem holds no PRIVATE KEY \(its PEM blocks: CERTIFICATE\)"),
    ("cert_truncated", dict(cert="bad.truncated", key="server.key"), r"certificate \S+truncated is not PEM"),
    ("root_ca_not_pem", dict(root_ca="bad.junk"), r"root_ca \S+junk holds no PEM certificate"),
    ("root_ca_is_a_key", dict(root_ca="server.key"), r"root_ca \S+server\.key holds no PEM certificate"),
    ("cipher", dict(cipher_list="NO-SUCH-CIPHER"), r'OpenSSL knows no cipher in the cipher_list "NO-SUCH-CIPHER"'),
    ("pin_not_der", dict(pinned_public_key="bad.junk"), r"pinned_public_key \S+junk is not one DER public key"),
    ("pin_is_pem", dict(pinned_public_key="server.cert"), r"pinned_public_key \S+server\.pem is not one DER"),
    ("pin_too_big", dict(pinned_public_key="bad.huge"), r"pinned_public_key \S+huge is unreadable or over"),
    ("empty_cert", dict(cert="bad.empty", key="server.key"), r"certificate \S+empty is empty"),
    ("empty_key", dict(cert="server.cert", key="bad.empty"), r"key \S+empty is empty"),
    ("empty_root_ca", dict(root_ca="bad.empty"), r"root_ca \S+empty is empty"),
    ("empty_pin", dict(pinned_public_key="bad.empty"), r"pinned_public_key \S+empty is empty"),
    ("huge_key", dict(cert="server.cert", key="bad.huge"), r"key \S+huge is not PEM"),
    ("huge_root_ca", dict(root_ca="bad.huge"), r"root_ca \S+huge holds no PEM certificate"),
    ("legacy_cipher_key", dict(cert="server.cert", key="bad.legacy", key_password="s3cret"),
     r"cannot read the key \S+legacy\.key: it uses an algorithm OpenSSL \S+ does not provide"),
]


def _resolve(kw, pki, bad_files):
    out = {}
    for k, v in kw.items():
        if isinstance(v, str) and v.startswith("bad."):
            v = bad_files[v[4:]]
        elif isinstance(v, str) and v.split(".")[-1] in ("cert", "key") and v.split(".")[0] in pki:
            name, part = v.split(".")
            v = pki[name][0 if part == "cert" else 1]
        out[k] = v
    return out


@pytest.mark.core_only
@pytest.mark.parametrize("case,kw,reason", CORE_CHECK_CASES, ids=[c[0] for c in CORE_CHECK_CASES])
def test_set_tls_core_check_names_the_file_and_the_fault(pki, bad_files, no_leaks, case, kw, reason):
    import re
    with Context() as ctx:
        text = _core_reason(ctx, **_resolve(kw, pki, bad_files))
        assert text.startswith("set_tls: ") and "\n" not in text, text
        assert re.search(reason, text), text
        # the refusal installed nothing: a good set-up is taken afterwards and serves
        ctx.set_tls(cert=pki["server"][0], key=pki["server"][1])
        assert ctx.listen_on_address("127.0.0.1", socket.IPPROTO_TCP, port=0, secure=True) > 0


def test_set_tls_hostile_paths(pki, bad_files, no_leaks):
    with Context() as ctx:
        # a directory where a file belongs: named as such (a folder is only right for root_ca)
        with pytest.raises(ValueError, match=r"key \S+ is a directory, not a file"):
            ctx.set_tls(cert=pki["server"][0], key=bad_files["dir"])
        with pytest.raises(ValueError, match=r"cert \S+ is a directory, not a file"):
            ctx.set_tls(cert=bad_files["dir"], key=pki["server"][1])
        with pytest.raises(ValueError, match="pinned_public_key"):
            ctx.set_tls(pinned_public_key=bad_files["dir"])
        with pytest.raises(ValueError, match="NUL"):
            ctx.set_tls(cipher_list="HIGH\0LOW")
        with pytest.raises(ValueError, match="cipher"):
            ctx.set_tls(cipher_list="x" * 1000)
        with pytest.raises(ValueError):
            ctx.set_tls(cert=bad_files["huge"], key=bad_files["huge"])
        ctx.set_tls(root_ca=bad_files["dir"])  # a folder without hashed certificates trusts nothing more


@pytest.fixture(scope="module")
def tls_check_exe(tmp_path_factory):
    from test_core_register import _compile
    return _compile(tmp_path_factory, "tls_check")


def _tls_check_args(pki, bad_files):
    s, c, lk = pki["server"], pki["client"], pki["locked"][1]
    return ["cert=%s,key=%s" % (s[0], s[1]), "cert=%s,key=%s" % (s[0], c[1]),
            "cert=%s,key=%s,pw=wrong" % (pki["locked"][0], lk), "cert=%s,key=%s" % (pki["locked"][0], lk),
            "cert=%s,key=%s,pw=s3cret,ca=%s,pin=%s" % (pki["locked"][0], lk, pki["ca"], pki["pin"]),
            "ca=%s" % bad_files["junk"], "ca=%s" % bad_files["huge"], "ciphers=NOPE",
            "cert=%s,key=%s" % (bad_files["junk"], s[1]), "cert=%s,key=%s" % (s[0], bad_files["huge"]),
            "cert=%s,key=%s" % (s[0], bad_files["dir"]), "cert=%s" % s[0], "skey=%s" % s[1],
            "scert=%s,skey=%s" % (s[0], c[1]), "pin=%s" % bad_files["junk"], "pin=%s" % bad_files["empty"],
            "pin=%s" % bad_files["dir"], "cert=%s,key=%s" % (s[0], s[0]),
            "cert=%s,key=%s,pw=s3cret" % (s[0], bad_files["legacy"])]


@pytest.mark.core_only
def test_core_tls_check_from_c(tls_check_exe, pki, bad_files):
    res = subprocess.run([tls_check_exe] + _tls_check_args(pki, bad_files), capture_output=True, text=True,
                         timeout=60)
    assert res.returncode == 0, res.stdout + res.stderr
    lines = res.stdout.splitlines()
    assert lines[0] == "null rc=-2 why=no TLS parameters given", lines  # OSIP_BADPARAMETER
    assert lines[1] == "empty rc=0", lines
    rcs = [int(line.split("rc=")[1].split()[0]) for line in lines[2:]]
    # TLS_OK, then TLS_ERR_MISSING_AUTH_PART (-5), TLS_ERR_NO_PW (-3), TLS_ERR_NO_ROOT_CA (-4), OSIP_BADPARAMETER
    assert rcs == [0, -5, -3, -3, 0, -4, -4, -2, -5, -5, -5, -5, -5, -5, -5, -5, -5, -5, -5], lines
    assert "does not provide" in lines[20], lines
    assert "comes without its key" in lines[13] and "server key" in lines[14] and "without its certificate" in lines[14]
    assert "is a directory" in lines[12] and "is a directory" in lines[18], lines


@pytest.mark.core_only
def test_core_tls_check_under_valgrind(tls_check_exe, pki, bad_files):
    from test_core_register import VALGRIND, _valgrind
    res = subprocess.run([_valgrind()] + VALGRIND + ["--errors-for-leak-kinds=definite,indirect",
                                                     "--show-leak-kinds=definite,indirect", tls_check_exe]
                         + _tls_check_args(pki, bad_files), capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stdout + res.stderr
    assert "definitely lost" not in res.stderr and "indirectly lost" not in res.stderr, res.stderr


NO_SSL_SCRIPT = r"""
import sys
sys.modules["ssl"] = None
sys.modules["_ssl"] = None
import queue, socket, time
from exosip2 import call
from exosip2.context import Context
from exosip2.event import EventType as T
try:
    import ssl
except ImportError:
    pass
else:
    raise SystemExit("ssl is importable")
ca, server, server_key, client, client_key = sys.argv[1:6]


class UA:
    def __init__(self, name, **tls):
        self.events = queue.Queue()
        self.ctx = Context(lambda ctx, ev: self.events.put(ev))
        self.ctx.set_tls(root_ca=ca, verify=True, **tls)
        self.port = self.ctx.listen_on_address("127.0.0.1", socket.IPPROTO_TCP, port=0, secure=True)
        self.uri = "sips:%s@127.0.0.1:%d" % (name, self.port)
        self.ctx.start(event_executor="inline")

    def expect(self, *types):
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                ev = self.events.get(timeout=0.2)
            except queue.Empty:
                continue
            if ev.type in types:
                return ev
        raise SystemExit("no %s" % (types,))


bob = UA("bob", cert=server, key=server_key)
alice = UA("alice", cert=client, key=client_key)
try:
    try:
        alice.ctx.set_tls(cert=server, key=client_key)
    except ValueError as exc:
        assert "does not match" in str(exc), exc
    else:
        raise SystemExit("a mismatched key was taken")
    alice.ctx.set_tls(cert=client, key=client_key, root_ca=ca, verify=True)
    inv = call.InitInvite(alice.ctx, bob.uri, alice.uri, subject="no ssl module")
    cid = inv.send()
    ev = bob.expect(T.call_invite)
    assert b"Via: SIP/2.0/TLS" in ev.request.to_bytes()
    call.Answer(bob.ctx, ev.tid, 200).send()
    ans = alice.expect(T.call_answered)
    call.Ack(alice.ctx, ans.did).send()
    bob.expect(T.call_ack)
    alice.ctx.call_terminate(cid, ans.did)
    bob.expect(T.call_closed)
    assert "ssl" not in sys.modules or sys.modules["ssl"] is None
    print("call over TLS without the ssl module")
finally:
    alice.ctx.close()
    bob.ctx.close()
"""


@pytest.mark.core_only
def test_set_tls_and_a_call_over_tls_without_the_ssl_module(pki, tmp_path):
    script = tmp_path / "no_ssl.py"
    script.write_text(NO_SSL_SCRIPT)
    env = dict(os.environ)
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    env["PYTHONPATH"] = root + os.pathsep + env.get("PYTHONPATH", "")
    res = subprocess.run([sys.executable, str(script), pki["ca"], pki["server"][0], pki["server"][1],
                          pki["client"][0], pki["client"][1]], capture_output=True, text=True, timeout=60,
                         env=env, cwd=str(tmp_path))
    assert res.returncode == 0, res.stdout + res.stderr
    assert "call over TLS without the ssl module" in res.stdout, res.stdout + res.stderr


def test_tls_options_are_those_of_eXosip2():
    assert Option.SET_TLS_VERIFY_CERTIFICATE == 500 and Option.SET_TLS_CERTIFICATES_INFO == 501
    assert option_type(Option.SET_TLS_VERIFY_CERTIFICATE) is int
    with pytest.raises(ValueError, match="set_tls"):
        option_type(Option.SET_TLS_CERTIFICATES_INFO)


def test_encrypted_key_with_its_password_serves_calls(pki, uas, no_leaks):
    bob = uas("bob", cert=pki["locked"][0], key=pki["locked"][1], key_password=b"s3cret", verify=False)
    alice = uas("alice", cert=pki["client"][0], key=pki["client"][1], root_ca=pki["ca"], verify=True)
    full_call(alice, bob)


# --- hostile TLS clients ----------------------------------------------------------------------------

def options_over_tls(port, source="127.0.0.2", ca=None):
    """A plain Python TLS client (from *source*) sends OPTIONS; returns the answer's bytes."""
    cctx = ssl.create_default_context(cafile=ca)
    cctx.check_hostname = False
    raw = socket.create_connection(("127.0.0.1", port), timeout=5, source_address=(source, 0))
    with cctx.wrap_socket(raw) as s:
        lport = s.getsockname()[1]
        msg = ("OPTIONS sip:bob@127.0.0.1:%d;transport=tls SIP/2.0\r\n"
               "Via: SIP/2.0/TLS %s:%d;branch=z9hG4bK-%d\r\n"
               "Max-Forwards: 70\r\nFrom: <sip:probe@%s>;tag=p1\r\nTo: <sip:bob@127.0.0.1>\r\n"
               "Call-ID: probe-%d@%s\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n"
               % (port, source, lport, lport, source, lport, source)).encode()
        s.sendall(msg)
        data = b""
        deadline = time.monotonic() + 5
        while b"\r\n\r\n" not in data and time.monotonic() < deadline:
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
        return data


def answer_options(ua):
    ev = ua.expect(T.message_new)
    assert ev.request.method == "OPTIONS"
    ua.ctx.options_send_answer(ev.tid, 200)


def serve_one_options(ua, port, **kw):
    result = {}
    t = threading.Thread(target=lambda: result.setdefault("data", options_over_tls(port, **kw)), daemon=True)
    t.start()
    answer_options(ua)
    t.join(10)
    assert result.get("data", b"").startswith(b"SIP/2.0 200"), result
    return result["data"]


def test_hostile_tls_garbage_truncated_records_and_stalled_handshakes(pki, uas, no_leaks):
    bob = uas("bob", cert=pki["server"][0], key=pki["server"][1], verify=False,
              options={Option.TCP_MESSAGE_TIMEOUT_MS: 700})
    serve_one_options(bob, bob.port, ca=pki["ca"])
    # garbage bytes instead of a ClientHello, then a record header promising more than it sends
    for payload in (os.urandom(4000), b"\x16\x03\x01\x40\x00" + os.urandom(10), b"\x16\x03\x01\x00\x05\x01",
                    b"INVITE sip:bob@127.0.0.1 SIP/2.0\r\n\r\n", b"\x17\x03\x03\xff\xff" + b"A" * 300):
        with socket.create_connection(("127.0.0.1", bob.port), timeout=5) as s:
            try:
                s.sendall(payload)
                s.shutdown(socket.SHUT_WR)
                while s.recv(65536):
                    pass
            except (ConnectionResetError, BrokenPipeError, OSError) as exc:
                assert not isinstance(exc, socket.timeout), "the context neither answered nor closed"
            bob.expect_nothing(0.05)
    # a real ClientHello cut in the middle
    hello = client_hello(bob.port)
    for cut in (1, 5, 40, len(hello) // 2, len(hello) - 1):
        with socket.create_connection(("127.0.0.1", bob.port), timeout=5) as s:
            s.sendall(hello[:cut])
    # 200 half-finished handshakes held open from 127.0.0.1 (the per-source bound takes most)
    stalled = []
    try:
        for i in range(200):
            s = socket.socket()
            s.settimeout(5)
            s.connect(("127.0.0.1", bob.port))
            s.sendall(hello[: (i % 3) * 20])
            stalled.append(s)
        # a normal client from another address is served meanwhile
        serve_one_options(bob, bob.port, ca=pki["ca"])
        # the stalled ones are closed once the handshake bound (the message timeout) passes
        time.sleep(2.0)
        closed = 0
        for s in stalled:
            try:
                s.settimeout(0.2)
                if s.recv(1) == b"":
                    closed += 1
            except (ConnectionResetError, BrokenPipeError):
                closed += 1
            except socket.timeout:
                pass
        assert closed == len(stalled), "%d of %d stalled handshakes still open" % (len(stalled) - closed,
                                                                                    len(stalled))
    finally:
        for s in stalled:
            s.close()
    # and the context still serves a client from the same address as the attackers
    serve_one_options(bob, bob.port, source="127.0.0.1", ca=pki["ca"])
    st = bob.ctx.get_statistics()
    assert st.reserved1[1] >= 200  # connections closed for abuse or idleness


def client_hello(port):
    """The first flight of a real TLS client (Python's ssl), captured from the wire."""
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(1)
    got = {}

    def grab():
        c, _ = srv.accept()
        c.settimeout(5)
        got["hello"] = c.recv(65536)
        c.close()

    t = threading.Thread(target=grab, daemon=True)
    t.start()
    cctx = ssl.create_default_context()
    cctx.check_hostname = False
    cctx.verify_mode = ssl.CERT_NONE
    with socket.create_connection(srv.getsockname(), timeout=5) as raw:
        try:
            cctx.wrap_socket(raw)
        except (ssl.SSLError, OSError):
            pass
    t.join(5)
    srv.close()
    assert got.get("hello", b"")[:1] == b"\x16"
    return got["hello"]


# --- the C API, as an eXosip2 5.3 program uses it ------------------------------------------------------

@pytest.fixture(scope="module")
def tls_options_exe(tmp_path_factory):
    from test_core_register import _compile
    return _compile(tmp_path_factory, "tls_options")


def test_c_program_using_eXosip2_tls_api(tls_options_exe, pki):
    res = subprocess.run([tls_options_exe, pki["ca"], pki["server"][0], pki["server"][1], pki["other_ca"]],
                         capture_output=True, text=True, timeout=60)
    assert res.returncode == 0, res.stdout + res.stderr
    assert "all checks passed" in res.stdout


def test_c_program_using_eXosip2_tls_api_under_valgrind(tls_options_exe, pki):
    from test_core_register import VALGRIND, _valgrind
    res = subprocess.run([_valgrind()] + VALGRIND + [tls_options_exe, pki["ca"], pki["server"][0],
                                                     pki["server"][1], pki["other_ca"]],
                         capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stdout + res.stderr
    assert "all checks passed" in res.stdout


# --- hostile TLS against the core under AddressSanitizer ------------------------------------------------

@pytest.fixture(scope="module")
def tls_uas_asan(tmp_path_factory):
    """tests/core/tls_uas.c linked with core/ compiled under ASan and UBSan (one executable)."""
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    exe = str(tmp_path_factory.mktemp("tls_uas_asan") / "tls_uas")
    osip = subprocess.run(["pkg-config", "--cflags", "--libs", "libosip2"], capture_output=True, text=True,
                          check=True, timeout=30).stdout.split()
    sources = sorted(glob.glob(os.path.join(root, "core", "src", "*.c")))
    cmd = (["cc", "-std=gnu11", "-O1", "-g", "-fsanitize=address,undefined", "-fno-omit-frame-pointer",
            "-fno-sanitize-recover=undefined", "-pthread", "-DEXOSIP2_CORE_BUILD",
            "-I" + os.path.join(root, "core", "include"), "-I" + os.path.join(root, "core", "src")]
           + sources + [os.path.join(root, "tests", "core", "tls_uas.c"), "-o", exe] + osip + ["-lssl", "-lcrypto"])
    subprocess.run(cmd, check=True, timeout=900)
    return exe


def test_hostile_tls_under_asan(tls_uas_asan, pki):
    port = socket.socket()
    port.bind(("127.0.0.1", 0))
    p = port.getsockname()[1]
    port.close()
    env = dict(os.environ, ASAN_OPTIONS="detect_leaks=1:abort_on_error=0", UBSAN_OPTIONS="print_stacktrace=1")
    proc = subprocess.Popen([tls_uas_asan, pki["server"][0], pki["server"][1], str(p)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env)
    try:
        assert proc.stdout.readline().strip() == "ready"
        assert options_over_tls(p, ca=pki["ca"]).startswith(b"SIP/2.0 200")
        hello = client_hello(p)
        for payload in (os.urandom(4000), b"\x16\x03\x01\x40\x00" + os.urandom(10), hello[:len(hello) // 2],
                        b"\x17\x03\x03\xff\xff" + b"A" * 300, hello + os.urandom(600)):
            with socket.create_connection(("127.0.0.1", p), timeout=5) as s:
                try:
                    s.sendall(payload)
                    s.shutdown(socket.SHUT_WR)
                    while s.recv(65536):
                        pass
                except OSError:
                    pass
        stalled = []
        try:
            # 1 000 half-finished handshakes held open at once, from 16 addresses (63 each: under
            # the per-source bound, so every one of them is accepted and holds a session)
            for i in range(1000):
                s = socket.create_connection(("127.0.0.1", p), timeout=5,
                                             source_address=("127.0.0.%d" % (10 + i % 16), 0))
                s.sendall(hello[: (i % 3) * 20])
                stalled.append(s)
            assert options_over_tls(p, ca=pki["ca"]).startswith(b"SIP/2.0 200")
            # a full handshake, then garbage and a truncated record inside the session
            cctx = ssl.create_default_context(cafile=pki["ca"])
            cctx.check_hostname = False
            raw = socket.create_connection(("127.0.0.1", p), timeout=5, source_address=("127.0.0.2", 0))
            with cctx.wrap_socket(raw) as t:  # (127.0.0.1 is at its per-source bound now)
                t.sendall(os.urandom(3000) + b"\r\n\r\n")
            time.sleep(2.0)  # past the handshake bound: the stalled ones are closed
            still_open = 0
            for s in stalled:
                s.settimeout(0.01)
                try:
                    if s.recv(1) != b"":
                        still_open += 1
                except socket.timeout:
                    still_open += 1
                except OSError:
                    pass
            assert still_open == 0, "%d stalled handshakes still open" % still_open
        finally:
            for s in stalled:
                s.close()
        assert options_over_tls(p, source="127.0.0.1", ca=pki["ca"]).startswith(b"SIP/2.0 200")
    finally:
        proc.terminate()
        out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err[-4000:]
    assert "AddressSanitizer" not in err and "runtime error" not in err, err[-4000:]
    assert out.strip().endswith("answered 3"), out


def test_renegotiation_is_refused_and_the_context_serves_on(pki, uas, no_leaks):
    bob = uas("bob", cert=pki["server"][0], key=pki["server"][1], verify=False)
    for _ in range(2):  # `R` asks openssl s_client for a TLS 1.2 renegotiation
        proc = subprocess.Popen(["openssl", "s_client", "-tls1_2", "-connect", "127.0.0.1:%d" % bob.port],
                                stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        try:
            time.sleep(0.3)
            for _ in range(10):
                try:
                    proc.stdin.write(b"R\n")
                    proc.stdin.flush()
                except (BrokenPipeError, ValueError):
                    break
                time.sleep(0.05)
            proc.wait(timeout=10)
        finally:
            if proc.poll() is None:
                proc.kill()
            out, err = proc.communicate(timeout=10)
        assert b"RENEGOTIATING" in err and b"no renegotiation" in err, err[-2000:]
    serve_one_options(bob, bob.port, ca=pki["ca"])
