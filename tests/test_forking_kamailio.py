# SPDX-License-Identifier: Apache-2.0
"""Forking through a real Kamailio: bob is registered from two contexts (two bindings of one AoR),
so lookup("location") forks alice's INVITE to both. Both answer 200 at once; Kamailio relays every
2xx (RFC 3261 16.7) and cancels a branch still pending. Alice must acknowledge each 2xx she gets,
keep the first dialog and end any other with BYE (its own did); a branch that answered late is
cancelled instead. Either way every bob ends up with no call left, and alice with one."""

import pytest

from exosip2.event import EventType as T

from peers.agent import agent_factory  # noqa: F401 (fixture)
from peers.kamailio import kamailio_factory  # noqa: F401 (fixture)

pytestmark = [pytest.mark.peers, pytest.mark.timeout(60)]


@pytest.mark.parametrize("transport", ["udp", "tcp"])
def test_forked_invite_through_kamailio(transport, kamailio_factory, agent_factory):  # noqa: F811
    k = kamailio_factory()
    alice = agent_factory(transport=transport)
    bobs = [agent_factory(transport=transport), agent_factory(transport=transport)]
    alice.register(k, "alice", "alicepw")
    for b in bobs:
        b.register(k, "bob", "bobpw")
        b.auto_answer = (200, True)
    assert len(k.bindings("bob")) == 2
    cid = alice.invite(k.aor("bob"), k.aor("alice"), alice.route(k))
    first = alice.wait(T.call_answered, 10.0, cid=cid)
    alice.ctx.call_send_ack(first.did)
    for b in bobs:
        # a branch cancelled before its answer went out may have failed to answer (the agent's
        # auto-answer raises OsipWrongState then, and the INVITE event is not recorded)
        b.wait((T.call_invite, T.call_cancelled), 5.0)
    # each bob: its call confirmed by an ACK, then either kept (one of them), or ended by BYE
    # (a second 2xx that reached alice) or by CANCEL (a branch Kamailio cancelled)
    outcomes = []
    for b in bobs:
        # call_closed first: alice's ACK and BYE of a second branch leave back to back, and
        # Kamailio's UDP workers may relay the BYE ahead of the ACK
        ev = b.wait((T.call_ack, T.call_cancelled, T.call_closed), 8.0)
        if ev.type == T.call_cancelled:
            outcomes.append("cancelled")
            continue
        if ev.type == T.call_closed:
            outcomes.append("bye")
            continue
        try:
            b.wait(T.call_closed, 3.0)
            outcomes.append("bye")
        except AssertionError:
            outcomes.append("kept")
    assert outcomes.count("kept") == 1, outcomes
    if "bye" in outcomes:
        ended = alice.wait(T.call_message_answered, 5.0, cid=cid)
        assert ended.did != first.did and ended.request.method == "BYE"
    # the call alice kept ends as any other
    alice.ctx.call_terminate(cid, first.did)
    alice.wait(T.call_released, 8.0, cid=cid)
    kept = bobs[outcomes.index("kept")]
    kept.wait(T.call_closed, 5.0)
