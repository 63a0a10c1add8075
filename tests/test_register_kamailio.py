# SPDX-License-Identifier: Apache-2.0
"""exosip2.register and Context's credentials against a real Kamailio registrar.

Kamailio is started per test on a free port; what it logged of each request
(method, transport, Expires, arrival time) is how the wire is checked.
"""

import time

import pytest

from exosip2 import register
from exosip2.context import Context, ContextClosedError
from exosip2.error import OsipNotFound, OsipWrongState
from exosip2.event import EventType
from exosip2.message import ExosipMessage
from exosip2.options import Option

from peers.agent import Agent, agent_factory  # noqa: F401 (fixture)
from peers.kamailio import kamailio, kamailio_factory  # noqa: F401 (fixtures)

pytestmark = [pytest.mark.peers, pytest.mark.timeout(40)]


@pytest.mark.parametrize("transport", ["udp", "tcp"])
def test_register_with_right_password_then_unregister(transport, kamailio, agent_factory):  # noqa: F811
    a = agent_factory(transport=transport)
    rid, ok = a.register(kamailio, "alice", "alicepw", expires=120)
    assert rid > 0 and ok.rid == rid
    assert ok.response.status_code == 200
    assert ok.request.method == "REGISTER"
    # one challenged REGISTER, one with credentials, both over the agent's transport
    seen = kamailio.seen("REGISTER", user="alice")
    assert [r.proto for r in seen] == [transport, transport]
    assert [r.expires for r in seen] == [120, 120]
    assert kamailio.auth_results("alice") == ["1"]
    # a 401 came first: the registration failed once, then succeeded
    assert a.types() == [EventType.registration_failure, EventType.registration_success]
    assert a.events[0].response.status_code == 401
    bindings = kamailio.bindings("alice")
    assert len(bindings) == 1
    contact, left = bindings[0]
    assert contact.startswith("sip:alice@127.0.0.1:%d" % a.port)
    assert 100 < left <= 120

    gone = a.unregister(rid)
    assert gone.response.status_code == 200
    assert kamailio.seen("REGISTER", user="alice")[-1].expires == 0
    assert kamailio.bindings("alice") == []


@pytest.mark.parametrize("transport", ["udp", "tcp"])
def test_wrong_password_fails_with_403_after_two_registers(transport, kamailio, agent_factory):  # noqa: F811
    a = agent_factory(transport=transport)
    a.ctx.add_authentication_info("alice", "alice", "not-alicepw", kamailio.realm)
    reg = register.InitialRegister(a.ctx, kamailio.aor("alice"), a.registrar_uri(kamailio), expires=60)
    rid = reg.rid
    reg.send()
    failed = a.wait(EventType.registration_failure, 5.0, rid=rid, status=403)
    assert failed.response.reason_phrase == "Forbidden"
    # give the automatic actions (run every 50 ms by the loop) ample time to misbehave
    time.sleep(1.5)
    assert kamailio.register_count("alice", proto=transport) == 2
    assert kamailio.auth_results("alice") == ["-2"]
    assert EventType.registration_success not in a.types()
    assert [e.response.status_code for e in a.events] == [401, 403]
    assert kamailio.bindings("alice") == []


def test_no_credentials_stop_at_the_401(kamailio, agent_factory):  # noqa: F811
    a = agent_factory()
    reg = register.InitialRegister(a.ctx, kamailio.aor("bob"), kamailio.uri, expires=60)
    reg.send()
    a.wait(EventType.registration_failure, 5.0, rid=reg.rid, status=401)
    time.sleep(1.0)
    assert kamailio.register_count("bob") == 1


def test_removed_credentials_are_not_used(kamailio, agent_factory):  # noqa: F811
    a = agent_factory()
    a.ctx.add_authentication_info("bob", "bob", "bobpw", kamailio.realm)
    a.ctx.remove_authentication_info("bob", kamailio.realm)
    with pytest.raises(OsipNotFound):
        a.ctx.remove_authentication_info("bob", kamailio.realm)
    reg = register.InitialRegister(a.ctx, kamailio.aor("bob"), kamailio.uri, expires=60)
    reg.send()
    a.wait(EventType.registration_failure, 5.0, rid=reg.rid, status=401)
    time.sleep(1.0)
    assert kamailio.register_count("bob") == 1
    # credentials for any realm (None) answer the challenge of a later registration
    a.ctx.clear_authentication_info()
    a.ctx.add_authentication_info("bob", "bob", "bobpw", None)
    since = a.mark()
    reg = register.InitialRegister(a.ctx, kamailio.aor("bob"), kamailio.uri, expires=60)
    reg.send()
    a.wait(EventType.registration_success, 5.0, since, rid=reg.rid)
    assert len(kamailio.bindings("bob")) == 1


@pytest.mark.core_only  # a binding of a few seconds: the core-only MIN_REGISTER_EXPIRES lowers 5.3's floor of 30 s
def test_short_expires_is_refreshed_before_it_runs_out(kamailio_factory, agent_factory):  # noqa: F811
    k = kamailio_factory(min_expires=1)
    a = agent_factory()
    # an Expires under 30 s is raised to 30 unless the core-only floor is lowered (eXosip2 5.3 raises it)
    a.ctx.set_option(Option.MIN_REGISTER_EXPIRES, 1)
    start = time.time()
    rid, ok = a.register(k, "alice", "alicepw", expires=4)
    first = time.time()
    # the refreshes come from the automatic actions alone: three more successes
    for n in range(2, 5):
        a.wait_count(EventType.registration_success, n, 6.0, rid=rid)
        assert len(k.bindings("alice")) == 1
    successes = [e for e in a.events if e.type == EventType.registration_success]
    assert len(successes) >= 4
    regs = [r for r in k.seen("REGISTER", user="alice")]
    assert all(r.expires == 4 for r in regs)
    # the binding never lapsed: every accepted REGISTER came less than 4 s after the one before
    times = [r.time for r in regs[1:]]    # from the first accepted one (after the 401)
    gaps = [b - a_ for a_, b in zip(times, times[1:])]
    assert gaps and all(g < 4.0 for g in gaps), gaps
    assert all(g > 0.5 for g in gaps), gaps   # and not far too early
    assert start <= first
    # at most one challenge was needed: later refreshes carry the credentials
    assert k.register_count("alice") <= len(successes) + 2


def test_unregistered_user_gets_404(kamailio, agent_factory):  # noqa: F811
    alice = agent_factory()
    rid, _ = alice.register(kamailio, "alice", "alicepw")
    bob = agent_factory()
    since = bob.mark()
    cid = bob.invite(kamailio.aor("alice"), kamailio.aor("bob"), bob.route(kamailio))
    inv = alice.wait(EventType.call_invite, 5.0)
    alice.answer(inv.tid, 486, False)
    busy = bob.wait(EventType.call_requestfailure, 5.0, since, cid=cid)
    assert busy.response.status_code == 486

    alice.unregister(rid)
    assert kamailio.bindings("alice") == []
    since = bob.mark()
    cid = bob.invite(kamailio.aor("alice"), kamailio.aor("bob"), bob.route(kamailio))
    nf = bob.wait(EventType.call_requestfailure, 5.0, since, cid=cid)
    assert nf.response.status_code == 404
    assert alice.types().count(EventType.call_invite) == 1


def test_register_objects_and_argument_errors(kamailio):  # noqa: F811
    with Context() as ctx:
        ctx.listen_on_address("127.0.0.1", port=0)
        reg = register.InitialRegister(ctx, kamailio.aor("alice"), kamailio.uri, "<sip:alice@127.0.0.1:5099>",
                                       expires=30)
        assert isinstance(reg, ExosipMessage)
        assert reg.context is ctx
        assert reg.contact == reg.contract == "<sip:alice@127.0.0.1:5099>"
        assert reg.proxy == kamailio.uri and reg.expires == 30 and reg.from_ == kamailio.aor("alice")
        assert reg.method == "REGISTER" and reg.uri == kamailio.uri
        assert reg.get_header("Expires") == "30"
        reg.expires = 45
        assert reg.expires == 45 and reg.get_header("Expires") == "45"
        assert "sip:alice@127.0.0.1:5099" in reg.contacts[0]
        nxt = register.Register(ctx, reg.rid, 0)
        assert nxt.rid == reg.rid and nxt.expires == 0 and nxt.get_header("Expires") == "0"
        # nothing of this registration was sent: its next REGISTER replaces the unsent one, CSeq 1
        # again (eXosip2 5.3 builds it afresh; core/ keeps the Call-ID and From tag as well)
        assert nxt.cseq.number == 1
        with pytest.raises(TypeError):
            register.InitialRegister(ctx, None, kamailio.uri)
        with pytest.raises(TypeError):
            register.InitialRegister(ctx, kamailio.aor("alice"), 5060)
        with pytest.raises(TypeError):
            register.InitialRegister(ctx, kamailio.aor("alice"))  # proxy missing
        with pytest.raises(ValueError):
            register.InitialRegister(ctx, kamailio.aor("alice"), kamailio.uri, expires=-1)
        with pytest.raises(TypeError):
            register.InitialRegister(ctx, kamailio.aor("alice"), kamailio.uri, expires="60")
        with pytest.raises(ValueError):
            register.InitialRegister(ctx, "", kamailio.uri)
        with pytest.raises(ValueError):
            register.InitialRegister(ctx, "not a uri", "neither")
        with pytest.raises(TypeError):
            register.Register(ctx, "1")
        with pytest.raises(ValueError):
            register.Register(ctx, 0)
        with pytest.raises(OsipNotFound):
            register.Register(ctx, reg.rid + 100)
        with pytest.raises(TypeError):
            register.InitialRegister(None, kamailio.aor("alice"), kamailio.uri)
        # credentials: clear errors for wrong types and missing arguments
        with pytest.raises(TypeError):
            ctx.add_authentication_info("alice", "alice", "pw")
        with pytest.raises(TypeError):
            ctx.add_authentication_info("alice", "alice", 1234, None)
        with pytest.raises(TypeError):
            ctx.add_authentication_info(None, "alice", "pw", None)
        with pytest.raises(ValueError):
            ctx.add_authentication_info("", "alice", "pw", None)
        with pytest.raises(ValueError):
            ctx.add_authentication_info("alice", "alice", None, None)
        with pytest.raises(ValueError):
            ctx.add_authentication_info("alice", "alice", None, None, ha1="xyz")
        with pytest.raises(ValueError):
            ctx.add_authentication_info("alice", "alice", "p\0w", None)
        with pytest.raises(TypeError):
            ctx.remove_authentication_info("alice")
        with pytest.raises(TypeError):
            ctx.remove_authentication_info(7, None)
        ctx.add_authentication_info(b"alice", None, b"pw", b"realm")
        ctx.add_authentication_info("alice", "alice", None, "", ha1="0123456789abcdef0123456789ABCDEF")
        ctx.remove_authentication_info("alice", "realm")
        ctx.remove_authentication_info("alice", None)
        ctx.clear_authentication_info()
        # the registration goes away without a REGISTER; then it is unknown
        reg.remove()
        with pytest.raises(OsipNotFound):
            reg.remove()
        with pytest.raises(OsipNotFound):
            register.Register(ctx, reg.rid)
        # a sent message is consumed
        reg2 = register.InitialRegister(ctx, kamailio.aor("bob"), kamailio.uri)
        reg2.send()
        with pytest.raises(OsipWrongState):
            reg2.send()
    with pytest.raises(ContextClosedError):
        register.InitialRegister(ctx, kamailio.aor("alice"), kamailio.uri)
    with pytest.raises(ContextClosedError):
        ctx.add_authentication_info("alice", "alice", "pw", None)
    with pytest.raises(ContextClosedError):
        reg2.remove()


@pytest.mark.core_only  # a binding of a few seconds: the core-only MIN_REGISTER_EXPIRES lowers 5.3's floor of 30 s
def test_qop_auth_challenge_is_answered_and_refreshes_count_up(kamailio_factory, agent_factory):  # noqa: F811
    k = kamailio_factory(qop=True, min_expires=1)
    a = agent_factory()
    # an Expires under 30 s is raised to 30 unless the core-only floor is lowered (eXosip2 5.3 raises it)
    a.ctx.set_option(Option.MIN_REGISTER_EXPIRES, 1)
    rid, ok = a.register(k, "alice", "alicepw", expires=2)
    challenge = a.events[0].response.get_header("WWW-Authenticate")
    assert 'qop="auth"' in challenge or "qop=auth" in challenge
    a.wait_count(EventType.registration_success, 3, 6.0, rid=rid)
    assert set(k.auth_results("alice")) == {"1"}
    assert len(k.bindings("alice")) == 1


def test_credentials_for_another_realm_are_not_sent(kamailio, agent_factory):  # noqa: F811
    a = agent_factory()
    a.ctx.add_authentication_info("alice", "alice", "alicepw", "other.example")
    reg = register.InitialRegister(a.ctx, kamailio.aor("alice"), kamailio.uri, expires=60)
    reg.send()
    a.wait(EventType.registration_failure, 5.0, rid=reg.rid, status=401)
    time.sleep(1.0)
    assert kamailio.register_count("alice") == 1
    assert kamailio.auth_results("alice") == []


@pytest.mark.core_only  # a binding of a few seconds: the core-only MIN_REGISTER_EXPIRES lowers 5.3's floor of 30 s
def test_an_expired_nonce_is_challenged_again_and_answered(kamailio_factory, agent_factory):  # noqa: F811
    k = kamailio_factory(min_expires=1, nonce_expire=2)
    a = agent_factory()
    # an Expires under 30 s is raised to 30 unless the core-only floor is lowered (eXosip2 5.3 raises it)
    a.ctx.set_option(Option.MIN_REGISTER_EXPIRES, 1)
    rid, ok = a.register(k, "alice", "alicepw", expires=3)
    # refreshes at 1.5 s intervals outlive the 2 s nonce: the registrar answers stale=true
    a.wait_count(EventType.registration_success, 4, 10.0, rid=rid)
    stale = [e for e in a.events if e.type == EventType.registration_failure
             and e.response is not None and "stale=true" in (e.response.get_header("WWW-Authenticate") or "")]
    assert stale, a.describe()
    assert len(k.bindings("alice")) == 1
    assert "-2" not in k.auth_results("alice")


def test_register_in_asyncio(kamailio):  # noqa: F811
    import asyncio

    async def until_success(stream, seen):
        while True:
            event = await stream.__anext__()
            seen.append((event.type, event.response.status_code if event.response is not None else None))
            if event.type == EventType.registration_success:
                return

    async def main(ctx):
        reg = ctx.build_message(register.InitialRegister, kamailio.aor("bob"), kamailio.uri, expires=30)
        assert isinstance(reg, register.InitialRegister)
        # one stream for the whole conversation: a second events() waits for the first to be closed
        stream = ctx.events()
        seen = []
        try:
            reg.send()
            await until_success(stream, seen)
            register.Register(ctx, reg.rid, 0).send()
            await until_success(stream, seen)
        finally:
            await stream.aclose()
        return seen

    with Context() as ctx:
        ctx.listen_on_address("127.0.0.1", port=0)
        ctx.add_authentication_info("bob", "bob", "bobpw", None)
        seen = asyncio.run(asyncio.wait_for(main(ctx), 10))
    assert seen[0] == (EventType.registration_failure, 401)
    assert seen[1] == (EventType.registration_success, 200)
    assert seen[-1] == (EventType.registration_success, 200)
    assert kamailio.seen("REGISTER", user="bob")[-1].expires == 0
    assert kamailio.bindings("bob") == []


def test_ha1_credentials_and_an_explicit_contact(kamailio, agent_factory):  # noqa: F811
    import hashlib

    a = agent_factory()
    ha1 = hashlib.md5(("alice:%s:alicepw" % kamailio.realm).encode()).hexdigest()
    a.ctx.add_authentication_info("alice", "alice", None, kamailio.realm, ha1=ha1)
    contact = "<sip:alice-desk@127.0.0.1:%d>" % a.port
    reg = register.InitialRegister(a.ctx, kamailio.aor("alice"), kamailio.uri, contact, expires=90, qvalue="0.7")
    assert reg.contact == contact
    rid = reg.rid
    reg.send()
    ok = a.wait(EventType.registration_success, 5.0, rid=rid)
    assert "alice-desk@" in ok.response.contacts[0]
    [(bound, left)] = kamailio.bindings("alice")
    assert bound == "sip:alice-desk@127.0.0.1:%d" % a.port and 80 < left <= 90
    assert kamailio.auth_results("alice") == ["1"]
    a.unregister(rid)
    assert kamailio.bindings("alice") == []
