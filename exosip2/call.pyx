# SPDX-License-Identifier: Apache-2.0
"""eXosip2's call API: messages that start, answer and change calls.

Each class builds one message with the matching ``eXosip_call_build_*``
function, is an :class:`~exosip2.message.ExosipMessage` (edit headers and
body before sending) and sends it with :meth:`send`:

* :class:`InitInvite` — the INVITE of a new call (``send()`` returns the cid);
* :class:`Ack` — the ACK of a 2xx to an INVITE;
* :class:`Answer` — an answer to a request of a call (INVITE, re-INVITE, INFO, ...);
* in-dialog requests, sent with :meth:`Context.call_send_request
  <exosip2.context.Context.call_send_request>` (``send()`` returns the tid; 0 with an
  installed eXosip2 5.3, which does not tell it):
  :class:`Request` (any method), :class:`ReInvite`, :class:`Info`,
  :class:`Options`, :class:`Update`, :class:`Refer`, :class:`Notify`.

Building and sending take the context lock; both may be done from any thread.

eXosip2 5.x acknowledges a 2xx by the INVITE's transaction id where
exosip2ctypes (eXosip2 4.x) named the dialog: ``Ack(context, did)`` takes the
dialog's latest answered INVITE, which the context remembers from the events
it delivered; ``Ack(context, tid=tid)`` names the transaction directly.
"""

cimport cython

from exosip2.context cimport Context, context_lock, context_unlock
from exosip2.error cimport check
from exosip2.error import bad_uri_error
from exosip2.includes.eX_call cimport *
from exosip2.includes.eX_setup cimport eXosip_t
from exosip2.includes.osip_parser cimport osip_message_t
from exosip2.message cimport ExosipMessage, OsipMessage, c_str as _c, text_arg as _arg

from exosip2.error import OsipBadParameter

__all__ = ["InitInvite", "Ack", "Answer", "Request", "ReInvite", "Info", "Options", "Update", "Refer",
           "Notify", "Prack"]


@cython.no_gc_clear
cdef class InitInvite(ExosipMessage):
    """The INVITE of a new call (``eXosip_call_build_initial_invite``).

    :param context: the :class:`~exosip2.context.Context`.
    :param to_url: the callee (``sip:bob@host``, or a To value with a display name).
    :param from_url: the caller.
    :param route: a Route for the INVITE (optional).
    :param subject: the Subject of the call (optional).
    """
    cdef readonly object to_url, from_url, route, subject

    def __init__(self, Context context not None, to_url, from_url, route=None, subject=None):
        cdef bytes to = _arg(to_url, "to_url"), frm = _arg(from_url, "from_url")
        cdef bytes rt = _arg(route, "route", True), sub = _arg(subject, "subject", True)
        cdef osip_message_t *m = NULL
        cdef int rc
        cdef const char *cto = _c(to)
        cdef const char *cfrm = _c(frm)
        cdef const char *crt = _c(rt)
        cdef const char *csub = _c(sub)
        cdef eXosip_t *p = context._enter()
        with nogil:
            context_lock(p)
            rc = eXosip_call_build_initial_invite(p, &m, cto, cfrm, crt, csub)
            context_unlock(p)
        context._leave()
        if rc < 0 and m == NULL:  # names the URI that does not parse (exosip2.error)
            raise bad_uri_error("InitInvite", rc, "eXosip_call_build_initial_invite", to_url=to_url,
                                from_url=from_url, route=route)
        self._adopt(context, rc, m, b"eXosip_call_build_initial_invite")
        self.to_url = to_url
        self.from_url = from_url
        self.route = route
        self.subject = subject

    def send(self, reference=None):
        """Send the INVITE and start the call.

        :param reference: any Python object to attach to the call, stored with the send
            (:meth:`Context.call_send_init_invite <exosip2.context.Context.call_send_init_invite>`):
            every event of the call returns it as :attr:`Event.reference
            <exosip2.event.Event.reference>`.
        :returns: the call id (cid).
        """
        return (<Context>self._context).call_send_init_invite(self, reference=reference)


@cython.no_gc_clear
cdef class Ack(ExosipMessage):
    """The ACK of a 2xx to an INVITE (``eXosip_call_build_ack``).

    :param context: the :class:`~exosip2.context.Context`.
    :param did: the dialog id: its latest answered INVITE is acknowledged.
    :param tid: the INVITE's transaction id, instead of *did* (eXosip2 5.x).
    """
    cdef readonly int did, tid

    def __init__(self, Context context not None, did=None, tid=None):
        cdef osip_message_t *m = NULL
        cdef int rc, ctid
        cdef eXosip_t *p
        if tid is None:
            if did is None:
                raise OsipBadParameter("Ack needs did or tid")
            ctid = context.ack_tid(did)
        else:
            ctid = tid
        p = context._enter()
        with nogil:
            context_lock(p)
            rc = eXosip_call_build_ack(p, ctid, &m)
            context_unlock(p)
        context._leave()
        self._adopt(context, rc, m, b"eXosip_call_build_ack")
        self.did = 0 if did is None else did
        self.tid = ctid

    def send(self):
        """Send the ACK."""
        (<Context>self._context).call_send_ack(ack=self)


@cython.no_gc_clear
cdef class Answer(ExosipMessage):
    """An answer to a request of a call (``eXosip_call_build_answer``).

    A 2xx to an INVITE carries the context's Contact; add the SDP body with
    ``add_body`` and ``content_type`` before :meth:`send`.

    :param context: the :class:`~exosip2.context.Context`.
    :param tid: the transaction to answer (``event.tid``).
    :param status: the status code (101..699).
    """
    cdef readonly int tid, status

    def __init__(self, Context context not None, int tid, int status):
        cdef osip_message_t *m = NULL
        cdef int rc
        cdef eXosip_t *p = context._enter()
        with nogil:
            context_lock(p)
            rc = eXosip_call_build_answer(p, tid, status, &m)
            context_unlock(p)
        context._leave()
        self._adopt(context, rc, m, b"eXosip_call_build_answer")
        self.tid = tid
        self.status = status

    def send(self, reference=None):
        """Send the answer.

        :param reference: to answer an incoming call's INVITE and attach any Python object to
            that call in the same step (:meth:`Context.call_send_answer
            <exosip2.context.Context.call_send_answer>`).
        """
        (<Context>self._context).call_send_answer(answer=self, reference=reference)


cdef enum:
    _GENERIC = 0
    _INFO = 1
    _OPTIONS = 2
    _UPDATE = 3


@cython.no_gc_clear
cdef class Request(ExosipMessage):
    """A request of *method* inside dialog *did* (``eXosip_call_build_request``).

    :param context: the :class:`~exosip2.context.Context`.
    :param did: the dialog id.
    :param method: the method (``"INVITE"``, ``"INFO"``, ``"MESSAGE"``, ...).
    """
    cdef readonly int did
    cdef readonly str method_name

    def __init__(self, Context context not None, int did, method):
        self._build(context, did, _arg(method, "method"), _GENERIC)

    cdef int _build(self, Context context, int did, bytes method, int kind) except -1:
        cdef osip_message_t *m = NULL
        cdef int rc
        cdef const char *cmethod = _c(method)
        cdef eXosip_t *p = context._enter()
        with nogil:
            context_lock(p)
            if kind == _INFO:
                rc = eXosip_call_build_info(p, did, &m)
            elif kind == _OPTIONS:
                rc = eXosip_call_build_options(p, did, &m)
            elif kind == _UPDATE:
                rc = eXosip_call_build_update(p, did, &m)
            else:
                rc = eXosip_call_build_request(p, did, cmethod, &m)
            context_unlock(p)
        context._leave()
        self._adopt(context, rc, m, b"eXosip_call_build_request")
        self.did = did
        self.method_name = method.decode("ascii", "replace")
        return 0

    def send(self):
        """Send the request in its dialog.

        :returns: the transaction id (tid) of the request with core/; 0 with an installed
            eXosip2 5.3, whose eXosip_call_send_request does not tell it.
        """
        return (<Context>self._context).call_send_request(self, self.did)


@cython.no_gc_clear
cdef class ReInvite(Request):
    """A re-INVITE in dialog *did* (put the new SDP in its body before sending)."""

    def __init__(self, Context context not None, int did):
        self._build(context, did, b"INVITE", _GENERIC)


@cython.no_gc_clear
cdef class Info(Request):
    """An INFO in dialog *did* (``eXosip_call_build_info``)."""

    def __init__(self, Context context not None, int did):
        self._build(context, did, b"INFO", _INFO)


@cython.no_gc_clear
cdef class Options(Request):
    """An OPTIONS in dialog *did* (``eXosip_call_build_options``)."""

    def __init__(self, Context context not None, int did):
        self._build(context, did, b"OPTIONS", _OPTIONS)


@cython.no_gc_clear
cdef class Update(Request):
    """An UPDATE in dialog *did* (``eXosip_call_build_update``)."""

    def __init__(self, Context context not None, int did):
        self._build(context, did, b"UPDATE", _UPDATE)


@cython.no_gc_clear
cdef class Refer(Request):
    """A REFER in dialog *did* to *refer_to* (``eXosip_call_build_refer``)."""
    cdef readonly object refer_to

    def __init__(self, Context context not None, int did, refer_to):
        cdef bytes target = _arg(refer_to, "refer_to")
        cdef osip_message_t *m = NULL
        cdef int rc
        cdef const char *ctarget = <const char *>target
        cdef eXosip_t *p = context._enter()
        with nogil:
            context_lock(p)
            rc = eXosip_call_build_refer(p, did, ctarget, &m)
            context_unlock(p)
        context._leave()
        self._adopt(context, rc, m, b"eXosip_call_build_refer")
        self.did = did
        self.method_name = "REFER"
        self.refer_to = refer_to


@cython.no_gc_clear
cdef class Notify(Request):
    """A NOTIFY in dialog *did* (``eXosip_call_build_notify``); *subscription_status* is
    eXosip2's ``EXOSIP_SUBCRSTATE_*`` value (1 pending, 2 active, 3 terminated)."""
    cdef readonly int subscription_status

    def __init__(self, Context context not None, int did, int subscription_status):
        cdef osip_message_t *m = NULL
        cdef int rc
        cdef eXosip_t *p = context._enter()
        with nogil:
            context_lock(p)
            rc = eXosip_call_build_notify(p, did, subscription_status, &m)
            context_unlock(p)
        context._leave()
        self._adopt(context, rc, m, b"eXosip_call_build_notify")
        self.did = did
        self.method_name = "NOTIFY"
        self.subscription_status = subscription_status


@cython.no_gc_clear
cdef class Prack(ExosipMessage):
    """The PRACK of a reliable provisional response (``eXosip_call_build_prack``, RFC 3262).

    Its RAck is the 1xx's RSeq and the INVITE's CSeq. The INVITE should carry ``Supported: 100rel``
    (the program adds it, as with eXosip2). A 1xx that comes again is answered with the PRACK
    already sent, and reported once.

    :param context: the :class:`~exosip2.context.Context`.
    :param tid: the INVITE's transaction id (``event.tid`` of the ringing/proceeding event).
    :param response: the reliable 1xx (``event.response``, with RSeq).
    :raises OsipWrongFormat: the 1xx has no RSeq.
    :raises OsipWrongState: the INVITE is answered finally, or this 1xx is PRACKed already.
    """
    cdef readonly int tid

    def __init__(self, Context context not None, int tid, OsipMessage response not None):
        cdef osip_message_t *m = NULL
        cdef osip_message_t *r = response._get()
        cdef int rc
        cdef eXosip_t *p = context._enter()
        with nogil:
            context_lock(p)
            rc = eXosip_call_build_prack(p, tid, r, &m)
            context_unlock(p)
        context._leave()
        self._adopt(context, rc, m, b"eXosip_call_build_prack")
        self.tid = tid

    def send(self):
        """Send the PRACK (a transaction of its own; its answer comes as ``call_message_answered``)."""
        (<Context>self._context).call_send_prack(self.tid, self)
