# SPDX-License-Identifier: Apache-2.0
"""Publications: PUBLISH (eXosip2's ``eX_publish.h``, RFC 3903).

:class:`Publish` builds a PUBLISH (``eXosip_build_publish``);
:meth:`~Publish.send` (``eXosip_publish``) returns its transaction id. The
context keeps one publication per address of record: the SIP-ETag of its latest
2xx goes out as SIP-If-Match in the next PUBLISH for that AoR, a 412 forgets
it (the next PUBLISH starts anew), ``expires=0`` removes it, and the context's
automatic actions refresh it before it lapses. Answers arrive as
``EventType.message_*`` events with the tid.
"""

cimport cython

from exosip2.context cimport Context, context_lock, context_unlock
from exosip2.error cimport check
from exosip2.error import bad_uri_error
from exosip2.includes.eX_publish cimport eXosip_build_publish, eXosip_publish
from exosip2.includes.eX_setup cimport eXosip_t
from exosip2.includes.osip_parser cimport osip_message_t
from exosip2.message cimport ExosipMessage, OsipMessage, c_str as _c, text_arg as _arg

__all__ = ["Publish", "publish"]


def publish(Context context not None, OsipMessage message not None, to_url):
    """Send a PUBLISH for the address of record *to_url* (``eXosip_publish``); returns its tid."""
    cdef bytes to = _arg(to_url, "to_url")
    cdef const char *cto = _c(to)
    cdef eXosip_t *p = context._enter()
    cdef osip_message_t *m
    cdef int rc
    try:
        m = context._take(message, True, ("PUBLISH",), (), "publish")
    except BaseException:
        context._leave()
        raise
    with nogil:
        context_lock(p)
        rc = eXosip_publish(p, m, cto)
        context_unlock(p)
    context._leave()
    return check(rc, b"eXosip_publish")


@cython.no_gc_clear
cdef class Publish(ExosipMessage):
    """A PUBLISH (``eXosip_build_publish``).

    :param context: the :class:`~exosip2.context.Context`.
    :param to_url: the presentity (address of record) published for.
    :param from_url: the publisher (often the same).
    :param event: the event package (``"presence"``).
    :param expires: the lifetime asked for, in seconds (0 removes the publication).
    :param content_type: the body's type (``"application/pidf+xml"``); required with *body*.
    :param body: the state published (str or bytes), or None (a refresh).
    :param route: an optional Route.
    """
    cdef readonly object to_url, from_url, event, route
    cdef readonly int expires

    def __init__(self, Context context not None, to_url, from_url, event, expires, content_type=None,
                 body=None, route=None):
        cdef bytes to = _arg(to_url, "to_url"), frm = _arg(from_url, "from_url")
        cdef bytes ev = _arg(event, "event"), rt = _arg(route, "route", True)
        cdef bytes ct = _arg(content_type, "content_type", True), bd = _arg(body, "body", True)
        cdef bytes bexp
        cdef osip_message_t *m = NULL
        cdef int rc
        if isinstance(expires, bool) or not isinstance(expires, int):
            raise TypeError("expires must be an int, not %s" % type(expires).__name__)
        if not 0 <= expires <= 0x7fffffff:
            raise ValueError("expires must be in 0..%d, not %d" % (0x7fffffff, expires))
        if bd is not None and ct is None:
            raise ValueError("a body needs a content_type")
        bexp = str(expires).encode("ascii")
        cdef const char *cto = _c(to)
        cdef const char *cfrm = _c(frm)
        cdef const char *cev = _c(ev)
        cdef const char *crt = _c(rt)
        cdef const char *cct = _c(ct)
        cdef const char *cbd = _c(bd)
        cdef const char *cexp = _c(bexp)
        cdef eXosip_t *p = context._enter()
        with nogil:
            context_lock(p)
            rc = eXosip_build_publish(p, &m, cto, cfrm, crt, cev, cexp, cct, cbd)
            context_unlock(p)
        context._leave()
        if rc < 0 and m == NULL:
            raise bad_uri_error("Publish", rc, "eXosip_build_publish", to_url=to_url, from_url=from_url, route=route)
        self._adopt(context, rc, m, b"eXosip_build_publish")
        self.to_url = to_url
        self.from_url = from_url
        self.event = event
        self.route = route
        self.expires = expires

    def send(self):
        """Send the PUBLISH for its To address; returns its transaction id."""
        return publish(<Context>self._context, self, self.to_url)
