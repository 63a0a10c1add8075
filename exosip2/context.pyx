# SPDX-License-Identifier: Apache-2.0
"""eXosip2 contexts: :class:`Context` owns one ``struct eXosip_t``.

A context listens on an address (:meth:`Context.listen_on_address`), builds
and sends messages (:mod:`exosip2.call`, :mod:`exosip2.request`) and reports
what happens as :class:`~exosip2.event.Event` objects, which arrive in one
of three ways:

* the event loop thread: :meth:`Context.start` (or the blocking
  :meth:`Context.run`) waits for events with the GIL released and hands each
  one to ``event_callback(context, event)``. By default the callback runs in
  a :class:`concurrent.futures.ThreadPoolExecutor`, as in exosip2ctypes, that
  keeps each call's (registration's, subscription's) events in order while
  different calls run in parallel; ``start(event_executor="inline")`` runs it
  in the loop thread itself, which is the fastest and keeps every event in
  order; any :class:`concurrent.futures.Executor` may be passed too (no order
  is kept then). A callback that
  raises is logged (logger ``exosip2.context``); the loop goes on.
* asyncio: ``async for event in ctx.events():`` (the event socket is watched
  with ``loop.add_reader``; no thread).
* by hand: :meth:`Context.event_wait`.

Use only one of them at a time on a context.

Memory: glibc keeps the heap a burst of calls grew (freed events, messages and
transactions) unless told otherwise, so after a burst (1 000 events or more,
then a quiet second) the event loop and the asyncio iterator call
``malloc_trim(0)``, and again in quiet seconds each time the transactions and
calls alive have halved, as the burst's UDP transactions expire (32 s).

Threads: every method may be called from any thread. Calls into the SIP
stack take the context lock (``eXosip_lock``) with the GIL released, so a
thread holding :attr:`Context.lock` never deadlocks with one holding the GIL.

Lifetime: ``with Context() as ctx:`` or :meth:`Context.close` (idempotent,
also named :meth:`Context.quit`; it waits at most ``timeout`` seconds, default
5, for another thread to release the lock, then raises
:class:`~exosip2.error.OsipTimeout` and leaves the context open). Messages and
methods of a closed context raise :class:`ContextClosedError`; events already received stay readable. A
context collected while open is closed, with a :class:`ResourceWarning`;
contexts still open at interpreter exit are closed quietly. After
``fork()`` the child never tears down its parent's context.
"""

cimport cython
from cpython.pythread cimport (
    PY_LOCK_ACQUIRED, WAIT_LOCK, PyThread_acquire_lock, PyThread_allocate_lock, PyThread_free_lock,
    PyThread_get_thread_ident, PyThread_release_lock, PyThread_type_lock,
)
from libc.stdint cimport uintptr_t
from libc.string cimport memcpy, memset

from exosip2._debug cimport COUNT_LIVE, LIVE_CONTEXT, live_add
from exosip2.error cimport check
from exosip2.includes.eX_capture cimport eXosip_core_capture_queued, eXosip_core_listen_errno
from exosip2.includes.eX_dns cimport eXosip_dns_cache
from exosip2.event cimport Event
from exosip2.includes.eX_core cimport (
    EXOSIP2_HAVE_CORE_SEND_REQUEST_TID, EXOSIP2_HAVE_CORE_TLS_CHECK, eXosip_core_call_send_request_tid,
    eXosip_core_retried_tid, eXosip_core_tls_check,
)
from exosip2.includes.eX_call cimport (
    eXosip_call_build_answer, eXosip_call_send_ack, eXosip_call_send_answer, eXosip_call_send_initial_invite,
    eXosip_call_send_prack, eXosip_call_send_request,
    eXosip_call_set_reference, eXosip_call_terminate, eXosip_call_terminate_with_header,
    eXosip_call_terminate_with_reason,
)
from exosip2.includes.eX_message cimport eXosip_message_send_answer, eXosip_message_send_request
from exosip2.includes.eX_options cimport eXosip_options_send_answer, eXosip_options_send_request
from exosip2.includes.eX_register cimport (
    eXosip_add_authentication_info, eXosip_clear_authentication_info, eXosip_remove_authentication_info,
)
from exosip2.includes.eX_setup cimport *
from exosip2.includes.eXosip cimport (
    EXOSIP_CALL_ANSWERED, EXOSIP_CALL_INVITE, EXOSIP_CALL_RELEASED, EXOSIP_MESSAGE_REQUESTFAILURE,
    eXosip_automatic_action, eXosip_default_action,
    eXosip_event_geteventsocket,
    eXosip_event_t, eXosip_event_wait, eXosip_get_local_sdp_from_tid, eXosip_get_previous_local_sdp,
    eXosip_get_remote_sdp_from_tid,
)
from exosip2.includes.osip_list cimport osip_list_size
from exosip2.includes.osip_parser cimport osip_message_free, osip_message_t
from exosip2.includes.osip_port cimport OSIP_BADPARAMETER, osip_free, osip_strcasecmp
from exosip2.includes.sdp_message cimport sdp_message_t
from exosip2.message cimport ExosipMessage, OsipMessage, c_str, text_arg
from exosip2.sdp cimport SdpMessage

cdef extern from *:
    """
    /* The contexts whose lock (eXosip_lock) the calling thread holds through Context.lock. */
    #define EXOSIP2_HELD_MAX 64
    static __thread struct eXosip_t *exosip2_held[EXOSIP2_HELD_MAX];
    static __thread int exosip2_nheld;
    static int exosip2_held_has(struct eXosip_t *p)
    {
      int i;
      for (i = 0; i < exosip2_nheld; i++)
        if (exosip2_held[i] == p)
          return 1;
      return 0;
    }
    static int exosip2_held_mark(struct eXosip_t *p)
    {
      if (exosip2_nheld >= EXOSIP2_HELD_MAX)
        return -1;
      exosip2_held[exosip2_nheld++] = p;
      return 0;
    }
    static void exosip2_held_unmark(struct eXosip_t *p)
    {
      int i;
      for (i = 0; i < exosip2_nheld; i++)
        if (exosip2_held[i] == p) {
          exosip2_held[i] = exosip2_held[--exosip2_nheld];
          return;
        }
    }
    """
    enum: _HELD_MAX "EXOSIP2_HELD_MAX"
    bint _held_has "exosip2_held_has"(eXosip_t *p) nogil
    int _held_mark "exosip2_held_mark"(eXosip_t *p) nogil
    void _held_unmark "exosip2_held_unmark"(eXosip_t *p) nogil


cdef void context_lock(eXosip_t *p) noexcept nogil:
    """eXosip_lock, unless this thread holds that context's lock already (with Context.lock)."""
    if not _held_has(p):
        eXosip_lock(p)


cdef void context_unlock(eXosip_t *p) noexcept nogil:
    """The eXosip_unlock that matches context_lock."""
    if not _held_has(p):
        eXosip_unlock(p)


import atexit
import collections
import concurrent.futures
import logging
import os
import socket
import threading
import time
import warnings
import weakref

from exosip2.error import (
    OsipBadParameter, OsipNoMem, OsipNotFound, OsipTimeout, OsipWrongState, error_class, listen_error,
)
from exosip2.options import Option, Statistics, is_core_option, option_type
from exosip2.version import get_library_kind

__all__ = ["Context", "ContextLock", "ContextClosedError", "INLINE"]

cdef extern from "<unistd.h>" nogil:
    long getpid()

#: Pass as ``event_executor`` to run the event callback in the loop thread.
INLINE = "inline"

# Call eXosip_automatic_action at least once per this many events, and after every idle wait.
cdef int _AUTO_EVERY = 64

# asyncio: at most this many events are taken from the core's queue at a time.
cdef int _ABATCH = 64


cdef extern from *:
    """
    #include <poll.h>
    /* Whether the event queue may hold an event, read from its event socket without waiting:
       core/ keeps that socket readable exactly while events are queued, so an empty queue costs
       one poll() here instead of an eXosip_event_wait(ctx, 0, 0), which sleeps on the queue's
       condition variable until its deadline (already past) and costs ~20 us when nothing is
       queued. An installed libeXosip2 makes no such promise: there the answer is always yes. */
    static int exosip2_events_queued(int fd)
    {
    #if EXOSIP2_SYSTEM_LIBRARY
        (void) fd;
        return 1;
    #else
        struct pollfd pfd;
        if (fd < 0)
            return 1;
        pfd.fd = fd;
        pfd.events = POLLIN;
        pfd.revents = 0;
        return poll(&pfd, 1, 0) != 0;
    #endif
    }
    """
    bint exosip2_events_queued(int fd) nogil

# Heap trimming after a burst (Context._idle_trim): how many events make a burst.
cdef unsigned long long _TRIM_AFTER = 1000

cdef extern from *:
    """
    #if defined(__GLIBC__)
    #include <malloc.h>
    static void exosip2_trim_heap(void) { (void) malloc_trim(0); }
    #else
    static void exosip2_trim_heap(void) { }
    #endif
    """
    void exosip2_trim_heap() nogil

_log = logging.getLogger("exosip2.context")

# Contexts not yet closed, closed quietly at interpreter exit (before threads and modules go).
_open_contexts = weakref.WeakSet()


cdef inline void _put(char *dst, bytes src):
    """Copy src (checked shorter than the field) into a zeroed char array of eXosip_tls_ctx_t."""
    if src:
        memcpy(dst, <const char *>src, len(src))


class ContextClosedError(OsipWrongState):
    """The context was closed (or never initialised): it can no longer be used."""


@cython.no_gc_clear
cdef class Context:
    """An eXosip2 context: ``struct eXosip_t`` (``eXosip_malloc`` + ``eXosip_init``).

    :param event_callback: called as ``event_callback(context, event)`` for
        every event of the event loop (:meth:`start` / :meth:`run`); may be set
        later through :attr:`event_callback`.
    :param trace: True logs every SIP message from the start, as :meth:`trace` does
        (the very first ones included).
    :raises MallocError: when the context cannot be allocated.
    """

    def __cinit__(self):
        self._ptr = NULL
        self._pid = 0
        self._busy = 0
        self._lock_owner = 0
        self._lock_depth = 0
        self._locked = NULL
        self._running = False
        self._events_since_auto = 0
        self._areaders = 0
        self._port = 0
        self._closing = False
        self._armed = False
        self._last_auto = 0.0
        self._events_total = 0
        self._trim_seen = 0
        self._trim_pending = 0
        self._trim_checked = 0.0
        self._trim_held = 0
        self._ref_sends = 0

    def __init__(self, event_callback=None, trace=False):
        cdef eXosip_t *p
        cdef int rc
        if self._ptr != NULL:
            raise OsipWrongState("this Context is already initialised")
        if event_callback is not None and not callable(event_callback):
            raise TypeError("event_callback must be callable or None")
        if not isinstance(trace, bool):
            raise TypeError("trace must be True or False, not %s" % type(trace).__name__)
        from exosip2.error import MallocError
        with nogil:
            p = eXosip_malloc()
        if p == NULL:
            raise MallocError("eXosip_malloc() failed")
        with nogil:
            rc = eXosip_init(p)
        if rc != 0:
            with nogil:
                eXosip_quit(p)
                osip_free(p)
            check(rc if rc < 0 else -1, b"eXosip_init")
        self._ptr = p
        self._pid = getpid()
        self._event_callback = event_callback
        self._ack_tids = {}
        self._invite_cids = {}
        self._invite_tids = {}
        self._refs = {}
        self._thread = None
        self._executor = None
        self._own_executor = False
        self._user_agent = None
        self._aqueue = collections.deque()
        self._awaiters = []
        self._aloop = None
        self._tick_handle = None
        if COUNT_LIVE:
            live_add(LIVE_CONTEXT, 1)
        _open_contexts.add(self)
        if trace:
            self.trace(True)

    def __dealloc__(self):
        # Only C fields: no loop thread can exist (it holds a reference to us).
        cdef eXosip_t *p = self._ptr
        if p != NULL:
            self._ptr = NULL
            if self._pid == getpid():
                with nogil:
                    eXosip_quit(p)
                    osip_free(p)
            if COUNT_LIVE:
                live_add(LIVE_CONTEXT, -1)

    def __del__(self):
        if self._ptr != NULL:
            try:
                warnings.warn("unclosed %r" % self, ResourceWarning, source=self)
            except Exception:
                pass
            try:
                self.close()
            except Exception:
                pass

    def __repr__(self):
        if self._ptr == NULL:
            return "<Context (closed)>"
        return "<Context port=%d%s>" % (self._port, " running" if self._running else "")

    def __enter__(self):
        self._get()
        return self

    def __exit__(self, *exc):
        self.close()

    # --- native plumbing ------------------------------------------------------------

    cdef eXosip_t *_get(self) except NULL:
        if self._ptr == NULL:
            raise ContextClosedError("the context is closed")
        return self._ptr

    cdef eXosip_t *_enter(self) except NULL:
        # Every native call made with the GIL released is bracketed by _enter/_leave.
        cdef eXosip_t *p = self._get()
        self._busy += 1
        return p

    cdef Event _wrap(self, eXosip_event_t *ev):
        cdef Event event = Event.from_ptr(ev, self)
        cdef eXosip_t *p
        self._events_total += 1
        if ev.cid > 0 and (self._refs or self._ref_sends > 0):
            ref = self._refs.get(ev.cid)
            if ref is None and self._ref_sends > 0 and self._ptr != NULL:
                # A call_send_init_invite(reference=) may have queued this event while it sends: it
                # holds the context lock until its reference is stored, so wait for that lock.
                p = self._enter()
                with nogil:
                    context_lock(p)
                    context_unlock(p)
                self._leave()
                ref = self._refs.get(ev.cid)
            event._reference = ref
            if ev.type == EXOSIP_CALL_RELEASED and not self._running:
                # event_wait() / asyncio: the event is handed over as it is taken; it keeps the reference.
                self._refs.pop(ev.cid, None)
        if ev.type == EXOSIP_CALL_ANSWERED:
            if ev.did > 0 and ev.tid > 0:
                self._ack_tids[ev.did] = ev.tid
        elif ev.type == EXOSIP_CALL_INVITE:
            if ev.tid > 0 and ev.cid > 0:   # for call_send_answer(reference=)
                self._invite_cids[ev.tid] = ev.cid
                self._invite_tids[ev.cid] = ev.tid
        elif ev.type == EXOSIP_MESSAGE_REQUESTFAILURE:
            self._answer_first_challenge(ev)
        elif ev.type == EXOSIP_CALL_RELEASED:
            if ev.did > 0:
                self._ack_tids.pop(ev.did, None)
            if ev.cid > 0 and self._invite_tids:
                tid = self._invite_tids.pop(ev.cid, None)
                if tid is not None:
                    self._invite_cids.pop(tid, None)
        return event

    cdef int _auto(self) except -1:
        cdef eXosip_t *p = self._enter()
        self._events_since_auto = 0
        self._last_auto = time.monotonic()
        with nogil:
            context_lock(p)
            eXosip_automatic_action(p)
            context_unlock(p)
        self._leave()
        return 0

    cdef int _answer_first_challenge(self, eXosip_event_t *ev) except -1:
        # An out-of-dialog request (MESSAGE, OPTIONS, INFO, ...) refused with 401/407: eXosip2 5.3's
        # eXosip_automatic_action never sends it again (its eXosip_default_action does, per event, with
        # no bound); core/'s does, within its retry budget and back-off. So the binding asks for the
        # re-send once, for the first challenge only (the refused request carries no credentials yet):
        # on 5.3 that is the one retry, on core/ it sends at once the retry already queued, which
        # then does not go out a second time. A later challenge (a stale nonce) stays with the
        # library: core/ answers it within its budget, 5.3 reports it as the failure.
        cdef osip_message_t *req = ev.request
        cdef eXosip_t *p
        cdef int code
        if ev.response == NULL or req == NULL or req.sip_method == NULL or self._ptr == NULL:
            return 0
        if ev.rid > 0 or ev.cid > 0 or ev.sid > 0 or ev.nid > 0:
            return 0   # registrations, calls and subscriptions retry on their own in both libraries
        code = ev.response.status_code
        if code != 401 and code != 407:
            return 0
        if osip_strcasecmp(req.sip_method, b"PUBLISH") == 0:
            return 0   # publications too (a second retry of 5.3 would follow)
        if osip_list_size(&req.authorizations) > 0 or osip_list_size(&req.proxy_authorizations) > 0:
            return 0   # credentials refused, or a stale nonce: not the first challenge
        p = self._enter()
        with nogil:
            context_lock(p)
            eXosip_default_action(p, ev)
            context_unlock(p)
        self._leave()
        return 0

    cdef int _idle_trim(self, bint ticked) except -1:
        # Give the heap back to the system after a burst: glibc keeps the memory of freed events,
        # messages and transactions (measured: 2 000 cps for 10 s leaves the Python UAS at ~48 MB
        # where it started at ~25 MB, and malloc_trim(0) brings it back to ~27 MB). Called when
        # the consumer of events is idle (an empty wait of the loop thread, or the asyncio tick),
        # at most once a second: trims once the events stop after at least _TRIM_AFTER of them,
        # then again each time the transactions and calls alive have halved since the last trim
        # (UDP transactions expire 32 s after they end), until none is left.
        cdef double now = time.monotonic()
        cdef eXosip_stats st
        cdef eXosip_t *p
        cdef long held
        if not ticked and now - self._trim_checked < 1.0:
            return 0
        self._trim_checked = now
        if self._events_total != self._trim_seen:
            # not idle: events came since the previous check
            self._trim_pending += self._events_total - self._trim_seen
            self._trim_seen = self._events_total
            return 0
        if self._trim_pending < _TRIM_AFTER and self._trim_held <= 0:
            return 0
        memset(&st, 0, sizeof(st))
        p = self._enter()
        with nogil:
            eXosip_set_option(p, 2000, &st)
        self._leave()
        held = <long>st.allocated_transactions + st.allocated_calls
        if self._trim_pending < _TRIM_AFTER and held > self._trim_held // 2:
            return 0
        self._trim_pending = 0
        self._trim_held = held
        with nogil:
            exosip2_trim_heap()
        return 0

    cdef osip_message_t *_take(self, OsipMessage msg, bint request, tuple only, tuple refused,
                               str caller) except NULL:
        # Every send function hands its message over through here: refuse (with an error that names
        # the function and the problem) a message the SIP stack cannot take, then steal it.
        cdef osip_message_t *m
        cdef object owner
        cdef str method, missing
        if msg._ptr == NULL:
            if msg._consumed:
                raise OsipWrongState("%s: this message was already sent (handed over to the SIP stack); "
                                     "build a new one" % caller)
            raise OsipBadParameter("%s: this message holds nothing (was __init__ skipped?)" % caller)
        if not msg._owned:
            raise OsipWrongState("%s: this message belongs to an event (borrowed) and cannot be handed "
                                 "over; send a copy() of it" % caller)
        if isinstance(msg, ExosipMessage):
            owner = (<ExosipMessage>msg)._context
            if owner is not None and owner is not self:
                if isinstance(owner, Context) and (<Context>owner)._ptr == NULL:
                    raise ContextClosedError("%s: this message was built by a context that has been "
                                             "closed" % caller)
                raise OsipBadParameter("%s: this message was built by another context (%r); only the "
                                       "context that built it can send it" % (caller, owner))
        m = msg._ptr
        if request and self._port == 0:
            raise OsipWrongState("%s: this context listens on no address yet (nothing could be sent, and "
                                 "no answer could come back); call listen_on_address() first" % caller)
        if m.sip_method == NULL and m.status_code == 0:
            raise OsipBadParameter("%s: the message is empty (no method and no status code); build it "
                                   "with the matching class of exosip2.call / exosip2.request" % caller)
        if request:
            if m.sip_method == NULL:
                raise OsipBadParameter("%s sends a request%s, not a response (%d)" % (
                    caller, (" (" + "/".join(only) + ")") if only else "", m.status_code))
            method = m.sip_method.decode("utf-8", "replace")
            if only and method not in only:   # methods are case-sensitive (RFC 3261 7.1)
                raise OsipBadParameter("%s sends %s requests, not %s" % (caller, "/".join(only), method))
            if method in refused:
                raise OsipBadParameter("%s does not send %s requests (%s)" % (caller, method,
                                                                              _WHERE_INSTEAD.get(method, "")))
            missing = ", ".join([name for name, present in (
                ("Request-URI", m.req_uri != NULL), ("From", m.from_ != NULL), ("To", m.to != NULL),
                ("Call-ID", m.call_id != NULL), ("CSeq", m.cseq != NULL)) if not present])
            if missing:
                raise OsipBadParameter("%s: the %s request has no %s" % (caller, method, missing))
            if m.cseq.method == NULL or m.cseq.method.decode("utf-8", "replace") != method:
                raise OsipBadParameter("%s: the CSeq method (%s) is not the request's method (%s)" % (
                    caller, "none" if m.cseq.method == NULL else m.cseq.method.decode("utf-8", "replace"),
                    method))
        else:
            if m.sip_method != NULL:
                raise OsipBadParameter("%s sends a response, not a request (%s)" % (
                    caller, m.sip_method.decode("utf-8", "replace")))
            if not 101 <= m.status_code <= 699:
                raise OsipBadParameter("%s: status code %d is out of range (101..699; 100 Trying is sent by "
                                       "the SIP stack)" % (caller, m.status_code))
        return msg._steal()

    # --- lifetime -------------------------------------------------------------------------

    def close(self, timeout=5.0):
        """Stop the event loop and release the context (``eXosip_quit``); idempotent.

        close() waits at most *timeout* seconds (default 5) for other threads to release
        :attr:`lock` and for the event loop thread to end. When that time runs out it raises
        :class:`~exosip2.error.OsipTimeout` and the context stays open and usable: release
        the lock and call close() again. It may be called from any thread, from inside an
        event callback (the loop then ends once the callback returns) and any number of times.

        :param timeout: seconds to wait (a number >= 0).
        :raises OsipWrongState: when called by a thread that holds :attr:`lock`.
        :raises OsipTimeout: when the lock or the loop thread was not released in time.
        """
        cdef eXosip_t *p = self._ptr
        cdef double deadline
        if p == NULL and not self._closing:
            return
        if self._pid != getpid():
            # A forked child: the parent's I/O thread does not exist here and its locks may be
            # held forever; forget the context without touching it.
            if p == NULL:
                return
            self._ptr = NULL
            self._running = False
            self._thread = None
            _open_contexts.discard(self)
            if COUNT_LIVE:
                live_add(LIVE_CONTEXT, -1)
            return
        if not isinstance(timeout, (int, float)) or isinstance(timeout, bool) or not timeout >= 0:
            raise ValueError("close(): timeout must be a number of seconds >= 0, not %r" % (timeout,))
        if self._lock_depth > 0 and self._lock_owner == PyThread_get_thread_ident():
            raise OsipWrongState("close() called while this thread holds the context lock; release it first")
        deadline = time.monotonic() + timeout
        # Another thread closes it already: wait for that close to finish.
        while self._closing:
            if time.monotonic() >= deadline:
                raise OsipTimeout("close(): another thread is still closing the context after %.1f s" % timeout)
            time.sleep(0.001)
            if self._ptr == NULL and not self._closing:
                return
        if self._ptr == NULL:
            return
        self._closing = True
        try:
            # 1. Another thread holds the lock: wait for it; nothing has changed yet if it never comes.
            while self._lock_depth > 0:
                if time.monotonic() >= deadline:
                    raise OsipTimeout("close(): another thread has held the context lock for %.1f s; the "
                                      "context stays open: release the lock, then close() again" % timeout)
                time.sleep(0.001)
            # 2. The event loop thread (unless we are it: then it ends after this callback).
            if not self._stop_until(deadline):
                raise OsipTimeout("close(): the event loop thread did not end within %.1f s (a callback "
                                  "still runs); the loop is stopped, the context stays open: close() "
                                  "again later" % timeout)
            p = self._ptr
            if p == NULL:
                return
            # 3. From here on new calls raise ContextClosedError; wait for the calls in flight.
            self._ptr = NULL
            while self._busy > 0:
                if time.monotonic() >= deadline:
                    self._ptr = p
                    raise OsipTimeout("close(): native calls of other threads still run after %.1f s (the "
                                      "context lock is held); the context stays open: close() again later"
                                      % timeout)
                time.sleep(0.001)
            _open_contexts.discard(self)
            self._ack_tids.clear()
            self._invite_cids.clear()
            self._invite_tids.clear()
            self._refs.clear()
            self._release_asyncio(p)
            with nogil:
                eXosip_quit(p)
                osip_free(p)
            if COUNT_LIVE:
                live_add(LIVE_CONTEXT, -1)
        finally:
            self._closing = False

    cdef bint _stop_until(self, double deadline):
        """Stop the event loop, waiting for its thread until *deadline*; False if it still runs."""
        cdef eXosip_t *p = self._ptr
        thread = self._thread
        executor = self._executor
        self._running = False
        if thread is not None:
            if p != NULL:
                eXosip_wakeup_event(p)
            if thread is threading.current_thread():
                return True
            thread.join(max(0.0, deadline - time.monotonic()))
            if thread.is_alive():
                return False
        # callbacks that still run past the deadline find the context closed
        self._finish_stop(executor, deadline)
        return True

    cdef bint _finish_stop(self, object executor, double deadline):
        """After the loop thread ended: shut the default executor down and wait, until *deadline*,
        for the callbacks it accepted (not from one of them); False if some still run."""
        if self._thread is not None and not self._thread.is_alive():
            self._thread = None
        if self._executor is executor:
            self._executor = None
        if executor is None or type(executor) is not _KeyedSerial:
            return True
        executor.shutdown(wait=False)
        if (<_KeyedSerial>executor).in_worker():
            return True
        return (<_KeyedSerial>executor).wait_idle(deadline)

    def quit(self):
        """Release the context: the same as :meth:`close` (exosip2ctypes' name)."""
        self.close()

    @property
    def closed(self):
        """True once the context is closed."""
        return self._ptr == NULL

    @property
    def ptr(self):
        """Address of the ``struct eXosip_t`` (int; 0 once closed), for debugging and other C code."""
        return <uintptr_t>self._ptr

    # --- configuration ----------------------------------------------------------------

    def listen_on_address(self, address=None, transport=socket.IPPROTO_UDP, port=5060,
                          family=socket.AF_INET, secure=False):
        """Open a listening socket (``eXosip_listen_addr``).

        :param address: the address to bind (None: every interface).
        :param transport: ``socket.IPPROTO_UDP`` or ``socket.IPPROTO_TCP``.
        :param port: the port; 0 takes a free one (``eXosip_find_free_port``),
            readable afterwards from :attr:`port`.
        :param family: ``socket.AF_INET`` or ``socket.AF_INET6``.
        :param secure: True with ``socket.IPPROTO_TCP`` listens for TLS (SIP over TLS, port 5061
            by convention); call :meth:`set_tls` with a certificate first.
        :returns: the port bound (int).
        :raises OsipPortBusy: the port is in use (the message names address, port and transport).
        :raises OsipNoNetwork: the address cannot be bound (with the system's reason).
        :raises OsipBadParameter: an argument is not valid (named in the message).
        """
        cdef bytes addr = text_arg(address, "address", True)
        cdef int ctransport, cport, cfamily, csecure = bool(secure)
        cdef int rc, err = 0
        cdef const char *caddr = c_str(addr)
        cdef eXosip_t *p
        if transport not in (socket.IPPROTO_UDP, socket.IPPROTO_TCP):
            raise OsipBadParameter("listen_on_address: transport must be socket.IPPROTO_UDP (%d) or "
                                   "socket.IPPROTO_TCP (%d), not %r" % (socket.IPPROTO_UDP, socket.IPPROTO_TCP,
                                                                        transport))
        if isinstance(port, bool) or not isinstance(port, int) or not 0 <= port <= 65535:
            raise OsipBadParameter("listen_on_address: port must be an int in 0..65535 (0: any free port), "
                                   "not %r" % (port,))
        if family not in (socket.AF_INET, socket.AF_INET6):
            raise OsipBadParameter("listen_on_address: family must be socket.AF_INET or socket.AF_INET6, not %r"
                                   % (family,))
        if secure and transport != socket.IPPROTO_TCP:
            raise OsipBadParameter("listen_on_address: secure=True (TLS) needs transport=socket.IPPROTO_TCP")
        if secure and not self._tls_cert:
            raise OsipBadParameter("listen_on_address: secure=True needs a certificate: call "
                                   "set_tls(cert=..., key=...) first")
        ctransport = transport
        cport = port
        cfamily = family
        p = self._enter()
        try:
            if cport == 0:
                with nogil:
                    rc = eXosip_find_free_port(p, 0, ctransport)
                if rc < 0:
                    raise listen_error(rc, 0, address, 0, ctransport, "eXosip_find_free_port")
                cport = rc
            with nogil:
                rc = eXosip_listen_addr(p, ctransport, caddr, cport, cfamily, csecure)
                if rc < 0:
                    err = eXosip_core_listen_errno(p)
            if rc < 0:
                raise listen_error(rc, err, address, cport, ctransport, "eXosip_listen_addr")
        finally:
            self._leave()
        self._port = cport
        return cport

    @property
    def port(self):
        """The port of the last :meth:`listen_on_address` (0 before)."""
        return self._port

    # --- tracing (exosip2.trace) ---------------------------------------------------------

    def trace(self, enabled=True):
        """Log every SIP message sent and received on the logger ``exosip2.sip`` (DEBUG), or stop.

        Each record says direction, transport, local and remote address and holds the message
        text (see :mod:`exosip2.trace`). The messages are taken from the core's queue by the event
        loop (:meth:`start`) after each event and idle wait, by the asyncio iterator
        (:meth:`events`, :meth:`wait_event`) after each batch and once a second, and by
        :meth:`trace_drain`. Off (the default), the core pays one test per message.
        ``Context(trace=True)`` switches it on at creation.
        """
        from exosip2 import trace as _trace
        _trace.set_logging(self, enabled)

    def trace_pcap(self, path):
        """Write every SIP message sent and received to the pcap file *path*; ``None`` stops and closes it.

        UDP messages are IPv4/IPv6 + UDP packets with their real addresses; TCP messages are
        written as synthetic UDP packets (see :class:`exosip2.trace.PcapWriter`). Opening a new
        file closes the previous one. Call ``trace_pcap(None)`` before :meth:`close` to have every
        message written.
        """
        from exosip2 import trace as _trace
        if path is not None and not isinstance(path, (str, bytes)) and not hasattr(path, "__fspath__"):
            raise TypeError("trace_pcap: path must be a file name (str, bytes or os.PathLike) or None, not %s"
                            % type(path).__name__)
        _trace.set_pcap(self, path)

    def trace_drain(self):
        """Take the traced messages queued in the core now: log and write them, and return them.

        :returns: a list of :class:`exosip2.trace.SipTrace`, oldest first (empty when tracing is off).
        """
        from exosip2 import trace as _trace
        return _trace.drain(self)

    def trace_dropped(self):
        """How many messages the full trace queue could not take since tracing was switched on."""
        from exosip2 import trace as _trace
        return _trace.dropped(self)

    def set_tls(self, root_ca=None, cert=None, key=None, key_password=None, verify=True, *,
                server_cert=None, server_key=None, server_key_password=None, cipher_list=None,
                tls_flags=0, pinned_public_key=None):
        """Configure TLS (``EXOSIP_OPT_SET_TLS_CERTIFICATES_INFO`` and
        ``EXOSIP_OPT_SET_TLS_VERIFY_CERTIFICATE``, filling an ``eXosip_tls_ctx_t``).

        Files are checked here, so a mistake is reported now rather than as a failed handshake
        later: with the bundled core the check builds the client and server OpenSSL contexts that
        core/ will use, with the OpenSSL core/ is linked with (Python's ``ssl`` module is not
        needed); with an installed libeXosip2 (``EXOSIP2_SYSTEM=1``) Python's ``ssl`` module does
        the check. Requests go over TLS to ``sips:`` URIs and to ``;transport=tls`` ones; answers go
        back on the connection the request came on.

        :param root_ca: a PEM file, or a folder of hashed certificates (``c_rehash``), trusted
            besides the system store when verifying peers.
        :param cert: our certificate (PEM, may hold the chain), presented to servers that ask for
            one (mutual TLS) and, unless *server_cert* is given, to clients that connect to us.
        :param key: the private key of *cert* (PEM).
        :param key_password: the password of an encrypted *key* (str or bytes).
        :param verify: True verifies the peer's chain (against *root_ca* and the system store)
            and, for a server we connect to, that its certificate names the host or address of
            the URI (subjectAltName); a failure ends the transaction with a transport error and
            nothing is sent. When listening, a client certificate is asked for and one that is
            sent must verify. False (eXosip2's default) accepts any certificate.
        :param server_cert: a different certificate for the connections peers open to us.
        :param server_key: the key of *server_cert*.
        :param server_key_password: the password of *server_key*.
        :param cipher_list: an OpenSSL cipher list for TLS 1.2 (TLS 1.3 suites are OpenSSL's).
        :param tls_flags: extra OpenSSL ``SSL_OP_*`` option bits.
        :param pinned_public_key: a file with the DER public key the server we connect to must
            have (``openssl x509 -pubkey -noout | openssl pkey -pubin -outform DER``).
        :raises FileNotFoundError: a file or folder given does not exist.
        :raises ValueError: a certificate without its key (or the reverse), a directory given for a
            file, an empty file, a key that does not match its certificate, a wrong or missing
            password, a file that is not PEM, a root_ca without a certificate, a cipher list
            OpenSSL does not know, or (bundled core) a pinned public key that is not one DER key.
            The message names the file and what is wrong.
        """
        cdef eXosip_tls_ctx_t tc
        cdef char why[2560]  # room for the two paths a reason may name
        cdef int cverify = 1 if verify else 0
        cdef int rc, rc2
        cdef eXosip_t *p
        memset(&tc, 0, sizeof(tc))

        def path(value, what, folder_ok=False):
            if value is None:
                return None
            v = os.path.abspath(os.fsdecode(value))
            if not os.path.exists(v):
                raise FileNotFoundError(2, "set_tls: %s not found" % what, v)
            if os.path.isdir(v) and not folder_ok:
                raise ValueError("set_tls: %s %s is a directory, not a file" % (what, v))
            b = os.fsencode(v)
            if len(b) >= 1024 or b"\0" in b:
                raise ValueError("set_tls: the path of %s is too long (1023 bytes at most)" % what)
            return b

        def secret(value, what):
            if value is None:
                return b""
            b = value.encode("utf-8") if isinstance(value, str) else bytes(value)
            if len(b) >= 1024 or b"\0" in b:
                raise ValueError("set_tls: %s must be under 1024 bytes, without NUL" % what)
            return b

        ca = path(root_ca, "root_ca", True)
        ccert, ckey = path(cert, "cert"), path(key, "key")
        scert, skey = path(server_cert, "server_cert"), path(server_key, "server_key")
        pin = path(pinned_public_key, "pinned_public_key")
        cpw, spw = secret(key_password, "key_password"), secret(server_key_password, "server_key_password")
        for c, k, what in ((ccert, ckey, "cert"), (scert, skey, "server_cert")):
            if (c is None) != (k is None):
                raise ValueError("set_tls: %s needs both a certificate and its key" % what)
        ciphers = secret(cipher_list, "cipher_list")
        if isinstance(tls_flags, bool) or not isinstance(tls_flags, int) or not 0 <= tls_flags < 2 ** 63:
            raise ValueError("set_tls: tls_flags must be a non-negative int, not %r" % (tls_flags,))
        _put(tc.root_ca_cert, ca)
        _put(tc.client.cert, ccert)
        _put(tc.client.priv_key, ckey)
        _put(tc.client.priv_key_pw, cpw)
        _put(tc.client.public_key_pinned, pin)
        _put(tc.server.cert, scert)
        _put(tc.server.priv_key, skey)
        _put(tc.server.priv_key_pw, spw)
        _put(tc.cipher_list, ciphers)

        def _ssl_check_tls(ca, ccert, ckey, cpw, scert, skey, spw, ciphers, cipher_list):
            """set_tls's checks with an installed libeXosip2, which has no core/ check: Python's ssl module."""
            import ssl

            def pair(c, k, pw):
                if c is None:
                    return
                check_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
                try:
                    check_ctx.load_cert_chain(os.fsdecode(c), os.fsdecode(k), (lambda: pw) if pw else (lambda: b""))
                except ssl.SSLError as exc:
                    text = str(exc)
                    if "KEY_VALUES_MISMATCH" in text or "key values mismatch" in text:
                        raise ValueError("set_tls: the key %s does not match the certificate %s"
                                         % (os.fsdecode(k), os.fsdecode(c))) from None
                    if "bad decrypt" in text.lower() or "BAD_DECRYPT" in text or "PEM lib" in text:
                        raise ValueError("set_tls: cannot read the key %s: wrong or missing password"
                                         % os.fsdecode(k)) from None
                    raise ValueError("set_tls: cannot load %s / %s: %s"
                                     % (os.fsdecode(c), os.fsdecode(k), text)) from None

            pair(ccert, ckey, cpw)
            pair(scert, skey, spw)
            if ca is not None:
                check_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
                try:
                    if os.path.isdir(ca):
                        check_ctx.load_verify_locations(capath=os.fsdecode(ca))
                    else:
                        check_ctx.load_verify_locations(cafile=os.fsdecode(ca))
                except ssl.SSLError as exc:
                    raise ValueError("set_tls: root_ca %s holds no PEM certificate: %s" % (os.fsdecode(ca), exc)) from None
            if ciphers:
                try:
                    ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT).set_ciphers(ciphers.decode("ascii"))
                except (ssl.SSLError, UnicodeDecodeError):
                    raise ValueError("set_tls: OpenSSL knows no cipher in %r" % (cipher_list,)) from None

        tc.tls_flags = tls_flags
        if EXOSIP2_HAVE_CORE_TLS_CHECK:
            with nogil:
                rc = eXosip_core_tls_check(&tc, why, sizeof(why))
            if rc != 0:
                memset(&tc, 0, sizeof(tc))
                raise ValueError("set_tls: " + why.decode("utf-8", "surrogateescape"))
        else:
            try:
                _ssl_check_tls(ca, ccert, ckey, cpw, scert, skey, spw, ciphers, cipher_list)
            except BaseException:
                memset(&tc, 0, sizeof(tc))
                raise
        p = self._enter()
        with nogil:
            rc = eXosip_set_option(p, EXOSIP_OPT_SET_TLS_CERTIFICATES_INFO, &tc)
            rc2 = eXosip_set_option(p, EXOSIP_OPT_SET_TLS_VERIFY_CERTIFICATE, &cverify)
        self._leave()
        memset(&tc, 0, sizeof(tc))  # the passwords leave our stack
        check(rc, b"eXosip_set_option(EXOSIP_OPT_SET_TLS_CERTIFICATES_INFO)")
        check(rc2, b"eXosip_set_option(EXOSIP_OPT_SET_TLS_VERIFY_CERTIFICATE)")
        self._tls_cert = bool(ccert or scert)

    def masquerade_contact(self, public_address=None, port=0):
        """Advertise *public_address*:*port* in Via and Contact (None: back to the local address)."""
        cdef bytes addr = text_arg(public_address, "public_address", True)
        cdef int cport = port
        cdef const char *caddr = c_str(addr)
        cdef eXosip_t *p = self._enter()
        with nogil:
            eXosip_masquerade_contact(p, caddr, cport)
        self._leave()

    @property
    def user_agent(self):
        """The User-Agent header value of the messages this context builds (str or None)."""
        return self._user_agent

    @user_agent.setter
    def user_agent(self, value):
        cdef bytes b = text_arg(value, "user_agent", True)
        cdef const char *cb = c_str(b)
        cdef eXosip_t *p = self._enter()
        with nogil:
            eXosip_set_user_agent(p, cb)
        self._leave()
        self._user_agent = None if b is None else b.decode("utf-8", "surrogateescape")

    def set_option(self, option, value):
        """Set one option (``eXosip_set_option``) with a value of its own C type.

        :param option: an :class:`~exosip2.options.Option` (or its number).
        :param value: an ``int`` for flags and limits (``bool`` accepted), a ``str``/``bytes``
            (or None) for :attr:`Option.SET_HEADER_USER_AGENT <exosip2.options.Option>`; see
            :func:`exosip2.options.option_type`.
        :raises ValueError: for an unknown option number, an int outside the C ``int`` range, and
            for ``Option.GET_STATISTICS`` (read with :meth:`get_statistics`).
        :raises TypeError: for a value of the wrong type.
        :raises OsipBadParameter: when the library refuses the value (out of the option's range),
            or a core-only option with a library that lacks it (``EXOSIP2_SYSTEM=1``).
        """
        typ = option_type(option)
        opt = Option(option)
        cdef int copt = opt
        cdef int ivalue = 0
        cdef bytes text = None
        cdef const char *ctext = NULL
        cdef bint is_pair = opt == Option.SET_OC_PORT_RANGE
        cdef bint is_text = typ is str
        cdef int pair[2]
        cdef int rc
        cdef eXosip_t *p
        if opt == Option.ADD_DNS_CACHE or opt == Option.DELETE_DNS_CACHE:
            self._set_dns_cache(opt, value)
            return
        if is_pair:
            if not isinstance(value, tuple) or len(value) != 2:
                raise TypeError("the value of Option.%s must be a (low, high) tuple of ints" % opt.name)
            for i in range(2):
                if not isinstance(value[i], int) or isinstance(value[i], bool):
                    raise TypeError("the value of Option.%s must be a (low, high) tuple of ints" % opt.name)
                if not -0x80000000 <= value[i] <= 0x7fffffff:
                    raise ValueError("the values of Option.%s must fit a C int" % opt.name)
                pair[i] = value[i]
        elif not is_text:
            if not isinstance(value, int):
                raise TypeError("the value of Option.%s must be an int, not %s" % (opt.name, type(value).__name__))
            if not -0x80000000 <= value <= 0x7fffffff:
                raise ValueError("the value of Option.%s must fit a C int, not %d" % (opt.name, value))
            ivalue = value
        else:
            if value is not None and not isinstance(value, (str, bytes)):
                raise TypeError("the value of Option.%s must be str, bytes or None, not %s"
                                % (opt.name, type(value).__name__))
            text = text_arg(value, "value", True)
            if text is not None and b"\0" in text:
                raise ValueError("the value of Option.%s must not contain NUL characters" % opt.name)
            ctext = c_str(text)
        p = self._enter()
        with nogil:
            if is_pair:
                rc = eXosip_set_option(p, copt, <const void *>pair)
            elif is_text:
                rc = eXosip_set_option(p, copt, <const void *>ctext)
            else:
                rc = eXosip_set_option(p, copt, &ivalue)
        self._leave()
        if rc < 0:
            if is_core_option(opt) and get_library_kind() == "system":
                raise OsipBadParameter("eXosip_set_option(Option.%s) failed: error %d; the installed libeXosip2 "
                                       "does not know this core-only option" % (opt.name, rc), code=rc)
            raise error_class(rc)("eXosip_set_option(Option.%s, %r) failed: error %d (%s); the value is "
                                  "outside the option's range" % (opt.name, value, rc, error_class(rc).__name__),
                                  code=rc)
        if opt == Option.SET_HEADER_USER_AGENT:
            self._user_agent = None if text is None else text.decode("utf-8", "surrogateescape")

    def _set_dns_cache(self, opt, value):
        # EXOSIP_OPT_ADD_DNS_CACHE ((host, ip)) / EXOSIP_OPT_DELETE_DNS_CACHE (host): a struct eXosip_dns_cache
        cdef eXosip_dns_cache entry
        cdef int copt = opt
        cdef int rc
        cdef bytes host, ip = b""
        if opt == Option.ADD_DNS_CACHE:
            if not isinstance(value, tuple) or len(value) != 2:
                raise TypeError("the value of Option.ADD_DNS_CACHE must be a (host, ip) tuple, not %r" % (value,))
            host = text_arg(value[0], "host", False)
            ip = text_arg(value[1], "ip", False)
        else:
            if not isinstance(value, (str, bytes)):
                raise TypeError("the value of Option.DELETE_DNS_CACHE must be a host name (str), not %s"
                                % type(value).__name__)
            host = text_arg(value, "host", False)
        if not host or len(host) >= 1024 or len(ip) >= 256 or b"\0" in host + ip:
            raise ValueError("Option.%s: the host must be 1 to 1023 bytes and the ip under 256, without NUL"
                             % opt.name)
        memset(&entry, 0, sizeof(entry))
        memcpy(entry.host, <const char *>host, len(host))
        memcpy(entry.ip, <const char *>ip, len(ip))
        cdef eXosip_t *p = self._enter()
        with nogil:
            rc = eXosip_set_option(p, copt, &entry)
        self._leave()
        check(rc, b"eXosip_set_option(EXOSIP_OPT_ADD_DNS_CACHE)" if opt == Option.ADD_DNS_CACHE
              else b"eXosip_set_option(EXOSIP_OPT_DELETE_DNS_CACHE)")

    def get_statistics(self):
        """The counters of the context (``eXosip_set_option(EXOSIP_OPT_GET_STATISTICS)``).

        :returns: an :class:`exosip2.options.Statistics`.
        """
        cdef eXosip_stats st
        cdef int rc
        memset(&st, 0, sizeof(st))
        cdef eXosip_t *p = self._enter()
        with nogil:
            rc = eXosip_set_option(p, 2000, &st)
        self._leave()
        check(rc, b"eXosip_set_option(EXOSIP_OPT_GET_STATISTICS)")
        return Statistics(st.allocated_transactions, st.average_transactions, st.allocated_registrations,
                          st.average_registrations, st.allocated_calls, st.average_calls,
                          st.allocated_publications, st.average_publications, st.allocated_subscriptions,
                          st.average_subscriptions, st.allocated_insubscriptions, st.average_insubscriptions,
                          tuple([st.reserved1[i] for i in range(20)]))

    # --- the lock ----------------------------------------------------------------------

    @property
    def lock(self):
        """The context lock (:class:`ContextLock`), usable in ``with``.

        Each access returns a small handle; the state of the lock lives in the context (no
        reference cycle keeps the context alive).
        """
        cdef ContextLock lock = ContextLock.__new__(ContextLock)
        lock._context = self
        return lock

    def lock_acquire(self):
        """Take the context lock (``eXosip_lock``); re-entrant within a thread."""
        cdef unsigned long me = PyThread_get_thread_ident()
        cdef eXosip_t *p
        if self._lock_depth > 0 and self._lock_owner == me:
            self._lock_depth += 1
            return
        p = self._enter()   # held (counted busy) until lock_release
        with nogil:
            eXosip_lock(p)
        # Marked for this thread, so the binding's own calls inside `with ctx.lock:` do not take
        # it again: eXosip2 5.3's eXosip_lock is a plain mutex (core/'s is recursive).
        if _held_mark(p) != 0:
            eXosip_unlock(p)
            self._leave()
            raise OsipWrongState("lock_acquire: this thread holds the locks of %d contexts already"
                                 % _HELD_MAX)
        self._locked = p
        self._lock_owner = me
        self._lock_depth = 1

    def lock_release(self):
        """Release the context lock taken by :meth:`lock_acquire`.

        :raises RuntimeError: when this thread does not hold it.
        """
        # The context that was locked, even if a close() has started meanwhile (_ptr is then NULL).
        cdef eXosip_t *p = self._locked
        if self._lock_depth <= 0 or self._lock_owner != PyThread_get_thread_ident():
            raise RuntimeError("the context lock is not held by this thread")
        self._lock_depth -= 1
        if self._lock_depth == 0:
            self._lock_owner = 0
            self._locked = NULL
            _held_unmark(p)
            eXosip_unlock(p)
            self._leave()

    @property
    def locked(self):
        """True while some thread holds :attr:`lock`."""
        return self._lock_depth > 0

    # --- events by hand ------------------------------------------------------------------

    def event_wait(self, s, ms):
        """Wait up to *s* seconds plus *ms* milliseconds for the next event.

        :returns: an :class:`~exosip2.event.Event`, or None on timeout.
        """
        cdef int cs = s, cms = ms
        cdef eXosip_event_t *ev
        cdef eXosip_t *p = self._enter()
        with nogil:
            ev = eXosip_event_wait(p, cs, cms)
        self._leave()
        if ev == NULL:
            return None
        return self._wrap(ev)

    def automatic_action(self):
        """Run eXosip2's automatic actions (retries, refreshes) now, under the lock."""
        self._auto()

    @property
    def event_socket(self):
        """A file descriptor that is readable while events are queued (``eXosip_event_geteventsocket``)."""
        return check(eXosip_event_geteventsocket(self._get()), b"eXosip_event_geteventsocket")

    # --- the event loop ------------------------------------------------------------------

    @property
    def event_callback(self):
        """The callable run as ``event_callback(context, event)`` for every event of the loop."""
        return self._event_callback

    @event_callback.setter
    def event_callback(self, val):
        if val is not None and not callable(val):
            raise TypeError("event_callback must be callable or None")
        self._event_callback = val

    def get_event_callback(self):
        """Return :attr:`event_callback`."""
        return self._event_callback

    def set_event_callback(self, val):
        """Set :attr:`event_callback`."""
        self.event_callback = val

    @property
    def is_running(self):
        """True while the event loop runs (between :meth:`start` and :meth:`stop`)."""
        return self._running

    def start(self, s=0, ms=50, event_executor=None):
        """Start the event loop in a new thread and return that :class:`threading.Thread`.

        :param s: seconds, and
        :param ms: milliseconds that each ``eXosip_event_wait`` waits at most.
        :param event_executor: where ``event_callback`` runs:

            * None (the default): a new :class:`~concurrent.futures.ThreadPoolExecutor`
              (shut down by :meth:`stop`) that keeps each call's events in order: the events
              of one call (same ``cid``), of one registration (``rid``), of one outgoing
              subscription (``sid``) or incoming subscription (``nid``) run one after another,
              in the order the stack reported them, each callback starting once the previous
              one of that call has returned; events of different calls run in parallel on
              the pool, and events with none of these ids (out-of-dialog MESSAGE, OPTIONS)
              keep no order at all. A call's ``call_answered`` is never handled before its
              ``call_ringing``, nor ``call_released`` before its ``call_closed``.
            * ``"inline"`` (:data:`INLINE`): the loop thread itself; every event in order,
              one at a time; the fastest when callbacks are short.
            * any other :class:`~concurrent.futures.Executor`: ``submit`` once per event, in
              the order received, with no other guarantee (the executor decides).

        To find one's own data in the events of an outgoing call, pass it as
        ``call_send_init_invite(invite, reference=obj)`` and read :attr:`Event.reference
        <exosip2.event.Event.reference>`: it is stored before any event of the call can be
        dispatched, whereas a cid stored by the sending thread after
        ``call_send_init_invite`` returns may come too late for a callback already running
        the answer on another thread.

        :raises OsipWrongState: when the loop already runs.
        :raises TypeError: for an *event_executor* that is none of these.
        """
        cdef int cs = s, cms = ms
        self._get()
        if self._running:
            raise OsipWrongState("the event loop is already running")
        if cs < 0 or cms < 0 or (cs == 0 and cms == 0):
            raise OsipBadParameter("the wait of the event loop must be positive")
        if event_executor is None:
            executor = _KeyedSerial()
            self._own_executor = True
        elif event_executor == INLINE:
            executor = None
            self._own_executor = False
        elif isinstance(event_executor, concurrent.futures.Executor):
            executor = event_executor
            self._own_executor = False
        else:
            raise TypeError("event_executor must be None, 'inline' or a concurrent.futures.Executor")
        self._executor = executor
        self._running = True
        thread = threading.Thread(target=self._loop, args=(cs, cms, executor),
                                  name="exosip2-loop-%d" % self._port, daemon=True)
        self._thread = thread
        thread.start()
        return thread

    def run(self, s=0, ms=50, event_executor=None, timeout=None):
        """Start the event loop (:meth:`start`) and wait for its thread to end, at most *timeout* seconds."""
        thread = self.start(s, ms, event_executor)
        thread.join(timeout)

    def stop(self, timeout=None):
        """Stop the event loop; return once its thread has ended and, with the default executor,
        once the callbacks it had accepted have returned; idempotent.

        How long that takes is bounded by what runs: the loop thread ends within one wait of
        :meth:`start` (*s*, *ms*) plus the callback it runs (``"inline"``); the callbacks queued
        in the default executor then run to their end (events that come later are not taken
        from the stack). A callback that waits for the stopping thread would make that wait
        endless: give *timeout* to bound it.

        Called from the loop thread itself (an inline callback) or from a callback of the
        default executor, it only asks the loop to end and returns (waiting there would wait
        for itself). A user-given executor is left alone: shut it down yourself.

        :param timeout: seconds to wait at most (None: as long as it takes).
        :raises OsipWrongState: when called by a thread that holds :attr:`lock` (the loop
            thread may be waiting for that lock).
        :raises OsipTimeout: when the loop thread or a callback still runs after *timeout*
            seconds; the loop is stopped all the same and what still runs ends on its own.
        """
        cdef eXosip_t *p = self._ptr
        cdef double deadline = _deadline(timeout, "stop()")
        thread = self._thread
        if thread is None:
            self._running = False
            if not self._finish_stop(self._executor, deadline):
                raise OsipTimeout("stop(): event callbacks still run after %.1f s; they end on their own"
                                  % timeout)
            return
        if (thread is not threading.current_thread() and self._lock_depth > 0
                and self._lock_owner == PyThread_get_thread_ident()):
            raise OsipWrongState("stop() called while this thread holds the context lock, which the event "
                                 "loop thread may be waiting for; release it first")
        executor = self._executor
        self._running = False
        if p != NULL:
            eXosip_wakeup_event(p)
        if thread is threading.current_thread():
            return
        if deadline == _FOREVER:
            thread.join()
        else:
            thread.join(max(0.0, deadline - time.monotonic()))
        if thread.is_alive():
            raise OsipTimeout("stop(): the event loop thread still runs after %.1f s (its callback, or "
                              "the context lock held by another thread); it ends once that returns" % timeout)
        if not self._finish_stop(executor, deadline):
            raise OsipTimeout("stop(): event callbacks still run after %.1f s; the loop is stopped and "
                              "they end on their own" % timeout)

    def _loop(self, int s, int ms, executor):
        """The body of the event loop thread."""
        cdef eXosip_t *p
        cdef eXosip_event_t *ev
        # the default executor: the runners its dispatch() woke are released as this thread waits
        cdef _KeyedSerial serial = executor if type(executor) is _KeyedSerial else None
        cdef bint keyed = serial is not None
        try:
            while self._running:
                p = self._ptr
                if p == NULL:
                    break
                self._busy += 1
                with nogil:
                    if keyed:
                        serial._flush()
                    ev = eXosip_event_wait(p, s, ms)
                self._busy -= 1
                # tracing (exosip2.trace): messages the core captured are logged from this thread
                if self._ptr != NULL and eXosip_core_capture_queued(self._ptr) > 0:
                    _drain_trace(self)
                if ev == NULL:
                    if self._running and self._ptr != NULL:
                        self._auto()
                        self._idle_trim(False)
                    continue
                # One event per wait: the wait pops a queued event at once, without a system
                # call, where looking at the event socket first (to take several per wake-up)
                # would cost a poll() per event.
                self._dispatch(self._wrap(ev), executor)
                self._events_since_auto += 1
                if self._events_since_auto >= _AUTO_EVERY and self._ptr != NULL:
                    if keyed:
                        serial._flush()   # _auto() may wait for the context lock
                    self._auto()
        except BaseException:
            _log.exception("the event loop of %r failed", self)
        finally:
            if keyed:
                serial._flush()
            self._running = False
            # No more events for the executor: shut it down without waiting (stop() and close(),
            # when they join this thread, wait for the callbacks still running).
            if self._thread is threading.current_thread():
                self._thread = None
                if executor is not None and self._own_executor:
                    executor.shutdown(wait=False)

    cdef int _dispatch(self, Event event, object executor) except -1:
        # --- hook of send_and_wait (the one line it adds here): its waiters see the event first ---
        if _n_waiting:
            _waiters_see(self, event)
        callback = self._event_callback
        if callback is None:
            self._forget_call(event)
            return 0
        if executor is None:
            try:
                callback(self, event)
            except Exception:
                _log.exception("event callback failed on %r", event)
            self._forget_call(event)
            return 0
        try:
            if type(executor) is _KeyedSerial:
                (<_KeyedSerial>executor).dispatch(self, callback, event)
            elif event._ptr.type == EXOSIP_CALL_RELEASED:
                executor.submit(_run_then_forget, callback, self, event)
            else:
                executor.submit(_run_callback, callback, self, event)
        except RuntimeError:
            # The executor is shut down: by the interpreter at exit (concurrent.futures does
            # that before atexit handlers run), or by its owner. The event has no taker.
            _log.debug("event %r dropped: the executor is shut down", event)
            self._forget_call(event)
        return 0

    cdef int _forget_call(self, Event event) except -1:
        cdef eXosip_event_t *ev = event._ptr
        if ev != NULL and ev.type == EXOSIP_CALL_RELEASED and ev.cid > 0 and self._refs:
            self._refs.pop(ev.cid, None)
        return 0

    # --- asyncio --------------------------------------------------------------------------

    async def events(self):
        """Yield every event as it arrives, in an asyncio event loop::

            async for event in ctx.events():
                ...

        Back pressure: events stay in the SIP stack's own queue until the
        iterator asks for them, and are taken from it in batches of at most
        64 (so Python holds at most one batch, however fast they arrive).
        While the queue is empty the event socket is watched with
        ``loop.add_reader`` (no thread, no polling); the reader only wakes the
        waiting iterators and is removed while nobody waits. Between two
        batches the iterator lets the loop run its other callbacks, so a flood
        of events never starves timers, other tasks or signal handlers.
        Events taken but not yet yielded stay with the context, so leaving one
        ``async for`` and starting another loses none. Automatic actions run
        after every 64 events and at least once a second. With tracing on
        (:meth:`trace`, ``Context(trace=True)``), the iterator logs the traced
        messages itself, after each batch and at least once a second: no need
        to call :meth:`trace_drain`. Do not run :meth:`start` on the same context.
        """
        loop = self._aenter()
        cdef bint yielded = True
        try:
            while True:
                if self._aqueue:
                    yield self._aqueue.popleft()
                    continue
                if self._ptr == NULL:
                    return
                if self._fill():
                    if not yielded:
                        await _sleep0()
                    yielded = False
                    continue
                await self._wait_readable(loop)
                yielded = True
        finally:
            self._unwatch()

    async def wait_event(self, timeout=None):
        """Await the next event (an :class:`~exosip2.event.Event`) in asyncio, at most *timeout* seconds.

        :raises asyncio.TimeoutError: when none came in time.
        :raises ContextClosedError: when the context is (or gets) closed.
        """
        import asyncio
        return await asyncio.wait_for(self._next_event(), timeout)

    async def _next_event(self):
        loop = self._aenter()
        try:
            while True:
                if self._aqueue:
                    return self._aqueue.popleft()
                if self._ptr == NULL:
                    raise ContextClosedError("the context was closed while waiting for an event")
                if self._fill():
                    continue
                await self._wait_readable(loop)
        finally:
            self._unwatch()

    def _aenter(self):
        import asyncio
        self._get()
        if self._running:
            raise OsipWrongState("the event loop thread runs: events() would compete with it")
        loop = asyncio.get_running_loop()
        self._watch(loop)
        return loop

    async def _wait_readable(self, loop):
        """Wait until the reader took a batch of events, or the context closes."""
        waiter = loop.create_future()
        self._awaiters.append(waiter)
        try:
            self._arm()
            await waiter
        finally:
            try:
                self._awaiters.remove(waiter)
            except ValueError:
                pass

    def _on_readable(self):
        """The reader of the event socket: take one batch for the waiting iterators.

        Taking the batch here (not in the woken iterator) clears the socket's
        readiness before the loop polls again, so one wake-up costs one loop
        iteration. With nobody waiting (the consumer is busy) the reader removes
        itself instead: the events stay in the core's queue, and the next wait
        arms it again.
        """
        waiting = [w for w in self._awaiters if not w.done()]
        if not waiting:
            self._disarm()
            return
        if self._aqueue or self._fill() or self._ptr == NULL:
            for waiter in waiting:
                waiter.set_result(None)

    def _tick(self):
        """Once a second while iterated: automatic actions, and a re-check of the queue."""
        self._tick_handle = None
        if self._aloop is None or self._ptr == NULL:
            return
        if time.monotonic() - self._last_auto >= 1.0:
            self._auto()
        if self._awaiters:
            self._on_readable()
        elif self._ptr != NULL and eXosip_core_capture_queued(self._ptr) > 0:
            _drain_trace(self)   # messages without events (retransmissions...) wait at most a second
        self._idle_trim(True)
        self._tick_handle = self._aloop.call_later(1.0, self._tick)

    cdef int _fill(self) except -1:
        cdef eXosip_event_t *ev
        cdef eXosip_t *p = self._ptr
        cdef int n = 0
        if p == NULL:
            return 0
        while n < _ABATCH:
            if not exosip2_events_queued(eXosip_event_geteventsocket(p)):
                break
            ev = eXosip_event_wait(p, 0, 0)
            if ev == NULL:
                break
            self._aqueue.append(self._wrap(ev))
            n += 1
        if n:
            self._events_since_auto += n
            if self._events_since_auto >= _AUTO_EVERY:
                self._auto()
        # tracing: the iterator logs what the core captured, as the event loop thread does
        if self._ptr != NULL and eXosip_core_capture_queued(self._ptr) > 0:
            _drain_trace(self)
        return n

    cdef int _arm(self) except -1:
        if self._armed or self._aloop is None:
            return 0
        fd = check(eXosip_event_geteventsocket(self._get()), b"eXosip_event_geteventsocket")
        self._aloop.add_reader(fd, self._on_readable)
        self._armed = True
        return 0

    cdef int _disarm(self) except -1:
        loop = self._aloop
        if not self._armed:
            return 0
        self._armed = False
        if loop is not None and self._ptr != NULL and not loop.is_closed():
            try:
                loop.remove_reader(eXosip_event_geteventsocket(self._ptr))
            except Exception:
                pass
        return 0

    def _watch(self, loop):
        if self._areaders > 0 and self._aloop is not loop:
            raise OsipWrongState("events() is already iterated in another asyncio loop")
        self._aloop = loop
        self._areaders += 1
        if self._tick_handle is None:
            self._tick_handle = loop.call_later(1.0, self._tick)

    def _unwatch(self):
        self._areaders -= 1
        if self._areaders > 0:
            return
        self._disarm()
        self._stop_tick()
        self._aloop = None

    def _stop_tick(self):
        handle = self._tick_handle
        self._tick_handle = None
        if handle is not None:
            handle.cancel()

    cdef int _release_asyncio(self, eXosip_t *p) except -1:
        # close(): forget the reader (from the loop's own thread, or through call_soon_threadsafe)
        # and wake the iterators, which then end.
        loop = self._aloop
        if loop is not None and self._armed and not loop.is_closed():
            self._armed = False
            fd = eXosip_event_geteventsocket(p)
            try:
                import asyncio
                if asyncio._get_running_loop() is loop:
                    loop.remove_reader(fd)
                else:
                    loop.call_soon_threadsafe(loop.remove_reader, fd)
            except Exception:
                pass
        self._armed = False
        if loop is not None and self._tick_handle is not None:
            try:
                loop.call_soon_threadsafe(self._tick_handle.cancel)
            except Exception:
                pass
            self._tick_handle = None
        self._aloop = None
        self._aqueue.clear()
        for waiter in list(self._awaiters):
            if not waiter.done():
                try:
                    waiter.get_loop().call_soon_threadsafe(_wake, waiter)
                except Exception:
                    pass
        return 0

    # --- messages -----------------------------------------------------------------------

    def build_message(self, message_class, *args, **kwargs):
        """Build a message: ``message_class(self, *args, **kwargs)`` (exosip2ctypes' helper)."""
        return message_class(self, *args, **kwargs)

    def call_send_init_invite(self, OsipMessage invite not None, reference=None):
        """Send an INVITE built by :class:`~exosip2.call.InitInvite`; start a call.

        :param reference: any Python object to attach to the call (None: none). It is stored
            together with the send, under the context lock and before the event loop can take
            the call's first event, so every event of the call, the very first answer included,
            returns it as :attr:`Event.reference <exosip2.event.Event.reference>`. The context
            keeps it until the call's ``call_released`` event has been handled (or the context
            closes); :meth:`set_call_reference` replaces or drops it earlier.
        :returns: the call id (cid, an int > 0; not the Call-ID header).
        """
        cdef eXosip_t *p = self._enter()
        cdef osip_message_t *m
        cdef int rc
        try:
            m = self._take(invite, True, ("INVITE",), (), "call_send_init_invite")
        except BaseException:
            self._leave()
            raise
        if reference is None:
            with nogil:
                context_lock(p)
                rc = eXosip_call_send_initial_invite(p, m)
                context_unlock(p)
        else:
            # The context lock is held from before the send to after the store, so the I/O thread
            # cannot queue an event of the new call before its reference is there; an event the
            # send itself queued is held back by _wrap, which waits for this lock while
            # _ref_sends says a send is under way.
            self._ref_sends += 1
            try:
                with nogil:
                    context_lock(p)
                    rc = eXosip_call_send_initial_invite(p, m)
                try:
                    if rc > 0:
                        self._refs[rc] = reference
                finally:
                    context_unlock(p)
            finally:
                self._ref_sends -= 1
        self._leave()
        return check(rc, b"eXosip_call_send_initial_invite")

    def set_call_reference(self, cid, reference):
        """Attach *reference* (any Python object) to call *cid*; None drops the one it has.

        For an incoming call, set it while handling its ``call_invite`` event: with the default
        executor and ``"inline"`` every later event of the call is handled after that callback,
        so all of them return it as :attr:`Event.reference <exosip2.event.Event.reference>`. It
        is released as :meth:`call_send_init_invite`'s is: once the call's ``call_released``
        event has been handled, or when the context closes.

        :param cid: the call id (``event.cid``), an int > 0.
        :raises TypeError: when *cid* is not an int.
        :raises OsipBadParameter: when *cid* is not a positive id.
        :raises OsipNotFound: when the stack has no call *cid* (never made, or released already).
        """
        cdef int ccid = _int_attr(cid, "cid", "set_call_reference needs a cid")
        cdef int rc
        cdef eXosip_t *p = self._enter()
        with nogil:
            context_lock(p)
            # The stack's own slot stays unused by the binding; this checks that the call exists.
            rc = eXosip_call_set_reference(p, ccid, NULL)
        try:
            if rc == 0:
                if reference is None:
                    self._refs.pop(ccid, None)
                else:
                    self._refs[ccid] = reference
        finally:
            context_unlock(p)
            self._leave()
        if rc != 0:
            raise OsipNotFound("set_call_reference: there is no call %d (never made, or released already)"
                               % ccid)

    def get_call_reference(self, cid):
        """The object attached to call *cid* (:meth:`set_call_reference`,
        :meth:`call_send_init_invite`), or None."""
        return self._refs.get(cid)

    def call_send_ack(self, did=None, ack=None, tid=None):
        """Send the ACK for a 2xx answering an INVITE.

        :param did: the dialog: its latest answered INVITE is acknowledged.
        :param ack: an :class:`~exosip2.call.Ack` to send (did is then not used).
        :param tid: the INVITE transaction (eXosip2 5.x style), instead of did.
        """
        cdef eXosip_t *p
        cdef osip_message_t *m = NULL
        cdef int ctid, rc
        if ack is not None:
            ctid = _int_attr(tid if tid is not None else getattr(ack, "tid", None), "tid",
                             "call_send_ack needs tid= with an ack that is not an exosip2.call.Ack")
        elif tid is not None:
            ctid = tid
        elif did is not None:
            ctid = self.ack_tid(did)
        else:
            raise OsipBadParameter("call_send_ack needs did, tid or ack")
        p = self._enter()
        try:
            if ack is not None:
                m = self._take(ack, True, ("ACK",), (), "call_send_ack")
        except BaseException:
            self._leave()
            raise
        with nogil:
            context_lock(p)
            rc = eXosip_call_send_ack(p, ctid, m)
            context_unlock(p)
        self._leave()
        check(rc, b"eXosip_call_send_ack")

    def call_send_prack(self, int tid, OsipMessage prack not None):
        """Send a PRACK (:class:`~exosip2.call.Prack`) for a reliable 1xx to INVITE transaction *tid*.

        The message is handed over (and freed by the SIP stack even when sending fails).
        """
        cdef eXosip_t *p
        cdef osip_message_t *m = NULL
        cdef int rc
        p = self._enter()
        try:
            m = self._take(prack, True, ("PRACK",), (), "call_send_prack")
        except BaseException:
            self._leave()
            raise
        with nogil:
            context_lock(p)
            rc = eXosip_call_send_prack(p, tid, m)
            context_unlock(p)
        self._leave()
        check(rc, b"eXosip_call_send_prack")

    def ack_tid(self, int did):
        """The transaction id of the latest answered INVITE of dialog *did* (from the events seen).

        :raises OsipNotFound: when no answered INVITE of that dialog was seen.
        """
        try:
            return self._ack_tids[did]
        except KeyError:
            raise OsipNotFound("no answered INVITE is known for dialog %d" % did) from None

    def call_send_answer(self, tid=None, status=None, answer=None, reference=None):
        """Answer an incoming request of a call.

        :param tid: the transaction to answer.
        :param status: the status of a default answer (not 2xx to INVITE, which needs a body).
        :param answer: an :class:`~exosip2.call.Answer` to send (tid and status are then not used).
        :param reference: when answering the INVITE of an incoming call (its ``call_invite``
            event's tid), any Python object to attach to that call: stored as
            :meth:`call_send_init_invite` stores its own, under the context lock together with
            the answer, so every later event of the call (its ACK, a CANCEL, a BYE) returns it
            as :attr:`Event.reference <exosip2.event.Event.reference>`, whichever executor runs
            the callbacks; released with the call. None (the default) leaves the call's
            reference as it is.
        :raises OsipNotFound: with *reference*, when *tid* is not the INVITE of an incoming call
            this context reported (for any other, use :meth:`set_call_reference`).
        """
        self._send_answer(tid, status, answer, _ANSWER_CALL, "call_send_answer", reference)

    def call_send_request(self, OsipMessage request not None, did=None):
        """Send a request built inside a dialog (:mod:`exosip2.call`: ReInvite, Info, Options, ...).

        :param did: the dialog (default: the one the request was built for).
        :returns: the transaction id (int) with core/; 0 with an installed libeXosip2 5.3, whose
            ``eXosip_call_send_request`` returns OSIP_SUCCESS and tells no tid (the answer's
            events carry it).
        """
        cdef eXosip_t *p
        cdef osip_message_t *m
        cdef int cdid, rc
        cdid = _int_attr(did if did is not None else getattr(request, "did", None), "did",
                         "call_send_request needs did= with a request that is not built for a dialog")
        p = self._enter()
        try:
            m = self._take(request, True, (), _NOT_IN_DIALOG, "call_send_request")
        except BaseException:
            self._leave()
            raise
        with nogil:
            context_lock(p)
            # core/: the tid (eX_core.h); an installed 5.3: eXosip_call_send_request, 0 once sent
            rc = eXosip_core_call_send_request_tid(p, cdid, m)
            context_unlock(p)
        self._leave()
        return check(rc, b"eXosip_call_send_request")

    def call_terminate(self, int cid, int did=0, reason=None, header=None):
        """End a call: CANCEL before the answer, BYE once answered, 603 to an unanswered incoming call.

        A CANCEL is sent only after a provisional answer has come (RFC 3261 9.1): asked for before,
        it waits for the first 1xx; a 2xx that comes first is acknowledged and ended with BYE.

        :param did: the dialog to end (0: the call's); a call forked into several dialogs ends
            each by its did.
        :param reason: an optional Reason header value (one line: CR or LF raises OsipBadParameter).
        :param header: an optional ``(name, value)`` header for the CANCEL, BYE or 603 (not with
            *reason*: one extra header at most).
        """
        cdef bytes r = text_arg(reason, "reason", True)
        cdef bytes hn = None, hv = None
        cdef int rc
        cdef const char *cr
        cdef const char *chn = NULL
        cdef const char *chv = NULL
        cdef eXosip_t *p
        if header is not None:
            if reason is not None:
                raise ValueError("call_terminate takes reason or header, not both")
            if not isinstance(header, tuple) or len(header) != 2:
                raise TypeError("header must be a (name, value) tuple")
            hn = text_arg(header[0], "header name", False)
            hv = text_arg(header[1], "header value", False)
            chn = hn
            chv = hv
        cr = c_str(r)
        p = self._enter()
        with nogil:
            context_lock(p)
            if chn != NULL:
                rc = eXosip_call_terminate_with_header(p, cid, did, chn, chv)
            elif cr == NULL:
                rc = eXosip_call_terminate(p, cid, did)
            else:
                rc = eXosip_call_terminate_with_reason(p, cid, did, cr)
            context_unlock(p)
        self._leave()
        check(rc, b"eXosip_call_terminate")

    def get_remote_sdp_from_tid(self, int tid):
        """The peer's SDP body in transaction *tid* (the offer of an INVITE we received, or the
        answer to one we sent), as an :class:`~exosip2.sdp.SdpMessage`; None when it has none."""
        return self._sdp(tid, 0)

    def get_local_sdp_from_tid(self, int tid):
        """Our SDP body in transaction *tid* (our offer, or our answer), or None."""
        return self._sdp(tid, 1)

    def get_previous_local_sdp(self, int did):
        """Our SDP body before the latest one in dialog *did* (the offer a re-INVITE replaced), or None."""
        return self._sdp(did, 2)

    def _sdp(self, int ident, int which):
        cdef sdp_message_t *sdp = NULL
        cdef eXosip_t *p = self._enter()
        with nogil:
            if which == 0:
                sdp = eXosip_get_remote_sdp_from_tid(p, ident)
            elif which == 1:
                sdp = eXosip_get_local_sdp_from_tid(p, ident)
            else:
                sdp = eXosip_get_previous_local_sdp(p, ident)
        self._leave()
        if sdp == NULL:
            return None
        return SdpMessage.from_ptr(sdp, True, None)

    def message_send_request(self, OsipMessage message not None):
        """Send an out-of-dialog request built by :class:`~exosip2.request.Message`.

        :returns: the transaction id (int).
        """
        return self._send_ood(message, False)

    def subscription_send_initial_request(self, OsipMessage subscribe not None):
        """Send an initial SUBSCRIBE or REFER built by :class:`~exosip2.subscribe.InitialSubscribe`
        or :class:`~exosip2.subscribe.InitialRefer` (``eXosip_subscription_send_initial_request``).

        :returns: the subscription id (sid, int).
        """
        from exosip2 import subscribe as _subscribe
        return _subscribe.send_initial_request(self, subscribe)

    def subscription_send_refresh_request(self, did, OsipMessage subscribe not None):
        """Send a SUBSCRIBE built by :class:`~exosip2.subscribe.Refresh` in subscription dialog *did*."""
        from exosip2 import subscribe as _subscribe
        _subscribe.send_refresh_request(self, did, subscribe)

    def insubscription_send_answer(self, tid, status=None, answer=None):
        """Answer an incoming SUBSCRIBE (``eXosip_insubscription_send_answer``): a *status* (default
        answer) or an *answer* built by :class:`~exosip2.notify.Answer`."""
        from exosip2 import notify as _notify
        _notify.send_answer(self, tid, status, answer)

    def insubscription_send_request(self, did, OsipMessage request not None):
        """Send a NOTIFY (or other request) built by :class:`~exosip2.notify.Notify` in incoming
        subscription dialog *did* (``eXosip_insubscription_send_request``)."""
        from exosip2 import notify as _notify
        _notify.send_request(self, did, request)

    def publish(self, OsipMessage message not None, to_url=None):
        """Send a PUBLISH built by :class:`~exosip2.publish.Publish` for the address of record
        *to_url* (default: the message's To URI) (``eXosip_publish``).

        :returns: the transaction id (int).
        """
        from exosip2 import publish as _publish
        if to_url is None:
            to_url = getattr(message, "to_url", None)
            if to_url is None:
                raise TypeError("publish needs to_url for a message not built by exosip2.publish.Publish")
        return _publish.publish(self, message, to_url)

    def options_send_request(self, OsipMessage options not None):
        """Send an out-of-dialog OPTIONS built by :class:`~exosip2.request.Options`.

        :returns: the transaction id (int).
        """
        return self._send_ood(options, True)

    def _send_ood(self, OsipMessage msg, bint options):
        cdef eXosip_t *p = self._enter()
        cdef osip_message_t *m
        cdef int rc
        try:
            if options:
                m = self._take(msg, True, ("OPTIONS",), (), "options_send_request")
            else:
                m = self._take(msg, True, (), _NOT_OUT_OF_DIALOG, "message_send_request")
        except BaseException:
            self._leave()
            raise
        with nogil:
            context_lock(p)
            if options:
                rc = eXosip_options_send_request(p, m)
            else:
                rc = eXosip_message_send_request(p, m)
            context_unlock(p)
        self._leave()
        return check(rc, b"eXosip_options_send_request" if options else b"eXosip_message_send_request")

    def message_send_answer(self, tid=None, status=None, answer=None):
        """Answer an out-of-dialog request (MESSAGE and others but OPTIONS); arguments as :meth:`call_send_answer`."""
        self._send_answer(tid, status, answer, _ANSWER_MESSAGE, "message_send_answer")

    def options_send_answer(self, tid=None, status=None, answer=None):
        """Answer an out-of-dialog OPTIONS; arguments as :meth:`call_send_answer`."""
        self._send_answer(tid, status, answer, _ANSWER_OPTIONS, "options_send_answer")

    cdef int _send_answer(self, tid, status, answer, int kind, str caller, object reference=None) except -1:
        # The one path of call_send_answer, message_send_answer and options_send_answer:
        # an Answer object, or tid and status for a default answer; reference: see call_send_answer.
        cdef eXosip_t *p
        cdef osip_message_t *m = NULL
        cdef int ctid, cstatus, rc
        cdef int ccid = 0
        if answer is not None:
            if not isinstance(answer, OsipMessage):
                raise TypeError("%s: answer must be an OsipMessage (an Answer), not %s"
                                % (caller, type(answer).__name__))
            ctid = _int_attr(tid if tid is not None else getattr(answer, "tid", None), "tid",
                             "%s needs tid= with an answer that was not built for a transaction" % caller)
            cstatus = 0
        else:
            if tid is None or status is None:
                raise OsipBadParameter("%s needs tid and status, or answer" % caller)
            ctid = tid
            cstatus = status
            if kind == _ANSWER_CALL and cstatus == 100:
                raise OsipBadParameter("%s: 100 Trying is sent by the SIP stack itself as soon as the INVITE "
                                       "arrives; answer with a status in 101..699 (180 Ringing, 183, "
                                       "200 OK, 3xx-6xx)" % caller)
            if not 101 <= cstatus <= 699:
                raise OsipBadParameter("%s: status must be in 101..699 (1xx provisional, 2xx-6xx final), "
                                       "not %d" % (caller, cstatus))
        if reference is not None:
            ccid = self._invite_cids.get(ctid, 0)
            if ccid <= 0:
                raise OsipNotFound("%s: reference= attaches to the call whose INVITE is answered; tid %d is "
                                   "not the INVITE of an incoming call of this context (use "
                                   "set_call_reference(cid, reference) for any other)" % (caller, ctid))
        p = self._enter()
        try:
            if answer is not None:
                m = self._take(answer, False, (), (), caller)
                cstatus = m.status_code
        except BaseException:
            self._leave()
            raise
        # With a reference (as in call_send_init_invite) the lock is held from the send to the store.
        if ccid > 0:
            self._ref_sends += 1
        try:
            with nogil:
                context_lock(p)
                rc = 0
                if kind == _ANSWER_CALL and m == NULL:
                    # Built here: eXosip2 5.3 has no default answer to a non-INVITE request of a call
                    # (OSIP_BADPARAMETER); a 2xx to INVITE still needs the body the program builds.
                    rc = eXosip_call_build_answer(p, ctid, cstatus, &m)
                    if rc == 0 and 200 <= cstatus <= 299 and m.cseq != NULL and m.cseq.method != NULL \
                            and osip_strcasecmp(m.cseq.method, b"INVITE") == 0:
                        osip_message_free(m)
                        m = NULL
                        rc = OSIP_BADPARAMETER
                if rc == 0:
                    if kind == _ANSWER_CALL:
                        rc = eXosip_call_send_answer(p, ctid, cstatus, m)
                    elif kind == _ANSWER_OPTIONS:
                        rc = eXosip_options_send_answer(p, ctid, cstatus, m)
                    else:
                        rc = eXosip_message_send_answer(p, ctid, cstatus, m)
            try:
                if ccid > 0 and rc == 0:
                    self._refs[ccid] = reference
            finally:
                context_unlock(p)
        finally:
            if ccid > 0:
                self._ref_sends -= 1
        self._leave()
        check(rc, b"eXosip_call_send_answer" if kind == _ANSWER_CALL else
              b"eXosip_options_send_answer" if kind == _ANSWER_OPTIONS else b"eXosip_message_send_answer")
        return 0

    # --- digest credentials (eXosip_*_authentication_info) ------------------------------------

    def add_authentication_info(self, user_name, user_id, password, realm, ha1=None):
        """Store credentials that answer a 401/407 challenge (``eXosip_add_authentication_info``).

        They are used by the automatic actions (:meth:`automatic_action`, run
        by the event loop) when a request comes back with a challenge.

        :param user_name: the user they belong to (str).
        :param user_id: the name sent in the credentials, usually the same (None: *user_name*).
        :param password: the password (str); may be None when *ha1* is given.
        :param realm: the realm they answer, or None (or "") for any realm without an entry of its own.
        :param ha1: instead of the password, MD5(user_id:realm:password) as 32 hex digits.
        :raises TypeError: for arguments of the wrong type.
        :raises ValueError: for an empty user name, or neither password nor ha1.
        """
        cdef bytes bname = _auth_text(user_name, "user_name", False)
        cdef bytes bid = _auth_text(user_id, "user_id", True)
        cdef bytes bpass = _auth_text(password, "password", True)
        cdef bytes brealm = _auth_text(realm, "realm", True)
        cdef bytes bha1 = _auth_text(ha1, "ha1", True)
        cdef int rc
        if bpass is None and bha1 is None:
            raise ValueError("add_authentication_info needs a password (or ha1)")
        if bha1 is not None and (len(bha1) != 32 or bha1.strip(b"0123456789abcdefABCDEF")):
            raise ValueError("ha1 must be 32 hexadecimal digits")
        cdef const char *cname = c_str(bname)
        cdef const char *cid = c_str(bid)
        cdef const char *cpass = c_str(bpass)
        cdef const char *crealm = c_str(brealm)
        cdef const char *cha1 = c_str(bha1)
        cdef eXosip_t *p = self._enter()
        with nogil:
            context_lock(p)
            rc = eXosip_add_authentication_info(p, cname, cid, cpass, cha1, crealm)
            context_unlock(p)
        self._leave()
        check(rc, b"eXosip_add_authentication_info")

    def remove_authentication_info(self, user_name, realm):
        """Remove the credentials of *user_name* for *realm* (``eXosip_remove_authentication_info``).

        :param realm: exactly as given to :meth:`add_authentication_info` (None: the realm-less entry).
        :raises OsipNotFound: when there are none.
        """
        cdef bytes bname = _auth_text(user_name, "user_name", False)
        cdef bytes brealm = _auth_text(realm, "realm", True)
        cdef int rc
        cdef const char *cname = c_str(bname)
        cdef const char *crealm = c_str(brealm)
        cdef eXosip_t *p = self._enter()
        with nogil:
            context_lock(p)
            rc = eXosip_remove_authentication_info(p, cname, crealm)
            context_unlock(p)
        self._leave()
        check(rc, b"eXosip_remove_authentication_info")

    def clear_authentication_info(self):
        """Remove every credential of the context (``eXosip_clear_authentication_info``)."""
        cdef int rc
        cdef eXosip_t *p = self._enter()
        with nogil:
            context_lock(p)
            rc = eXosip_clear_authentication_info(p)
            context_unlock(p)
        self._leave()
        check(rc, b"eXosip_clear_authentication_info")

    # --- send and wait for the final answer ------------------------------------------------

    def retried_tid(self, int tid):
        """Where the request refused in transaction *tid* went on (``eXosip_core_retried_tid``).

        The automatic actions send a request refused with 401/407, 3xx or 422
        again as a new transaction with a new tid (as eXosip2 does).

        :returns: the new tid (> 0); 0 while the re-send waits for the
            automatic actions (its back-off); None when the request is not sent
            again (the refusal is final, the tid is unknown, or the link is
            older than the last 1024 re-sends; always None with an installed
            libeXosip2, which does not report it).
        """
        self._get()
        cdef int rc = _retried_tid(self, tid)
        return rc if rc >= 0 else None


    def send_and_wait(self, OsipMessage msg not None, timeout=32.0):
        """Send a request and block until its final answer, across automatic retries.

        A request refused with 401/407 (credentials stored with
        :meth:`add_authentication_info`), 3xx (out of dialog, or an initial
        INVITE), or 422 (a larger Min-SE) is sent again by the automatic actions
        as a **new transaction with a new tid** — what eXosip2 does; the
        refusal's event carries the old tid, the answers to the new request the
        new one. This method follows the request from tid to tid (the core
        reports each link: ``eXosip_core_retried_tid`` of ``eX_core.h``), so
        the challenge or redirection is not its result: it returns the event of
        the answer that ends the request — a 2xx, or a refusal the automatic
        actions do not answer (no credentials, retry budget spent), or the
        transaction's own timeout (408 with ``event.response`` None).

        *msg* is sent as its kind requires: an initial INVITE
        (:class:`~exosip2.call.InitInvite`) with :meth:`call_send_init_invite`
        (followed by its call id, which retries keep), a request built for a
        dialog (it has a ``did``) with :meth:`call_send_request`, an OPTIONS
        with :meth:`options_send_request`, any other out-of-dialog request with
        :meth:`message_send_request`. REGISTER is refused: a registration keeps
        its rid across retries (:mod:`exosip2.register`).

        Events: with the event loop running (:meth:`start`) in another thread,
        the loop delivers the events (its dispatcher shows each one to the
        waiting calls first, then hands it to ``event_callback`` as always),
        and this call only waits. Without the loop, this call takes the events
        itself, runs the automatic actions, and hands every event (its own
        ones too) to ``event_callback`` inline in the calling thread; with no
        callback set, events of other transactions are dropped. Several
        threads may wait at once. Not from the loop thread itself, nor while
        :meth:`events` is iterated.

        :param msg: the request, owned (built by this context); it is consumed.
        :param timeout: seconds to wait at most (the request may still be
            answered later; its events then reach ``event_callback`` only).
        :returns: the :class:`~exosip2.event.Event` of the final answer
            (``event.response``; for an INVITE, ``event.did``/``event.tid``
            to acknowledge a 2xx with :meth:`call_send_ack`).
        :raises OsipTimeout: (a :class:`TimeoutError`) when no final answer came
            within *timeout*; the message names the request.
        :raises OsipWrongState: from the loop thread, with :meth:`events` in
            use, or for a message that cannot be sent (borrowed, consumed).
        :raises ContextClosedError: when the context is closed while waiting.
        """
        global _n_waiting
        cdef double deadline, now, step
        cdef bint pump
        cdef eXosip_event_t *ev
        cdef eXosip_t *p
        if isinstance(timeout, bool) or not isinstance(timeout, (int, float)):
            raise TypeError("timeout must be a number of seconds, not %s" % type(timeout).__name__)
        if not timeout > 0:
            raise OsipBadParameter("timeout must be positive, not %r" % (timeout,))
        self._get()
        if self._running and self._thread is threading.current_thread():
            raise OsipWrongState("send_and_wait cannot run in the event loop thread: it would block "
                                 "the loop that delivers the answer")
        if self._lock_depth > 0 and self._lock_owner == PyThread_get_thread_ident():
            raise OsipWrongState("send_and_wait cannot run while this thread holds the context lock: "
                                 "the answer needs the lock to arrive")
        if self._aloop is not None:
            raise OsipWrongState("send_and_wait cannot run while events() is iterated; "
                                 "consume the answers there")
        method = msg.method
        if method is None:
            raise OsipBadParameter("send_and_wait sends requests; this message is a response")
        if method.upper() == "REGISTER":
            raise OsipBadParameter("send_and_wait does not send REGISTER: use exosip2.register "
                                   "(a registration keeps its rid across retries)")
        if getattr(msg, "did", None) is not None and not EXOSIP2_HAVE_CORE_SEND_REQUEST_TID:
            raise OsipWrongState("send_and_wait cannot follow a request sent inside a dialog with an installed "
                                 "libeXosip2 5.3: its eXosip_call_send_request tells no tid; send it with "
                                 "call_send_request and match the answer's event by did")
        table = _wait_tables.get(self)
        if table is None:
            table = _wait_tables.setdefault(self, _WaitTable())
        waiter = _Waiter(method)
        # Counted before the send: the dispatcher's hook must not skip the first answer.
        _n_waiting += 1
        try:
            with table.lock:
                if method == "INVITE" and getattr(msg, "did", None) is None:
                    waiter.cid = self.call_send_init_invite(msg)
                    table.by_cid[waiter.cid] = waiter
                else:
                    if getattr(msg, "did", None) is not None:
                        waiter.tid = self.call_send_request(msg)
                    elif method == "OPTIONS":
                        waiter.tid = self.options_send_request(msg)
                    else:
                        waiter.tid = self.message_send_request(msg)
                    table.by_tid[waiter.tid] = waiter
        except BaseException:
            _n_waiting -= 1
            raise
        deadline = time.monotonic() + timeout
        try:
            while not waiter.done.is_set():
                if self._ptr == NULL:
                    raise ContextClosedError("send_and_wait: the context was closed before the final answer "
                                             "to the %s (%s)" % (method, waiter.ident()))
                now = time.monotonic()
                if now >= deadline:
                    raise OsipTimeout("send_and_wait: no final answer to the %s (%s) within %gs"
                                      % (method, waiter.ident(), timeout))
                step = min(deadline - now, 0.05)
                pump = not self._running
                if pump:
                    p = self._enter()
                    with nogil:
                        ev = eXosip_event_wait(p, 0, <int>(step * 1000) + 1)
                    self._leave()
                    if ev != NULL:
                        self._dispatch(self._wrap(ev), None)
                    else:
                        self._auto()
                else:
                    waiter.done.wait(step)
                if waiter.pending is not None and not waiter.done.is_set():
                    self._auto()
                    with table.lock:
                        table.relink(self)
            return waiter.result
        finally:
            with table.lock:
                table.forget(waiter)
                _n_waiting -= 1

    async def request(self, OsipMessage msg not None, timeout=32.0):
        """Await the final answer of *msg* in asyncio: :meth:`send_and_wait` in a worker thread.

        ``final = await ctx.request(msg, timeout)`` sends *msg* and returns the
        :class:`~exosip2.event.Event` of its final answer across the automatic
        retries, as :meth:`send_and_wait` does (same arguments, same errors),
        without blocking the asyncio loop: the wait runs in the loop's default
        executor. For a program that runs :meth:`start`'s event loop, or no
        event consumer at all (the worker then takes the events, handing
        those of others to ``event_callback``); not while :meth:`events` is
        iterated, whose events the waiter would not see. Cancelling the await
        leaves the worker waiting until *timeout*.

        :raises OsipTimeout: (a :class:`TimeoutError`) when no final answer came in time.
        :raises OsipWrongState: while :meth:`events` is iterated.
        """
        import asyncio
        if self._aloop is not None:
            raise OsipWrongState("request() cannot run while events() is iterated; consume the answers there")
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(None, self.send_and_wait, msg, timeout)

# Methods a send function must not take, and where they go instead.
_NOT_IN_DIALOG = ("ACK", "CANCEL", "REGISTER")
_NOT_OUT_OF_DIALOG = ("INVITE", "ACK", "CANCEL", "REGISTER")
_WHERE_INSTEAD = {
    "ACK": "use call_send_ack",
    "CANCEL": "use call_terminate",
    "REGISTER": "use exosip2.register",
    "INVITE": "use call_send_init_invite, or call_send_request inside a dialog",
}


cdef int _int_attr(object value, str what, str missing) except? -1:
    """An id (tid, did) given as an argument or read from a message: a positive C int."""
    if value is None:
        raise OsipBadParameter(missing)
    if not isinstance(value, int) or isinstance(value, bool):
        raise TypeError("%s must be an int, not %s" % (what, type(value).__name__))
    if not 0 < value <= 0x7fffffff:
        raise OsipBadParameter("%s must be a positive id, not %d" % (what, value))
    return value


cdef bytes _auth_text(object value, str what, bint optional):
    """A credential argument as bytes (None stays None when *optional*); "" for a realm means any realm."""
    if value is None:
        if optional:
            return None
        raise TypeError("%s is required (str or bytes), not None" % what)
    if isinstance(value, str):
        value = (<str>value).encode("utf-8", "surrogateescape")
    elif not isinstance(value, bytes):
        raise TypeError("%s must be str or bytes, not %s" % (what, type(value).__name__))
    if b"\0" in <bytes>value:
        raise ValueError("%s must not contain NUL characters" % what)
    if len(<bytes>value) == 0:
        if what == "realm":
            return None
        raise ValueError("%s must not be empty" % what)
    return <bytes>value


# --- send_and_wait: waiters fed by the dispatcher --------------------------------------------

# Waiters registered in all contexts: the dispatcher's hook costs one test while it is 0.
cdef int _n_waiting = 0

# Context -> its _WaitTable (made by the first send_and_wait).
_wait_tables = weakref.WeakKeyDictionary()

# Event types that end a request without a response (the transaction timed out).
_FINAL_WITHOUT_RESPONSE = frozenset((4, 9, 10, 11, 18, 19, 20, 27, 28, 29))


class _Waiter:
    """One send_and_wait: the transaction (or call) it follows and its outcome."""

    __slots__ = ("method", "tid", "cid", "pending", "last", "result", "done")

    def __init__(self, method):
        self.method = method
        self.tid = 0          # the transaction that carries the request now (0: a call, by cid)
        self.cid = 0          # an initial INVITE: its call (retries keep it)
        self.pending = None   # the tid of a refusal whose automatic re-send is awaited
        self.last = None      # that refusal's event (the result if the re-send does not happen)
        self.result = None
        self.done = threading.Event()

    def ident(self):
        return "call %d" % self.cid if self.cid else "transaction %d" % self.tid

    def finish(self, event):
        if not self.done.is_set():
            self.result = event
            self.done.set()


class _WaitTable:
    """The waiters of one context, by tid and by cid; filled by the event dispatcher."""

    def __init__(self):
        self.lock = threading.Lock()
        self.by_tid = {}
        self.by_cid = {}
        self.pending = []

    def see(self, ctx, event):
        with self.lock:
            waiter = self.by_tid.get(event.tid)
            if waiter is None and event.cid > 0:
                waiter = self.by_cid.get(event.cid)
            if waiter is None and self.pending:
                self.relink(ctx)
                waiter = self.by_tid.get(event.tid)
            if waiter is not None:
                self.judge(ctx, waiter, event)

    def judge(self, ctx, waiter, event):
        response = event.response
        if response is None:
            if int(event.type) in _FINAL_WITHOUT_RESPONSE:
                waiter.finish(event)
            return
        status = response.status_code
        if status is None or status < 200:
            return
        if waiter.cid:
            request = event.request
            if request is None or request.method != "INVITE" or event.tid <= 0:
                return
        if status >= 300:
            following = _retried_tid(ctx, event.tid)
            if following >= 0:
                waiter.last = event
                if following == 0:
                    if waiter.pending is None:
                        self.pending.append(waiter)
                    waiter.pending = event.tid
                else:
                    self.move(waiter, following)
                return
        waiter.finish(event)

    def move(self, waiter, tid):
        """The request goes on in transaction tid (a call's waiter stays keyed by its cid)."""
        if waiter.tid:
            if self.by_tid.get(waiter.tid) is waiter:
                del self.by_tid[waiter.tid]
            waiter.tid = tid
            self.by_tid[tid] = waiter
        if waiter.pending is not None:
            waiter.pending = None
            self.pending.remove(waiter)

    def relink(self, ctx):
        """Ask the core where each awaited re-send went (or whether it was given up)."""
        for waiter in list(self.pending):
            following = _retried_tid(ctx, waiter.pending)
            if following > 0:
                self.move(waiter, following)
            elif following < 0:
                waiter.pending = None
                self.pending.remove(waiter)
                waiter.finish(waiter.last)

    def forget(self, waiter):
        if waiter.tid and self.by_tid.get(waiter.tid) is waiter:
            del self.by_tid[waiter.tid]
        if waiter.cid and self.by_cid.get(waiter.cid) is waiter:
            del self.by_cid[waiter.cid]
        if waiter.pending is not None:
            waiter.pending = None
            self.pending.remove(waiter)


cdef double _FOREVER = float("inf")


cdef double _deadline(object timeout, str caller) except? -1:
    """time.monotonic() + timeout (None: _FOREVER), refusing a timeout that is no number >= 0."""
    if timeout is None:
        return _FOREVER
    if not isinstance(timeout, (int, float)) or isinstance(timeout, bool) or not timeout >= 0:
        raise ValueError("%s: timeout must be None or a number of seconds >= 0, not %r" % (caller, timeout))
    return time.monotonic() + timeout


cdef int _retried_tid(Context ctx, int tid) except? -100:
    """eXosip_core_retried_tid: > 0 the new tid, 0 re-send awaited, < 0 not sent again."""
    cdef eXosip_t *p = ctx._ptr
    cdef int rc
    if p == NULL or tid <= 0:
        return -1
    with nogil:
        rc = eXosip_core_retried_tid(p, tid)
    return rc


cdef int _waiters_see(Context ctx, Event event) except -1:
    table = _wait_tables.get(ctx)
    if table is not None:
        table.see(ctx, event)
    return 0


async def _sleep0():
    """Let the asyncio loop run its ready callbacks once (asyncio.sleep(0) without the import)."""
    await _YIELD


class _Yield:
    def __await__(self):
        yield


_YIELD = _Yield()


def _wake(waiter):
    if not waiter.done():
        waiter.set_result(None)


_trace_drain = None


def _drain_trace(context):
    # The event loop's one call into exosip2.trace (imported on first use: it cimports this module).
    global _trace_drain
    try:
        if _trace_drain is None:
            from exosip2.trace import drain
            _trace_drain = drain
        _trace_drain(context, False)
    except Exception:
        _log.exception("tracing failed on %r", context)


def _run_callback(callback, context, event):
    try:
        callback(context, event)
    except Exception:
        _log.exception("event callback failed on %r", event)


def _run_then_forget(callback, context, event):
    # A user-given executor: the call's reference goes once its call_released callback returned.
    try:
        _run_callback(callback, context, event)
    finally:
        (<Context>context)._forget_call(event)


# Pools made by _KeyedSerial (their threads are named exosip2-event-N_M).
cdef int _pools_made = 0

# How many events of one key a runner handles in a row before it puts the key back at the end of
# the ready queue, behind the other keys (a flood of in-dialog requests on one call cannot hold a
# thread for ever).
cdef int _SERIAL_BATCH = 16

# A runner of the default executor that finds nothing to do waits this long (seconds) for the next
# event before it gives its pool thread back; and it hands over to a fresh pool task after this
# many units of work, so that a pool that is being shut down (at interpreter exit too) sees its
# threads come back in bounded time even while events keep coming.
cdef double _LINGER = 0.05
cdef int _RUNNER_UNITS = 1024

# Room for the wake-ups the loop thread defers (_KeyedSerial._posts): the pool's largest size.
cdef enum:
    _MAX_POSTS = 32

# The key of an event without cid, rid, sid or nid in the ready queue of _KeyedSerial.
cdef long long _NO_KEY = -1

cdef extern from "pythread.h" nogil:
    int _lock_timed "PyThread_acquire_lock_timed"(PyThread_type_lock lock, long long microseconds,
                                                  int intr_flag)


@cython.final
cdef class _Parking:
    """Where one runner of _KeyedSerial waits to be woken: a lock held until someone wakes it
    (released without the GIL, so the loop thread can wake a runner from inside its nogil wait)."""

    def __cinit__(self):
        self._lock = PyThread_allocate_lock()
        if self._lock == NULL:
            raise MemoryError()
        PyThread_acquire_lock(self._lock, WAIT_LOCK)

    def __dealloc__(self):
        if self._lock != NULL:
            PyThread_free_lock(self._lock)

    cdef bint wait(self, double seconds):
        cdef int r
        cdef long long us = <long long>(seconds * 1e6)
        with nogil:
            r = _lock_timed(self._lock, us, 0)
        return r == PY_LOCK_ACQUIRED


cdef class _KeyedSerial:
    """The default executor of :meth:`Context.start`: a thread pool that keeps each call's order.

    An event is keyed by its cid, else its rid, else its sid, else its nid. Work waits in one
    ready queue, as units: a key (its events run one after another, in order) or one event without
    a key. Pool tasks ("runners") take units from that queue; a runner that finds it empty waits a
    little (_LINGER) for the next event instead of ending, so a stream of events costs one
    wake-up of a waiting runner per burst, not a pool task (future, work item, pool thread
    wake-up) per event. Different keys still run in parallel: a runner that takes a unit while
    others wait and no other runner is free wakes (or starts) one more, up to the pool's size.
    Per key there is at most one unit, queued or running; the events that come meanwhile wait in
    a FIFO of that key, and the key is forgotten as soon as nothing waits. Only the loop thread
    calls dispatch().
    """

    def __init__(self):
        global _pools_made
        _pools_made += 1
        self._prefix = "exosip2-event-%d" % _pools_made
        # ThreadPoolExecutor's own default size, spelled out so the runners know it
        self._max = min(_MAX_POSTS, (os.cpu_count() or 1) + 4)
        self._pool = concurrent.futures.ThreadPoolExecutor(max_workers=self._max,
                                                           thread_name_prefix=self._prefix)
        self._submit = self._pool.submit
        self._queues = {}
        self._mutex = threading.Lock()
        self._idle = threading.Condition(self._mutex)
        self._loose = 0
        self._waiting = 0
        self._ready = collections.deque()
        self._sleepers = []
        self._runners = 0
        self._sleeping = 0
        self._busy = 0
        self._closed = False

    def shutdown(self, wait=True):
        """Shut the pool down (the events already accepted still run)."""
        with self._mutex:
            self._closed = True
            # waiting runners end now (after the units still queued)
            while self._sleeping > 0:
                self._sleeping -= 1
                PyThread_release_lock((<_Parking>self._sleepers.pop())._lock)
        self._pool.shutdown(wait=wait)

    cdef void _flush(self) noexcept nogil:
        # The loop thread, before it waits (or may block): wake the runners dispatch() chose.
        cdef int i
        for i in range(self._nposts):
            PyThread_release_lock(self._posts[i])
        self._nposts = 0

    def in_worker(self):
        """True in one of the pool's threads."""
        return threading.current_thread().name.startswith(self._prefix + "_")

    def wait_idle(self, double deadline):
        """Wait until no task is queued or running, at most until *deadline*; True if none is."""
        cdef double left
        with self._idle:
            self._waiting += 1
            try:
                while self._queues or self._loose:
                    left = deadline - time.monotonic()
                    if left <= 0:
                        return False
                    self._idle.wait(None if deadline == _FOREVER else left)
            finally:
                self._waiting -= 1
        return True

    cdef int _more(self, object context, bint defer) except -1:
        # _mutex held: one more runner for the ready queue: wake a waiting one, else start one
        # (unless the pool is full, or shut down: then the runners that exist take it in turn).
        # With defer (the loop thread), the wake-up waits for _flush: woken at once, the runner
        # would only preempt the loop thread and then wait for the GIL it still holds.
        cdef _Parking parked
        if self._sleeping > 0:
            # the runner that waited last: its thread is the warmest, and the others, left
            # waiting, give their threads back once a quiet spell outlasts their wait
            self._sleeping -= 1
            parked = self._sleepers.pop()
            if defer and self._nposts < _MAX_POSTS:
                self._posts[self._nposts] = parked._lock
                self._nposts += 1
            else:
                PyThread_release_lock(parked._lock)
        elif self._runners < self._max and not self._closed:
            self._runners += 1
            try:
                self._submit(self._run, context)
            except BaseException:
                self._runners -= 1
                raise
        return 0

    cdef int dispatch(self, object context, object callback, Event event) except -1:
        cdef eXosip_event_t *ev = event._ptr
        cdef long long key
        if ev.cid > 0:
            key = <long long>ev.cid * 4
        elif ev.rid > 0:
            key = <long long>ev.rid * 4 + 1
        elif ev.sid > 0:
            key = <long long>ev.sid * 4 + 2
        elif ev.nid > 0:
            key = <long long>ev.nid * 4 + 3
        else:
            key = _NO_KEY
        item = (callback, event)
        with self._mutex:
            if self._closed:
                raise RuntimeError("the executor is shut down")
            if key != _NO_KEY and key in self._queues:
                waiting = self._queues[key]
                if waiting is None:
                    waiting = self._queues[key] = collections.deque()
                waiting.append(item)
                return 0
            # a new unit: it needs a runner unless one is free (between two units) to take it
            if self._runners - self._busy - self._sleeping <= len(self._ready):
                self._more(context, True)
            if key == _NO_KEY:
                self._loose += 1
            else:
                self._queues[key] = None
            self._ready.append((key, item))
        return 0

    def _run(self, context):
        """A pool task: take units from the ready queue until it stays empty for _LINGER seconds."""
        cdef int units = 0
        cdef int n
        cdef long long key
        mutex = self._mutex
        ready = self._ready
        cdef _Parking me = _Parking()
        sleepers = self._sleepers
        dropped = None
        unit = None
        while True:
            with mutex:
                if units >= _RUNNER_UNITS:
                    # hand over to a fresh task, so the pool gets its thread back in bounded time
                    self._runners -= 1
                    if not ready:
                        return
                    try:
                        self._more(context, False)
                        return
                    except RuntimeError:
                        # shut down (the interpreter exits): what waits has no taker any more
                        self._closed = True
                        dropped = []
                        for key, item in ready:
                            dropped.append(item)
                            if key == _NO_KEY:
                                self._loose -= 1
                            else:
                                waiting = self._queues.pop(key)
                                if waiting:
                                    dropped.extend(waiting)
                        ready.clear()
                        waiting = None
                        if self._waiting and not self._queues and not self._loose:
                            self._idle.notify_all()
                if dropped is not None:
                    break
                if not ready:
                    if self._closed:
                        self._runners -= 1
                        return
                    sleepers.append(me)
                    self._sleeping += 1
                    unit = None
                else:
                    unit = ready.popleft()
                    self._busy += 1
                    if ready and self._runners - self._busy - self._sleeping <= 0:
                        try:
                            self._more(context, False)
                        except RuntimeError:
                            pass   # the pool is shut down: this runner takes the rest in turn
            if unit is None:
                if not me.wait(_LINGER):
                    with mutex:
                        if me in sleepers:
                            sleepers.remove(me)
                            self._sleeping -= 1
                            self._runners -= 1
                            return
                    # taken off the list just as the wait ended: the wake-up is on its way (the
                    # loop thread releases it before its next wait and as it ends, shutdown() at
                    # once); wait for it, since the lock must outlive that release
                    while not me.wait(1.0):
                        pass
                continue
            units += 1
            key, item = unit
            unit = None
            if key == _NO_KEY:
                callback, event = item
                item = None
                try:
                    callback(context, event)
                except BaseException:
                    _log.exception("event callback failed on %r", event)
                (<Context>context)._forget_call(event)
                callback = event = None
                with mutex:
                    self._busy -= 1
                    self._loose -= 1
                    if self._waiting and not self._loose and not self._queues:
                        self._idle.notify_all()
                continue
            n = 0
            while True:
                callback, event = item
                try:
                    callback(context, event)
                except BaseException:
                    _log.exception("event callback failed on %r", event)
                (<Context>context)._forget_call(event)
                item = event = callback = None
                n += 1
                with mutex:
                    waiting = self._queues[key]
                    if not waiting:
                        del self._queues[key]
                        self._busy -= 1
                        if self._waiting and not self._queues and not self._loose:
                            self._idle.notify_all()
                        break
                    item = waiting.popleft()
                    if n >= _SERIAL_BATCH and ready:
                        # other units wait: this key goes behind them
                        ready.append((key, item))
                        item = None
                        self._busy -= 1
                        break
                waiting = None
        for item in dropped:
            _log.debug("event %r dropped: the executor is shut down", item[1])
            (<Context>context)._forget_call(item[1])


@cython.final
cdef class ContextLock:
    """The lock of a :class:`Context` (``eXosip_lock``): get it from :attr:`Context.lock`.

    ``acquire()``/``release()`` or ``with ctx.lock:``; re-entrant within a
    thread; waiting for it releases the GIL.
    """

    def __init__(self, *args, **kwargs):
        """Not for direct use: use Context.lock.

        :raises TypeError: always.
        """
        raise TypeError("use Context.lock rather than making a ContextLock")

    @property
    def context(self):
        """The :class:`Context` this lock belongs to."""
        return self._context

    def acquire(self):
        """Lock the context."""
        self._context.lock_acquire()

    def release(self):
        """Unlock the context."""
        self._context.lock_release()

    def locked(self):
        """True if some thread holds the lock."""
        return self._context.locked

    def __enter__(self):
        self._context.lock_acquire()
        return self

    def __exit__(self, *exc):
        self._context.lock_release()


@atexit.register
def _close_all_at_exit():
    for ctx in list(_open_contexts):
        try:
            ctx.close()
        except Exception:
            pass
