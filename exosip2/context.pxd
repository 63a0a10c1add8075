# SPDX-License-Identifier: Apache-2.0

from cpython.pythread cimport PyThread_type_lock

from exosip2.includes.eX_setup cimport eXosip_t
from exosip2.includes.eXosip cimport eXosip_event_t
from exosip2.event cimport Event
from exosip2.message cimport OsipMessage
from exosip2.includes.osip_parser cimport osip_message_t


# eXosip_lock/eXosip_unlock for the binding's own calls: skipped while the calling thread holds
# the context's lock through Context.lock, since eXosip2 5.3's lock is a plain mutex.
cdef void context_lock(eXosip_t *p) noexcept nogil
cdef void context_unlock(eXosip_t *p) noexcept nogil


cdef enum:
    _ANSWER_CALL = 0
    _ANSWER_MESSAGE = 1
    _ANSWER_OPTIONS = 2


cdef class Context:
    # The native context, owned: eXosip_quit then osip_free in close() / __dealloc__.
    cdef eXosip_t *_ptr
    # The process that made it: a forked child never tears it down.
    cdef long _pid
    # Native calls in flight with the GIL released (close() waits for them).
    cdef int _busy
    # ContextLock bookkeeping: holder thread and depth.
    cdef unsigned long _lock_owner
    cdef int _lock_depth
    # The context the holder locked (released through it even while close() runs).
    cdef eXosip_t *_locked
    cdef object _event_callback
    # did -> tid of the latest answered INVITE of that dialog (for Ack(context, did)).
    cdef dict _ack_tids
    # cid -> the Python object attached to that call (call references); dropped at EXOSIP_CALL_RELEASED.
    cdef dict _refs
    # tid -> cid and cid -> tid of the INVITE of each incoming call, until its release
    # (call_send_answer(reference=) finds the call of the tid it answers).
    cdef dict _invite_cids
    cdef dict _invite_tids
    # call_send_init_invite(reference=...) calls between their send and their store (see _wrap).
    cdef int _ref_sends
    # The event loop.
    cdef bint _running
    cdef object _thread
    cdef object _executor
    cdef bint _own_executor
    cdef int _events_since_auto
    # asyncio: events drained from the event socket, futures waiting for them,
    # the loop whose reader watches the socket and how many iterators use it.
    cdef object _aqueue
    cdef list _awaiters
    cdef object _aloop
    cdef int _areaders
    # asyncio: whether the reader is registered on _aloop; when automatic actions last ran.
    cdef bint _armed
    cdef object _tick_handle
    cdef double _last_auto
    # Heap trimming after bursts: events wrapped in all, seen at the last idle check, counted
    # since the last trim; when that check ran; transactions + calls alive at the last trim.
    cdef unsigned long long _events_total
    cdef unsigned long long _trim_seen
    cdef unsigned long long _trim_pending
    cdef double _trim_checked
    cdef long _trim_held
    # close() runs (in some thread): a second close() waits for it.
    cdef bint _closing
    cdef object _user_agent
    cdef int _port
    cdef bint _tls_cert
    cdef object __weakref__

    cdef eXosip_t *_get(self) except NULL
    cdef eXosip_t *_enter(self) except NULL
    # Send an answer of a call (kind _ANSWER_CALL) or out of dialog (_ANSWER_MESSAGE, _ANSWER_OPTIONS).
    cdef int _send_answer(self, tid, status, answer, int kind, str caller, object reference=*) except -1
    cdef inline void _leave(self) noexcept:
        self._busy -= 1
    cdef Event _wrap(self, eXosip_event_t *ev)
    cdef int _auto(self) except -1
    cdef int _answer_first_challenge(self, eXosip_event_t *ev) except -1
    cdef int _idle_trim(self, bint ticked) except -1
    cdef int _dispatch(self, Event event, object executor) except -1
    # After the last event of a call (EXOSIP_CALL_RELEASED) has been handled: drop its reference.
    cdef int _forget_call(self, Event event) except -1
    cdef bint _stop_until(self, double deadline)
    cdef bint _finish_stop(self, object executor, double deadline)
    # asyncio: drain up to one batch of events from the core; arm/disarm the reader; forget the loop.
    cdef int _fill(self) except -1
    cdef int _arm(self) except -1
    cdef int _disarm(self) except -1
    cdef int _release_asyncio(self, eXosip_t *p) except -1
    # Check that msg can be sent by the function named caller (a request of one of the methods in
    # only, none of refused; or a response), then steal it; raises with a clear message otherwise.
    cdef osip_message_t *_take(self, OsipMessage msg, bint request, tuple only, tuple refused,
                               str caller) except NULL


cdef class _Parking:
    # Held until the runner that waits on it is woken.
    cdef PyThread_type_lock _lock
    cdef bint wait(self, double seconds)


cdef class _KeyedSerial:
    # The default dispatch: a thread pool that runs the events of one call (registration,
    # subscription) one after another. _queues maps a key to the (callback, event) pairs waiting
    # behind the one that runs; a key is present exactly while its unit is queued or runs.
    cdef object _pool
    cdef object _submit
    cdef dict _queues
    cdef object _mutex
    # The pool's thread name prefix; stop()/close() wait on _idle (a Condition on _mutex) while
    # _waiting > 0 for no key to be left and no task without a key (_loose) to run.
    cdef str _prefix
    cdef object _idle
    cdef int _loose
    cdef int _waiting
    # The units waiting for a runner ((key, item), key _NO_KEY for an event without one); the
    # waiting runners, last to wait at the end (each waits on its own held Lock, released to wake
    # it); runners alive, waiting for work, inside a unit; the pool's size; shut down (no new
    # event is accepted, waiting runners end).
    cdef object _ready
    cdef list _sleepers
    cdef int _runners
    cdef int _sleeping
    cdef int _busy
    cdef int _max
    cdef bint _closed
    # Locks of runners dispatch() took off _sleepers, released by _flush (the loop thread's own).
    cdef PyThread_type_lock _posts[32]
    cdef int _nposts
    cdef int _more(self, object context, bint defer) except -1
    cdef void _flush(self) noexcept nogil
    cdef int dispatch(self, object context, object callback, Event event) except -1


cdef class ContextLock:
    # A handle on the lock of one context (the lock's state lives in the Context).
    cdef object _context
