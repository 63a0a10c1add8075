# SPDX-License-Identifier: Apache-2.0
"""Kamailio (kamailio-tls-modules) as a TLS registrar and proxy: REGISTER with digest auth over TLS,
a call through it between two contexts registered over TLS, certificate verification of Kamailio on
and off, Kamailio requiring client certificates (mutual TLS), and baresip registered over TLS taking
our call through it."""

import os
import ssl

import pytest

from exosip2 import call, register
from exosip2.event import EventType as T
from peers.kamailio import Kamailio
from peers.proc import free_port
from test_tls import TlsUA, full_call, invite
from tlscerts import CA

pytestmark = pytest.mark.timeout(120)


class KamailioTls(Kamailio):
    """Kamailio listening for TLS too, with the tls module and a tls.cfg written beside its config."""

    def __init__(self, rundir, cert, key, ca, require_client_cert=False, **kw):
        super().__init__(rundir, **kw)
        self.tls_port = free_port(self.host)
        tls_cfg = os.path.join(self.rundir, "tls.cfg")
        verify = "yes" if require_client_cert else "no"
        with open(tls_cfg, "w") as f:
            f.write("[server:default]\nmethod = TLSv1.2+\nverify_certificate = %s\nrequire_certificate = %s\n"
                    "private_key = %s\ncertificate = %s\nca_list = %s\n\n"
                    "[client:default]\nmethod = TLSv1.2+\nverify_certificate = no\nrequire_certificate = no\n"
                    % (verify, verify, key, cert, ca))
        text = open(self.config_path).read()
        text = text.replace("enable_tls=no\n", "enable_tls=yes\nlisten=tls:%s:%d\n" % (self.host, self.tls_port))
        text = text.replace('loadmodule "tm.so"\n', 'loadmodule "tls.so"\nmodparam("tls", "config", "%s")\n'
                            'loadmodule "tm.so"\n' % tls_cfg)
        with open(self.config_path, "w") as f:
            f.write(text)

    @property
    def tls_uri(self):
        return "sip:%s:%d;transport=tls" % (self.host, self.tls_port)


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    d = tmp_path_factory.mktemp("kpki")
    good, other = CA(d, "good"), CA(d, "other")
    return {"ca": good.cert, "other_ca": other.cert, "proxy": good.issue("proxy"), "alice": good.issue("alice"),
            "bob": good.issue("bob"), "stranger": other.issue("stranger")}


@pytest.fixture
def kamailio_tls(tmp_path, pki):
    started = []

    def make(**kw):
        k = KamailioTls(tmp_path / ("k%d" % len(started)), pki["proxy"][0], pki["proxy"][1], pki["ca"], **kw)
        started.append(k)
        k.check_config()
        k.start()
        return k

    yield make
    for k in started:
        k.stop()


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


def do_register(ua, k, user, password, expect_ok=True):
    ua.ctx.add_authentication_info(user, user, password, k.realm)
    reg = register.InitialRegister(ua.ctx, "sip:%s@%s" % (user, k.host), k.tls_uri, expires=60)
    rid = reg.rid
    reg.send()
    while True:
        ev = ua.expect(T.registration_success, T.registration_failure, timeout=10)
        assert ev.rid == rid
        if ev.type == T.registration_success or not expect_ok:
            return ev
        # the 401 challenge first: the event loop answers it with credentials
        assert ev.response is not None and ev.response.status_code == 401


def test_register_and_call_through_kamailio_over_tls(kamailio_tls, uas, pki):
    k = kamailio_tls()
    alice = uas("alice", cert=pki["alice"][0], key=pki["alice"][1], root_ca=pki["ca"], verify=True)
    bob = uas("bob", cert=pki["bob"][0], key=pki["bob"][1], root_ca=pki["ca"], verify=False)
    ok = do_register(alice, k, "alice", "alicepw")
    assert ok.response.status_code == 200
    do_register(bob, k, "bob", "bobpw")
    seen = k.seen("REGISTER", user="alice")
    assert [r.proto for r in seen] == ["tls", "tls"]
    assert k.auth_results("alice") == ["1"]
    bindings = k.bindings("bob")
    assert len(bindings) == 1 and bindings[0][0].startswith("sip:bob@127.0.0.1:%d;transport=tls" % bob.port)
    full_call(alice, bob, target="sip:bob@%s:%d;transport=tls" % (k.host, k.tls_port))
    assert [r.proto for r in k.seen("INVITE")] == ["tls"]
    assert {s.proto for s in k.sent("INVITE")} == {"tls"}
    assert {r.proto for r in k.seen("BYE")} == {"tls"}


def test_kamailio_with_a_certificate_of_another_ca_is_refused_when_verifying(kamailio_tls, uas, pki, tmp_path):
    k = kamailio_tls()
    carol = uas("carol", cert=pki["alice"][0], key=pki["alice"][1], root_ca=pki["other_ca"], verify=True)
    ev = do_register(carol, k, "alice", "alicepw", expect_ok=False)
    assert ev.type == T.registration_failure and ev.response is None
    assert k.seen("REGISTER") == []
    # the same with verification off goes through
    dave = uas("dave", cert=pki["alice"][0], key=pki["alice"][1], root_ca=pki["other_ca"], verify=False)
    assert do_register(dave, k, "alice", "alicepw").response.status_code == 200


def test_kamailio_requiring_client_certificates(kamailio_tls, uas, pki):
    k = kamailio_tls(require_client_cert=True)
    alice = uas("alice", cert=pki["alice"][0], key=pki["alice"][1], root_ca=pki["ca"], verify=True)
    assert do_register(alice, k, "alice", "alicepw").response.status_code == 200
    # a certificate Kamailio cannot verify: refused in the handshake (TLS 1.2, so we learn it there)
    mallory = uas("mallory", cert=pki["stranger"][0], key=pki["stranger"][1], root_ca=pki["ca"], verify=True,
                  tls_flags=ssl.OP_NO_TLSv1_3)
    ev = do_register(mallory, k, "bob", "bobpw", expect_ok=False)
    assert ev.type == T.registration_failure and ev.response is None
    assert k.seen("REGISTER", user="bob") == []


@pytest.fixture
def phone_tls(tmp_path, pki):
    """baresip registered over TLS (its own certificate in sip_certificate, our root in sip_cafile)."""
    from peers.baresip import Baresip
    started = []

    def make(user, password, k):
        b = Baresip(tmp_path / ("baresip-%s" % user), user, password, (k.host, k.tls_port), transport="tls")
        combined = os.path.join(b.confdir, "cert.pem")
        with open(combined, "w") as f:
            f.write(open(pki["bob"][0]).read() + open(pki["bob"][1]).read())
        with open(os.path.join(b.confdir, "config"), "a") as f:
            f.write("sip_certificate      %s\nsip_cafile           %s\n" % (combined, pki["ca"]))
        started.append(b)
        b.start()
        return b

    yield make
    for b in started:
        b.stop()


def test_baresip_registered_over_tls_takes_our_call_through_kamailio(kamailio_tls, uas, phone_tls, pki):
    k = kamailio_tls()
    phone = phone_tls("bob", "bobpw", k)
    phone.wait_registered(timeout=15)
    assert [r.proto for r in k.seen("REGISTER", user="bob")][-1] == "tls"
    alice = uas("alice", cert=pki["alice"][0], key=pki["alice"][1], root_ca=pki["ca"], verify=True)
    do_register(alice, k, "alice", "alicepw")
    cid = invite(alice, "sip:bob@%s:%d;transport=tls" % (k.host, k.tls_port))
    ans = alice.expect(T.call_ringing, T.call_answered, timeout=15)
    if ans.type == T.call_ringing:
        ans = alice.expect(T.call_answered, timeout=15)
    assert ans.cid == cid and ans.response.status_code == 200
    call.Ack(alice.ctx, ans.did).send()
    phone.ctrl.wait_event(("CALL_ESTABLISHED",), timeout=10)
    alice.ctx.call_terminate(cid, ans.did)
    phone.ctrl.wait_event(("CALL_CLOSED",), timeout=10)
    assert {s.proto for s in k.sent("INVITE")} == {"tls"}
    assert {r.proto for r in k.seen("BYE")} == {"tls"}
