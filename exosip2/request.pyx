# SPDX-License-Identifier: Apache-2.0
"""Requests outside of any dialog: MESSAGE (and other methods) and OPTIONS, with their answers.

* :class:`Message` — ``eXosip_message_build_request`` (default method MESSAGE);
  ``send()`` returns the transaction id. Answers come back as
  ``EventType.message_answered`` / ``message_requestfailure`` / ... events.
* :class:`Options` — ``eXosip_options_build_request``.
* :class:`MessageAnswer`, :class:`OptionsAnswer` — answers to the
  ``EventType.message_new`` event of an incoming request (``event.tid``);
  ``Context.message_send_answer(tid, status)`` sends a default one directly.
"""

cimport cython

from exosip2.context cimport Context, context_lock, context_unlock
from exosip2.error cimport check
from exosip2.error import bad_uri_error
from exosip2.includes.eX_message cimport eXosip_message_build_answer, eXosip_message_build_request
from exosip2.includes.eX_options cimport eXosip_options_build_answer, eXosip_options_build_request
from exosip2.includes.eX_setup cimport eXosip_t
from exosip2.includes.osip_parser cimport osip_message_t
from exosip2.message cimport ExosipMessage, c_str as _c, text_arg as _arg

__all__ = ["Message", "Options", "MessageAnswer", "OptionsAnswer"]


@cython.no_gc_clear
cdef class Message(ExosipMessage):
    """An out-of-dialog request (``eXosip_message_build_request``).

    :param context: the :class:`~exosip2.context.Context`.
    :param to_url: the target; :param from_url: the sender;
    :param route: an optional Route; :param method: the method (default ``"MESSAGE"``).
    """
    cdef readonly object to_url, from_url, route, method_name

    def __init__(self, Context context not None, to_url, from_url, route=None, method="MESSAGE"):
        cdef bytes to = _arg(to_url, "to_url"), frm = _arg(from_url, "from_url")
        cdef bytes rt = _arg(route, "route", True), meth = _arg(method, "method")
        cdef osip_message_t *m = NULL
        cdef int rc
        cdef const char *cmeth = _c(meth)
        cdef const char *cto = _c(to)
        cdef const char *cfrm = _c(frm)
        cdef const char *crt = _c(rt)
        cdef eXosip_t *p = context._enter()
        with nogil:
            context_lock(p)
            rc = eXosip_message_build_request(p, &m, cmeth, cto, cfrm, crt)
            context_unlock(p)
        context._leave()
        if rc < 0 and m == NULL:  # names the URI that does not parse (exosip2.error)
            raise bad_uri_error(type(self).__name__, rc, "eXosip_message_build_request", to_url=to_url,
                                from_url=from_url, route=route)
        self._adopt(context, rc, m, b"eXosip_message_build_request")
        self.to_url = to_url
        self.from_url = from_url
        self.route = route
        self.method_name = meth.decode("ascii", "replace")

    def send(self):
        """Send the request; returns its transaction id."""
        return (<Context>self._context).message_send_request(self)


@cython.no_gc_clear
cdef class Options(ExosipMessage):
    """An out-of-dialog OPTIONS (``eXosip_options_build_request``)."""
    cdef readonly object to_url, from_url, route

    def __init__(self, Context context not None, to_url, from_url, route=None):
        cdef bytes to = _arg(to_url, "to_url"), frm = _arg(from_url, "from_url")
        cdef bytes rt = _arg(route, "route", True)
        cdef osip_message_t *m = NULL
        cdef int rc
        cdef const char *cto = _c(to)
        cdef const char *cfrm = _c(frm)
        cdef const char *crt = _c(rt)
        cdef eXosip_t *p = context._enter()
        with nogil:
            context_lock(p)
            rc = eXosip_options_build_request(p, &m, cto, cfrm, crt)
            context_unlock(p)
        context._leave()
        if rc < 0 and m == NULL:  # names the URI that does not parse (exosip2.error)
            raise bad_uri_error("Options", rc, "eXosip_options_build_request", to_url=to_url,
                                from_url=from_url, route=route)
        self._adopt(context, rc, m, b"eXosip_options_build_request")
        self.to_url = to_url
        self.from_url = from_url
        self.route = route

    def send(self):
        """Send the OPTIONS; returns its transaction id."""
        return (<Context>self._context).options_send_request(self)


@cython.no_gc_clear
cdef class MessageAnswer(ExosipMessage):
    """An answer to an incoming out-of-dialog request (``eXosip_message_build_answer``)."""
    cdef readonly int tid, status

    def __init__(self, Context context not None, int tid, int status):
        cdef osip_message_t *m = NULL
        cdef int rc
        cdef eXosip_t *p = context._enter()
        with nogil:
            context_lock(p)
            rc = eXosip_message_build_answer(p, tid, status, &m)
            context_unlock(p)
        context._leave()
        self._adopt(context, rc, m, b"eXosip_message_build_answer")
        self.tid = tid
        self.status = status

    def send(self):
        """Send the answer."""
        (<Context>self._context).message_send_answer(answer=self)


@cython.no_gc_clear
cdef class OptionsAnswer(ExosipMessage):
    """An answer to an incoming out-of-dialog OPTIONS (``eXosip_options_build_answer``)."""
    cdef readonly int tid, status

    def __init__(self, Context context not None, int tid, int status):
        cdef osip_message_t *m = NULL
        cdef int rc
        cdef eXosip_t *p = context._enter()
        with nogil:
            context_lock(p)
            rc = eXosip_options_build_answer(p, tid, status, &m)
            context_unlock(p)
        context._leave()
        self._adopt(context, rc, m, b"eXosip_options_build_answer")
        self.tid = tid
        self.status = status

    def send(self):
        """Send the answer."""
        (<Context>self._context).options_send_answer(answer=self)
