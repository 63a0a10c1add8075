# SPDX-License-Identifier: Apache-2.0

from exosip2.includes.eXosip cimport eXosip_event_t


cdef class Event:
    # The native event, owned: eXosip_event_free in __dealloc__.
    cdef eXosip_event_t *_ptr
    # The Context the event came from (kept for Event.context; the event's
    # messages are copies that do not depend on it).
    cdef object _context
    # dispose() was called: properties of messages return None.
    cdef bint _disposed
    # A borrowed message wrapper was handed out: freeing must wait for __dealloc__.
    cdef bint _lent
    # The call reference (Context.call_send_init_invite(reference=...)) seen when the event was
    # taken from the stack; None if there was none then (Event.reference then asks the context).
    cdef object _reference

    @staticmethod
    cdef Event from_ptr(eXosip_event_t *ptr, object context)

    cdef object _message(self, int which)
