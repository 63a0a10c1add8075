# SPDX-License-Identifier: Apache-2.0
"""Tracing switched on at creation (``Context(trace=True)``) and logged by the asyncio iterator
itself, without trace_drain(): a MESSAGE exchanged with a second context over 127.0.0.1, and
datagrams that make no event at all (logged by the iterator's once-a-second tick)."""

import asyncio
import logging
import socket

import pytest

from exosip2 import request
from exosip2.context import Context
from uapair import UA, EventType as T

WAIT = 10.0


def _sip_records(caplog):
    return [r.sip_trace for r in caplog.records if r.name == "exosip2.sip"]


def test_context_trace_true_is_logged_by_the_asyncio_iterator(no_leaks, caplog):
    caplog.set_level(logging.DEBUG, logger="exosip2.sip")
    bob = UA("bob")

    def answer(ctx, ev):
        if ev.type == T.message_new:
            ctx.message_send_answer(ev.tid, 200)

    bob.ctx.event_callback = answer

    async def main(ctx, port):
        request.Message(ctx, bob.uri, "sip:alice@127.0.0.1:%d" % port).send()
        async for ev in ctx.events():
            if ev.type == T.message_answered:
                return ev

    try:
        with Context(trace=True) as ctx:
            port = ctx.listen_on_address("127.0.0.1", socket.IPPROTO_UDP, port=0)
            ev = asyncio.run(asyncio.wait_for(main(ctx, port), WAIT))
            assert ev.response.status_code == 200
            seen = [(t.direction, t.first_line.split(" ")[0]) for t in _sip_records(caplog)]
            assert ("sent", "MESSAGE") in seen and ("received", "SIP/2.0") in seen, seen
            assert ctx.trace_drain() == []   # the iterator took them all
    finally:
        bob.close()


def test_traced_datagrams_without_events_are_logged_while_the_iterator_waits(no_leaks, caplog):
    caplog.set_level(logging.DEBUG, logger="exosip2.sip")
    # hostile and truncated datagrams: the core drops them (no event), the trace keeps them
    samples = [b"\x00\xffnot sip", b"OPTIONS sip:x SIP/2.0\r\nVia: SIP/2.0/UDP", b"SIP/2.0 200\r\n"]

    async def main(ctx, port):
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            for data in samples:
                s.sendto(data, ("127.0.0.1", port))
            loop = asyncio.get_running_loop()
            deadline = loop.time() + WAIT
            while len(_sip_records(caplog)) < len(samples) and loop.time() < deadline:
                with pytest.raises(asyncio.TimeoutError):
                    await ctx.wait_event(timeout=0.5)
        finally:
            s.close()

    with Context(trace=True) as ctx:
        port = ctx.listen_on_address("127.0.0.1", socket.IPPROTO_UDP, port=0)
        asyncio.run(main(ctx, port))
        assert [t.data for t in _sip_records(caplog)] == samples


@pytest.mark.parametrize("bad", ["yes", 1, None, object()])
def test_context_trace_must_be_a_bool(bad, no_leaks):
    with pytest.raises(TypeError, match="trace must be True or False"):
        Context(trace=bad)


def test_context_trace_false_logs_nothing(no_leaks, caplog):
    caplog.set_level(logging.DEBUG, logger="exosip2.sip")
    with Context(trace=False) as ctx:
        port = ctx.listen_on_address("127.0.0.1", socket.IPPROTO_UDP, port=0)
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.sendto(b"garbage", ("127.0.0.1", port))
        s.close()

        async def main():
            with pytest.raises(asyncio.TimeoutError):
                await ctx.wait_event(timeout=1.3)

        asyncio.run(main())
        assert ctx.trace_drain() == []
    assert _sip_records(caplog) == []
