# SPDX-License-Identifier: Apache-2.0
"""The binding relies only on what core/ and an installed eXosip2 5.3 share.

* Locking: eXosip2 5.3's eXosip_lock is a plain mutex (core/'s is recursive), so the binding keeps
  its own per-thread depth and never takes the lock again for its own calls made inside
  ``with ctx.lock:``; the lock still excludes other threads all along.
* Answers: 5.3 has no default answer to a non-INVITE request of a call, so
  ``call_send_answer(tid, status)`` builds it (eXosip_call_build_answer) before sending.
* eXosip_call_send_request returns OSIP_SUCCESS in 5.3: an in-dialog ``send()`` returns the tid
  on core/ only (eX_core.h), 0 otherwise.
"""

import os
import re
import threading

import pytest

from exosip2 import call, request, version
from exosip2.error import OsipBadParameter, OsipError
from uapair import UA, EventType as T, sdp

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.fixture
def pair(no_leaks):
    a, b = UA("alice"), UA("bob")
    yield a, b
    a.close()
    b.close()


def test_binding_takes_the_native_lock_only_in_lock_acquire_release_and_context_lock():
    """Every native lock of the binding goes through context_lock/context_unlock (which skip it
    while this thread holds Context.lock); only lock_acquire/lock_release and those two call
    eXosip_lock/eXosip_unlock themselves."""
    allowed = {"lock_acquire", "lock_release", "context_lock", "context_unlock"}
    found = []
    for name in sorted(os.listdir(os.path.join(ROOT, "exosip2"))):
        if not name.endswith(".pyx"):
            continue
        func = None
        for n, line in enumerate(open(os.path.join(ROOT, "exosip2", name)), 1):
            m = re.match(r"\s*(?:cdef|cpdef|def)\s+(?:[\w\s\*]+\s)?(\w+)\(", line)
            if m:
                func = m.group(1)
            if re.search(r"\beXosip_(?:un)?lock\(", line) and not line.lstrip().startswith("#"):
                found.append((name, n, func))
    assert found, "the scan found no eXosip_lock call at all"
    stray = [f for f in found if f[2] not in allowed]
    assert stray == [], stray


def test_calls_inside_ctx_lock_do_not_relock_and_still_exclude_others(pair):
    a, b = pair
    entered = threading.Event()
    other_got_it = threading.Event()

    def other():
        entered.set()
        with a.ctx.lock:
            other_got_it.set()

    with a.ctx.lock:
        with a.ctx.lock:   # the binding's own depth: re-entrant within a thread
            tid = request.Message(a.ctx, b.uri, a.uri).send()
        t = threading.Thread(target=other)
        t.start()
        assert entered.wait(5)
        # calls that lock internally, all while this thread holds the lock
        opt = request.Options(a.ctx, b.uri, a.uri).send()
        assert tid > 0 and opt > 0
        assert not other_got_it.wait(0.3), "another thread entered while the lock was held"
        assert a.ctx.lock.locked()
    assert other_got_it.wait(5), "the lock was not released"
    t.join(5)
    assert not a.ctx.lock.locked()
    for _ in range(2):
        ev = b.expect(T.message_new)
        if ev.request.method == "OPTIONS":
            b.ctx.options_send_answer(ev.tid, 200)
        else:
            b.ctx.message_send_answer(ev.tid, 200)
    got = {a.expect(T.message_answered).tid for _ in range(2)}
    assert got == {tid, opt}


def test_lock_release_in_another_thread_is_refused_and_depth_is_per_thread(pair):
    a, _ = pair
    errors = []
    with a.ctx.lock:
        def other():
            try:
                a.ctx.lock_release()
            except RuntimeError as exc:
                errors.append(exc)
        t = threading.Thread(target=other)
        t.start()
        t.join(5)
        assert a.ctx.lock.locked()
    assert len(errors) == 1 and "not held by this thread" in str(errors[0])
    assert not a.ctx.lock.locked()


def _call(a, b):
    inv = call.InitInvite(a.ctx, b.uri, a.uri)
    inv.add_body(sdp("alice", 40000))
    inv.content_type = "application/sdp"
    a_cid = inv.send()
    ev = b.expect(T.call_invite)
    assert ev.response.status_code == 100  # eXosip2 5.3: the automatic 100 Trying
    with pytest.raises(OsipBadParameter):
        b.ctx.call_send_answer(ev.tid, 200)  # a 2xx to INVITE needs the body the program builds
    ok = call.Answer(b.ctx, ev.tid, 200)
    ok.add_body(sdp("bob", 41000))
    ok.content_type = "application/sdp"
    ok.send()
    ans = a.expect(T.call_answered)
    a.ctx.call_send_ack(tid=ans.tid)
    b.expect(T.call_ack)
    return a_cid, ans.did, ev.cid, ev.did


def test_in_dialog_answers_are_built_and_send_returns_what_the_library_tells(pair):
    a, b = pair
    a_cid, a_did, b_cid, b_did = _call(a, b)
    with a.ctx.lock:   # inside the lock as well: no re-lock of eXosip2 5.3's plain mutex
        tid = call.Info(a.ctx, a_did).send()
    ev = b.expect(T.call_message_new)
    assert ev.request.method == "INFO"
    with b.ctx.lock:
        b.ctx.call_send_answer(ev.tid, 486)  # built with eXosip_call_build_answer, then sent
    got = a.expect(T.call_message_requestfailure)
    assert got.response.status_code == 486 and got.did == a_did
    assert tid == (got.tid if version.get_library_kind() == "core" else 0)
    # an answered request cannot be answered again
    with pytest.raises(OsipError):
        b.ctx.call_send_answer(ev.tid, 200)
    # the BYE: reported answered, then the end of the call; answering it again is refused
    a.ctx.call_terminate(a_cid, a_did)
    bye = b.expect(T.call_message_new)
    assert bye.request.method == "BYE" and bye.response.status_code == 200
    assert b.expect(T.call_closed).cid == b_cid
    with pytest.raises(OsipError):
        b.ctx.call_send_answer(bye.tid, 200)
    assert b.expect(T.call_released).cid == b_cid


def test_send_and_wait_follows_an_in_dialog_request_when_the_library_tells_its_tid(pair):
    a, b = pair
    a_cid, a_did, b_cid, b_did = _call(a, b)

    def answer_info():
        ev = b.expect(T.call_message_new)
        b.ctx.call_send_answer(ev.tid, 200)

    t = threading.Thread(target=answer_info)
    t.start()
    if version.get_library_kind() == "core":
        final = a.ctx.send_and_wait(call.Info(a.ctx, a_did), timeout=5)
        assert final.response.status_code == 200 and final.did == a_did
    else:
        with pytest.raises(OsipError, match="tells no tid"):
            a.ctx.send_and_wait(call.Info(a.ctx, a_did), timeout=5)
        call.Info(a.ctx, a_did).send()
    t.join(10)
    a.ctx.call_terminate(a_cid, a_did)
    assert b.expect(T.call_message_new).request.method == "BYE"
    b.expect(T.call_closed)


# --- a challenged out-of-dialog request: re-sent once with credentials, on both libraries ---------
# eXosip2 5.3's eXosip_automatic_action never re-sends an out-of-dialog MESSAGE/OPTIONS refused with
# 401/407 (eXosip_default_action does); core/'s does. The binding calls eXosip_default_action for the
# first challenge, so the request goes out again exactly once in both, and never twice on core/.

from test_send_and_wait import CHALLENGE, ScriptedServer  # noqa: E402
from exosip2.context import Context  # noqa: E402
from exosip2.event import EventType  # noqa: E402

HOST = "127.0.0.1"
PROXY_CHALLENGE = 'Proxy-Authenticate: Digest realm="test", nonce="px1", qop="auth", algorithm=MD5'


@pytest.fixture
def scripted_server():
    made = []

    def make(script):
        s = ScriptedServer(script)
        made.append(s)
        return s
    yield make
    for s in made:
        s.close()


@pytest.fixture(params=["event_wait", "loop-inline", "loop-pool"])
def consumer(request):
    """A listening context and a function waiting (bounded) for an event of a type."""
    seen = []
    cond = threading.Condition()

    def on_event(ctx, ev):
        with cond:
            seen.append(ev)
            cond.notify_all()

    c = Context(event_callback=on_event)
    c.listen_on_address(HOST, port=0)
    if request.param != "event_wait":
        c.start(**({"event_executor": "inline"} if request.param == "loop-inline" else {}))

    def wait_for(pred, timeout):
        import time
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if request.param == "event_wait":
                ev = c.event_wait(0, 50)
                if ev is not None:
                    seen.append(ev)
                else:
                    c.automatic_action()
            else:
                with cond:
                    cond.wait(0.05)
            if any(pred(e) for e in list(seen)):
                return True
        return False
    yield c, wait_for
    c.close()


def _final(status):
    return lambda e: e.response is not None and e.response.status_code == status


@pytest.mark.parametrize("method,challenge", [("MESSAGE", CHALLENGE), ("OPTIONS", CHALLENGE),
                                              ("MESSAGE", PROXY_CHALLENGE)])
def test_a_challenged_out_of_dialog_request_is_sent_again_exactly_once(method, challenge, consumer,
                                                                       scripted_server):
    import time
    ctx, wait_for = consumer
    code = 407 if challenge.startswith("Proxy") else 401
    server = scripted_server([(code, challenge), (200, "")])
    ctx.add_authentication_info("alice", "alice", "secret", "test")
    uri = "sip:bob@%s:%d" % (HOST, server.port)
    msg = (request.Options(ctx, uri, "sip:alice@%s" % HOST) if method == "OPTIONS"
           else request.Message(ctx, uri, "sip:alice@%s" % HOST))
    msg.send()
    assert wait_for(_final(200), 5.0), server.requests
    time.sleep(1.0)        # room for a second copy of the retry (there must be none)
    if hasattr(ctx, "automatic_action"):
        ctx.automatic_action()
    time.sleep(0.3)
    assert [r.split(" ", 1)[0] for r in server.requests] == [method, method], server.requests
    header = "Proxy-Authorization: Digest" if code == 407 else "Authorization: Digest"
    assert header not in server.requests[0] and header in server.requests[1], server.requests
    assert 'username="alice"' in server.requests[1]


def test_credentials_refused_by_a_fresh_challenge_are_not_sent_again(consumer, scripted_server):
    import time
    ctx, wait_for = consumer
    server = scripted_server([(401, CHALLENGE), (401, CHALLENGE.replace("abc123", "other")), (200, "")])
    ctx.add_authentication_info("alice", "alice", "wrong", "test")
    request.Message(ctx, "sip:bob@%s:%d" % (HOST, server.port), "sip:alice@%s" % HOST).send()
    assert wait_for(lambda e: _final(401)(e) and e.request is not None
                    and e.request.get_header("Authorization") is not None, 5.0), server.requests
    time.sleep(1.0)
    ctx.automatic_action()
    time.sleep(0.3)
    assert len(server.requests) == 2, server.requests


def test_a_challenge_without_matching_credentials_is_not_answered(consumer, scripted_server):
    import time
    ctx, wait_for = consumer
    server = scripted_server([(401, CHALLENGE), (200, "")])
    ctx.add_authentication_info("alice", "alice", "secret", "another-realm")
    request.Message(ctx, "sip:bob@%s:%d" % (HOST, server.port), "sip:alice@%s" % HOST).send()
    assert wait_for(_final(401), 5.0)
    time.sleep(1.0)
    ctx.automatic_action()
    time.sleep(0.3)
    assert len(server.requests) == 1, server.requests


def test_the_first_challenge_is_answered_when_its_event_is_taken(scripted_server, no_leaks):
    # no eXosip_automatic_action at all: the binding's eXosip_default_action sends the retry as the
    # 401 event is taken (with event_wait), in core/ as in 5.3
    import time
    server = scripted_server([(401, CHALLENGE), (200, "")])
    with Context() as ctx:
        ctx.listen_on_address(HOST, port=0)
        ctx.add_authentication_info("alice", "alice", "secret", "test")
        request.Message(ctx, "sip:bob@%s:%d" % (HOST, server.port), "sip:alice@%s" % HOST).send()
        got = []
        end = time.monotonic() + 5.0
        while time.monotonic() < end and not any(e.response is not None and e.response.status_code == 200
                                                 for e in got):
            ev = ctx.event_wait(0, 50)
            if ev is not None:
                got.append(ev)
        assert [e.response.status_code for e in got if e.response is not None] == [401, 200], server.requests
        assert len(server.requests) == 2 and "Authorization: Digest" in server.requests[1]
        del got, ev
