# SPDX-License-Identifier: Apache-2.0
"""Incoming subscriptions: answering SUBSCRIBE and sending NOTIFY (eXosip2's ``eX_subscribe.h``).

A SUBSCRIBE outside dialogs arrives as ``EventType.in_subscription_new`` with
its ``tid``, the subscription's dialog ``did`` and ``nid``; a refresh comes
the same way, on the same did. Answer it with :class:`Answer` (or
:meth:`Context.insubscription_send_answer
<exosip2.context.Context.insubscription_send_answer>`), then send NOTIFYs built
by :class:`Notify`; their answers are ``EventType.notification_*`` events.
When the subscription's Expires runs out, the context's automatic actions send
the final NOTIFY (``terminated;reason=timeout``) and forget it.
"""

cimport cython

import enum

from exosip2.context cimport Context, context_lock, context_unlock
from exosip2.error cimport check
from exosip2.includes.eX_setup cimport eXosip_t
from exosip2.includes.eX_subscribe cimport (
    eXosip_insubscription_build_answer, eXosip_insubscription_build_notify, eXosip_insubscription_build_request,
    eXosip_insubscription_remove, eXosip_insubscription_send_answer, eXosip_insubscription_send_request,
)
from exosip2.includes.osip_parser cimport osip_message_t
from exosip2.message cimport ExosipMessage, OsipMessage, c_str as _c, text_arg as _arg

__all__ = ["SubscriptionState", "SubscriptionReason", "Answer", "Notify", "Request", "remove"]


class SubscriptionState(enum.IntEnum):
    """The state in a Subscription-State header (eXosip2's ``enum eXosip_ss``)."""
    unknown = 0
    pending = 1
    active = 2
    terminated = 3


class SubscriptionReason(enum.IntEnum):
    """Why a subscription was terminated (eXosip2's ``enum eXosip_ss_reason``)."""
    deactivated = 0
    probation = 1
    rejected = 2
    timeout = 3
    giveup = 4
    noresource = 5


cdef int _check_int(object value, str what, int low, int high) except? -1:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError("%s must be an int, not %s" % (what, type(value).__name__))
    if not low <= value <= high:
        raise ValueError("%s must be in %d..%d, not %d" % (what, low, high, value))
    return <int>value


def send_answer(Context context not None, tid, status=None, OsipMessage answer=None):
    """Answer the SUBSCRIBE of transaction *tid* (``eXosip_insubscription_send_answer``).

    Give either *status* (a default answer is built) or an *answer* built by :class:`Answer`.
    """
    cdef int ctid = _check_int(tid, "tid", 1, 0x7fffffff)
    cdef int cstatus = 0
    cdef eXosip_t *p
    cdef osip_message_t *m = NULL
    cdef int rc
    if answer is None and status is None:
        raise TypeError("insubscription_send_answer needs a status or an answer")
    if status is not None:
        cstatus = _check_int(status, "status", 101, 699)
    p = context._enter()
    try:
        if answer is not None:
            m = context._take(answer, False, (), (), "insubscription_send_answer")
            cstatus = m.status_code
    except BaseException:
        context._leave()
        raise
    with nogil:
        context_lock(p)
        rc = eXosip_insubscription_send_answer(p, ctid, cstatus, m)
        context_unlock(p)
    context._leave()
    check(rc, b"eXosip_insubscription_send_answer")


def send_request(Context context not None, did, OsipMessage request not None):
    """Send a request built by :class:`Notify` or :class:`Request` (``eXosip_insubscription_send_request``)."""
    cdef int cdid = _check_int(did, "did", 1, 0x7fffffff)
    cdef eXosip_t *p = context._enter()
    cdef osip_message_t *m
    cdef int rc
    try:
        m = context._take(request, True, (), ("INVITE", "ACK", "CANCEL", "REGISTER"), "insubscription_send_request")
    except BaseException:
        context._leave()
        raise
    with nogil:
        context_lock(p)
        rc = eXosip_insubscription_send_request(p, cdid, m)
        context_unlock(p)
    context._leave()
    check(rc, b"eXosip_insubscription_send_request")


def remove(Context context not None, did):
    """Forget the incoming subscription of dialog *did*; nothing is sent (``eXosip_insubscription_remove``)."""
    cdef int cdid = _check_int(did, "did", 1, 0x7fffffff)
    cdef eXosip_t *p = context._enter()
    cdef int rc
    with nogil:
        context_lock(p)
        rc = eXosip_insubscription_remove(p, cdid)
        context_unlock(p)
    context._leave()
    check(rc, b"eXosip_insubscription_remove")


@cython.no_gc_clear
cdef class Answer(ExosipMessage):
    """An answer to the SUBSCRIBE of transaction *tid* (``eXosip_insubscription_build_answer``).

    A 2xx carries a Contact and the Expires granted.
    """
    cdef readonly int tid, status

    def __init__(self, Context context not None, tid, status):
        cdef int ctid = _check_int(tid, "tid", 1, 0x7fffffff)
        cdef int cstatus = _check_int(status, "status", 101, 699)
        cdef osip_message_t *m = NULL
        cdef int rc
        cdef eXosip_t *p = context._enter()
        with nogil:
            context_lock(p)
            rc = eXosip_insubscription_build_answer(p, ctid, cstatus, &m)
            context_unlock(p)
        context._leave()
        self._adopt(context, rc, m, b"eXosip_insubscription_build_answer")
        self.tid = ctid
        self.status = cstatus

    def send(self):
        """Send the answer."""
        send_answer(<Context>self._context, self.tid, None, self)


@cython.no_gc_clear
cdef class Notify(ExosipMessage):
    """A NOTIFY in incoming subscription *did* (``eXosip_insubscription_build_notify``).

    :param state: a :class:`SubscriptionState` (pending and active carry the
        seconds left; terminated carries *reason*).
    :param reason: a :class:`SubscriptionReason` for a terminated state
        (None: the core writes ``noresource``).

    The Event header is the SUBSCRIBE's. Add a body with :meth:`set_body`
    before :meth:`send`.
    """
    cdef readonly int did
    cdef readonly object state, reason

    def __init__(self, Context context not None, did, state, reason=None):
        cdef int cdid = _check_int(did, "did", 1, 0x7fffffff)
        cdef int cstate = _check_int(state, "state", 0, 3)
        cdef int creason = -1 if reason is None else _check_int(reason, "reason", 0, 5)
        cdef osip_message_t *m = NULL
        cdef int rc
        cdef eXosip_t *p = context._enter()
        with nogil:
            context_lock(p)
            rc = eXosip_insubscription_build_notify(p, cdid, cstate, creason, &m)
            context_unlock(p)
        context._leave()
        self._adopt(context, rc, m, b"eXosip_insubscription_build_notify")
        self.did = cdid
        self.state = SubscriptionState(cstate)
        self.reason = None if reason is None else SubscriptionReason(creason)

    def send(self):
        """Send the NOTIFY (one at a time per subscription)."""
        send_request(<Context>self._context, self.did, self)


@cython.no_gc_clear
cdef class Request(ExosipMessage):
    """Another request in incoming subscription *did* (``eXosip_insubscription_build_request``)."""
    cdef readonly int did
    cdef readonly str method_name

    def __init__(self, Context context not None, did, method):
        cdef int cdid = _check_int(did, "did", 1, 0x7fffffff)
        cdef bytes meth = _arg(method, "method")
        cdef const char *cmeth = _c(meth)
        cdef osip_message_t *m = NULL
        cdef int rc
        cdef eXosip_t *p = context._enter()
        with nogil:
            context_lock(p)
            rc = eXosip_insubscription_build_request(p, cdid, cmeth, &m)
            context_unlock(p)
        context._leave()
        self._adopt(context, rc, m, b"eXosip_insubscription_build_request")
        self.did = cdid
        self.method_name = meth.decode("ascii", "replace")

    def send(self):
        """Send the request in the subscription's dialog."""
        send_request(<Context>self._context, self.did, self)
