# SPDX-License-Identifier: Apache-2.0
"""Two registered exosip2 user agents calling each other through a real Kamailio proxy.

Kamailio challenges (407) every INVITE and MESSAGE from a local user, and every
in-dialog request (re-INVITE, BYE) that comes without credentials: the credentials
given with Context.add_authentication_info answer each challenge once, through the
context's automatic actions, and requests inside the dialog carry credentials for
the INVITE's challenge from the start (as eXosip2 5.3 adds them), so they are not
challenged at all.
"""

import time

import pytest

from exosip2 import call
from exosip2.event import EventType

from peers.agent import agent_factory  # noqa: F401 (fixture)
from peers.kamailio import kamailio_factory  # noqa: F401 (fixture)

pytestmark = [pytest.mark.peers, pytest.mark.timeout(40)]


def _pair(k, agent_factory, transport):  # noqa: F811
    alice = agent_factory(transport=transport)
    bob = agent_factory(transport=transport)
    alice.register(k, "alice", "alicepw")
    bob.register(k, "bob", "bobpw")
    return alice, bob


@pytest.mark.parametrize("transport", ["udp", "tcp"])
@pytest.mark.parametrize("direction", ["alice-calls-bob", "bob-calls-alice"])
def test_call_challenged_once_then_in_dialog_requests_carry_credentials(direction, transport, kamailio_factory,  # noqa: F811
                                                agent_factory):  # noqa: F811
    k = kamailio_factory(invite_auth=True, indialog_auth=True)
    alice, bob = _pair(k, agent_factory, transport)
    (caller, cname), (callee, ename) = ((alice, "alice"), (bob, "bob"))
    if direction == "bob-calls-alice":
        (caller, cname), (callee, ename) = (callee, ename), (caller, cname)
    callee.auto_answer = (200, True)
    auth_before = len(k.auth_results(cname))

    # the call: INVITE, 407, INVITE with credentials, relayed, 200, ACK
    cid = caller.invite(k.aor(ename), k.aor(cname), caller.route(k))
    challenged = caller.wait(EventType.call_requestfailure, 5.0, cid=cid, status=407)
    assert challenged.response.get_header("Proxy-Authenticate").startswith("Digest ")
    answered = caller.wait(EventType.call_answered, 5.0, cid=cid)
    assert answered.response.status_code == 200
    assert "application/sdp" in answered.response.content_type
    did = answered.did
    caller.ctx.call_send_ack(did)
    incoming = callee.wait(EventType.call_invite, 2.0)
    assert incoming.request.get_header("Proxy-Authorization") is None   # consumed by the proxy
    callee.wait(EventType.call_ack, 5.0, cid=incoming.cid)
    invites = k.seen("INVITE", user=ename, proto=transport)
    assert len(invites) == 2 and invites[0].cseq != invites[1].cseq

    # a re-INVITE with a changed SDP: it carries credentials, no challenge inside the dialog
    since_caller, since_callee = caller.mark(), callee.mark()
    reinvite = call.ReInvite(caller.ctx, did)
    reinvite.add_body(caller.sdp().replace("a=sendrecv", "a=sendonly"))
    reinvite.content_type = "application/sdp"
    reinvite.send()
    re_in = callee.wait(EventType.call_reinvite, 5.0, since_callee)
    assert "a=sendonly" in re_in.request.bodies[0]
    callee.answer(re_in.tid, 200, True)
    re_ok = caller.wait(EventType.call_answered, 5.0, since_caller, did=did)
    caller.ctx.call_send_ack(tid=re_ok.tid)
    callee.wait(EventType.call_ack, 5.0, since_callee)
    assert EventType.call_requestfailure not in caller.types(since_caller)
    assert len(k.seen("INVITE", user=ename, proto=transport)) == 3

    # BYE, with credentials too; the callee sees the call closed, the caller released
    since_caller, since_callee = caller.mark(), callee.mark()
    caller.ctx.call_terminate(cid, did)
    callee.wait(EventType.call_closed, 5.0, since_callee)
    caller.wait(EventType.call_released, 8.0, since_caller, cid=cid)
    byes = k.seen("BYE", proto=transport)
    assert len(byes) == 1, byes
    assert EventType.call_message_requestfailure not in caller.types(since_caller)
    # the INVITE's answer to its challenge, then the re-INVITE and the BYE: each checked and accepted
    assert k.auth_results(cname)[auth_before:] == ["1", "1", "1"]


def test_message_through_kamailio_with_407(kamailio_factory, agent_factory):  # noqa: F811
    k = kamailio_factory(invite_auth=True)
    alice, bob = _pair(k, agent_factory, "udp")
    bob.auto_answer_messages = 200
    since = alice.mark()
    tid = alice.message(k.aor("bob"), k.aor("alice"), "hello bob", alice.route(k))
    assert tid > 0
    got = bob.wait(EventType.message_new, 5.0)
    assert got.request.method == "MESSAGE"
    assert got.request.bodies == ["hello bob"]
    assert got.request.from_.startswith("<sip:alice@")
    alice.wait(EventType.message_requestfailure, 5.0, since, status=407)
    ok = alice.wait(EventType.message_answered, 5.0, since)
    assert ok.response.status_code == 200
    assert len(k.seen("MESSAGE", user="bob")) == 2
    assert k.auth_results("alice")[-1] == "1"


def test_call_with_wrong_password_stops_after_two_invites(kamailio_factory, agent_factory):  # noqa: F811
    k = kamailio_factory(invite_auth=True)
    alice, bob = _pair(k, agent_factory, "udp")
    alice.ctx.clear_authentication_info()
    alice.ctx.add_authentication_info("alice", "alice", "not-alicepw", k.realm)
    cid = alice.invite(k.aor("bob"), k.aor("alice"), alice.route(k))
    refused = alice.wait(EventType.call_requestfailure, 5.0, cid=cid, status=403)
    assert refused.response.reason_phrase == "Forbidden"
    time.sleep(1.0)
    assert len(k.seen("INVITE", user="bob")) == 2
    assert EventType.call_invite not in bob.types()
