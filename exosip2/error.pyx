# SPDX-License-Identifier: Apache-2.0
"""Errors raised by exosip2.

Every negative return code of an oSIP2 or eXosip2 C function becomes an
exception: one class per code of ``osipparser2/osip_port.h``, all deriving
from :class:`OsipError`. Each class also derives from the builtin exception
that fits its meaning (``OsipNoMem`` is a :class:`MemoryError`,
``OsipTimeout`` a :class:`TimeoutError`, ``OsipBadParameter`` a
:class:`ValueError`, …), so ordinary ``except`` clauses catch them too.
The numeric code is kept in :attr:`OsipError.code`.
"""

__all__ = [
    "OsipError", "MallocError", "OsipUnknownError", "OsipUndefinedError", "OsipBadParameter",
    "OsipWrongState", "OsipNoMem", "OsipSyntaxError", "OsipNotFound", "OsipApiNotInitialized",
    "OsipNoNetwork", "OsipPortBusy", "OsipUnknownHost", "OsipDiskFull", "OsipNoRights",
    "OsipFileNotExists", "OsipTimeout", "OsipTooMuchCall", "OsipWrongFormat", "OsipNoCommonCodec",
    "OsipRetryLimit", "raise_if_osip_error", "error_class", "listen_error", "bad_uri_error",
]


class OsipError(RuntimeError):
    """Base class of every error reported by oSIP2 or eXosip2.

    :attr:`code` holds the (negative) C return code, or ``None`` when the
    error was detected in Python.
    """

    code = None

    def __init__(self, *args, code=None):
        super().__init__(*args)
        if code is not None:
            self.code = code


class MallocError(OsipError, MemoryError):
    """An eXosip context could not be allocated."""


class OsipUnknownError(OsipError):
    """A negative return code that oSIP2 does not define."""


class OsipUndefinedError(OsipError):
    """OSIP_UNDEFINED_ERROR (-1): a failure without a more precise cause."""
    code = -1


class OsipBadParameter(OsipError, ValueError):
    """OSIP_BADPARAMETER (-2): an argument is missing or invalid."""
    code = -2


class OsipWrongState(OsipError):
    """OSIP_WRONG_STATE (-3): the call, dialog or transaction is not in a state that allows this."""
    code = -3


class OsipNoMem(OsipError, MemoryError):
    """OSIP_NOMEM (-4): out of memory."""
    code = -4


class OsipSyntaxError(OsipError, ValueError):
    """OSIP_SYNTAXERROR (-5): a SIP message, header, URI or SDP body does not parse."""
    code = -5


class OsipNotFound(OsipError, LookupError):
    """OSIP_NOTFOUND (-6): no such call, dialog, transaction, header or element."""
    code = -6


class OsipApiNotInitialized(OsipError):
    """OSIP_API_NOT_INITIALIZED (-7): the context is not initialised (or already closed)."""
    code = -7


class OsipNoNetwork(OsipError, OSError):
    """OSIP_NO_NETWORK (-10): no network, or the socket could not be used."""
    code = -10


class OsipPortBusy(OsipError, OSError):
    """OSIP_PORT_BUSY (-11): the port is already in use."""
    code = -11


class OsipUnknownHost(OsipError, OSError):
    """OSIP_UNKNOWN_HOST (-12): a host name did not resolve."""
    code = -12


class OsipDiskFull(OsipError, OSError):
    """OSIP_DISK_FULL (-30)."""
    code = -30


class OsipNoRights(OsipError, PermissionError):
    """OSIP_NO_RIGHTS (-31): permission denied."""
    code = -31


class OsipFileNotExists(OsipError, FileNotFoundError):
    """OSIP_FILE_NOT_EXIST (-32)."""
    code = -32


class OsipTimeout(OsipError, TimeoutError):
    """OSIP_TIMEOUT (-50)."""
    code = -50


class OsipTooMuchCall(OsipError):
    """OSIP_TOOMUCHCALL (-51): the call limit is reached."""
    code = -51


class OsipWrongFormat(OsipError, ValueError):
    """OSIP_WRONG_FORMAT (-52): a value has the wrong format."""
    code = -52


class OsipNoCommonCodec(OsipError):
    """OSIP_NOCOMMONCODEC (-53): offer and answer share no codec."""
    code = -53


class OsipRetryLimit(OsipError):
    """OSIP_RETRY_LIMIT (-60): a request was retried too many times."""
    code = -60


_BY_CODE = {cls.code: cls for cls in (
    OsipUndefinedError, OsipBadParameter, OsipWrongState, OsipNoMem, OsipSyntaxError,
    OsipNotFound, OsipApiNotInitialized, OsipNoNetwork, OsipPortBusy, OsipUnknownHost,
    OsipDiskFull, OsipNoRights, OsipFileNotExists, OsipTimeout, OsipTooMuchCall,
    OsipWrongFormat, OsipNoCommonCodec, OsipRetryLimit)}


def error_class(int error_code):
    """Return the OsipError subclass for a negative *error_code* (OsipUnknownError if undefined)."""
    return _BY_CODE.get(error_code, OsipUnknownError)


def raise_if_osip_error(error_code, message=None):
    """Raise the matching :class:`OsipError` subclass if *error_code* is negative.

    :param int error_code: the return value of an oSIP2/eXosip2 C function.
    :param str message: the exception message (default: the class's meaning and the code).
    :returns: *error_code* unchanged when it is not an error.
    """
    if not isinstance(error_code, int):
        raise TypeError("error_code must be an int, not %s" % type(error_code).__name__)
    if error_code >= 0:
        return error_code
    cls = _BY_CODE.get(error_code, OsipUnknownError)
    if message is None:
        message = "oSIP error %d (%s)" % (error_code, cls.__name__)
    raise cls(message, code=error_code)


def listen_error(int rc, int os_errno, address, int port, int transport, str func="eXosip_listen_addr"):
    """The exception for a failed listen: it names address, port, transport and the system's reason.

    :param rc: the negative return code of *func*.
    :param os_errno: the errno of the failing system call (0 when none failed).
    :param address: the address asked for (None: every interface).
    :param port: the port asked for.
    :param transport: ``socket.IPPROTO_UDP`` or ``socket.IPPROTO_TCP``.
    :returns: an :class:`OsipPortBusy` when the port is in use (``EADDRINUSE``), a
        :class:`OsipNoRights` for ``EACCES``, otherwise the class of *rc*; its ``errno`` is
        *os_errno* (for the OSError subclasses) and ``code`` is *rc*.
    """
    import errno as _errno
    import os as _os
    import socket as _socket
    where = "%s %s port %d" % ("TCP" if transport == _socket.IPPROTO_TCP else "UDP",
                               "every interface" if not address else (
                                   address.decode("utf-8", "replace") if isinstance(address, bytes) else address),
                               port)
    if os_errno:
        reason = "%s (%s)" % (_os.strerror(os_errno), _errno.errorcode.get(os_errno, "errno %d" % os_errno))
    else:
        reason = "%s() failed: error %d (%s)" % (func, rc, _BY_CODE.get(rc, OsipUnknownError).__name__)
    if os_errno == _errno.EADDRINUSE:
        cls = OsipPortBusy
        text = "listen_on_address: cannot listen on %s: the port is already in use: %s" % (where, reason)
    elif os_errno in (_errno.EACCES, _errno.EPERM):
        cls = OsipNoRights
        text = "listen_on_address: cannot listen on %s: permission denied (ports below 1024 need privileges): %s" % (
            where, reason)
    elif os_errno == _errno.EADDRNOTAVAIL:
        cls = OsipNoNetwork
        text = "listen_on_address: cannot listen on %s: the address is not one of this machine's: %s" % (
            where, reason)
    elif rc == OsipBadParameter.code and not os_errno:
        cls = OsipBadParameter
        text = "listen_on_address: cannot listen on %s: the address is not a numeric IP address of the family asked for" % where
    elif rc == OsipWrongState.code:
        cls = OsipWrongState
        text = "listen_on_address: cannot listen on %s: this context already listens on that transport" % where
    else:
        cls = _BY_CODE.get(rc, OsipUnknownError)
        text = "listen_on_address: cannot listen on %s: %s" % (where, reason)
    exc = cls(text, code=rc)
    if isinstance(exc, OSError) and os_errno:
        exc.errno = os_errno
    return exc


cdef extern from "osipparser2/osip_parser.h" nogil:
    ctypedef struct osip_from_t:
        pass
    int osip_from_init(osip_from_t **header)
    int osip_from_parse(osip_from_t *header, const char *hvalue)
    void osip_from_free(osip_from_t *header)


cdef bint _parses(value):
    cdef osip_from_t *h = NULL
    cdef bytes b
    cdef int rc
    if value is None:
        return True
    b = value.encode("utf-8", "surrogateescape") if isinstance(value, str) else bytes(value)
    if b"\0" in b or not b.strip():
        return False
    if osip_from_init(&h) != 0:
        return True
    rc = osip_from_parse(h, b)
    osip_from_free(h)
    return rc == 0


def bad_uri_error(str caller, int rc, str func, **named):
    """The exception for a request that could not be built from its URIs: it names the argument
    that does not parse as a SIP URI (or name-addr) and quotes its text.

    :param caller: the class or method the program called (``"InitInvite"``).
    :param rc: the negative return code of *func*.
    :param func: the C function that failed.
    :param named: the URI arguments, by their Python names (None for those not given).
    :returns: an :class:`OsipSyntaxError` (or the class of *rc* when every argument parses).
    """
    for name, value in named.items():
        if not _parses(value):
            return OsipSyntaxError("%s: %s is not a valid SIP URI: %r (expected e.g. 'sip:user@host', "
                                   "'sip:user@host:port;transport=tcp' or '\"Name\" <sip:user@host>')"
                                   % (caller, name, value), code=rc)
    cls = _BY_CODE.get(rc, OsipUnknownError)
    args = ", ".join(["%s=%r" % (key, value) for key, value in named.items()])
    return cls("%s: %s() failed: error %d (%s) with %s" % (caller, func, rc, cls.__name__, args), code=rc)


cdef int check(int rc, const char *func) except -1:
    if rc >= 0:
        return rc
    cls = _BY_CODE.get(rc, OsipUnknownError)
    raise cls("%s() failed: error %d (%s)" % (func.decode("ascii", "replace"), rc, cls.__name__), code=rc)
