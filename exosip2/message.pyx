# SPDX-License-Identifier: Apache-2.0
"""SIP messages: :class:`OsipMessage` wraps oSIP2's ``osip_message_t``.

Parse a message with :meth:`OsipMessage.parse`, read and change its start line
and headers through properties and the generic :meth:`OsipMessage.get_headers`
/ :meth:`OsipMessage.set_header` family, and serialise it with ``bytes(msg)``.

Strings
    Every text value is returned as :class:`str`, decoded from UTF-8 with the
    ``surrogateescape`` error handler: bytes that are not valid UTF-8 (legal in
    some SIP bodies, common in hostile traffic) become lone surrogates
    U+DC80..U+DCFF instead of raising or being replaced. Arguments may be
    :class:`str` (encoded the same way, so a value read and written back is
    unchanged byte for byte) or :class:`bytes`; anything else raises
    :class:`TypeError`.

Header names
    Names are case-insensitive and may be given in compact form (``v`` for
    Via, ``i`` for Call-ID, ``k`` for Supported, ...). oSIP2 parses a fixed set
    of headers into structures (Via, From, To, Call-ID, CSeq, Contact, Route,
    Record-Route, Allow, Content-Type, Content-Length, Content-Encoding,
    MIME-Version, Accept, Accept-Encoding, Accept-Language, Alert-Info,
    Call-Info, Error-Info, Authorization, Proxy-Authorization,
    WWW-Authenticate, Proxy-Authenticate, Authentication-Info,
    Proxy-Authentication-Info); every other header is kept as an "unknown"
    header with its name and raw value. The accessors cover both kinds.

Lifetime
    A message either owns its ``osip_message_t`` (freed when the object is
    collected) or borrows one from an owner object (an event) that it keeps
    alive. A message handed over to the SIP stack (sent) is *consumed*: any
    further use raises :class:`~exosip2.error.OsipWrongState`.
"""

cimport cython
from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_FromStringAndSize, PyBytes_GET_SIZE
from libc.string cimport memchr, strlen

from exosip2._debug cimport COUNT_LIVE, LIVE_MESSAGE, live_add
from exosip2.error cimport check
from exosip2.headers cimport NameAddr, Uri, name_addr_from_c, uri_from_c
from exosip2.includes.eX_core cimport EXOSIP2_HAVE_CORE_PRECHECK, eXosip_core_sip_precheck
from exosip2.includes.osip_body cimport osip_body_free, osip_body_t, osip_body_to_str
from exosip2.includes.osip_headers cimport *
from exosip2.includes.osip_list cimport (
    osip_list_add, osip_list_get, osip_list_get_first, osip_list_get_next, osip_list_iterator_remove,
    osip_list_iterator_t, osip_list_remove, osip_list_size, osip_list_special_free, osip_list_t,
)
from exosip2.includes.osip_parser cimport *
from exosip2.includes.osip_port cimport (
    OSIP_BADPARAMETER, OSIP_NOMEM, OSIP_UNDEFINED_ERROR, osip_free, osip_strcasecmp, osip_strdup,
)
from exosip2.includes.osip_uri cimport osip_uri_free, osip_uri_init, osip_uri_parse, osip_uri_t, osip_uri_to_str

import bisect
import collections
import re

from exosip2.error import OsipBadParameter, OsipNoMem, OsipSyntaxError, OsipWrongState

__all__ = ["OsipMessage", "ExosipMessage", "CSeq", "PARSE_NOGIL_THRESHOLD"]

#: Inputs at least this long are parsed with the GIL released. Shorter ones
#: parse in a few microseconds, less than a GIL hand-over can cost a busy
#: multi-threaded program.
PARSE_NOGIL_THRESHOLD = 4096
cdef Py_ssize_t _nogil_threshold = PARSE_NOGIL_THRESHOLD

# oSIP2's serialiser leaves five characters for the Content-Length value.
cdef Py_ssize_t _OSIP_CL_DIGITS_LIMIT = 100000


class CSeq(collections.namedtuple("CSeq", "number method")):
    """The CSeq header: ``number`` (int) and ``method`` (str)."""
    __slots__ = ()


# --- the headers oSIP2 parses into structures ------------------------------------

cdef enum Kind:
    K_UNKNOWN = 0
    # one per message
    K_FROM
    K_TO
    K_CALL_ID
    K_CSEQ
    K_CONTENT_TYPE
    K_CONTENT_LENGTH
    K_MIME_VERSION
    # repeatable (lists)
    K_VIA
    K_CONTACT
    K_ROUTE
    K_RECORD_ROUTE
    K_ALLOW
    K_CONTENT_ENCODING
    K_ACCEPT
    K_ACCEPT_ENCODING
    K_ACCEPT_LANGUAGE
    K_ALERT_INFO
    K_CALL_INFO
    K_ERROR_INFO
    K_AUTHORIZATION
    K_PROXY_AUTHORIZATION
    K_WWW_AUTHENTICATE
    K_PROXY_AUTHENTICATE
    K_AUTHENTICATION_INFO
    K_PROXY_AUTHENTICATION_INFO
    K_COUNT

cdef inline bint _is_single(int kind) noexcept nogil:
    return K_FROM <= kind <= K_MIME_VERSION


cdef void **_slot(osip_message_t *m, int kind) noexcept nogil:
    """The field holding a once-per-message header."""
    if kind == K_FROM:
        return <void **>&m.from_
    if kind == K_TO:
        return <void **>&m.to
    if kind == K_CALL_ID:
        return <void **>&m.call_id
    if kind == K_CSEQ:
        return <void **>&m.cseq
    if kind == K_CONTENT_TYPE:
        return <void **>&m.content_type
    if kind == K_CONTENT_LENGTH:
        return <void **>&m.content_length
    if kind == K_MIME_VERSION:
        return <void **>&m.mime_version
    return NULL


cdef osip_list_t *_list(osip_message_t *m, int kind) noexcept nogil:
    """The list holding a repeatable header."""
    if kind == K_VIA:
        return &m.vias
    if kind == K_CONTACT:
        return &m.contacts
    if kind == K_ROUTE:
        return &m.routes
    if kind == K_RECORD_ROUTE:
        return &m.record_routes
    if kind == K_ALLOW:
        return &m.allows
    if kind == K_CONTENT_ENCODING:
        return &m.content_encodings
    if kind == K_ACCEPT:
        return &m.accepts
    if kind == K_ACCEPT_ENCODING:
        return &m.accept_encodings
    if kind == K_ACCEPT_LANGUAGE:
        return &m.accept_languages
    if kind == K_ALERT_INFO:
        return &m.alert_infos
    if kind == K_CALL_INFO:
        return &m.call_infos
    if kind == K_ERROR_INFO:
        return &m.error_infos
    if kind == K_AUTHORIZATION:
        return &m.authorizations
    if kind == K_PROXY_AUTHORIZATION:
        return &m.proxy_authorizations
    if kind == K_WWW_AUTHENTICATE:
        return &m.www_authenticates
    if kind == K_PROXY_AUTHENTICATE:
        return &m.proxy_authenticates
    if kind == K_AUTHENTICATION_INFO:
        return &m.authentication_infos
    if kind == K_PROXY_AUTHENTICATION_INFO:
        return &m.proxy_authentication_infos
    return NULL


cdef int _item_to_str(int kind, void *item, char **dest) noexcept nogil:
    """Serialise one parsed header value with the oSIP2 function for its type."""
    if kind == K_VIA:
        return osip_via_to_str(<osip_via_t *>item, dest)
    if kind == K_FROM:
        return osip_from_to_str(<osip_from_t *>item, dest)
    if kind == K_TO:
        return osip_to_to_str(<osip_to_t *>item, dest)
    if kind == K_CONTACT:
        return osip_contact_to_str(<osip_contact_t *>item, dest)
    if kind == K_ROUTE:
        return osip_route_to_str(<osip_route_t *>item, dest)
    if kind == K_RECORD_ROUTE:
        return osip_record_route_to_str(<osip_record_route_t *>item, dest)
    if kind == K_CALL_ID:
        return osip_call_id_to_str(<osip_call_id_t *>item, dest)
    if kind == K_CSEQ:
        return osip_cseq_to_str(<osip_cseq_t *>item, dest)
    if kind == K_CONTENT_TYPE:
        return osip_content_type_to_str(<osip_content_type_t *>item, dest)
    if kind == K_ACCEPT:
        return osip_accept_to_str(<osip_accept_t *>item, dest)
    if (kind == K_CONTENT_LENGTH or kind == K_MIME_VERSION or kind == K_ALLOW
            or kind == K_CONTENT_ENCODING):
        return osip_content_length_to_str(<osip_content_length_t *>item, dest)
    if kind == K_ACCEPT_ENCODING or kind == K_ACCEPT_LANGUAGE:
        return osip_accept_encoding_to_str(<osip_accept_encoding_t *>item, dest)
    if kind == K_ALERT_INFO or kind == K_CALL_INFO or kind == K_ERROR_INFO:
        return osip_call_info_to_str(<osip_call_info_t *>item, dest)
    if kind == K_AUTHORIZATION or kind == K_PROXY_AUTHORIZATION:
        return osip_authorization_to_str(<osip_authorization_t *>item, dest)
    if kind == K_WWW_AUTHENTICATE or kind == K_PROXY_AUTHENTICATE:
        return osip_www_authenticate_to_str(<osip_www_authenticate_t *>item, dest)
    if kind == K_AUTHENTICATION_INFO or kind == K_PROXY_AUTHENTICATION_INFO:
        return osip_authentication_info_to_str(<osip_authentication_info_t *>item, dest)
    dest[0] = NULL
    return OSIP_BADPARAMETER


cdef void _item_free(int kind, void *item) noexcept nogil:
    """Free one parsed header value with the oSIP2 function for its type."""
    if item == NULL:
        return
    if kind == K_VIA:
        osip_via_free(<osip_via_t *>item)
    elif kind == K_FROM or kind == K_TO or kind == K_CONTACT or kind == K_ROUTE or kind == K_RECORD_ROUTE:
        osip_from_free(<osip_from_t *>item)
    elif kind == K_CALL_ID:
        osip_call_id_free(<osip_call_id_t *>item)
    elif kind == K_CSEQ:
        osip_cseq_free(<osip_cseq_t *>item)
    elif kind == K_CONTENT_TYPE or kind == K_ACCEPT:
        osip_content_type_free(<osip_content_type_t *>item)
    elif (kind == K_CONTENT_LENGTH or kind == K_MIME_VERSION or kind == K_ALLOW
            or kind == K_CONTENT_ENCODING):
        osip_content_length_free(<osip_content_length_t *>item)
    elif kind == K_ACCEPT_ENCODING or kind == K_ACCEPT_LANGUAGE:
        osip_accept_encoding_free(<osip_accept_encoding_t *>item)
    elif kind == K_ALERT_INFO or kind == K_CALL_INFO or kind == K_ERROR_INFO:
        osip_call_info_free(<osip_call_info_t *>item)
    elif kind == K_AUTHORIZATION or kind == K_PROXY_AUTHORIZATION:
        osip_authorization_free(<osip_authorization_t *>item)
    elif kind == K_WWW_AUTHENTICATE or kind == K_PROXY_AUTHENTICATE:
        osip_www_authenticate_free(<osip_www_authenticate_t *>item)
    elif kind == K_AUTHENTICATION_INFO or kind == K_PROXY_AUTHENTICATION_INFO:
        osip_authentication_info_free(<osip_authentication_info_t *>item)


# Lower-case name (full and compact) -> kind, for the headers oSIP2 parses.
_KNOWN = {
    "via": K_VIA, "v": K_VIA,
    "from": K_FROM, "f": K_FROM,
    "to": K_TO, "t": K_TO,
    "call-id": K_CALL_ID, "i": K_CALL_ID,
    "cseq": K_CSEQ,
    "contact": K_CONTACT, "m": K_CONTACT,
    "route": K_ROUTE,
    "record-route": K_RECORD_ROUTE,
    "allow": K_ALLOW,
    "content-type": K_CONTENT_TYPE, "c": K_CONTENT_TYPE,
    "content-length": K_CONTENT_LENGTH, "l": K_CONTENT_LENGTH,
    "content-encoding": K_CONTENT_ENCODING, "e": K_CONTENT_ENCODING,
    "mime-version": K_MIME_VERSION,
    "accept": K_ACCEPT,
    "accept-encoding": K_ACCEPT_ENCODING,
    "accept-language": K_ACCEPT_LANGUAGE,
    "alert-info": K_ALERT_INFO,
    "call-info": K_CALL_INFO,
    "error-info": K_ERROR_INFO,
    "authorization": K_AUTHORIZATION,
    "proxy-authorization": K_PROXY_AUTHORIZATION,
    "www-authenticate": K_WWW_AUTHENTICATE,
    "proxy-authenticate": K_PROXY_AUTHENTICATE,
    "authentication-info": K_AUTHENTICATION_INFO,
    "proxy-authentication-info": K_PROXY_AUTHENTICATION_INFO,
}

# The canonical name of each kind (also handed to oSIP2's header dispatcher).
_KIND_NAME = {
    K_VIA: "Via", K_FROM: "From", K_TO: "To", K_CALL_ID: "Call-ID", K_CSEQ: "CSeq",
    K_CONTACT: "Contact", K_ROUTE: "Route", K_RECORD_ROUTE: "Record-Route", K_ALLOW: "Allow",
    K_CONTENT_TYPE: "Content-Type", K_CONTENT_LENGTH: "Content-Length",
    K_CONTENT_ENCODING: "Content-Encoding", K_MIME_VERSION: "MIME-Version", K_ACCEPT: "Accept",
    K_ACCEPT_ENCODING: "Accept-Encoding", K_ACCEPT_LANGUAGE: "Accept-Language",
    K_ALERT_INFO: "Alert-Info", K_CALL_INFO: "Call-Info", K_ERROR_INFO: "Error-Info",
    K_AUTHORIZATION: "Authorization", K_PROXY_AUTHORIZATION: "Proxy-Authorization",
    K_WWW_AUTHENTICATE: "WWW-Authenticate", K_PROXY_AUTHENTICATE: "Proxy-Authenticate",
    K_AUTHENTICATION_INFO: "Authentication-Info", K_PROXY_AUTHENTICATION_INFO: "Proxy-Authentication-Info",
}
assert set(_KIND_NAME) == set(_KNOWN.values())

# Compact forms of headers oSIP2 keeps as unknown headers (RFC 3261, 3515,
# 3841, 3892, 4028, 4474, 6665, 8224): both spellings name the same header.
_COMPACT_UNKNOWN = {
    "s": "subject", "k": "supported", "o": "event", "u": "allow-events",
    "r": "refer-to", "b": "referred-by", "x": "session-expires", "a": "accept-contact",
    "j": "reject-contact", "d": "request-disposition", "y": "identity", "n": "identity-info",
}
# Lower-case name -> the lower-case names (as bytes) that match it.
_UNKNOWN_ALIASES = {}
for _short, _long in _COMPACT_UNKNOWN.items():
    _UNKNOWN_ALIASES[_short] = _UNKNOWN_ALIASES[_long] = (_long.encode(), _short.encode())
del _short, _long

# --- conversions -------------------------------------------------------------------

cdef inline str _decode(const char *s):
    """A NUL-terminated C string as str (None for NULL)."""
    if s == NULL:
        return None
    return s[:strlen(s)].decode("utf-8", "surrogateescape")


cdef bytes _to_bytes(object value, str what):
    """str or bytes -> bytes; anything else is a TypeError."""
    if isinstance(value, str):
        return (<str>value).encode("utf-8", "surrogateescape")
    if isinstance(value, bytes):
        return bytes(value)
    raise TypeError("%s must be str or bytes, not %s" % (what, type(value).__name__))


cdef bytes _text(object value, str what):
    """A header value, start-line element or similar: no NUL, CR or LF allowed."""
    cdef bytes b = _to_bytes(value, what)
    if b"\0" in b or b"\r" in b or b"\n" in b:
        raise OsipBadParameter("%s must not contain NUL, CR or LF characters" % what)
    return b


cdef bytes _token(object value, str what):
    """A non-empty RFC 3261 token (a header name or a method)."""
    cdef bytes b = _to_bytes(value, what)
    cdef const unsigned char *p = <const unsigned char *>PyBytes_AS_STRING(b)
    cdef Py_ssize_t i, n = PyBytes_GET_SIZE(b)
    if n == 0:
        raise OsipBadParameter("%s must not be empty" % what)
    for i in range(n):
        if not _is_token_char(p[i]):
            raise OsipBadParameter("%s is not a valid SIP token: %r" % (what, value))
    return b


cdef inline bint _is_token_char(unsigned char c) noexcept nogil:
    # RFC 3261 token: alphanum / "-" / "." / "!" / "%" / "*" / "_" / "+" / "`" / "'" / "~"
    if (b'a' <= c <= b'z') or (b'A' <= c <= b'Z') or (b'0' <= c <= b'9'):
        return True
    return (c == b'-' or c == b'.' or c == b'!' or c == b'%' or c == b'*' or c == b'_' or c == b'+'
            or c == b'`' or c == b"'" or c == b'~')


cdef str _item_str(int kind, void *item):
    cdef char *s = NULL
    cdef int rc = _item_to_str(kind, item, &s)
    if rc < 0:
        osip_free(s)
        if rc == OSIP_NOMEM:
            raise OsipNoMem("out of memory")
        # A parsed value that oSIP2 cannot print back (hostile input).
        raise OsipSyntaxError("a %s header of this message cannot be serialised (error %d)"
                              % (_KIND_NAME.get(kind, "known"), rc), code=-5)
    try:
        return _decode(s) if s != NULL else ""
    finally:
        osip_free(s)


cdef list _known_values(osip_message_t *m, int kind):
    cdef list out = []
    cdef void *item
    cdef osip_list_iterator_t it
    if _is_single(kind):
        item = _slot(m, kind)[0]
        if item != NULL:
            out.append(_item_str(kind, item))
        return out
    item = osip_list_get_first(_list(m, kind), &it)
    while item != NULL:
        out.append(_item_str(kind, item))
        item = osip_list_get_next(&it)
    return out


cdef inline bint _name_matches(const char *hname, tuple names):
    cdef bytes n
    if hname == NULL:
        return False
    for n in names:
        if osip_strcasecmp(hname, n) == 0:
            return True
    return False


cdef list _unknown_values(osip_message_t *m, tuple names):
    cdef list out = []
    cdef osip_header_t *h
    cdef osip_list_iterator_t it
    h = <osip_header_t *>osip_list_get_first(&m.headers, &it)
    while h != NULL:
        if _name_matches(h.hname, names):
            out.append(_decode(h.hvalue) if h.hvalue != NULL else "")
        h = <osip_header_t *>osip_list_get_next(&it)
    return out


cdef int _remove_known(osip_message_t *m, int kind) noexcept nogil:
    cdef void **slot
    cdef osip_list_t *lst
    cdef int n = 0
    if _is_single(kind):
        slot = _slot(m, kind)
        if slot[0] != NULL:
            _item_free(kind, slot[0])
            slot[0] = NULL
            n = 1
        return n
    lst = _list(m, kind)
    while osip_list_size(lst) > 0:
        _item_free(kind, osip_list_get(lst, 0))
        osip_list_remove(lst, 0)
        n += 1
    return n


cdef int _remove_unknown(osip_message_t *m, tuple names):
    cdef osip_header_t *h
    cdef osip_header_t *nxt
    cdef osip_list_iterator_t it
    cdef int n = 0
    h = <osip_header_t *>osip_list_get_first(&m.headers, &it)
    while h != NULL:
        if _name_matches(h.hname, names):
            nxt = <osip_header_t *>osip_list_iterator_remove(&it)
            osip_header_free(h)
            n += 1
            h = nxt
        else:
            h = <osip_header_t *>osip_list_get_next(&it)
    return n


cdef int _put_known(osip_message_t *m, int kind, bytes value, bint replace) except -1:
    """Parse value as a header of this kind and store it in m.

    The value goes through oSIP2's own header dispatcher (as a header line of
    a received message would, commas splitting repeatable headers) into a
    scratch message first, so a value that does not parse leaves m unchanged.
    replace drops the existing headers of this kind; otherwise the new ones are
    appended (and a once-per-message header must not exist yet).
    """
    cdef osip_message_t *tmp = NULL
    cdef char *hname = NULL
    cdef char *hvalue = NULL
    cdef bytes name = (<str>_KIND_NAME[kind]).encode("ascii")
    cdef void **src
    cdef void **dst
    cdef osip_list_t *tl
    cdef osip_list_t *ml
    cdef void *item
    cdef int rc
    if kind == K_CONTENT_LENGTH and not value.strip().isdigit():
        raise OsipSyntaxError("invalid Content-Length header value: %r" % (value,), code=-5)
    if kind == K_CSEQ and not (value.split() or [b""])[0].isdigit():
        raise OsipSyntaxError("invalid CSeq header value: %r" % (value,), code=-5)
    if not replace and _is_single(kind) and _slot(m, kind)[0] != NULL:
        raise OsipWrongState("the message already has a %s header; use set_header() to replace it"
                             % _KIND_NAME[kind])
    check(osip_message_init(&tmp), b"osip_message_init")
    try:
        hname = osip_strdup(name)
        hvalue = osip_strdup(value)
        if hname == NULL or hvalue == NULL:
            raise OsipNoMem("out of memory")
        rc = osip_message_set_multiple_header(tmp, hname, hvalue)
        if _is_single(kind):
            src = _slot(tmp, kind)
            if rc < 0 or src[0] == NULL:
                raise OsipSyntaxError("invalid %s header value: %r" % (_KIND_NAME[kind], value), code=-5)
            dst = _slot(m, kind)
            _item_free(kind, dst[0])
            dst[0] = src[0]
            src[0] = NULL
        else:
            tl = _list(tmp, kind)
            if rc < 0 or osip_list_size(tl) <= 0:
                raise OsipSyntaxError("invalid %s header value: %r" % (_KIND_NAME[kind], value), code=-5)
            ml = _list(m, kind)
            if replace:
                _remove_known(m, kind)
            while osip_list_size(tl) > 0:
                item = osip_list_get(tl, 0)
                if osip_list_add(ml, item, -1) < 0:
                    raise OsipNoMem("out of memory")
                osip_list_remove(tl, 0)
        osip_message_force_update(m)
    finally:
        osip_free(hname)
        osip_free(hvalue)
        osip_message_free(tmp)
    return 0


cdef tuple _unknown_names(str key):
    return _UNKNOWN_ALIASES.get(key) or (key.encode("ascii"),)


cdef int _check_head_has_no_nul(const char *buf, Py_ssize_t n) except -1:
    """Refuse input with a NUL byte before the end of the header section.

    oSIP2 scans the start line and headers as C strings, so a NUL there would
    silently cut the message short. NUL bytes in a body are fine: bodies are
    copied by length.
    """
    cdef const char *z = <const char *>memchr(buf, 0, n)
    cdef const char *p = buf
    if z == NULL:
        return 0
    while p < z and (p[0] == b'\r' or p[0] == b'\n'):
        p += 1
    while p + 1 < z:
        if (p[0] == b'\n' and (p[1] == b'\n' or (p[1] == b'\r' and p + 2 < z and p[2] == b'\n'))) \
                or (p[0] == b'\r' and p[1] == b'\r'):
            return 0
        p += 1
    raise OsipSyntaxError("NUL byte in the start line or headers of a SIP message", code=-5)


cdef const char *_parsed_message_problem(osip_message_t *m) noexcept nogil:
    """What oSIP2 accepts but a SIP message must not have, or NULL.

    oSIP2 reads the status code with sscanf("%d"), so "4294967301" wraps
    to 5, and it keeps a Content-Length such as "-999" while ignoring the
    body; both are refused here.
    """
    cdef const char *v
    if m.sip_method == NULL and not (100 <= m.status_code <= 699):
        return "the status code is not in 100..699"
    if m.content_length != NULL and m.content_length.value != NULL:
        v = m.content_length.value
        if v[0] == 0:
            return "empty Content-Length"
        while v[0] != 0:
            if not (b'0' <= v[0] <= b'9'):
                return "Content-Length is not a number"
            v += 1
    return NULL


cdef extern from "<strings.h>" nogil:
    int strncasecmp(const char *s1, const char *s2, size_t n)


cdef bint _mentions_multipart(const char *buf, Py_ssize_t n) noexcept nogil:
    cdef Py_ssize_t i
    for i in range(n - 8):
        if (buf[i] == b'm' or buf[i] == b'M') and strncasecmp(buf + i, "multipart", 9) == 0:
            return True
    return False


_BLANK_LINE = re.compile(rb"\r\n\r\n|\n\r\n|\n\n|\r\r")
_CONTENT_TYPE = re.compile(rb"content-type", re.IGNORECASE)
_CONTENT_TYPE_LINE = re.compile(rb"^(?:content-type|c)[ \t]*:(.*)$", re.IGNORECASE | re.MULTILINE)
_BOUNDARY_PARAM = re.compile(rb";[ \t]*boundary", re.IGNORECASE)
_BOUNDARY_VALUE = re.compile(rb"[ \t]*=[ \t]*([^; \t\r\n]*)")
_MULTIPART = re.compile(rb"multipart", re.IGNORECASE)


cdef int _check_mime_part_headers(bytes data) except -1:
    """Refuse a multipart body one of whose parts names Content-Type twice.

    oSIP2 5.3 (osip_body_set_contenttype) overwrites the part's first
    Content-Type without freeing it, so each such packet would leak memory.
    The rules are those of core/src/sipcheck.c (which refuses the same messages
    on the receive path and, with check_limits, here first); this copy also
    holds when the limits are off. A part's header lines run from an
    occurrence of "--" boundary (anywhere, as oSIP2 searches) to the next blank
    line; two "content-type" in such a stretch are refused. When the boundary
    cannot be read with certainty (none, quoted, the parameter twice), every
    run of lines between blank lines is such a stretch.
    """
    cdef Py_ssize_t start, end, i
    m = _BLANK_LINE.search(data, len(data) - len(data.lstrip(b"\r\n")))
    if m is None:
        return 0
    head = data[:m.start()]
    start = m.end()
    ctype = None
    for line in _CONTENT_TYPE_LINE.finditer(head):
        if _MULTIPART.search(line.group(1)):
            ctype = line.group(1)
            break
    if ctype is None:
        return 0
    types = [t.start() for t in _CONTENT_TYPE.finditer(data, start)]
    if len(types) < 2:
        return 0
    boundary = None
    params = list(_BOUNDARY_PARAM.finditer(ctype))
    if len(params) == 1:
        v = _BOUNDARY_VALUE.match(ctype, params[0].end())
        if v is not None and v.group(1) and not v.group(1).startswith(b'"'):
            boundary = b"--" + v.group(1)
    blanks = [b.end() for b in _BLANK_LINE.finditer(data, start)]
    if boundary is None:
        starts = [start] + blanks
    else:
        starts = []
        i = data.find(boundary, start)
        while i >= 0:
            starts.append(i)
            i = data.find(boundary, i + len(boundary))
    for d in starts:
        i = bisect.bisect_right(blanks, d)
        # the stretch ends where the next blank line begins (blanks holds their ends)
        end = blanks[i] if i < len(blanks) else len(data)
        if bisect.bisect_left(types, end) - bisect.bisect_left(types, d) >= 2:
            raise OsipSyntaxError("a MIME part names Content-Type more than once", code=-5)
    return 0


cdef inline str _kind_first(osip_message_t *m, int kind):
    cdef list values = _known_values(m, kind)
    return values[0] if values else None


# --- the message -------------------------------------------------------------------

cdef int _precheck(const char *ptr, Py_ssize_t n, bint limits) except -1:
    """The core's linear pre-parse check (eXosip_core_sip_precheck), with its default limits:
    what a context drops unparsed, OsipMessage.parse refuses with the same reason. Without
    *limits*, only the start line is checked (the first line alone goes through the check)."""
    cdef char why[256]
    cdef int rc
    cdef const char *eol
    if not EXOSIP2_HAVE_CORE_PRECHECK:
        return 0
    if not limits:
        while n > 0 and (ptr[0] == 13 or ptr[0] == 10):
            ptr += 1
            n -= 1
        eol = <const char *>memchr(ptr, 10, <size_t>n)
        if eol != NULL:
            n = eol - ptr + 1
    with nogil:
        rc = eXosip_core_sip_precheck(ptr, <size_t>n, why, sizeof(why))
    if rc != 0:
        raise OsipSyntaxError("not a valid SIP message: %s" % why.decode("ascii", "replace"), code=rc)
    return 0


@cython.no_gc_clear
cdef class OsipMessage:
    """A SIP message (request or response): oSIP2's ``osip_message_t``.

    ``OsipMessage()`` makes a new, empty request/response-to-be (SIP version
    ``SIP/2.0``, no start line, no headers) that this object owns; set
    :attr:`method` and :attr:`uri` (a request) or :attr:`status_code` (a
    response) and add headers before serialising it. To read a message from
    the wire use :meth:`parse`.

    Unlike the ctypes binding, whose constructor was ``OsipMessage(ptr)``, the
    constructor takes no native address: accepting raw integers from Python
    would let any caller make the library free or write arbitrary memory.
    Messages that live inside the SIP stack (those of events, those built by
    ``build_*`` calls) are wrapped by the binding itself; :attr:`ptr` still
    reports the address for debugging and for passing to other C code.
    """

    def __cinit__(self):
        self._ptr = NULL
        self._owned = False
        self._owner = None
        self._consumed = False

    def __init__(self, *args, **kwargs):
        """Make an empty message (no arguments; see the class documentation).

        :raises TypeError: for any argument, with a pointer-specific message for an int.
        """
        cdef osip_message_t *p = NULL
        if args or kwargs:
            if len(args) == 1 and not kwargs and isinstance(args[0], int):
                raise TypeError(
                    "OsipMessage() does not take a native pointer: raw addresses cannot be checked. "
                    "Use OsipMessage.parse(data) for a message from bytes, OsipMessage() for an empty "
                    "one; messages of the SIP stack come from events and build_* calls")
            raise TypeError("OsipMessage() takes no arguments; use OsipMessage.parse(data) to parse bytes")
        if self._ptr != NULL or self._consumed:
            raise OsipWrongState("this message is already initialised")
        check(osip_message_init(&p), b"osip_message_init")
        p.sip_version = osip_strdup(b"SIP/2.0")
        if p.sip_version == NULL:
            osip_message_free(p)
            raise OsipNoMem("out of memory")
        self._attach(p, True, None)

    def __dealloc__(self):
        # Only C fields here: _owner may already be gone during interpreter shutdown.
        if self._ptr != NULL:
            if self._owned:
                osip_message_free(self._ptr)
            self._ptr = NULL
            if COUNT_LIVE:
                live_add(LIVE_MESSAGE, -1)

    # --- native plumbing (Cython level) ---------------------------------------

    @staticmethod
    cdef OsipMessage from_ptr(osip_message_t *ptr, bint owned, object owner):
        cdef OsipMessage msg = OsipMessage.__new__(OsipMessage)
        msg._attach(ptr, owned, owner)
        return msg

    cdef int _attach(self, osip_message_t *ptr, bint owned, object owner) except -1:
        if ptr == NULL:
            raise OsipBadParameter("cannot wrap a NULL osip_message_t")
        if self._ptr != NULL:
            raise OsipWrongState("this OsipMessage already wraps a message")
        self._ptr = ptr
        self._owned = owned
        self._owner = owner
        self._consumed = False
        if COUNT_LIVE:
            live_add(LIVE_MESSAGE, 1)
        return 0

    cdef osip_message_t *_get(self) except NULL:
        if self._ptr == NULL:
            if self._consumed:
                raise OsipWrongState("this message was handed over to the SIP stack (sent) and can no "
                                     "longer be used; build or copy a new one")
            raise OsipWrongState("this OsipMessage holds no message (was __init__ skipped?)")
        return self._ptr

    cdef osip_message_t *_steal(self) except NULL:
        cdef osip_message_t *p = self._get()
        if not self._owned:
            raise OsipWrongState("a borrowed message cannot be handed over; send a copy() instead")
        self._ptr = NULL
        self._owned = False
        self._consumed = True
        if COUNT_LIVE:
            live_add(LIVE_MESSAGE, -1)
        return p

    cdef bytes _serialise(self):
        cdef osip_message_t *m = self._get()
        cdef char *s = NULL
        cdef size_t n = 0
        cdef int rc
        cdef bytes out
        if m.sip_method == NULL and m.status_code == 0:
            raise OsipWrongState("cannot serialise a message without a start line: set method and uri "
                                 "(request) or status_code (response)")
        if m.sip_method != NULL and m.req_uri == NULL:
            raise OsipWrongState("cannot serialise a request without a request URI (set uri)")
        rc = osip_message_to_str(m, &s, &n)
        if rc < 0 or s == NULL:
            osip_free(s)
            check(rc if rc < 0 else OSIP_UNDEFINED_ERROR, b"osip_message_to_str")
        try:
            out = PyBytes_FromStringAndSize(s, n)
        finally:
            osip_free(s)
        return _fix_content_length(m, out)

    # --- construction and serialisation ---------------------------------------

    @classmethod
    def parse(cls, data, *, check_limits=True):
        """Parse one SIP message.

        :param data: the message as received: :class:`bytes`, :class:`bytearray`,
            :class:`memoryview` (copied) or :class:`str` (encoded as UTF-8).
        :param check_limits: ``False`` skips the core's pre-parse limits below
            (for trusted input, such as a large message of your own; oSIP2's
            cost then grows with the square of the number of headers or
            parameters). The start-line check stays.
        :returns: a new message that owns its native structure.
        :raises TypeError: for any other type.
        :raises OsipSyntaxError: when oSIP2 cannot parse *data*, it is empty, or
            it holds a NUL byte before the end of its headers; and, before oSIP2
            sees it, when its first line is not a SIP request or status line or
            it exceeds one of the core's default parse limits (more header lines
            than ``EXOSIP_CORE_OPT_MAX_HEADERS``, more ``;`` parameters in one
            header or in the Request-URI than ``EXOSIP_CORE_OPT_MAX_PARAMS``,
            more comma-separated values in one header than
            ``EXOSIP_CORE_OPT_MAX_HEADER_VALUES``); the message names the limit.
            This is the check a context runs on what it receives (built against
            an installed libeXosip2, which has no such check, only oSIP2 runs).

        The parse runs with the GIL released for inputs of at least
        :data:`PARSE_NOGIL_THRESHOLD` bytes. oSIP2 is lenient: a start line
        alone, or headers without the final empty line, parse; a body is kept
        only when the message has a Content-Type. On top of oSIP2 the binding
        refuses status codes outside 100..699, a Content-Length that is not a
        number and MIME parts that name Content-Type twice.
        """
        cdef bytes buf
        cdef const char *ptr
        cdef Py_ssize_t n
        cdef osip_message_t *p = NULL
        cdef int rc
        cdef const char *reason
        cdef OsipMessage msg
        if isinstance(data, bytes):
            buf = <bytes>data
        elif isinstance(data, str):
            buf = (<str>data).encode("utf-8", "surrogateescape")
        elif isinstance(data, (bytearray, memoryview)):
            buf = bytes(data)
        else:
            raise TypeError("a SIP message must be bytes, bytearray, memoryview or str, not %s"
                            % type(data).__name__)
        n = PyBytes_GET_SIZE(buf)
        if n == 0:
            raise OsipSyntaxError("empty input is not a SIP message", code=-5)
        ptr = PyBytes_AS_STRING(buf)
        _check_head_has_no_nul(ptr, n)
        _precheck(ptr, n, check_limits)
        if _mentions_multipart(ptr, n):
            _check_mime_part_headers(buf)
        if not issubclass(cls, OsipMessage):
            raise TypeError("%r is not an OsipMessage class" % (cls,))
        msg = cls.__new__(cls)
        check(osip_message_init(&p), b"osip_message_init")
        if n >= _nogil_threshold:
            with nogil:
                rc = osip_message_parse(p, ptr, <size_t>n)
        else:
            rc = osip_message_parse(p, ptr, <size_t>n)
        if rc < 0:
            osip_message_free(p)
            raise OsipSyntaxError("osip_message_parse() failed: not a valid SIP message (error %d)" % rc,
                                  code=-5)
        reason = _parsed_message_problem(p)
        if reason != NULL:
            osip_message_free(p)
            raise OsipSyntaxError("not a valid SIP message: %s" % reason.decode("ascii"), code=-5)
        msg._attach(p, True, None)
        return msg

    def to_bytes(self):
        """The message as it goes on the wire (:class:`bytes`).

        Content-Length is always recomputed from the bodies. Serialising keeps
        the GIL: ``osip_message_to_str`` caches the text inside the message, so
        two threads must not run it on one message at the same time (it costs
        a few microseconds, and nothing when the message is unchanged).

        :raises OsipWrongState: when the message has no start line yet, or is consumed.
        """
        return self._serialise()

    def __bytes__(self):
        """Same as :meth:`to_bytes`."""
        return self._serialise()

    def __str__(self):
        """The serialised message decoded as UTF-8 (``surrogateescape``)."""
        return self._serialise().decode("utf-8", "surrogateescape")

    def __repr__(self):
        """A one-line summary; never raises."""
        cdef osip_message_t *m = self._ptr
        name = type(self).__name__
        if m == NULL:
            return "<%s %s>" % (name, "consumed" if self._consumed else "uninitialised")
        try:
            if m.sip_method != NULL:
                uri = self.uri
                line = "%s %s" % (_decode(m.sip_method), uri if uri is not None else "?")
            elif m.status_code != 0:
                line = "%d %s" % (m.status_code, _decode(m.reason_phrase) or "")
            else:
                line = "(no start line)"
            call_id = _kind_first(m, K_CALL_ID)
        except Exception:  # a broken message still gets a summary
            line, call_id = "(unprintable)", None
        return "<%s %s call_id=%r %s at 0x%x>" % (
            name, line, call_id, "owned" if self._owned else "borrowed", <size_t>m)

    def copy(self):
        """A deep copy (``osip_message_clone``) that the new object owns.

        Copies of borrowed or built messages are independent of the original.
        """
        cdef osip_message_t *dst = NULL
        cdef osip_message_t *src = self._get()
        check(osip_message_clone(src, &dst), b"osip_message_clone")
        return OsipMessage.from_ptr(dst, True, None)

    def __copy__(self):
        """Same as :meth:`copy` (the native message is never shared)."""
        return self.copy()

    def __deepcopy__(self, memo):
        """Same as :meth:`copy`."""
        return self.copy()

    def __reduce__(self):
        """Pickle as the serialised message."""
        return (_unpickle, (self._serialise(),))

    @property
    def ptr(self):
        """Address of the native ``osip_message_t`` (read-only int), for debugging
        and for C code; the object stays responsible for its lifetime."""
        return <size_t>self._get()

    @property
    def owned(self):
        """True when this object frees the native message; False when it is borrowed."""
        self._get()
        return bool(self._owned)

    @property
    def consumed(self):
        """True once the message was handed over to the SIP stack (then unusable)."""
        return bool(self._consumed)

    # --- start line -------------------------------------------------------------

    @property
    def is_request(self):
        """True for a request (it has a method)."""
        cdef osip_message_t *m = self._get()
        return m.sip_method != NULL and m.status_code == 0

    @property
    def is_response(self):
        """True for a response (it has a status code)."""
        return self._get().status_code != 0

    @property
    def method(self):
        """The request method (str), or None for a response.

        Settable on requests and on empty messages (which become requests);
        the value must be an RFC 3261 token.
        """
        return _decode(self._get().sip_method)

    @method.setter
    def method(self, value):
        cdef osip_message_t *m = self._get()
        cdef bytes b = _token(value, "method")
        cdef char *copy
        if m.status_code != 0:
            raise OsipWrongState("a response has no method")
        copy = osip_strdup(b)
        if copy == NULL:
            raise OsipNoMem("out of memory")
        osip_free(m.sip_method)
        m.sip_method = copy
        osip_message_force_update(m)

    @property
    def uri(self):
        """The request URI (str), or None for a response.

        Settable on requests and empty messages; the value must parse as a URI.
        """
        cdef osip_message_t *m = self._get()
        cdef char *s = NULL
        if m.req_uri == NULL:
            return None
        check(osip_uri_to_str(m.req_uri, &s), b"osip_uri_to_str")
        try:
            return _decode(s)
        finally:
            osip_free(s)

    @uri.setter
    def uri(self, value):
        cdef osip_message_t *m = self._get()
        cdef bytes b = _text(value, "uri")
        cdef osip_uri_t *u = NULL
        cdef int rc
        if m.status_code != 0:
            raise OsipWrongState("a response has no request URI")
        check(osip_uri_init(&u), b"osip_uri_init")
        rc = osip_uri_parse(u, b)
        if rc < 0:
            osip_uri_free(u)
            raise OsipSyntaxError("invalid request URI: %r" % (value,), code=-5)
        osip_uri_free(m.req_uri)
        m.req_uri = u
        osip_message_force_update(m)

    @property
    def status_code(self):
        """The status code (int) of a response, or None for a request.

        Settable on responses and empty messages (which become responses), in
        100..699; an empty reason phrase is then filled with the standard one.
        """
        cdef int code = self._get().status_code
        return code if code != 0 else None

    @status_code.setter
    def status_code(self, value):
        cdef osip_message_t *m = self._get()
        cdef const char *reason
        if isinstance(value, bool) or not isinstance(value, int):
            raise TypeError("status_code must be an int, not %s" % type(value).__name__)
        if not 100 <= value <= 699:
            raise OsipBadParameter("status_code must be in 100..699, not %d" % value)
        if m.sip_method != NULL:
            raise OsipWrongState("a request has no status code")
        m.status_code = value
        if m.reason_phrase == NULL:
            reason = osip_message_get_reason(value)
            if reason == NULL:
                reason = b""
            m.reason_phrase = osip_strdup(reason)
            if m.reason_phrase == NULL:
                raise OsipNoMem("out of memory")
        osip_message_force_update(m)

    @property
    def reason_phrase(self):
        """The reason phrase (str) of a response, or None for a request. Settable on responses."""
        return _decode(self._get().reason_phrase)

    @reason_phrase.setter
    def reason_phrase(self, value):
        cdef osip_message_t *m = self._get()
        cdef bytes b = _text(value, "reason_phrase")
        cdef char *copy
        if m.sip_method != NULL:
            raise OsipWrongState("a request has no reason phrase")
        copy = osip_strdup(b)
        if copy == NULL:
            raise OsipNoMem("out of memory")
        osip_free(m.reason_phrase)
        m.reason_phrase = copy
        osip_message_force_update(m)

    @property
    def sip_version(self):
        """The protocol version of the start line (normally ``"SIP/2.0"``). Settable."""
        return _decode(self._get().sip_version)

    @sip_version.setter
    def sip_version(self, value):
        cdef osip_message_t *m = self._get()
        cdef bytes b = _text(value, "sip_version")
        cdef char *copy
        if not b or b" " in b:
            raise OsipBadParameter("sip_version must be one word such as 'SIP/2.0'")
        copy = osip_strdup(b)
        if copy == NULL:
            raise OsipNoMem("out of memory")
        osip_free(m.sip_version)
        m.sip_version = copy
        osip_message_force_update(m)

    # --- generic header access ---------------------------------------------------

    def get_headers(self, name):
        """All values of the header *name*, in message order (list of str).

        *name* is case-insensitive and may be a compact form (``v``, ``i``,
        ``k``...). Headers oSIP2 parses (Via, Contact, Allow, ...) are returned
        one value per element, as oSIP2 serialises them (a header line with
        commas yields several values); other headers are returned one value per
        header line, as received. An absent header gives ``[]``.

        The ctypes binding only searched the "unknown" headers here; known
        headers are now found too.
        """
        cdef osip_message_t *m = self._get()
        cdef str key = _token(name, "header name").decode("ascii").lower()
        cdef int kind = _KNOWN.get(key, K_UNKNOWN)
        if kind != K_UNKNOWN:
            return _known_values(m, kind)
        return _unknown_values(m, _unknown_names(key))

    def get_header(self, name):
        """The first value of the header *name* (str), or None when absent.

        See :meth:`get_headers` for how names are matched.
        """
        values = self.get_headers(name)
        return values[0] if values else None

    def add_header(self, name, value):
        """Append a header.

        Known headers are parsed (raising :class:`OsipSyntaxError` when the
        value is invalid; a comma-separated value of a repeatable header adds
        one element per item); once-per-message headers (From, To, Call-ID,
        CSeq, Content-Type, Content-Length, MIME-Version) that already exist
        raise :class:`OsipWrongState` — use :meth:`set_header`. Other names are
        stored verbatim as unknown headers.

        :raises OsipBadParameter: when *name* is not a token or *value* holds CR, LF or NUL.
        """
        cdef osip_message_t *m = self._get()
        cdef bytes bname = _token(name, "header name")
        cdef bytes bvalue = _text(value, "header value")
        cdef int kind = _KNOWN.get(bname.decode("ascii").lower(), K_UNKNOWN)
        if kind != K_UNKNOWN:
            _put_known(m, kind, bvalue, False)
            return
        check(osip_message_set_header(m, bname, bvalue), b"osip_message_set_header")
        osip_message_force_update(m)

    def set_header(self, name, value):
        """Replace every header *name* (any spelling) by one with *value*.

        A *value* of None removes the header (as :meth:`remove_header`).
        Known headers are parsed first, so an invalid value raises
        :class:`OsipSyntaxError` and leaves the message unchanged.
        """
        cdef osip_message_t *m = self._get()
        cdef bytes bname = _token(name, "header name")
        cdef str key = bname.decode("ascii").lower()
        cdef int kind = _KNOWN.get(key, K_UNKNOWN)
        cdef bytes bvalue
        if value is None:
            self.remove_header(name)
            return
        bvalue = _text(value, "header value")
        if kind != K_UNKNOWN:
            _put_known(m, kind, bvalue, True)
            return
        _remove_unknown(m, _unknown_names(key))
        check(osip_message_set_header(m, bname, bvalue), b"osip_message_set_header")
        osip_message_force_update(m)

    def remove_header(self, name):
        """Remove every header *name* (any spelling); returns how many values were removed."""
        cdef osip_message_t *m = self._get()
        cdef str key = _token(name, "header name").decode("ascii").lower()
        cdef int kind = _KNOWN.get(key, K_UNKNOWN)
        cdef int n
        if kind != K_UNKNOWN:
            n = _remove_known(m, kind)
        else:
            n = _remove_unknown(m, _unknown_names(key))
        if n:
            osip_message_force_update(m)
        return n

    # --- the headers of the ctypes binding ------------------------------------

    @property
    def call_id(self):
        """The Call-ID (str), or None. Settable (None removes it)."""
        return _kind_first(self._get(), K_CALL_ID)

    @call_id.setter
    def call_id(self, value):
        self.set_header("Call-ID", value)

    @property
    def from_(self):
        """The From header (str), or None. Settable (None removes it)."""
        return _kind_first(self._get(), K_FROM)

    @from_.setter
    def from_(self, value):
        self.set_header("From", value)

    @property
    def to(self):
        """The To header (str), or None. Settable (None removes it)."""
        return _kind_first(self._get(), K_TO)

    @to.setter
    def to(self, value):
        self.set_header("To", value)

    @property
    def contacts(self):
        """The Contact values (list of str)."""
        return _known_values(self._get(), K_CONTACT)

    def add_contact(self, val):
        """Append a Contact header (*val* is parsed; commas add several)."""
        self.add_header("Contact", val)

    # --- header objects (exosip2.headers) ----------------------------------------

    @property
    def from_header(self):
        """The From header as a :class:`~exosip2.headers.NameAddr` (display name, URI, tag, params), or None.

        Settable on a message this program owns, with a NameAddr or its text
        (parsed by oSIP2); None removes the header. The string property
        :attr:`from_` stays as it was.

        :raises OsipSyntaxError: when the message's From cannot be read as one
            (a port out of range, a tag without value, ...).
        :raises OsipWrongState: when setting it on a borrowed message (an event's).
        """
        cdef osip_message_t *m = self._get()
        if m.from_ == NULL:
            return None
        return name_addr_from_c(m.from_, "the From header")

    @from_header.setter
    def from_header(self, value):
        _owned_for(self, "from_header")
        self.set_header("From", _name_addr_text(value, "from_header"))

    @property
    def to_header(self):
        """The To header as a :class:`~exosip2.headers.NameAddr`, or None; settable as :attr:`from_header`."""
        cdef osip_message_t *m = self._get()
        if m.to == NULL:
            return None
        return name_addr_from_c(m.to, "the To header")

    @to_header.setter
    def to_header(self, value):
        _owned_for(self, "to_header")
        self.set_header("To", _name_addr_text(value, "to_header"))

    @property
    def contact_headers(self):
        """The Contact values as a list of :class:`~exosip2.headers.NameAddr` (the Contact ``*`` is
        :data:`~exosip2.headers.WILDCARD`).

        Settable on an owned message with a sequence of NameAddr (or their
        text): they replace every Contact, one header each; an empty sequence
        (or None) removes them all. :attr:`contacts` (strings) stays.
        """
        cdef osip_message_t *m = self._get()
        cdef list out = []
        cdef osip_list_iterator_t it
        cdef osip_contact_t *c
        cdef int n = 0
        c = <osip_contact_t *>osip_list_get_first(&m.contacts, &it)
        while c != NULL:
            n += 1
            out.append(name_addr_from_c(c, "Contact header %d" % n))
            c = <osip_contact_t *>osip_list_get_next(&it)
        return out

    @contact_headers.setter
    def contact_headers(self, values):
        cdef list texts
        _owned_for(self, "contact_headers")
        if values is None:
            values = ()
        if isinstance(values, (str, bytes, NameAddr)):
            raise TypeError("contact_headers takes a sequence of NameAddr (or their text), not one %s"
                            % type(values).__name__)
        texts = []
        for v in values:
            if v is None:
                raise TypeError("contact_headers: None is not a Contact")
            texts.append(_name_addr_text(v, "contact_headers"))
        # each text was written by oSIP2 from a NameAddr that reads back the same: none fails here
        self.remove_header("Contact")
        for t in texts:
            self.add_header("Contact", t)

    @property
    def request_uri(self):
        """The request URI as a :class:`~exosip2.headers.Uri`, or None for a response.

        Settable on an owned request (or empty message) with a Uri or its text;
        :attr:`uri` (a string) stays.
        """
        cdef osip_message_t *m = self._get()
        if m.req_uri == NULL:
            return None
        return uri_from_c(m.req_uri, "the request URI")

    @request_uri.setter
    def request_uri(self, value):
        _owned_for(self, "request_uri")
        if isinstance(value, (str, bytes)):
            value = Uri.parse(value)
        if not isinstance(value, Uri):
            raise TypeError("request_uri must be a Uri (or its text), not %s" % type(value).__name__)
        self.uri = str(value)

    @property
    def allows(self):
        """The Allow values, one method per element (list of str)."""
        return _known_values(self._get(), K_ALLOW)

    def add_allow(self, val):
        """Append an Allow header (``"INVITE, ACK"`` adds two values)."""
        self.add_header("Allow", val)

    @property
    def content_type(self):
        """The Content-Type (str, with parameters), or None. Settable (None removes it)."""
        return _kind_first(self._get(), K_CONTENT_TYPE)

    @content_type.setter
    def content_type(self, value):
        self.set_header("Content-Type", value)

    @property
    def content_length(self):
        """The Content-Length value (int) as received or set, or None when absent.

        Serialising a message always writes the real length of its bodies.
        """
        cdef osip_message_t *m = self._get()
        if m.content_length == NULL or m.content_length.value == NULL:
            return None
        return _int_value(m.content_length.value, "Content-Length")

    @property
    def bodies(self):
        """The bodies (list of str; for a multipart message, one per part with
        its part headers, which oSIP2 writes with lower-case names)."""
        return [b.decode("utf-8", "surrogateescape") for b in self.raw_bodies]

    @property
    def raw_bodies(self):
        """The bodies as :class:`bytes` (exact, for binary content)."""
        cdef osip_message_t *m = self._get()
        cdef list out = []
        cdef osip_body_t *body
        cdef osip_list_iterator_t it
        cdef char *s
        cdef size_t n
        body = <osip_body_t *>osip_list_get_first(&m.bodies, &it)
        while body != NULL:
            s = NULL
            n = 0
            check(osip_body_to_str(body, &s, &n), b"osip_body_to_str")
            try:
                if s != NULL:
                    out.append(PyBytes_FromStringAndSize(s, n))
                else:
                    out.append(b"")
            finally:
                osip_free(s)
            body = <osip_body_t *>osip_list_get_next(&it)
        return out

    def add_body(self, val):
        """Append a body (str or bytes; bytes may hold any octets).

        Set :attr:`content_type` to describe it. The Content-Length written on
        serialisation is computed from the bodies.
        """
        cdef osip_message_t *m = self._get()
        cdef bytes b = _to_bytes(val, "body")
        if not b:
            raise OsipBadParameter("a body must not be empty")
        check(osip_message_set_body(m, PyBytes_AS_STRING(b), <size_t>PyBytes_GET_SIZE(b)),
              b"osip_message_set_body")
        osip_message_force_update(m)

    def clear_bodies(self):
        """Remove every body; the Content-Length written on serialisation becomes 0.

        The Content-Type header is left alone: set or remove it as the new
        content requires.
        """
        cdef osip_message_t *m = self._get()
        osip_list_special_free(&m.bodies, <void (*)(void *) noexcept nogil>osip_body_free)
        osip_message_force_update(m)

    def set_body(self, val, content_type=None):
        """Replace every body with *val* (str or bytes), e.g. an edited SDP.

        When *content_type* is given it becomes the Content-Type header. The
        arguments are checked before anything changes, so a bad one leaves the
        message as it was.
        """
        cdef osip_message_t *m = self._get()
        cdef bytes b = _to_bytes(val, "body")
        if not b:
            raise OsipBadParameter("a body must not be empty")
        if content_type is not None:
            self.content_type = content_type
        osip_list_special_free(&m.bodies, <void (*)(void *) noexcept nogil>osip_body_free)
        check(osip_message_set_body(m, PyBytes_AS_STRING(b), <size_t>PyBytes_GET_SIZE(b)),
              b"osip_message_set_body")
        osip_message_force_update(m)

    # --- more headers --------------------------------------------------------------

    @property
    def cseq(self):
        """The CSeq as ``CSeq(number: int, method: str)``, or None.

        Settable from such a pair or from a string such as ``"1 INVITE"``.
        """
        cdef osip_message_t *m = self._get()
        if m.cseq == NULL:
            return None
        return CSeq(_int_value(m.cseq.number, "CSeq"), _decode(m.cseq.method) or "")

    @cseq.setter
    def cseq(self, value):
        if isinstance(value, tuple) and len(value) == 2:
            number, method = value
            if isinstance(number, bool) or not isinstance(number, int):
                raise TypeError("the CSeq number must be an int, not %s" % type(number).__name__)
            if not 0 <= number < 2 ** 31:
                raise OsipBadParameter("the CSeq number must be in 0..2**31-1")
            value = b"%d %s" % (number, _token(method, "CSeq method"))
        self.set_header("CSeq", value)

    @property
    def vias(self):
        """The Via values, top first (list of str)."""
        return _known_values(self._get(), K_VIA)

    @property
    def routes(self):
        """The Route values (list of str)."""
        return _known_values(self._get(), K_ROUTE)

    @property
    def record_routes(self):
        """The Record-Route values (list of str)."""
        return _known_values(self._get(), K_RECORD_ROUTE)

    @property
    def max_forwards(self):
        """Max-Forwards (int), or None. Settable with an int in 0..255 (None removes it)."""
        value = self.get_header("Max-Forwards")
        if value is None:
            return None
        return _int_text(value, "Max-Forwards")

    @max_forwards.setter
    def max_forwards(self, value):
        if value is not None:
            if isinstance(value, bool) or not isinstance(value, int):
                raise TypeError("max_forwards must be an int, not %s" % type(value).__name__)
            if not 0 <= value <= 255:
                raise OsipBadParameter("max_forwards must be in 0..255")
            value = str(value)
        self.set_header("Max-Forwards", value)

    @property
    def expires(self):
        """The Expires header (int seconds), or None. Settable with an int >= 0 (None removes it)."""
        value = self.get_header("Expires")
        if value is None:
            return None
        return _int_text(value, "Expires")

    @expires.setter
    def expires(self, value):
        if value is not None:
            if isinstance(value, bool) or not isinstance(value, int):
                raise TypeError("expires must be an int, not %s" % type(value).__name__)
            if not 0 <= value < 2 ** 32:
                raise OsipBadParameter("expires must be in 0..2**32-1")
            value = str(value)
        self.set_header("Expires", value)

    @property
    def user_agent(self):
        """The User-Agent header (str), or None. Settable (None removes it)."""
        return self.get_header("User-Agent")

    @user_agent.setter
    def user_agent(self, value):
        self.set_header("User-Agent", value)


@cython.no_gc_clear
cdef class ExosipMessage(OsipMessage):
    """A message built by the SIP stack of one :class:`~exosip2.context.Context`.

    The subclasses of :mod:`exosip2.call` (``InitInvite``, ``Ack``,
    ``Answer``, in-call requests) and :mod:`exosip2.request` (out-of-dialog
    MESSAGE, OPTIONS and their answers) build one with the matching
    ``eXosip_*_build_*`` call and send it with :meth:`send`. The message keeps
    its context alive; once sent it is consumed (further use raises
    :class:`~exosip2.error.OsipWrongState`), and a closed context makes
    :meth:`send` raise :class:`~exosip2.context.ContextClosedError`.
    """

    cdef int _adopt(self, object context, int rc, osip_message_t *m, const char *func) except -1:
        if rc < 0 or m == NULL:
            if m != NULL:
                osip_message_free(m)
            check(rc if rc < 0 else -1, func)
        self._attach(m, True, None)
        self._context = context
        return 0

    def __cinit__(self):
        self._context = None

    def __init__(self, *args, **kwargs):
        """Not for direct use: build messages with the subclasses or Context.build_message.

        :raises TypeError: always.
        """
        raise TypeError("ExosipMessage is built by its subclasses (exosip2.call, exosip2.request) "
                        "or by Context.build_message")

    @property
    def context(self):
        """The :class:`~exosip2.context.Context` this message was built by."""
        return self._context

    def send(self):
        """Hand the message to the SIP stack (implemented by each subclass)."""
        raise NotImplementedError("%s cannot be sent by itself" % type(self).__name__)


cdef int _owned_for(OsipMessage msg, str what) except -1:
    msg._get()
    if not msg._owned:
        raise OsipWrongState("cannot set %s: this message is borrowed (it belongs to an event or to the "
                             "SIP stack); change a copy() instead" % what)
    return 0


cdef str _name_addr_text(object value, str what):
    """A NameAddr argument (or its text, parsed) as the text oSIP2 writes for it; None stays None."""
    if value is None:
        return None
    if isinstance(value, (str, bytes)):
        value = NameAddr.parse(value)
    if not isinstance(value, NameAddr):
        raise TypeError("%s takes a NameAddr (or its text), not %s" % (what, type(value).__name__))
    if (<NameAddr>value).uri is None and what != "contact_headers":
        raise OsipBadParameter("%s cannot be the Contact '*'" % what)
    return str(value)


cdef object _int_value(const char *s, str what):
    if s == NULL:
        raise OsipSyntaxError("%s has no value" % what, code=-5)
    return _int_text(_decode(s), what)


cdef object _int_text(str text, str what):
    cdef str t = text.strip()
    if not t.isdigit() or not t.isascii():
        raise OsipSyntaxError("%s is not a number: %r" % (what, text), code=-5)
    return int(t)


cdef bytes _fix_content_length(osip_message_t *m, bytes out):
    """Correct the Content-Length of bodies of 100000 bytes and more.

    osip_message_to_str reserves five characters for the value and writes a
    longer number over the preceding characters; the text after the header
    section is the body, so its real length is known here.
    """
    cdef Py_ssize_t end, start, body_len
    if osip_list_size(&m.bodies) <= 0 or PyBytes_GET_SIZE(out) < _OSIP_CL_DIGITS_LIMIT:
        return out
    end = out.find(b"\r\n\r\n")
    if end < 0:
        return out
    body_len = len(out) - end - 4
    if body_len < _OSIP_CL_DIGITS_LIMIT:
        return out
    start = out.rfind(b"\r\n", 0, end)
    if start < 0 or not out[start + 2:end].lower().startswith(b"content-length"):
        return out
    return out[:start + 2] + b"Content-Length: %d" % body_len + out[end:]


def _unpickle(data):
    """Rebuild a pickled :class:`OsipMessage`."""
    return OsipMessage.parse(data)


cdef extern from *:
    """
    #include <osipparser2/osip_port.h>
    /* oSIP2 5.3 sends its traces to stdout unless told otherwise: the first
       trace of an unconfigured process enables FATAL..ERROR on stdout, so every
       malformed packet would print a line. Route them to a sink instead, unless
       someone already configured tracing (a level is on). */
    static void exosip2_message_trace_sink(const char *fi, int li, osip_trace_level_t level,
                                           const char *chfr, va_list ap) {
      (void) fi; (void) li; (void) level; (void) chfr; (void) ap;
    }
    static void exosip2_message_quiet_osip_trace(void) {
      int i;
      for (i = 0; i < END_TRACE_LEVEL; i++)
        if (osip_is_trace_level_activate((osip_trace_level_t) i))
          return;
      osip_trace_initialize_func(TRACE_LEVEL0, exosip2_message_trace_sink);
    }
    """
    void exosip2_message_quiet_osip_trace() nogil


def _init_parser():
    check(parser_init(), b"parser_init")
    exosip2_message_quiet_osip_trace()


_init_parser()


cdef bytes text_arg(object value, str what, bint optional=False):
    if value is None:
        if optional:
            return None
        raise TypeError("%s is required" % what)
    if isinstance(value, str):
        return (<str>value).encode("utf-8", "surrogateescape")
    if isinstance(value, bytes):
        return <bytes>value
    raise TypeError("%s must be str or bytes, not %s" % (what, type(value).__name__))
