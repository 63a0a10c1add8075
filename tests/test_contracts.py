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
