# SPDX-License-Identifier: Apache-2.0
"""Outgoing subscriptions: SUBSCRIBE and REFER (eXosip2's ``eX_subscribe.h``).

* :class:`InitialSubscribe` builds a SUBSCRIBE for an event package
  (``eXosip_subscription_build_initial_subscribe``); :meth:`~InitialSubscribe.send`
  returns the subscription id (sid).
* :class:`InitialRefer` builds a REFER outside dialogs, whose implicit
  subscription is handled the same way.
* :class:`Refresh` builds the next SUBSCRIBE inside a subscription's dialog
  (``expires=0`` ends it); :func:`remove` forgets a subscription.

The notifier's answers arrive as ``EventType.subscription_*`` events and each
NOTIFY as ``EventType.subscription_notify`` (the core answers it 200), with
:attr:`Event.sid <exosip2.event.Event.sid>`, ``did``, ``ss_status`` and
``ss_reason``. Refreshes before expiry and answers to 401/407 are sent by the
context's automatic actions, which the event loop runs.
"""

cimport cython

from exosip2.context cimport Context, context_lock, context_unlock
from exosip2.error cimport check
from exosip2.error import bad_uri_error
from exosip2.includes.eX_setup cimport eXosip_t
from exosip2.includes.eX_subscribe cimport (
    eXosip_subscription_build_initial_refer, eXosip_subscription_build_initial_subscribe,
    eXosip_subscription_build_refresh_request, eXosip_subscription_remove,
    eXosip_subscription_send_initial_request, eXosip_subscription_send_refresh_request,
)
from exosip2.includes.osip_parser cimport osip_message_t, osip_message_replace_header
from exosip2.message cimport ExosipMessage, OsipMessage, c_str as _c, text_arg as _arg

__all__ = ["InitialSubscribe", "InitialRefer", "Refresh", "remove"]


cdef int _check_int(object value, str what, int low) except? -1:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError("%s must be an int, not %s" % (what, type(value).__name__))
    if not low <= value <= 0x7fffffff:
        raise ValueError("%s must be in %d..%d, not %d" % (what, low, 0x7fffffff, value))
    return <int>value


def send_initial_request(Context context not None, OsipMessage message not None):
    """Send an initial SUBSCRIBE or REFER (``eXosip_subscription_send_initial_request``).

    :returns: the subscription id (sid, int > 0).
    """
    cdef eXosip_t *p = context._enter()
    cdef osip_message_t *m
    cdef int rc
    try:
        m = context._take(message, True, ("SUBSCRIBE", "REFER"), (), "subscription_send_initial_request")
    except BaseException:
        context._leave()
        raise
    with nogil:
        context_lock(p)
        rc = eXosip_subscription_send_initial_request(p, m)
        context_unlock(p)
    context._leave()
    return check(rc, b"eXosip_subscription_send_initial_request")


def send_refresh_request(Context context not None, did, OsipMessage message not None):
    """Send a SUBSCRIBE built by :class:`Refresh` (``eXosip_subscription_send_refresh_request``)."""
    cdef int cdid = _check_int(did, "did", 1)
    cdef eXosip_t *p = context._enter()
    cdef osip_message_t *m
    cdef int rc
    try:
        m = context._take(message, True, ("SUBSCRIBE", "REFER"), (), "subscription_send_refresh_request")
    except BaseException:
        context._leave()
        raise
    with nogil:
        context_lock(p)
        rc = eXosip_subscription_send_refresh_request(p, cdid, m)
        context_unlock(p)
    context._leave()
    check(rc, b"eXosip_subscription_send_refresh_request")


def remove(Context context not None, did):
    """Forget the outgoing subscription of dialog *did*; nothing is sent (``eXosip_subscription_remove``).

    :raises ~exosip2.error.OsipNotFound: when there is no such subscription.
    """
    cdef int cdid = _check_int(did, "did", 1)
    cdef eXosip_t *p = context._enter()
    cdef int rc
    with nogil:
        context_lock(p)
        rc = eXosip_subscription_remove(p, cdid)
        context_unlock(p)
    context._leave()
    check(rc, b"eXosip_subscription_remove")


@cython.no_gc_clear
cdef class InitialSubscribe(ExosipMessage):
    """An initial SUBSCRIBE (``eXosip_subscription_build_initial_subscribe``).

    :param context: the :class:`~exosip2.context.Context`.
    :param to_url: the resource subscribed to (``sip:bob@example.org``).
    :param from_url: the subscriber.
    :param event: the event package (``"presence"``, ``"dialog"``, ...).
    :param expires: the lifetime asked for, in seconds (0: fetch the state once).
    :param route: an optional Route (``<sip:proxy;lr>``).
    """
    cdef readonly object to_url, from_url, event, route
    cdef readonly int expires

    def __init__(self, Context context not None, to_url, from_url, event, expires=3600, route=None):
        cdef bytes to = _arg(to_url, "to_url"), frm = _arg(from_url, "from_url")
        cdef bytes ev = _arg(event, "event"), rt = _arg(route, "route", True)
        cdef int cexp = _check_int(expires, "expires", 0)
        cdef osip_message_t *m = NULL
        cdef int rc
        cdef const char *cto = _c(to)
        cdef const char *cfrm = _c(frm)
        cdef const char *cev = _c(ev)
        cdef const char *crt = _c(rt)
        cdef eXosip_t *p = context._enter()
        with nogil:
            context_lock(p)
            rc = eXosip_subscription_build_initial_subscribe(p, &m, cto, cfrm, crt, cev, cexp)
            context_unlock(p)
        context._leave()
        if rc < 0 and m == NULL:
            raise bad_uri_error("InitialSubscribe", rc, "eXosip_subscription_build_initial_subscribe",
                                to_url=to_url, from_url=from_url, route=route)
        self._adopt(context, rc, m, b"eXosip_subscription_build_initial_subscribe")
        self.to_url = to_url
        self.from_url = from_url
        self.event = event
        self.route = route
        self.expires = cexp

    def send(self):
        """Send the SUBSCRIBE; returns the subscription id (sid)."""
        return send_initial_request(<Context>self._context, self)


@cython.no_gc_clear
cdef class InitialRefer(ExosipMessage):
    """A REFER outside dialogs (``eXosip_subscription_build_initial_refer``).

    :param refer_to: the target the peer is asked to contact (Refer-To).

    Other parameters as :class:`InitialSubscribe`.
    """
    cdef readonly object to_url, from_url, refer_to, route

    def __init__(self, Context context not None, to_url, from_url, refer_to, route=None):
        cdef bytes to = _arg(to_url, "to_url"), frm = _arg(from_url, "from_url")
        cdef bytes rf = _arg(refer_to, "refer_to"), rt = _arg(route, "route", True)
        cdef osip_message_t *m = NULL
        cdef int rc
        cdef const char *cto = _c(to)
        cdef const char *cfrm = _c(frm)
        cdef const char *crf = _c(rf)
        cdef const char *crt = _c(rt)
        cdef eXosip_t *p = context._enter()
        with nogil:
            context_lock(p)
            rc = eXosip_subscription_build_initial_refer(p, &m, cto, cfrm, crt, crf)
            context_unlock(p)
        context._leave()
        if rc < 0 and m == NULL:
            raise bad_uri_error("InitialRefer", rc, "eXosip_subscription_build_initial_refer",
                                to_url=to_url, from_url=from_url, route=route)
        self._adopt(context, rc, m, b"eXosip_subscription_build_initial_refer")
        self.to_url = to_url
        self.from_url = from_url
        self.refer_to = refer_to
        self.route = route

    def send(self):
        """Send the REFER; returns the subscription id (sid)."""
        return send_initial_request(<Context>self._context, self)


@cython.no_gc_clear
cdef class Refresh(ExosipMessage):
    """The next SUBSCRIBE of subscription dialog *did* (``eXosip_subscription_build_refresh_request``).

    :param expires: a new lifetime in seconds (0 unsubscribes), or None to keep the last one.
    :raises ~exosip2.error.OsipNotFound: when *did* is not a subscription's dialog.
    :raises ~exosip2.error.OsipWrongState: while a SUBSCRIBE of it is in flight.
    """
    cdef readonly int did

    def __init__(self, Context context not None, did, expires=None):
        cdef int cdid = _check_int(did, "did", 1)
        cdef bytes bexp = None
        cdef osip_message_t *m = NULL
        cdef int rc
        cdef eXosip_t *p
        if expires is not None:
            bexp = str(_check_int(expires, "expires", 0)).encode("ascii")
        p = context._enter()
        with nogil:
            context_lock(p)
            rc = eXosip_subscription_build_refresh_request(p, cdid, &m)
            context_unlock(p)
        context._leave()
        if rc >= 0 and m != NULL and bexp is not None:
            osip_message_replace_header(m, b"Expires", bexp)
        self._adopt(context, rc, m, b"eXosip_subscription_build_refresh_request")
        self.did = cdid

    def send(self):
        """Send the SUBSCRIBE in the subscription's dialog."""
        send_refresh_request(<Context>self._context, self.did, self)
