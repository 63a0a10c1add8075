# SPDX-License-Identifier: Apache-2.0
"""exosip2.register and the credential methods without a registrar: lifetime, leaks, hostile input, threads.

A registrar here is only a UDP socket of the test that answers every REGISTER
with 200 (or not at all), so nothing but the binding and core/ is exercised.
"""

import gc
import threading

import pytest

from exosip2 import register
from exosip2.context import Context, ContextClosedError
from exosip2.error import OsipError, OsipNotFound, OsipSyntaxError, OsipWrongState
from exosip2.event import EventType
from exosip2.message import OsipMessage
from exosip2.options import Option
from udppeer import UdpPeer

pytestmark = pytest.mark.timeout(30)


class _Registrar(UdpPeer):
    """A UDP socket answering each REGISTER with 200 OK (echoing Contact and Expires).

    ``requests`` keeps (Expires, CSeq number) of each REGISTER received.
    """

    def __init__(self):
        super().__init__()
        self.requests = []
        self.start()

    def handle(self, data, peer):
        msg = OsipMessage.parse(data)
        self.requests.append((msg.expires, msg.cseq.number))
        lines = ["SIP/2.0 200 OK"]
        for name in ("Via", "From", "To", "Call-ID", "CSeq", "Contact", "Expires"):
            for value in msg.get_headers(name):
                if name == "To" and ";tag=" not in value:
                    value += ";tag=reg1"
                lines.append("%s: %s" % (name, value))
        lines.append("Content-Length: 0")
        del msg   # no parsed message outlives its datagram (the test counts live wrappers)
        self.reply(("\r\n".join(lines) + "\r\n\r\n").encode(), peer)

    @property
    def uri(self):
        return "sip:127.0.0.1:%d" % self.port


@pytest.fixture
def registrar():
    r = _Registrar()
    yield r
    r.close()


def _wait(events, cond, etype, rid, timeout=5.0):
    with cond:
        ok = cond.wait_for(lambda: any(e.type == etype and e.rid == rid for e in events), timeout)
    assert ok, [(e.type, e.rid) for e in events]


def test_built_messages_are_freed(no_leaks):
    with Context() as ctx:
        ctx.listen_on_address("127.0.0.1", port=0)
        for i in range(50):
            reg = register.InitialRegister(ctx, "sip:u%d@127.0.0.1" % i, "sip:127.0.0.1:9", expires=i)
            nxt = register.Register(ctx, reg.rid, 0)
            assert nxt.rid == reg.rid
            del nxt
            reg.remove()
            del reg
        gc.collect()


def test_hostile_arguments_raise_cleanly(no_leaks):
    with Context() as ctx:
        ctx.listen_on_address("127.0.0.1", port=0)
        for bad in ("sip:", "<<<", "sip:a@b\r\nX-Injected: 1", "\xff\xfe", "sip:" + "a" * 70000 + "@h",
                    "sip:a@[::1", "sip:a@b;;;;=", "sip:@"):
            try:
                reg = register.InitialRegister(ctx, bad, "sip:127.0.0.1:9")
            except (OsipError, ValueError):
                continue
            # accepted: it must be a well-formed REGISTER that can be removed again
            assert reg.method == "REGISTER"
            reg.remove()
        for bad_contact in ("<sip:x@127.0.0.1", "not a contact <"):
            with pytest.raises((OsipSyntaxError, ValueError)):
                register.InitialRegister(ctx, "sip:a@127.0.0.1", "sip:127.0.0.1:9", bad_contact)
        with pytest.raises(ValueError):
            register.InitialRegister(ctx, "sip:a@127.0.0.1\0x", "sip:127.0.0.1:9")
        with pytest.raises(ValueError):
            register.InitialRegister(ctx, "sip:a@127.0.0.1", "sip:127.0.0.1:9", expires=2 ** 31)
        with pytest.raises(TypeError):
            register.InitialRegister(ctx, "sip:a@127.0.0.1", "sip:127.0.0.1:9", expires=True)
        with pytest.raises(ValueError):
            register.Register(ctx, 2 ** 80)
        with pytest.raises(ValueError):
            register.Register(ctx, -3)
        for bad in (b"\xff" * 300, "a" * 100000):
            ctx.add_authentication_info(bad, bad, bad, bad)
            ctx.remove_authentication_info(bad, bad)
        gc.collect()


@pytest.mark.core_only  # a binding of a few seconds: the core-only MIN_REGISTER_EXPIRES lowers 5.3's floor of 30 s
def test_register_refresh_and_remove_with_a_test_registrar(registrar, no_leaks):
    events = []
    cond = threading.Condition()

    def on_event(ctx, ev):
        with cond:
            events.append(ev)
            cond.notify_all()

    ctx = Context(event_callback=on_event)
    try:
        ctx.listen_on_address("127.0.0.1", port=0)
        ctx.start(event_executor="inline")
        ctx.set_option(Option.MIN_REGISTER_EXPIRES, 1)  # a 2 s binding (5.3 and core/ raise it to 30)
        reg = register.InitialRegister(ctx, "sip:carol@127.0.0.1", registrar.uri, expires=2, qvalue="0.5")
        assert reg.qvalue == "0.5" and ";q=0.5" in reg.contacts[0]
        rid = reg.rid
        # build and send from another thread than the loop's and this one
        t = threading.Thread(target=reg.send)
        t.start()
        t.join(5)
        assert reg.consumed
        _wait(events, cond, EventType.registration_success, rid)
        # a 2 s binding is refreshed by the automatic actions (after 1 s)
        with cond:
            assert cond.wait_for(lambda: sum(e.type == EventType.registration_success for e in events) >= 2, 4)
        assert [r[0] for r in registrar.requests[:2]] == [2, 2]
        numbers = [r[1] for r in registrar.requests]
        assert numbers == sorted(numbers) and len(set(numbers)) == len(numbers)
        with pytest.raises(OsipWrongState):
            reg.send()
        reg.remove()
        with pytest.raises(OsipNotFound):
            register.Register(ctx, rid)
        count = len(registrar.requests)
        # removed: nothing more is sent
        with cond:
            cond.wait(1.5)
        assert len(registrar.requests) == count
    finally:
        ctx.close()
    with pytest.raises(ContextClosedError):
        register.Register(ctx, 1)
    del events[:]
    gc.collect()
