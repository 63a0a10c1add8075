# SPDX-License-Identifier: Apache-2.0
"""The binding against a hostile or careless caller: messages that cannot be sent, close() with the
lock held elsewhere, typed options (and a fuzz of set_option), and the asyncio path's back pressure."""

import asyncio
import gc
import os
import random
import re
import socket
import subprocess
import sys
import threading

import pytest

import exosip2
from exosip2 import _debug, call, register, request
from exosip2.context import Context, ContextClosedError
from exosip2.error import OsipBadParameter, OsipError, OsipTimeout, OsipWrongState
from exosip2.event import EventType
from exosip2.message import OsipMessage
from exosip2.options import CORE_OPTION_BASE, Option, Statistics, is_core_option, option_type
from uapair import UA, WAIT

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
HEADERS = os.path.join(ROOT, "core", "include", "eXosip2")


def raw_request(method, port=9, cseq_method=None, extra=""):
    """A complete request parsed from bytes (owned by the test, built by no context)."""
    text = ("%s sip:bob@127.0.0.1:%d SIP/2.0\r\n"
            "Via: SIP/2.0/UDP 127.0.0.1:9;branch=z9hG4bK-raw\r\nMax-Forwards: 70\r\n"
            "From: <sip:alice@127.0.0.1>;tag=1\r\nTo: <sip:bob@127.0.0.1>\r\nCall-ID: raw@127.0.0.1\r\n"
            "%sCSeq: 1 %s\r\nContent-Length: 0\r\n\r\n") % (method, port, extra, cseq_method or method)
    return OsipMessage.parse(text.encode())


def raw_response(status=200):
    return OsipMessage.parse(("SIP/2.0 %d Whatever\r\nVia: SIP/2.0/UDP 127.0.0.1:9;branch=z9hG4bK-raw\r\n"
                              "From: <sip:alice@127.0.0.1>;tag=1\r\nTo: <sip:bob@127.0.0.1>;tag=2\r\n"
                              "Call-ID: raw@127.0.0.1\r\nCSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n"
                              % status).encode())


# Every send function of the binding, as (name, how to call it on a context with a message).
SENDERS = {
    "call_send_init_invite": lambda ctx, m: ctx.call_send_init_invite(m),
    "call_send_ack": lambda ctx, m: ctx.call_send_ack(tid=1, ack=m),
    "call_send_request": lambda ctx, m: ctx.call_send_request(m, did=1),
    "call_send_answer": lambda ctx, m: ctx.call_send_answer(tid=1, answer=m),
    "message_send_request": lambda ctx, m: ctx.message_send_request(m),
    "message_send_answer": lambda ctx, m: ctx.message_send_answer(tid=1, answer=m),
    "options_send_request": lambda ctx, m: ctx.options_send_request(m),
    "options_send_answer": lambda ctx, m: ctx.options_send_answer(tid=1, answer=m),
}
ANSWERS = {"call_send_answer", "message_send_answer", "options_send_answer"}
# A method each request sender refuses.
WRONG_METHOD = {
    "call_send_init_invite": "MESSAGE",
    "call_send_ack": "INVITE",
    "call_send_request": "ACK",
    "message_send_request": "INVITE",
    "options_send_request": "MESSAGE",
}


@pytest.fixture
def ctx(no_leaks):
    with Context() as c:
        c.listen_on_address("127.0.0.1", port=0)
        yield c


def refused(ctx, name, msg, exc, *words):
    with pytest.raises(exc) as info:
        SENDERS[name](ctx, msg)
    text = str(info.value)
    assert name in text, text
    for w in words:
        assert w in text, text
    return info.value


# --- 1. messages that cannot be sent --------------------------------------------------------------

@pytest.mark.parametrize("name", sorted(SENDERS))
def test_an_empty_message_is_refused_by_every_sender(ctx, name):
    msg = OsipMessage()
    refused(ctx, name, msg, OsipBadParameter, "empty")
    assert not msg.consumed  # refused, not swallowed: still the caller's


@pytest.mark.parametrize("name", sorted(set(SENDERS) - ANSWERS))
def test_a_response_is_refused_where_a_request_is_sent(ctx, name):
    refused(ctx, name, raw_response(200), OsipBadParameter, "not a response (200)")


@pytest.mark.parametrize("name", sorted(ANSWERS))
def test_a_request_is_refused_where_an_answer_is_sent(ctx, name):
    refused(ctx, name, raw_request("INVITE"), OsipBadParameter, "sends a response, not a request (INVITE)")


@pytest.mark.parametrize("name", sorted(ANSWERS))
@pytest.mark.parametrize("status", [100])
def test_an_answer_with_a_status_out_of_range_is_refused(ctx, name, status):
    refused(ctx, name, raw_response(status), OsipBadParameter, "status code %d" % status)


@pytest.mark.parametrize("name", sorted(WRONG_METHOD))
def test_a_method_the_sender_does_not_send_is_refused(ctx, name):
    method = WRONG_METHOD[name]
    refused(ctx, name, raw_request(method), OsipBadParameter, method)


@pytest.mark.parametrize("name", sorted(set(SENDERS) - ANSWERS))
def test_a_request_without_its_headers_is_refused(ctx, name):
    msg = OsipMessage()
    msg.method = {"call_send_ack": "ACK", "options_send_request": "OPTIONS",
                  "call_send_request": "INFO", "message_send_request": "MESSAGE"}.get(name, "INVITE")
    msg.uri = "sip:bob@127.0.0.1:9"
    refused(ctx, name, msg, OsipBadParameter, "From", "To", "Call-ID", "CSeq")


def test_methods_are_case_sensitive(ctx):
    refused(ctx, "call_send_init_invite", raw_request("invite"), OsipBadParameter, "not invite")


def test_a_cseq_of_another_method_is_refused(ctx):
    refused(ctx, "call_send_init_invite", raw_request("INVITE", cseq_method="BYE"), OsipBadParameter,
            "CSeq method (BYE)")


@pytest.mark.parametrize("name", sorted(SENDERS))
def test_a_message_sent_once_is_refused_by_every_sender(ctx, name):
    msg = request.Message(ctx, "sip:bob@127.0.0.1:9", "sip:alice@127.0.0.1")
    assert msg.send() > 0
    assert msg.consumed
    refused(ctx, name, msg, OsipWrongState, "already sent")


@pytest.mark.parametrize("name", sorted(SENDERS))
def test_a_message_of_another_context_is_refused(ctx, name):
    with Context() as other:
        other.listen_on_address("127.0.0.1", port=0)
        msg = request.Message(other, "sip:bob@127.0.0.1:9", "sip:alice@127.0.0.1")
        refused(ctx, name, msg, OsipBadParameter, "another context")
        assert not msg.consumed
        assert msg.send() > 0   # its own context still sends it


@pytest.mark.parametrize("name", sorted(SENDERS))
def test_a_message_of_a_closed_context_is_refused(ctx, name):
    other = Context()
    other.listen_on_address("127.0.0.1", port=0)
    msg = call.InitInvite(other, "sip:bob@127.0.0.1:9", "sip:alice@127.0.0.1")
    other.close()
    refused(ctx, name, msg, ContextClosedError, "closed")
    with pytest.raises(ContextClosedError):
        msg.send()


def test_a_message_of_an_event_cannot_be_handed_over(no_leaks):
    a, b = UA("alice"), UA("bob")
    try:
        request.Message(a.ctx, b.uri, a.uri).send()
        ev = b.expect(EventType.message_new)
        with pytest.raises(OsipWrongState, match="message_send_request: .*borrowed.*copy"):
            b.ctx.message_send_request(ev.request)
        b.ctx.message_send_answer(ev.tid, 200)
        a.expect(EventType.message_answered)
    finally:
        a.close()
        b.close()


def test_send_of_each_built_message_refuses_a_changed_kind(ctx):
    """ExosipMessage.send() goes through the same checks: a built message whose start line was
    changed into something its class does not send is refused, and stays usable."""
    cases = [
        (call.InitInvite(ctx, "sip:bob@127.0.0.1:9", "sip:alice@127.0.0.1"), "MESSAGE", "call_send_init_invite"),
        (request.Message(ctx, "sip:bob@127.0.0.1:9", "sip:alice@127.0.0.1"), "INVITE", "message_send_request"),
        (request.Options(ctx, "sip:bob@127.0.0.1:9", "sip:alice@127.0.0.1"), "MESSAGE", "options_send_request"),
        (register.InitialRegister(ctx, "sip:alice@127.0.0.1", "sip:127.0.0.1:9"), "INVITE", "REGISTER"),
    ]
    for msg, method, words in cases:
        msg.method = method
        with pytest.raises(OsipBadParameter, match=words):
            msg.send()
        assert not msg.consumed
    reg = cases[-1][0]
    reg.method = "REGISTER"
    reg.send()
    reg.remove()
    with pytest.raises(OsipWrongState, match="already sent"):
        reg.send()


def test_send_of_answers_acks_and_in_dialog_requests(no_leaks):
    """The send() of the messages that need a peer: Answer, Ack, Info (call), MessageAnswer and
    OptionsAnswer (request) refuse a second send and a changed method, through the same checks."""
    a, b = UA("alice"), UA("bob")
    try:
        call.InitInvite(a.ctx, b.uri, a.uri).send()
        inv = b.expect(EventType.call_invite)
        ringing = call.Answer(b.ctx, inv.tid, 180)
        ringing.send()
        with pytest.raises(OsipWrongState, match="call_send_answer: this message was already sent"):
            ringing.send()
        ok = call.Answer(b.ctx, inv.tid, 200)
        ok.add_body("v=0\r\no=b 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
                    "m=audio 9 RTP/AVP 0\r\n")
        ok.content_type = "application/sdp"
        ok.send()
        answered = a.expect(EventType.call_ringing, EventType.call_answered)
        while answered.type != EventType.call_answered:
            answered = a.expect(EventType.call_answered)
        ack = call.Ack(a.ctx, did=answered.did)
        ack.method = "BYE"
        with pytest.raises(OsipBadParameter, match="call_send_ack sends ACK requests, not BYE"):
            ack.send()
        ack.method = "ACK"
        ack.send()
        with pytest.raises(OsipWrongState, match="already sent"):
            ack.send()
        b.expect(EventType.call_ack)
        info = call.Info(a.ctx, answered.did)
        info.method = "CANCEL"
        with pytest.raises(OsipBadParameter, match="call_send_request does not send CANCEL requests"):
            info.send()
        info.method = "INFO"
        assert info.send() >= 0  # the tid on core/, 0 (OSIP_SUCCESS) with an installed eXosip2 5.3
        with pytest.raises(OsipWrongState, match="already sent"):
            info.send()
        got = b.expect(EventType.call_message_new)
        b.ctx.call_send_answer(got.tid, 200)
        a.ctx.call_terminate(answered.cid, answered.did)
        bye = b.expect(EventType.call_message_new)  # answered by the stack, as in eXosip2 5.3
        assert bye.request.method == "BYE"
        with pytest.raises(OsipError):
            b.ctx.call_send_answer(bye.tid, 200)  # answered already
        b.expect(EventType.call_closed)
        b.expect(EventType.call_released)

        request.Message(a.ctx, b.uri, a.uri).send()
        msg = b.expect(EventType.message_new)
        ans = request.MessageAnswer(b.ctx, msg.tid, 200)
        ans.send()
        with pytest.raises(OsipWrongState, match="message_send_answer: this message was already sent"):
            ans.send()
        request.Options(a.ctx, b.uri, a.uri).send()
        opt = b.expect(EventType.message_new)
        oans = request.OptionsAnswer(b.ctx, opt.tid, 200)
        with pytest.raises(OsipBadParameter, match="another context"):
            a.ctx.options_send_answer(answer=oans)
        oans.send()
        with pytest.raises(OsipWrongState, match="options_send_answer: this message was already sent"):
            oans.send()
    finally:
        a.close()
        b.close()


def test_answer_and_ack_need_a_transaction(ctx):
    with pytest.raises(OsipBadParameter, match="call_send_answer needs tid="):
        ctx.call_send_answer(answer=raw_response(200))
    with pytest.raises(OsipBadParameter, match="call_send_ack needs tid="):
        ctx.call_send_ack(ack=raw_request("ACK"))
    with pytest.raises(TypeError, match="tid must be an int"):
        ctx.call_send_answer(tid="1", answer=raw_response(200))
    with pytest.raises(TypeError, match="answer must be an OsipMessage"):
        ctx.call_send_answer(tid=1, answer=b"SIP/2.0 200 OK")


def test_the_crashes_of_the_issue_are_errors_in_a_fresh_interpreter():
    code = (
        "from exosip2.context import Context\n"
        "from exosip2.message import OsipMessage\n"
        "ctx = Context(); ctx.listen_on_address('127.0.0.1', port=0)\n"
        "for f in (lambda: ctx.call_send_init_invite(OsipMessage()), lambda: ctx.set_option(2000, 0),\n"
        "          lambda: ctx.set_option(17, 5), lambda: ctx.set_option(2**40, 1)):\n"
        "    try:\n"
        "        f()\n"
        "    except (ValueError, TypeError) as e:\n"
        "        print(type(e).__name__)\n"
        "ctx.close()\n")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60,
                       env=dict(os.environ, PYTHONPATH=ROOT))
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == ["OsipBadParameter", "ValueError", "TypeError", "ValueError"], r.stdout


# --- 2. close() ---------------------------------------------------------------------------------------

def hold_lock(ctx):
    """A thread that takes ctx.lock and keeps it until the returned event is set."""
    taken, release = threading.Event(), threading.Event()

    def run():
        with ctx.lock:
            taken.set()
            release.wait(WAIT * 2)

    t = threading.Thread(target=run, daemon=True)
    t.start()
    assert taken.wait(WAIT)
    return t, release


def test_close_with_the_lock_held_elsewhere_raises_and_leaves_the_context_usable(no_leaks):
    ctx = Context()
    ctx.listen_on_address("127.0.0.1", port=0)
    ctx.start(event_executor="inline")
    holder, release = hold_lock(ctx)
    try:
        with pytest.raises(OsipTimeout, match="another thread has held the context lock"):
            ctx.close(timeout=0.2)
        assert not ctx.closed and ctx.is_running
    finally:
        release.set()
        holder.join(WAIT)
    assert not holder.is_alive()
    # usable: it still sends, and closes now
    assert request.Message(ctx, "sip:bob@127.0.0.1:9", "sip:alice@127.0.0.1").send() > 0
    ctx.close(timeout=WAIT)
    assert ctx.closed
    ctx.close()


def test_close_waits_for_a_lock_released_in_time(no_leaks):
    ctx = Context()
    holder, release = hold_lock(ctx)
    threading.Timer(0.05, release.set).start()
    ctx.close(timeout=WAIT)
    holder.join(WAIT)
    assert ctx.closed and not holder.is_alive()


def test_close_while_a_callback_blocks_raises_then_closes(no_leaks):
    a = UA("alice")
    entered, go_on = threading.Event(), threading.Event()

    def cb(ctx, ev):
        entered.set()
        go_on.wait(WAIT * 2)

    ctx = Context(cb)
    try:
        port = ctx.listen_on_address("127.0.0.1", port=0)
        thread = ctx.start(event_executor="inline")
        request.Message(a.ctx, "sip:bob@127.0.0.1:%d" % port, a.uri).send()
        assert entered.wait(WAIT)
        with pytest.raises(OsipTimeout, match="event loop thread did not end"):
            ctx.close(timeout=0.2)
        assert not ctx.closed
        go_on.set()
        ctx.close(timeout=WAIT)
        assert ctx.closed and not thread.is_alive()
    finally:
        go_on.set()
        ctx.close()
        a.close()


@pytest.mark.parametrize("executor", ["inline", None])
def test_close_from_inside_a_callback(no_leaks, executor):
    a = UA("alice")
    closed = threading.Event()
    errors = []

    def cb(ctx, ev):
        try:
            ctx.close()
            ctx.close()  # twice, from the callback
        except Exception as exc:  # recorded: the assertion below names it
            errors.append(exc)
        closed.set()

    ctx = Context(cb)
    try:
        port = ctx.listen_on_address("127.0.0.1", port=0)
        thread = ctx.start(event_executor=executor)
        request.Message(a.ctx, "sip:bob@127.0.0.1:%d" % port, a.uri).send()
        assert closed.wait(WAIT)
        thread.join(WAIT)
        assert not errors and ctx.closed and not thread.is_alive()
    finally:
        ctx.close()
        a.close()


def test_close_from_other_threads_at_once(no_leaks):
    ctx = Context()
    ctx.listen_on_address("127.0.0.1", port=0)
    ctx.start(event_executor="inline")
    errors = []

    def close():
        try:
            ctx.close(timeout=WAIT)
        except Exception as exc:
            errors.append(exc)

    threads = [threading.Thread(target=close) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(WAIT * 2)
    assert not errors and ctx.closed and not any(t.is_alive() for t in threads)
    with pytest.raises(ContextClosedError):
        ctx.listen_on_address("127.0.0.1", port=0)


def test_close_refuses_a_bad_timeout_and_a_holder_of_the_lock(no_leaks):
    ctx = Context()
    for bad in (-1, "1", None, float("nan")):
        with pytest.raises(ValueError, match="timeout"):
            ctx.close(timeout=bad)
    with ctx.lock:
        with pytest.raises(OsipWrongState, match="holds the context lock"):
            ctx.close()
    ctx.close()
    assert ctx.closed


# --- 3. options --------------------------------------------------------------------------------------

def header_defines(name, prefix):
    text = open(os.path.join(HEADERS, name)).read()
    bases = {"EXOSIP_OPT_BASE_OPTION": 0, "EXOSIP_CORE_OPT_BASE": CORE_OPTION_BASE}
    out = {}
    for m in re.finditer(r"#define %s(\w+) \((\w+) \+ (\d+)\)" % prefix, text):
        out[m.group(1)] = bases[m.group(2)] + int(m.group(3))
    return out


@pytest.mark.core_only  # core-only options (EXOSIP_CORE_OPT_*)
def test_option_numbers_are_those_of_the_headers():
    assert exosip2.Option is Option
    setup = header_defines("eX_setup.h", "EXOSIP_OPT_")
    core = header_defines("eX_core.h", "EXOSIP_CORE_OPT_")
    assert setup and core
    assert {o.name: o.value for o in Option} == dict(setup, **core)
    assert Option.GET_STATISTICS == 2000 and Option.SET_HEADER_USER_AGENT == 17
    assert all(is_core_option(Option[n]) for n in core) and not any(is_core_option(Option[n]) for n in setup)


@pytest.mark.core_only  # core-only options (EXOSIP_CORE_OPT_*)
def test_option_types():
    assert option_type(Option.SET_HEADER_USER_AGENT) is str
    assert option_type(Option.MAX_CALLS) is int and option_type(7) is int
    with pytest.raises(ValueError, match="get_statistics"):
        option_type(Option.GET_STATISTICS)
    with pytest.raises(ValueError, match="unknown option number 3"):
        option_type(3)
    with pytest.raises(TypeError):
        option_type("USE_RPORT")


def recv_sip(sock):
    data, _ = sock.recvfrom(65535)
    return data


def test_user_agent_option_puts_the_string_and_only_it_on_the_wire(ctx):
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as peer:
        peer.bind(("127.0.0.1", 0))
        peer.settimeout(WAIT)
        target = "sip:bob@127.0.0.1:%d" % peer.getsockname()[1]
        ctx.set_option(Option.SET_HEADER_USER_AGENT, "probe-ua/1.0")
        assert ctx.user_agent == "probe-ua/1.0"
        request.Message(ctx, target, "sip:alice@127.0.0.1").send()
        assert b"\r\nUser-Agent: probe-ua/1.0\r\n" in recv_sip(peer)
        with pytest.raises(TypeError, match="SET_HEADER_USER_AGENT must be str, bytes or None, not int"):
            ctx.set_option(17, 12345)
        with pytest.raises(ValueError, match="NUL"):
            ctx.set_option(17, "a\0b")
        ctx.set_option(17, None)
        request.Message(ctx, target, "sip:alice@127.0.0.1").send()
        data = recv_sip(peer)
        while b"probe-ua" in data:  # a retransmission of the first one
            data = recv_sip(peer)
        assert b"User-Agent" not in data


@pytest.mark.core_only  # core-only options (EXOSIP_CORE_OPT_*)
def test_int_options_and_limits(ctx):
    for opt in (Option.USE_RPORT, Option.ENABLE_AUTOANSWERBYE, Option.ENABLE_IPV6, Option.UDP_KEEP_ALIVE):
        ctx.set_option(opt, 0)
        ctx.set_option(opt, True)
    ctx.set_option(Option.ENABLE_IPV6, 0)
    ctx.set_option(Option.MAX_CALLS, 100)
    ctx.set_option(int(Option.MAX_HEADERS), 300)
    with pytest.raises(OsipBadParameter, match="MAX_CALLS.*range"):
        ctx.set_option(Option.MAX_CALLS, -5)
    with pytest.raises(ValueError, match="fit a C int"):
        ctx.set_option(Option.MAX_CALLS, 2 ** 31)
    with pytest.raises(TypeError, match="must be an int, not float"):
        ctx.set_option(Option.USE_RPORT, 1.0)
    with pytest.raises(TypeError, match="must be an int, not str"):
        ctx.set_option(Option.USE_RPORT, "1")
    with pytest.raises(ValueError, match="unknown option number 2001"):
        ctx.set_option(2001, 0)
    with pytest.raises(ValueError, match="get_statistics"):
        ctx.set_option(Option.GET_STATISTICS, 0)


def test_statistics_getter(ctx):
    # a silent peer, so the transaction stays open (a closed port's ICMP error would end it at once)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as silent:
        silent.bind(("127.0.0.1", 0))
        request.Message(ctx, "sip:bob@127.0.0.1:%d" % silent.getsockname()[1], "sip:alice@127.0.0.1").send()
        st = ctx.get_statistics()
    assert isinstance(st, Statistics)
    assert st.allocated_transactions >= 1
    assert len(st.reserved1) == 20 and all(isinstance(v, int) for v in st.reserved1)


class Odd:
    def __int__(self):
        return 1

    def __index__(self):
        return 1


@pytest.mark.core_only  # core-only options (EXOSIP_CORE_OPT_*)
def test_set_option_fuzz(ctx):
    rng = random.Random(20261201)
    known = [int(o) for o in Option]

    def number():
        return rng.choice([
            rng.choice(known), rng.randint(-5, 2100), rng.randint(CORE_OPTION_BASE - 5, CORE_OPTION_BASE + 40),
            rng.randint(-2 ** 70, 2 ** 70), 2 ** 31, -2 ** 31 - 1, 2 ** 64, None, "17", b"17", 17.0,
            float("nan"), Odd(), object(), True, [17]])

    def value():
        return rng.choice([
            0, 1, -1, rng.randint(-2 ** 31, 2 ** 31 - 1), rng.randint(-2 ** 80, 2 ** 80), 2 ** 31, -2 ** 31,
            None, "", "x" * rng.randint(0, 3000), "ünïcode", b"bytes\xff", b"a\0b", 1.5, float("inf"),
            Odd(), object(), [], True, False, "\udcff"])

    outcomes = {}
    for _ in range(3000):
        opt, val = number(), value()
        try:
            ctx.set_option(opt, val)
            outcomes["ok"] = outcomes.get("ok", 0) + 1
        except (ValueError, TypeError, OsipError) as exc:
            outcomes[type(exc).__name__] = outcomes.get(type(exc).__name__, 0) + 1
    assert {"ok", "ValueError", "TypeError"} <= set(outcomes), outcomes
    # the context still works: limits back to sane values, and it sends and counts
    sane = {Option.MAX_AUTOMATIC_RETRIES: 5, Option.INVITE_ANSWER_TIMEOUT_STATUS: 408,
            Option.KEEP_FORKED_DIALOGS: 0, Option.MAX_FORKED_DIALOGS: 16}
    for opt in Option:
        if is_core_option(opt) and option_type(opt) is int:
            ctx.set_option(opt, sane.get(opt, 1000))
    ctx.set_option(Option.DNS_SERVER, None)
    ctx.set_option(Option.ENABLE_IPV6, 0)
    ctx.set_option(Option.SET_HEADER_USER_AGENT, "after-fuzz")
    # to a socket that reads nothing: a closed port would answer with an ICMP error that ends
    # the transaction at once
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as silent:
        silent.bind(("127.0.0.1", 0))
        to = "sip:bob@127.0.0.1:%d" % silent.getsockname()[1]
        assert request.Message(ctx, to, "sip:alice@127.0.0.1").send() > 0
        assert ctx.get_statistics().allocated_transactions >= 1


# --- 4. asyncio: back pressure, fairness, re-arming ---------------------------------------------------

def flood_messages(port, n, tag):
    """n MESSAGE requests from a raw UDP socket; returns the socket (kept open: answers go there)."""
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.1", 0))
    me = s.getsockname()[1]
    for i in range(n):
        s.sendto(("MESSAGE sip:bob@127.0.0.1:%d SIP/2.0\r\n"
                  "Via: SIP/2.0/UDP 127.0.0.1:%d;branch=z9hG4bK-%s-%d;rport\r\nMax-Forwards: 70\r\n"
                  "From: <sip:flood@127.0.0.1>;tag=%s%d\r\nTo: <sip:bob@127.0.0.1>\r\n"
                  "Call-ID: %s-%d@127.0.0.1\r\nCSeq: 1 MESSAGE\r\nContent-Type: text/plain\r\n"
                  "Content-Length: 2\r\n\r\nhi" % (port, me, tag, i, tag, i, tag, i)).encode(), ("127.0.0.1", port))
    return s


def wait_queued(ctx, n):
    """Bounded wait until the core holds n incoming transactions (their events are queued)."""
    deadline = asyncio.get_event_loop().time() + WAIT * 2
    while ctx.get_statistics().allocated_transactions < n:
        assert asyncio.get_event_loop().time() < deadline, ctx.get_statistics()
        yield


def live_events():
    return _debug.live_objects()["Event"]


def test_asyncio_takes_events_in_bounded_batches_and_lets_the_loop_run(ctx):
    n = 400
    port = ctx.port

    async def main():
        peer = flood_messages(port, n, "bp")
        try:
            for _ in wait_queued(ctx, n):
                await asyncio.sleep(0.01)
            gc.collect()
            base = live_events()
            other_ran_at = []
            seen = 0
            held = []
            async for ev in ctx.events():
                if seen == 0:
                    asyncio.get_running_loop().call_soon(lambda: other_ran_at.append(seen))
                assert ev.type == EventType.message_new
                seen += 1
                ev = None
                held.append(live_events() - base)
                if seen == n:
                    break
            return other_ran_at, held, seen
        finally:
            peer.close()

    other_ran_at, held, seen = asyncio.run(asyncio.wait_for(main(), 60))
    assert seen == n
    # Python never held more than one batch of events (the rest stayed in the core's queue) ...
    assert max(held) <= 64, max(held)
    # ... and a callback scheduled by the consumer ran before the flood was over: after one batch.
    assert other_ran_at and other_ran_at[0] <= 64, other_ran_at


def test_asyncio_resumes_after_the_consumer_was_busy_and_after_idle(ctx):
    port = ctx.port

    async def main():
        got = 0
        agen = ctx.events()
        peer = flood_messages(port, 100, "a")
        try:
            async for ev in agen:
                got += 1
                if got == 1:
                    # busy elsewhere while the rest arrive: the reader fires with nobody waiting
                    await asyncio.sleep(0.3)
                if got % 7 == 0:
                    await asyncio.sleep(0)
                if got == 100:
                    break
            await asyncio.sleep(0.3)  # idle: the reader is armed again by the next wait
            peer2 = flood_messages(port, 50, "b")
            try:
                async for ev in agen:
                    got += 1
                    if got == 150:
                        break
            finally:
                peer2.close()
        finally:
            peer.close()
            await agen.aclose()
        return got

    assert asyncio.run(asyncio.wait_for(main(), 60)) == 150


def test_wait_event_and_close_while_waiting(no_leaks):
    async def main():
        ctx = Context()
        ctx.listen_on_address("127.0.0.1", port=0)
        waiter = asyncio.ensure_future(ctx.wait_event(timeout=WAIT))
        await asyncio.sleep(0.05)
        ctx.close()
        with pytest.raises(ContextClosedError):
            await waiter

    asyncio.run(asyncio.wait_for(main(), 30))


# --- the stubs of the names above ---------------------------------------------------------------------

USE_STUBS = '''
import exosip2
from exosip2.context import Context
from exosip2.options import CORE_OPTION_BASE, Option, Statistics, is_core_option, option_type

with Context() as ctx:
    ctx.set_option(exosip2.Option.MAX_CALLS, 100)
    ctx.set_option(Option.SET_HEADER_USER_AGENT, "ua")
    ctx.set_option(Option.SET_HEADER_USER_AGENT, None)
    st: Statistics = ctx.get_statistics()
    n: int = st.allocated_calls + len(st.reserved1) + CORE_OPTION_BASE
    core: bool = is_core_option(Option.MAX_CALLS)
    t = option_type(17)
    ctx.close(timeout=1.5)
'''

BAD_STUBS = '''
from exosip2.context import Context
ctx = Context()
ctx.set_option(7, 1.5)
'''


@pytest.mark.core_only  # core-only options (EXOSIP_CORE_OPT_*)
def test_stubs_of_options_and_close(tmp_path):
    def mypy(text, name):
        path = tmp_path / name
        path.write_text(text)
        return subprocess.run([sys.executable, "-m", "mypy", "--strict", "--follow-imports=silent", "--no-incremental",
                               "--cache-dir", str(tmp_path / "cache"), str(path)], cwd=ROOT,
                              env=dict(os.environ, MYPYPATH=ROOT), capture_output=True, text=True, timeout=180)
    ok = mypy(USE_STUBS, "use_options.py")
    assert ok.returncode == 0, ok.stdout + ok.stderr
    ko = mypy(BAD_STUBS, "bad_options.py")
    assert ko.returncode == 1 and "bad_options.py:4: error" in ko.stdout, ko.stdout
