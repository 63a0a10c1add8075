# SPDX-License-Identifier: Apache-2.0
"""baresip, a real softphone, and an exosip2 user agent registered to the same Kamailio call each other.

Kamailio challenges INVITEs (407) and in-dialog requests of local users; both
sides authenticate, both see the call established and closed.
"""

import pytest

from exosip2.event import EventType

from peers.agent import agent_factory  # noqa: F401 (fixture)
from peers.baresip import baresip_factory  # noqa: F401 (fixture)
from peers.kamailio import kamailio_factory  # noqa: F401 (fixture)

pytestmark = [pytest.mark.peers, pytest.mark.timeout(60)]


def _setup(kamailio_factory, baresip_factory, agent_factory, transport="udp"):  # noqa: F811
    k = kamailio_factory(invite_auth=True, indialog_auth=True)
    phone = baresip_factory("alice", "alicepw", (k.host, k.port), transport=transport)
    ua = agent_factory(transport=transport)
    ua.register(k, "bob", "bobpw")
    phone.wait_registered(timeout=10)
    return k, phone, ua


def test_baresip_calls_exosip2_which_hangs_up(kamailio_factory, baresip_factory, agent_factory):  # noqa: F811
    k, phone, ua = _setup(kamailio_factory, baresip_factory, agent_factory)
    ua.auto_answer = (200, True)
    assert phone.dial(k.aor("bob"))["ok"]
    established = phone.ctrl.wait_event("CALL_ESTABLISHED", timeout=10)
    assert established["direction"] == "outgoing"
    assert established["peeruri"].startswith(k.aor("bob"))
    incoming = ua.wait(EventType.call_invite, 5.0)
    assert incoming.request.from_.find("sip:alice@") >= 0
    assert "m=audio" in incoming.request.bodies[0]
    ua.wait(EventType.call_ack, 5.0, cid=incoming.cid)
    # baresip's INVITE was challenged once and answered with alice's credentials
    assert len(k.seen("INVITE", user="bob")) == 2
    since = ua.mark()
    ua.ctx.call_terminate(incoming.cid, incoming.did)
    closed = phone.ctrl.wait_event("CALL_CLOSED", timeout=10)
    assert closed["id"] == established["id"]
    ua.wait(EventType.call_released, 8.0, since, cid=incoming.cid)
    # our BYE: challenged inside the dialog, then sent again with bob's credentials
    assert len(k.seen("BYE")) == 2
    assert k.auth_results("bob")[-1] == "1"


@pytest.mark.parametrize("transport", ["udp", "tcp"])
def test_exosip2_calls_baresip_which_hangs_up(transport, kamailio_factory, baresip_factory,  # noqa: F811
                                              agent_factory):  # noqa: F811
    k, phone, ua = _setup(kamailio_factory, baresip_factory, agent_factory, transport)
    since = ua.mark()
    cid = ua.invite(k.aor("alice"), k.aor("bob"), ua.route(k))
    ua.wait(EventType.call_requestfailure, 5.0, since, cid=cid, status=407)
    answered = ua.wait(EventType.call_answered, 10.0, since, cid=cid)
    assert "m=audio" in answered.response.bodies[0]
    ua.ctx.call_send_ack(answered.did)
    established = phone.ctrl.wait_event("CALL_ESTABLISHED", timeout=10)
    assert established["direction"] == "incoming"
    assert established["peeruri"].startswith("sip:bob@")
    assert [r.proto for r in k.seen("INVITE", user="alice")] == [transport, transport]
    assert phone.hangup()["ok"]
    closed = phone.ctrl.wait_event("CALL_CLOSED", timeout=10)
    assert closed["id"] == established["id"]
    ua.wait(EventType.call_closed, 8.0, since, cid=cid)
    assert len(k.seen("BYE")) == 2     # baresip's BYE, challenged, then with alice's credentials
