# SPDX-License-Identifier: Apache-2.0
"""eXosip2 events: what happened on a :class:`~exosip2.context.Context`.

An :class:`Event` owns one ``eXosip_event_t`` returned by
``eXosip_event_wait``; its :attr:`~Event.request`, :attr:`~Event.response`
and :attr:`~Event.ack` are :class:`~exosip2.message.OsipMessage` objects that
borrow the event's messages and keep the event alive, so they stay valid for
as long as they are referenced, whatever the event loop does meanwhile.

:class:`EventType` holds eXosip2 5.3's event types with the member names of
``exosip2ctypes`` (``EventType.call_invite == 2``).
"""

cimport cython

from exosip2._debug cimport COUNT_LIVE, LIVE_EVENT, live_add
from exosip2.includes.eXosip cimport EXOSIP_EVENT_COUNT, eXosip_event_free, eXosip_event_t
from exosip2.includes.osip_parser cimport osip_message_free, osip_message_t
from exosip2.message cimport OsipMessage

import enum

__all__ = ["Event", "EventType"]


class EventType(enum.IntEnum):
    """eXosip2 5.3's ``eXosip_event_type_t``, with exosip2ctypes' member names."""
    registration_success = 0
    registration_failure = 1
    call_invite = 2
    call_reinvite = 3
    call_noanswer = 4
    call_proceeding = 5
    call_ringing = 6
    call_answered = 7
    call_redirected = 8
    call_requestfailure = 9
    call_serverfailure = 10
    call_globalfailure = 11
    call_ack = 12
    call_cancelled = 13
    call_message_new = 14
    call_message_proceeding = 15
    call_message_answered = 16
    call_message_redirected = 17
    call_message_requestfailure = 18
    call_message_serverfailure = 19
    call_message_globalfailure = 20
    call_closed = 21
    call_released = 22
    message_new = 23
    message_proceeding = 24
    message_answered = 25
    message_redirected = 26
    message_requestfailure = 27
    message_serverfailure = 28
    message_globalfailure = 29
    subscription_noanswer = 30
    subscription_proceeding = 31
    subscription_answered = 32
    subscription_redirected = 33
    subscription_requestfailure = 34
    subscription_serverfailure = 35
    subscription_globalfailure = 36
    subscription_notify = 37
    in_subscription_new = 38
    notification_noanswer = 39
    notification_proceeding = 40
    notification_answered = 41
    notification_redirected = 42
    notification_requestfailure = 43
    notification_serverfailure = 44
    notification_globalfailure = 45


# The enum's members by value, so Event.type is a tuple lookup, not an enum call.
cdef tuple _TYPES = tuple(sorted(EventType, key=int))
assert len(_TYPES) == <int>EXOSIP_EVENT_COUNT, "EventType does not match eXosip_event_type_t"

cdef enum:
    _REQUEST = 0
    _RESPONSE = 1
    _ACK = 2


@cython.no_gc_clear
@cython.final
cdef class Event:
    """One eXosip2 event (``eXosip_event_t``), as returned by the event loop
    or :meth:`Context.event_wait <exosip2.context.Context.event_wait>`.

    Events are made by the context, never by Python code.
    """

    def __cinit__(self):
        self._ptr = NULL
        self._context = None
        self._disposed = False
        self._lent = False
        self._reference = None

    def __init__(self, *args, **kwargs):
        """Not for direct use: events come from a Context.

        :raises TypeError: always.
        """
        raise TypeError("Event objects are made by a Context (its event loop or event_wait())")

    def __dealloc__(self):
        if self._ptr != NULL:
            eXosip_event_free(self._ptr)
            self._ptr = NULL
            if COUNT_LIVE:
                live_add(LIVE_EVENT, -1)

    @staticmethod
    cdef Event from_ptr(eXosip_event_t *ptr, object context):
        cdef Event ev = Event.__new__(Event)
        ev._ptr = ptr
        ev._context = context
        if COUNT_LIVE:
            live_add(LIVE_EVENT, 1)
        return ev

    cdef object _message(self, int which):
        cdef osip_message_t *m
        if self._disposed or self._ptr == NULL:
            return None
        if which == _REQUEST:
            m = self._ptr.request
        elif which == _RESPONSE:
            m = self._ptr.response
        else:
            m = self._ptr.ack
        if m == NULL:
            return None
        self._lent = True
        return OsipMessage.from_ptr(m, False, self)

    def __repr__(self):
        if self._ptr == NULL:
            return "<Event (freed)>"
        return "<Event %s tid=%d cid=%d did=%d %r>" % (
            self.type.name if isinstance(self.type, EventType) else self.type,
            self._ptr.tid, self._ptr.cid, self._ptr.did, self.textinfo)

    @property
    def context(self):
        """The :class:`~exosip2.context.Context` the event came from."""
        return self._context

    @property
    def type(self):
        """The event type: an :class:`EventType` (a plain int for a value it does not know)."""
        cdef int t = <int>self._ptr.type
        if 0 <= t < <int>EXOSIP_EVENT_COUNT:
            return _TYPES[t]
        return t

    @property
    def textinfo(self):
        """A short text describing the event (str)."""
        return (<bytes>self._ptr.textinfo).decode("utf-8", "replace")

    @property
    def tid(self):
        """Transaction id: answer the event's request with it (int; 0 if none)."""
        return self._ptr.tid

    @property
    def did(self):
        """Dialog id (int; 0 if none)."""
        return self._ptr.did

    @property
    def cid(self):
        """Call id, unique per call (not the Call-ID header) (int; 0 if none)."""
        return self._ptr.cid

    @property
    def rid(self):
        """Registration id (int; 0 if none)."""
        return self._ptr.rid

    @property
    def sid(self):
        """Outgoing subscription id (int; 0 if none)."""
        return self._ptr.sid

    @property
    def nid(self):
        """Incoming subscription id (int; 0 if none)."""
        return self._ptr.nid

    @property
    def reference(self):
        """The Python object attached to this event's call, or None.

        Attach one with :meth:`Context.call_send_init_invite(invite, reference=obj)
        <exosip2.context.Context.call_send_init_invite>` (stored together with the send, so even
        the first answer of the call carries it) or :meth:`Context.set_call_reference
        <exosip2.context.Context.set_call_reference>` or ``call_send_answer(tid, status,
        reference=obj)`` (an incoming call, stored with the answer). Every later event of the
        call returns it, ``call_released`` included; the context drops it once that last event
        has been handled (or when the context closes), so it lives no longer than the call.
        """
        cdef int cid
        if self._reference is not None:
            return self._reference
        cid = self._ptr.cid if self._ptr != NULL else 0
        if cid <= 0 or self._context is None:
            return None
        return self._context.get_call_reference(cid)

    @property
    def ss_status(self):
        """Subscription-State of a subscription event (int)."""
        return self._ptr.ss_status

    @property
    def ss_reason(self):
        """Reason of the Subscription-State (int)."""
        return self._ptr.ss_reason

    @property
    def request(self):
        """The request of the event's transaction: a borrowed
        :class:`~exosip2.message.OsipMessage` that keeps this event alive, or None."""
        return self._message(_REQUEST)

    @property
    def response(self):
        """The latest response of the event's transaction (borrowed, as :attr:`request`), or None."""
        return self._message(_RESPONSE)

    @property
    def ack(self):
        """The ACK of a ``call_ack`` event (borrowed, as :attr:`request`), or None."""
        return self._message(_ACK)

    @property
    def disposed(self):
        """True once :meth:`dispose` was called."""
        return self._disposed

    def dispose(self):
        """Release the native event now; idempotent.

        Afterwards :attr:`request`, :attr:`response` and :attr:`ack` are None
        (the ids and :attr:`type` stay readable). Messages already taken from
        the event stay valid: in that case the native event is released when
        the last of them is gone rather than at once. Letting the event be
        collected does the same; calling this is never required.
        """
        cdef eXosip_event_t *p = self._ptr
        if self._disposed:
            return
        self._disposed = True
        if self._lent or p == NULL:
            return
        # The ids stay readable: free the messages now, the small struct in __dealloc__.
        if p.request != NULL:
            osip_message_free(p.request)
            p.request = NULL
        if p.response != NULL:
            osip_message_free(p.response)
            p.response = NULL
        if p.ack != NULL:
            osip_message_free(p.ack)
            p.ack = NULL
