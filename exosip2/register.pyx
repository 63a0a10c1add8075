# SPDX-License-Identifier: Apache-2.0
"""eXosip2's registrations: REGISTER requests and the registrations they manage.

* :class:`InitialRegister` starts a registration
  (``eXosip_register_build_initial_register``): its :attr:`~InitialRegister.rid`
  names the registration in later events and calls.
* :class:`Register` builds the next REGISTER of registration *rid*
  (``eXosip_register_build_register``): a refresh, a new lifetime, or
  ``expires=0`` to remove the binding from the registrar.

Both are :class:`~exosip2.message.ExosipMessage` objects: headers and body
may be changed before :meth:`~InitialRegister.send`. The registrar's answers
arrive as ``EventType.registration_success`` / ``registration_failure`` events
carrying the rid. A challenge (401/407) is answered, and a granted binding
refreshed before it runs out, by the context's automatic actions
(:meth:`Context.automatic_action <exosip2.context.Context.automatic_action>`,
run by the event loop) with the credentials given to
:meth:`Context.add_authentication_info
<exosip2.context.Context.add_authentication_info>`.

Building and sending take the context lock; both may be done from any thread.
"""

cimport cython

from exosip2.context cimport Context, context_lock, context_unlock
from exosip2.error cimport check
from exosip2.error import bad_uri_error
from exosip2.includes.eX_register cimport (
    eXosip_register_build_initial_register, eXosip_register_build_initial_register_withqvalue,
    eXosip_register_build_register, eXosip_register_remove, eXosip_register_send_register,
)
from exosip2.includes.eX_setup cimport eXosip_t
from exosip2.includes.osip_parser cimport osip_message_t
from exosip2.message cimport ExosipMessage, OsipMessage, c_str as _c

__all__ = ["InitialRegister", "Register"]

# The largest lifetime a REGISTER may ask for (RFC 3261 limits Expires to 2**32 - 1; eXosip2 takes an int).
cdef int _MAX_EXPIRES = 0x7fffffff


cdef bytes _text(object value, str what, bint optional=False):
    if value is None:
        if optional:
            return None
        raise TypeError("%s is required" % what)
    if isinstance(value, str):
        value = (<str>value).encode("utf-8", "surrogateescape")
    elif not isinstance(value, bytes):
        raise TypeError("%s must be str or bytes, not %s" % (what, type(value).__name__))
    if b"\0" in <bytes>value:
        raise ValueError("%s must not contain NUL characters" % what)
    if not optional and len(<bytes>value) == 0:
        raise ValueError("%s must not be empty" % what)
    return <bytes>value


cdef int _check_expires(object value) except -1:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError("expires must be an int, not %s" % type(value).__name__)
    if not 0 <= value <= _MAX_EXPIRES:
        raise ValueError("expires must be in 0..%d seconds, not %d" % (_MAX_EXPIRES, value))
    return <int>value


cdef int _check_rid(object value) except -1:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError("rid must be an int, not %s" % type(value).__name__)
    if not 0 < value <= 0x7fffffff:
        raise ValueError("rid must be a registration id (> 0), not %d" % value)
    return <int>value


cdef str _str(bytes b):
    return None if b is None else b.decode("utf-8", "surrogateescape")


cdef int _send(ExosipMessage msg, int rid) except -1:
    """Hand *msg* (a REGISTER of registration *rid*) to the stack."""
    cdef Context context = <Context?>msg._context
    cdef eXosip_t *p = context._enter()
    cdef osip_message_t *m
    cdef int rc
    try:
        m = context._take(msg, True, ("REGISTER",), (), "send (REGISTER)")
    except BaseException:
        context._leave()
        raise
    with nogil:
        context_lock(p)
        rc = eXosip_register_send_register(p, rid, m)
        context_unlock(p)
    context._leave()
    check(rc, b"eXosip_register_send_register")
    return 0


cdef int _remove(Context context, int rid) except -1:
    cdef eXosip_t *p = context._enter()
    cdef int rc
    with nogil:
        context_lock(p)
        rc = eXosip_register_remove(p, rid)
        context_unlock(p)
    context._leave()
    check(rc, b"eXosip_register_remove")
    return 0


@cython.no_gc_clear
cdef class InitialRegister(ExosipMessage):
    """The first REGISTER of a new registration (``eXosip_register_build_initial_register``).

    One context may hold many registrations; each has its own :attr:`rid`.
    Let the stack write the Contact (leave *contact* None) unless the binding
    must name another address.

    :param context: the :class:`~exosip2.context.Context`.
    :param from_: the address of record (``sip:alice@example.org``), put in To and From.
    :param proxy: the registrar (``sip:example.org``), the Request-URI.
    :param contact: the Contact to bind (None: this context's own address).
    :param expires: the lifetime asked for, in seconds (0 removes bindings).
    :param qvalue: a ``q`` parameter for the Contact (``"0.5"``), optional
        (``eXosip_register_build_initial_register_withqvalue``).
    :raises TypeError: for arguments of the wrong type or missing.
    :raises ValueError: for empty URIs or a negative *expires*.
    :raises OsipSyntaxError: when a URI does not parse.
    """
    def __init__(self, Context context not None, from_, proxy, contact=None, expires=3600, qvalue=None):
        cdef bytes bfrom = _text(from_, "from_"), bproxy = _text(proxy, "proxy")
        cdef bytes bcontact = _text(contact, "contact", True), bq = _text(qvalue, "qvalue", True)
        cdef int cexpires = _check_expires(expires)
        cdef osip_message_t *m = NULL
        cdef int rc
        cdef const char *cfrom = _c(bfrom)
        cdef const char *cproxy = _c(bproxy)
        cdef const char *ccontact = _c(bcontact)
        cdef const char *cq = _c(bq)
        cdef eXosip_t *p = context._enter()
        with nogil:
            context_lock(p)
            if cq == NULL:
                rc = eXosip_register_build_initial_register(p, cfrom, cproxy, ccontact, cexpires, &m)
            else:
                rc = eXosip_register_build_initial_register_withqvalue(p, cfrom, cproxy, ccontact, cexpires,
                                                                       cq, &m)
            context_unlock(p)
        context._leave()
        if rc < 0 and m == NULL:  # names the URI that does not parse (exosip2.error)
            raise bad_uri_error("InitialRegister", rc, "eXosip_register_build_initial_register", from_=from_,
                                proxy=proxy, contact=contact)
        self._adopt(context, rc, m, b"eXosip_register_build_initial_register")
        self._rid = rc
        self._expires = cexpires
        self.from_ = _str(bfrom)
        self._proxy = _str(bproxy)
        self._contact = _str(bcontact)
        self._qvalue = _str(bq)

    def __repr__(self):
        return "<InitialRegister rid=%d %s via %s expires=%d%s>" % (
            self._rid, self.from_, self._proxy, self._expires, " (sent)" if self._consumed else "")

    @property
    def rid(self):
        """The registration id (int > 0): events about this registration carry it."""
        return self._rid

    @property
    def proxy(self):
        """The registrar the REGISTER goes to (str)."""
        return self._proxy

    @property
    def contact(self):
        """The Contact given when building (str), or None when the stack chose it."""
        return self._contact

    @property
    def contract(self):
        """The same as :attr:`contact` (the name exosip2ctypes gave it)."""
        return self._contact

    @property
    def qvalue(self):
        """The Contact's ``q`` parameter given when building (str), or None."""
        return self._qvalue

    @property
    def expires(self):
        """The lifetime asked for, in seconds (int).

        Setting it before :meth:`send` rewrites the Expires header, and so the
        lifetime the registration asks for from then on.
        """
        return self._expires

    @expires.setter
    def expires(self, value):
        cdef int e = _check_expires(value)
        OsipMessage.expires.__set__(self, e)
        self._expires = e

    def send(self):
        """Send this REGISTER (``eXosip_register_send_register``); the message is consumed.

        :raises OsipWrongState: when a REGISTER of this registration still waits for its answer.
        """
        _send(self, self._rid)

    def remove(self):
        """Forget the registration without sending anything (``eXosip_register_remove``).

        To remove the binding from the registrar first, send ``Register(context, rid, 0)``.

        :raises OsipNotFound: when the registration is already gone.
        """
        _remove(<Context?>self._context, self._rid)


@cython.no_gc_clear
cdef class Register(ExosipMessage):
    """The next REGISTER of registration *rid* (``eXosip_register_build_register``).

    A user agent removes its binding before it ends: ``Register(ctx, rid, 0).send()``.

    :param context: the :class:`~exosip2.context.Context`.
    :param rid: the registration (:attr:`InitialRegister.rid`).
    :param expires: the lifetime asked for, in seconds (0 removes the binding).
    :raises TypeError: for arguments of the wrong type.
    :raises ValueError: for a negative *expires* or a rid that cannot exist.
    :raises OsipNotFound: when the context holds no registration *rid*.
    :raises OsipWrongState: while a REGISTER of it still waits for its answer.
    """
    def __init__(self, Context context not None, rid, expires=3600):
        cdef int crid = _check_rid(rid)
        cdef int cexpires = _check_expires(expires)
        cdef osip_message_t *m = NULL
        cdef int rc
        cdef eXosip_t *p = context._enter()
        with nogil:
            context_lock(p)
            rc = eXosip_register_build_register(p, crid, cexpires, &m)
            context_unlock(p)
        context._leave()
        self._adopt(context, rc, m, b"eXosip_register_build_register")
        self._rid = crid
        self._expires = cexpires

    def __repr__(self):
        return "<Register rid=%d expires=%d%s>" % (self._rid, self._expires, " (sent)" if self._consumed else "")

    @property
    def rid(self):
        """The registration id (int)."""
        return self._rid

    @property
    def expires(self):
        """The lifetime asked for, in seconds (int); settable before :meth:`send`."""
        return self._expires

    @expires.setter
    def expires(self, value):
        cdef int e = _check_expires(value)
        OsipMessage.expires.__set__(self, e)
        self._expires = e

    def send(self):
        """Send this REGISTER (``eXosip_register_send_register``); the message is consumed."""
        _send(self, self._rid)

    def remove(self):
        """Forget the registration without sending anything (``eXosip_register_remove``)."""
        _remove(<Context?>self._context, self._rid)
