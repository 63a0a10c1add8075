# SPDX-License-Identifier: Apache-2.0
"""Context.send_and_wait: the final answer of a request across the automatic retries.

A refused request that the automatic actions send again (401/407 with stored
credentials, 3xx) goes out as a new transaction with a new tid; send_and_wait
follows it and returns the answer that ends it. Peers: a raw UDP socket that
answers by script, and a real Kamailio with digest authentication.
"""

import re
import socket
import threading

import pytest

from exosip2 import call, request
from exosip2.context import Context
from exosip2.error import OsipBadParameter, OsipTimeout, OsipWrongState
from exosip2.event import EventType

from peers.agent import agent_factory  # noqa: F401 (fixture)
from peers.kamailio import kamailio_factory  # noqa: F401 (fixture)

pytestmark = pytest.mark.timeout(60)

HOST = "127.0.0.1"


class ScriptedServer:
    """A UDP socket answering each new request (by Call-ID and CSeq) with the next scripted status.

    *script* maps a request number (0, 1, ...) to a status and extra header lines (a status
    None: no answer), or is a function of the request's text giving them; retransmissions of an
    answered request get the same answer again.
    """

    def __init__(self, script):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind((HOST, 0))
        self.sock.settimeout(0.1)
        self.port = self.sock.getsockname()[1]
        self.script_fn = script if callable(script) else None
        self.script = [] if callable(script) else list(script)
        self.requests = []
        self.answers = {}
        self.stopping = False
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        while not self.stopping:
            try:
                data, addr = self.sock.recvfrom(65535)
            except socket.timeout:
                continue
            except OSError:
                return
            text = data.decode("utf-8", "replace")
            if not text or text.startswith("SIP/2.0") or text.startswith("ACK "):
                continue
            head = text.split("\r\n\r\n", 1)[0]
            key = (_header(head, "Call-ID"), _header(head, "CSeq"))
            if key not in self.answers:
                self.requests.append(text)
                n = len(self.requests) - 1
                if callable(self.script_fn):
                    status, extra = self.script_fn(text)
                else:
                    status, extra = self.script[n] if n < len(self.script) else (None, "")
                if status is None:
                    self.answers[key] = None
                    continue
                self.answers[key] = self._answer(head, status, extra, n)
            answer = self.answers[key]
            if answer is not None:
                self.sock.sendto(answer, addr)

    def _answer(self, head, status, extra, n):
        lines = ["SIP/2.0 %d %s" % (status, {200: "OK", 302: "Moved", 401: "Unauthorized",
                                              404: "Not Found"}.get(status, "Answer"))]
        for line in head.split("\r\n")[1:]:
            name = line.split(":", 1)[0].strip().lower()
            if name in ("via", "v", "from", "f", "call-id", "i", "cseq"):
                lines.append(line)
            elif name in ("to", "t"):
                lines.append(line if ";tag=" in line else line + ";tag=srv%d" % n)
        lines += [e for e in extra.split("\r\n") if e]
        lines.append("Content-Length: 0")
        return ("\r\n".join(lines) + "\r\n\r\n").encode()

    def close(self):
        self.stopping = True
        self.thread.join(2.0)
        self.sock.close()


def _header(head, name):
    m = re.search(r"^%s\s*:\s*(.*)$" % re.escape(name), head, re.IGNORECASE | re.MULTILINE)
    return m.group(1).strip() if m else None


CHALLENGE = 'WWW-Authenticate: Digest realm="test", nonce="abc123", algorithm=MD5'


@pytest.fixture
def scripted():
    servers = []

    def make(script):
        s = ScriptedServer(script)
        servers.append(s)
        return s
    yield make
    for s in servers:
        s.close()


@pytest.fixture(params=["by-hand", "loop-inline", "loop-pool"])
def ctx(request):
    """A listening context: the test's own thread takes the events, or the event loop does."""
    c = Context(event_callback=lambda context, event: None)
    c.listen_on_address(HOST, port=0)
    if request.param == "loop-inline":
        c.start(event_executor="inline")
    elif request.param == "loop-pool":
        c.start()
    yield c
    c.close()


def _message(ctx, port, user="bob"):
    msg = request.Message(ctx, "sip:%s@%s:%d" % (user, HOST, port), "sip:alice@%s" % HOST)
    msg.add_body("hi")
    msg.content_type = "text/plain"
    return msg


@pytest.mark.core_only  # follows the re-sent request by eXosip_core_retried_tid (eX_core.h)
def test_401_then_200_returns_the_200_of_the_new_transaction(ctx, scripted):
    server = scripted([(401, CHALLENGE), (200, "")])
    ctx.add_authentication_info("alice", "alice", "secret", "test")
    final = ctx.send_and_wait(_message(ctx, server.port), 5.0)
    assert final.type == EventType.message_answered
    assert final.response.status_code == 200
    assert len(server.requests) == 2
    assert "Authorization: Digest" in server.requests[1]
    assert 'username="alice"' in server.requests[1]


@pytest.mark.core_only  # follows the re-sent request by eXosip_core_retried_tid (eX_core.h)
def test_302_then_200_follows_the_redirection(ctx, scripted):
    server = scripted([(302, "Contact: <sip:carol@%s:%d>" % (HOST, 0)), (200, "")])
    # the 302 names the same server under another user
    server.script[0] = (302, "Contact: <sip:carol@%s:%d>" % (HOST, server.port))
    final = ctx.send_and_wait(_message(ctx, server.port), 5.0)
    assert final.response.status_code == 200
    assert len(server.requests) == 2
    assert server.requests[1].startswith("MESSAGE sip:carol@")


@pytest.mark.core_only  # follows the re-sent request by eXosip_core_retried_tid (eX_core.h)
def test_options_challenged_twice_then_answered(ctx, scripted):
    # the second challenge says the nonce went stale: answered again, under a third tid
    server = scripted([(401, CHALLENGE), (401, CHALLENGE.replace("abc123", "fresh2") + ", stale=true"),
                       (200, "")])
    ctx.add_authentication_info("alice", "alice", "secret", "test")
    opts = request.Options(ctx, "sip:bob@%s:%d" % (HOST, server.port), "sip:alice@%s" % HOST)
    final = ctx.send_and_wait(opts, 10.0)
    assert final.type == EventType.message_answered
    assert final.response.status_code == 200
    assert [r.split(" ", 1)[0] for r in server.requests] == ["OPTIONS"] * 3
    assert 'nonce="fresh2"' in server.requests[2]


@pytest.mark.core_only  # follows the re-sent request by eXosip_core_retried_tid (eX_core.h)
def test_a_second_fresh_challenge_is_the_final_answer(ctx, scripted):
    # credentials refused (a new, not stale, challenge): that refusal ends the request
    server = scripted([(401, CHALLENGE), (401, CHALLENGE.replace("abc123", "fresh2")), (200, "")])
    ctx.add_authentication_info("alice", "alice", "secret", "test")
    final = ctx.send_and_wait(_message(ctx, server.port), 10.0)
    assert final.response.status_code == 401
    assert len(server.requests) == 2


def test_a_challenge_without_credentials_is_the_final_answer(ctx, scripted):
    server = scripted([(401, CHALLENGE), (200, "")])
    final = ctx.send_and_wait(_message(ctx, server.port), 5.0)
    assert final.type == EventType.message_requestfailure
    assert final.response.status_code == 401
    assert len(server.requests) == 1


def test_a_refusal_that_is_not_retried_is_the_final_answer(ctx, scripted):
    server = scripted([(404, "")])
    final = ctx.send_and_wait(_message(ctx, server.port), 5.0)
    assert final.response.status_code == 404


def test_no_answer_in_time_raises_timeout_naming_the_request(ctx, scripted):
    server = scripted([(None, "")])
    with pytest.raises(OsipTimeout) as info:
        ctx.send_and_wait(_message(ctx, server.port), 0.3)
    assert isinstance(info.value, TimeoutError)
    assert "MESSAGE" in str(info.value) and "transaction" in str(info.value)


@pytest.mark.core_only  # follows the re-sent request by eXosip_core_retried_tid (eX_core.h)
@pytest.mark.parametrize("refusal", ["422", "302", "401"])
def test_initial_invite_refused_then_answered(refusal, ctx, scripted):
    server = scripted([])
    contact = "Contact: <sip:srv@%s:%d>" % (HOST, server.port)
    first = {"422": (422, "Min-SE: 1800"), "302": (302, "Contact: <sip:carol@%s:%d>" % (HOST, server.port)),
             "401": (401, CHALLENGE)}[refusal]
    server.script[:] = [first, (200, contact + "\r\nContent-Type: application/sdp"), (200, "")]
    ctx.add_authentication_info("alice", "alice", "secret", "test")
    inv = call.InitInvite(ctx, "sip:bob@%s:%d" % (HOST, server.port), "sip:alice@%s" % HOST)
    final = ctx.send_and_wait(inv, 5.0)
    assert final.type == EventType.call_answered
    assert final.response.status_code == 200 and final.cid > 0
    second = server.requests[1]
    assert second.startswith("INVITE ")
    if refusal == "422":
        assert "Session-Expires: 1800" in second and "Min-SE: 1800" in second
    elif refusal == "302":
        assert second.startswith("INVITE sip:carol@")
    else:
        assert "Authorization: Digest" in second
    ctx.call_send_ack(tid=final.tid)
    ctx.call_terminate(final.cid, final.did)
    for _ in range(100):
        if any(r.startswith("BYE ") for r in server.requests):
            break
        threading.Event().wait(0.02)
    assert [r.split(" ", 1)[0] for r in server.requests] == ["INVITE", "INVITE", "BYE"]


@pytest.mark.parametrize("loop", [False, True])
def test_closing_the_context_ends_the_wait(loop, scripted):
    from exosip2.context import ContextClosedError
    server = scripted([(None, "")])
    c = Context()
    c.listen_on_address(HOST, port=0)
    if loop:
        c.start()
    errors = []

    def wait():
        try:
            c.send_and_wait(_message(c, server.port), 20.0)
        except Exception as e:
            errors.append(e)
    t = threading.Thread(target=wait)
    t.start()
    for _ in range(100):
        if server.requests:
            break
        threading.Event().wait(0.02)
    c.close()
    t.join(10.0)
    assert not t.is_alive()
    assert len(errors) == 1 and isinstance(errors[0], ContextClosedError), errors


@pytest.mark.core_only  # follows the re-sent request by eXosip_core_retried_tid (eX_core.h)
def test_retried_tid_links_old_and_new_transactions(scripted):
    # by hand: the core reports where the refused request went (the link send_and_wait follows)
    server = scripted([(401, CHALLENGE), (200, "")])
    with Context() as c:
        c.listen_on_address(HOST, port=0)
        c.add_authentication_info("alice", "alice", "secret", "test")
        tid = _message(c, server.port).send()
        ev = None
        for _ in range(100):
            ev = c.event_wait(0, 50)
            if ev is not None and ev.response is not None and ev.response.status_code == 401:
                break
        assert ev is not None and ev.tid == tid
        # taking the 401 made the binding call eXosip_default_action: already sent again, no
        # automatic action needed (which then sends nothing more)
        new = c.retried_tid(tid)
        assert new > tid
        c.automatic_action()
        assert c.retried_tid(tid) == new
        for _ in range(100):
            ev = c.event_wait(0, 50)
            if ev is not None and ev.response is not None and ev.response.status_code == 200:
                break
        assert ev.tid == new
        assert c.retried_tid(new) is None       # answered: not sent again


def test_bad_arguments_and_states_are_refused(scripted):
    server = scripted([(200, "")])
    with Context() as c:
        c.listen_on_address(HOST, port=0)
        with pytest.raises(TypeError, match="timeout"):
            c.send_and_wait(_message(c, server.port), "1")
        with pytest.raises(OsipBadParameter, match="positive"):
            c.send_and_wait(_message(c, server.port), 0)
        with pytest.raises(OsipWrongState, match="context lock"):
            with c.lock:
                c.send_and_wait(_message(c, server.port), 1.0)
        from exosip2.message import OsipMessage
        resp = OsipMessage()
        resp.status_code = 200
        with pytest.raises(OsipBadParameter, match="response"):
            c.send_and_wait(resp, 1.0)
        # from the loop thread itself: refused, not a deadlock
        errors = []

        def cb(context, event):
            try:
                context.send_and_wait(_message(context, server.port), 1.0)
            except OsipWrongState as e:
                errors.append(str(e))
        c.event_callback = cb
        c.start(event_executor="inline")
        _message(c, server.port).send()
        for _ in range(100):
            if errors:
                break
            threading.Event().wait(0.05)
        c.stop()
        assert errors and "event loop thread" in errors[0]


def test_many_threads_wait_at_once(scripted):
    # every request without credentials is challenged, every one with them answered
    server = scripted(lambda text: (200, "") if "\r\nAuthorization:" in text else (401, CHALLENGE))
    with Context() as c:
        c.listen_on_address(HOST, port=0)
        c.add_authentication_info("alice", "alice", "secret", "test")
        c.start()
        results = []

        def one(i):
            final = c.send_and_wait(_message(c, server.port, "user%d" % i), 10.0)
            results.append((final.response.status_code, final.response.to_header.uri.user))
        threads = [threading.Thread(target=one, args=(i,)) for i in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(15.0)
        c.stop()
    assert sorted(results) == [(200, "user%d" % i) for i in range(8)]
    assert len(server.requests) == 16


def test_asyncio_request_returns_the_final_answer(scripted):
    import asyncio
    server = scripted([(401, CHALLENGE), (200, ""), (None, "")])
    with Context() as c:
        c.listen_on_address(HOST, port=0)
        c.add_authentication_info("alice", "alice", "secret", "test")

        async def main():
            ticks = []

            async def ticker():
                while True:
                    ticks.append(1)
                    await asyncio.sleep(0.01)
            t = asyncio.ensure_future(ticker())
            final = await c.request(_message(c, server.port), 5.0)
            with pytest.raises(OsipTimeout):
                await c.request(_message(c, server.port), 0.3)
            t.cancel()
            return final, len(ticks)
        final, ticks = asyncio.run(main())
        assert final.response.status_code == 200
        assert ticks > 3            # the asyncio loop kept running while the request waited


def test_asyncio_request_refused_while_events_are_iterated(scripted):
    import asyncio
    server = scripted([(200, "")])
    with Context() as c:
        c.listen_on_address(HOST, port=0)

        async def main():
            agen = c.events()
            task = asyncio.ensure_future(agen.__anext__())
            await asyncio.sleep(0.05)
            try:
                with pytest.raises(OsipWrongState, match="events"):
                    await c.request(_message(c, server.port), 1.0)
            finally:
                task.cancel()
                try:
                    await task
                except (asyncio.CancelledError, StopAsyncIteration):
                    pass
                await agen.aclose()
        asyncio.run(main())


# --- a real peer: Kamailio challenging MESSAGE and INVITE with 407 ------------------------

@pytest.mark.core_only  # follows the re-sent request by eXosip_core_retried_tid (eX_core.h)
@pytest.mark.peers
def test_message_through_kamailio_407_returns_200(kamailio_factory, agent_factory):  # noqa: F811
    k = kamailio_factory(invite_auth=True)
    alice, bob = agent_factory(), agent_factory()
    alice.register(k, "alice", "alicepw")
    bob.register(k, "bob", "bobpw")
    bob.auto_answer_messages = 200
    since = alice.mark()
    msg = request.Message(alice.ctx, k.aor("bob"), k.aor("alice"), alice.route(k))
    msg.add_body("hello")
    msg.content_type = "text/plain"
    final = alice.ctx.send_and_wait(msg, 10.0)
    assert final.response.status_code == 200
    # the program saw the 407 too, under another tid
    refused = alice.wait(EventType.message_requestfailure, 1.0, since, status=407)
    assert refused.tid != final.tid
    assert len(k.seen("MESSAGE", user="bob")) == 2
    assert k.auth_results("alice")[-1] == "1"


@pytest.mark.peers
def test_options_through_kamailio_answered_by_the_registered_user(kamailio_factory, agent_factory):  # noqa: F811
    k = kamailio_factory(invite_auth=True)
    alice = agent_factory()
    alice.register(k, "alice", "alicepw")
    opts = request.Options(alice.ctx, k.uri, k.aor("alice"), alice.route(k))
    final = alice.ctx.send_and_wait(opts, 10.0)
    assert final.response.status_code == 200


@pytest.mark.core_only  # follows the re-sent request by eXosip_core_retried_tid (eX_core.h)
@pytest.mark.peers
def test_invite_through_kamailio_407_returns_the_200(kamailio_factory, agent_factory):  # noqa: F811
    k = kamailio_factory(invite_auth=True)
    alice, bob = agent_factory(), agent_factory()
    alice.register(k, "alice", "alicepw")
    bob.register(k, "bob", "bobpw")
    bob.auto_answer = (200, True)
    inv = call.InitInvite(alice.ctx, k.aor("bob"), k.aor("alice"), alice.route(k))
    inv.add_body(alice.sdp())
    inv.content_type = "application/sdp"
    final = alice.ctx.send_and_wait(inv, 10.0)
    assert final.type == EventType.call_answered
    assert final.response.status_code == 200
    alice.ctx.call_send_ack(tid=final.tid)
    alice.ctx.call_terminate(final.cid, final.did)
    alice.wait(EventType.call_released, 8.0, cid=final.cid)
    assert len(k.seen("INVITE", user="bob")) == 2
