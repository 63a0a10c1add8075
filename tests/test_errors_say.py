# SPDX-License-Identifier: Apache-2.0
"""Errors that say what went wrong: listen failures, bad URIs, answers the stack sends itself,
sends before listening, and peers that cannot be reached (ICMP / refused TCP connections)."""

import errno
import queue
import socket

import pytest

from exosip2 import call, register, request
from exosip2.context import Context
from exosip2.error import (
    OsipBadParameter, OsipError, OsipNoNetwork, OsipPortBusy, OsipSyntaxError, OsipWrongState, bad_uri_error,
    listen_error,
)
from exosip2.event import EventType as T
from uapair import UA


def busy(kind):
    s = socket.socket(socket.AF_INET, kind)
    s.bind(("127.0.0.1", 0))
    if kind == socket.SOCK_STREAM:
        s.listen(1)
    return s


@pytest.mark.parametrize("transport,kind,name", [(socket.IPPROTO_UDP, socket.SOCK_DGRAM, "UDP"),
                                                 (socket.IPPROTO_TCP, socket.SOCK_STREAM, "TCP")])
def test_port_in_use_names_address_port_transport_and_errno(no_leaks, transport, kind, name):
    s = busy(kind)
    port = s.getsockname()[1]
    try:
        with Context() as ctx:
            with pytest.raises(OsipPortBusy) as info:
                ctx.listen_on_address("127.0.0.1", transport, port)
    finally:
        s.close()
    text = str(info.value)
    assert text == ("listen_on_address: cannot listen on %s 127.0.0.1 port %d: the port is already in use: "
                    "%s (EADDRINUSE)" % (name, port, __import__("os").strerror(errno.EADDRINUSE)))
    # code: what eXosip_listen_addr returned (OSIP_NO_NETWORK); the class says why
    assert info.value.errno == errno.EADDRINUSE and info.value.code == OsipNoNetwork.code
    assert isinstance(info.value, OSError)


def test_address_not_of_this_machine(no_leaks):
    with Context() as ctx:
        with pytest.raises(OsipNoNetwork, match=r"UDP 192\.0\.2\.1 port 5999: the address is not one of this "
                                                r"machine's: .*EADDRNOTAVAIL"):
            ctx.listen_on_address("192.0.2.1", port=5999)


@pytest.mark.parametrize("kwargs,pattern", [
    (dict(address="not-an-ip", port=0), r"UDP not-an-ip port \d+: the address is not a numeric IP address"),
    (dict(address="127.0.0.1", port=70000), r"port must be an int in 0\.\.65535"),
    (dict(address="127.0.0.1", port=-1), r"port must be an int in 0\.\.65535"),
    (dict(address="127.0.0.1", port="5060"), r"port must be an int in 0\.\.65535"),
    (dict(address="127.0.0.1", transport=132), r"transport must be socket\.IPPROTO_UDP \(17\) or "),
    (dict(address="127.0.0.1", family=99), r"family must be socket\.AF_INET or socket\.AF_INET6, not 99"),
    (dict(address="127.0.0.1", secure=True), r"secure=True \(TLS\) needs transport=socket\.IPPROTO_TCP"),
])
def test_listen_arguments(no_leaks, kwargs, pattern):
    with Context() as ctx:
        with pytest.raises(OsipBadParameter, match=pattern):
            ctx.listen_on_address(**kwargs)


def test_listen_twice_on_one_transport(no_leaks):
    with Context() as ctx:
        port = ctx.listen_on_address("127.0.0.1", port=0)
        with pytest.raises(OsipWrongState, match="already listens on that transport"):
            ctx.listen_on_address("127.0.0.1", port=port + 1 if port < 65535 else port - 1)


def test_listen_error_builder():
    e = listen_error(-10, errno.EACCES, b"0.0.0.0", 80, socket.IPPROTO_TCP)
    assert isinstance(e, PermissionError) and "TCP 0.0.0.0 port 80: permission denied" in str(e)
    e = listen_error(-1, 0, None, 5060, socket.IPPROTO_UDP)
    assert str(e) == ("listen_on_address: cannot listen on UDP every interface port 5060: "
                      "eXosip_listen_addr() failed: error -1 (OsipUndefinedError)")


@pytest.mark.parametrize("bad", ["not a uri", "sip:", "<sip:x", "", "<>"])
def test_bad_uri_names_the_argument_and_the_text(no_leaks, bad):
    with Context() as ctx:
        ctx.listen_on_address("127.0.0.1", port=0)
        with pytest.raises((OsipSyntaxError, ValueError)) as info:
            call.InitInvite(ctx, bad, "sip:alice@127.0.0.1")
        assert "to_url" in str(info.value)
        if bad:
            assert str(info.value).startswith("InitInvite: to_url is not a valid SIP URI: %r" % bad)
        with pytest.raises((OsipSyntaxError, ValueError), match="from_url"):
            request.Options(ctx, "sip:bob@127.0.0.1", bad)
        with pytest.raises((OsipSyntaxError, ValueError), match="route"):
            request.Message(ctx, "sip:bob@127.0.0.1", "sip:alice@127.0.0.1", route=bad or "<")


def test_bad_uri_in_register(no_leaks):
    with Context() as ctx:
        ctx.listen_on_address("127.0.0.1", port=0)
        with pytest.raises(OsipSyntaxError, match=r"InitialRegister: proxy is not a valid SIP URI: 'not a uri'"):
            register.InitialRegister(ctx, "sip:alice@127.0.0.1", "not a uri")


def test_bad_uri_error_when_every_argument_parses():
    e = bad_uri_error("InitInvite", -5, "eXosip_call_build_initial_invite", to_url="sip:a@b", route=None)
    assert isinstance(e, OsipSyntaxError)
    assert str(e) == ("InitInvite: eXosip_call_build_initial_invite() failed: error -5 (OsipSyntaxError) "
                      "with to_url='sip:a@b', route=None")


@pytest.fixture
def pair(no_leaks):
    a = UA("alice")
    b = UA("bob")
    yield a, b
    a.close()
    b.close()


def test_answer_100_says_the_stack_sends_it(pair):
    a, b = pair
    call.InitInvite(a.ctx, b.uri, a.uri).send()
    ev = b.expect(T.call_invite)
    with pytest.raises(OsipBadParameter, match=r"call_send_answer: 100 Trying is sent by the SIP stack itself.*"
                                               r"101\.\.699"):
        b.ctx.call_send_answer(ev.tid, 100)
    for status in (99, 700, 0):
        with pytest.raises(OsipBadParameter, match=r"status must be in 101\.\.699 .*not %d" % status):
            b.ctx.call_send_answer(ev.tid, status)
    b.ctx.call_send_answer(ev.tid, 486)
    assert a.expect(T.call_requestfailure).response.status_code == 486


def test_send_before_listen_is_refused(no_leaks):
    with Context() as ctx:
        inv = call.InitInvite(ctx, "sip:bob@127.0.0.1:5999", "sip:alice@127.0.0.1")
        with pytest.raises(OsipWrongState, match=r"call_send_init_invite: this context listens on no address "
                                                 r"yet.*listen_on_address\(\) first"):
            inv.send()
        assert not inv.consumed
        msg = request.Message(ctx, "sip:bob@127.0.0.1:5999", "sip:alice@127.0.0.1")
        with pytest.raises(OsipWrongState, match="message_send_request: this context listens on no address"):
            msg.send()


def closed_port(kind):
    s = socket.socket(socket.AF_INET, kind)
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def failure_event(ua, types, timeout=5.0):
    """The first event of *types* within *timeout* s: a peer that is not there is reported at once
    (an unreported one would take Timer B/F, 32 s)."""
    while True:
        try:
            ev = ua.events.get(timeout=timeout)
        except queue.Empty:
            raise AssertionError("%s: no failure event within %.0f s" % (ua.name, timeout))
        if ev.type in types:
            return ev


@pytest.mark.parametrize("transport", ["udp", "tcp"])
def test_invite_to_nobody_fails_at_once(no_leaks, transport):
    a = UA("alice", transport)
    try:
        port = closed_port(socket.SOCK_DGRAM if transport == "udp" else socket.SOCK_STREAM)
        uri = "sip:nobody@127.0.0.1:%d%s" % (port, ";transport=tcp" if transport == "tcp" else "")
        cid = call.InitInvite(a.ctx, uri, a.uri).send()
        ev = failure_event(a, (T.call_noanswer, T.call_requestfailure, T.call_serverfailure))
        assert ev.type == T.call_noanswer and ev.cid == cid and ev.response is None
        assert failure_event(a, (T.call_released,)).cid == cid
    finally:
        a.close()


@pytest.mark.parametrize("transport", ["udp", "tcp"])
def test_options_to_nobody_fails_at_once(no_leaks, transport):
    a = UA("alice", transport)
    try:
        port = closed_port(socket.SOCK_DGRAM if transport == "udp" else socket.SOCK_STREAM)
        uri = "sip:nobody@127.0.0.1:%d%s" % (port, ";transport=tcp" if transport == "tcp" else "")
        tid = request.Options(a.ctx, uri, a.uri).send()
        ev = failure_event(a, (T.message_requestfailure, T.message_serverfailure, T.message_globalfailure))
        assert ev.tid == tid and ev.response is None
    finally:
        a.close()


def test_after_an_icmp_error_other_peers_still_work(pair):
    """The socket reports an ICMP error once on the next call; a send to a live peer must not fail."""
    a, b = pair
    port = closed_port(socket.SOCK_DGRAM)
    for _ in range(3):
        request.Options(a.ctx, "sip:nobody@127.0.0.1:%d" % port, a.uri).send()
        tid = request.Options(a.ctx, b.uri, a.uri).send()
        ev = b.expect(T.message_new)
        b.ctx.options_send_answer(ev.tid, 200)
        seen = []
        while True:
            ev = a.expect(T.message_answered, T.message_requestfailure)
            seen.append((ev.tid, ev.type))
            if ev.tid == tid:
                break
        assert seen[-1] == (tid, T.message_answered), seen


def test_forged_icmp_quote_for_an_unknown_request_is_ignored(pair):
    """Only the transaction the quoted request names fails: a datagram that looks like an ICMP quote
    arriving as normal data, or a quote naming no transaction, changes nothing."""
    a, b = pair
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        for junk in (b"INVITE sip:x SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bKnone\r\n",
                     b"\xff" * 40, b"OPTIONS sip:x SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=" + b"b" * 300):
            s.sendto(junk, ("127.0.0.1", a.port))
    finally:
        s.close()
    call.InitInvite(a.ctx, b.uri, a.uri).send()
    ev = b.expect(T.call_invite)
    b.ctx.call_send_answer(ev.tid, 486)
    assert a.expect(T.call_requestfailure).response.status_code == 486


def test_options_to_nobody_over_ipv6_fails_at_once(no_leaks):
    got = queue.Queue()
    with Context(lambda ctx, ev: got.put(ev)) as ctx:
        port = ctx.listen_on_address("::1", socket.IPPROTO_UDP, 0, socket.AF_INET6)
        ctx.start(event_executor="inline")
        with socket.socket(socket.AF_INET6, socket.SOCK_DGRAM) as s:
            s.bind(("::1", 0))
            dead = s.getsockname()[1]
        tid = request.Options(ctx, "sip:nobody@[::1]:%d" % dead, "sip:alice@[::1]:%d" % port).send()
        while True:
            try:
                ev = got.get(timeout=5.0)
            except queue.Empty:
                raise AssertionError("no failure event within 5 s for an OPTIONS to a closed IPv6 port")
            if ev.type == T.message_requestfailure:
                break
        assert ev.tid == tid and ev.response is None
        ctx.stop()
