#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Tutorial: two contexts in one asyncio program; alice sends bob a MESSAGE and awaits its final
answer, then calls him; bob answers, alice hangs up."""

import asyncio
import socket

from exosip2 import call, request
from exosip2.context import Context
from exosip2.event import EventType


# bob-start
async def bob_answers(bob: Context) -> None:
    async for ev in bob.events():                        # events arrive through the event socket
        print("bob:", ev.type.name)
        if ev.type == EventType.message_new:
            request.MessageAnswer(bob, ev.tid, 200).send()
        elif ev.type == EventType.call_invite:
            call.Answer(bob, ev.tid, 200).send()
        elif ev.type == EventType.call_released:
            return
# bob-end


# alice-start
async def alice_calls(alice: Context, uri: str) -> None:
    me = "sip:alice@127.0.0.1:%d" % alice.port
    text = request.Message(alice, uri, me)
    text.set_body("hello", "text/plain")
    final = await alice.request(text, timeout=10)        # the final answer, across any 401/407 retry
    print("alice: MESSAGE answered", final.response.status_code)
    invite = call.InitInvite(alice, uri, "sip:alice@127.0.0.1:%d" % alice.port)
    alice.call_send_init_invite(invite)
    while True:
        ev = await alice.wait_event(timeout=10)          # one event, or TimeoutError
        print("alice:", ev.type.name)
        if ev.type == EventType.call_answered:
            alice.call_send_ack(tid=ev.tid)
            alice.call_terminate(ev.cid, ev.did)         # BYE
        elif ev.type == EventType.call_released:
            return
# alice-end


# main-start
async def main() -> None:
    with Context() as alice, Context() as bob:
        bob_port = bob.listen_on_address("127.0.0.1", socket.IPPROTO_UDP, 0)
        alice.listen_on_address("127.0.0.1", socket.IPPROTO_UDP, 0)
        await asyncio.wait_for(asyncio.gather(
            bob_answers(bob), alice_calls(alice, "sip:bob@127.0.0.1:%d" % bob_port)), timeout=30)


asyncio.run(main())
# main-end
