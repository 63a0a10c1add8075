# SPDX-License-Identifier: Apache-2.0
"""SDP bodies (RFC 4566): parse, read, change, build and serialise them with oSIP2.

:class:`SdpMessage` owns one oSIP2 ``sdp_message_t``; its media sections are
:class:`SdpMedia` objects that borrow from it. Text is str in and str out
(UTF-8; bytes are accepted wherever str is). Bytes that are not UTF-8 are
kept with the ``surrogateescape`` error handler, so what was read can be
written back unchanged.

Parsing is stricter than oSIP2 alone: the body must fit :data:`MAX_SIZE` bytes
and :data:`MAX_LINES` lines, must not contain NUL bytes, and numeric fields
(version, ports, times, bandwidths) must be decimal numbers. Anything else
raises :class:`~exosip2.error.OsipSyntaxError` (a :class:`ValueError`).

Serialising writes CRLF line endings and the line order of RFC 4566, so a
body that already follows it (as real offers and answers do) comes back byte
for byte; lines the binding does not expose (r=, z=, k=) are kept as they were.
Every body that parses serialises into one that parses again to the same fields.
"""

cimport cython
from libc.string cimport strlen, strcmp

from exosip2.includes.sdp_message cimport *
from exosip2.includes.osip_port cimport osip_free, osip_strdup
from exosip2.includes.osip_parser cimport osip_message_t
from exosip2.includes.osip_body cimport (
    osip_body_t, osip_content_type_t, osip_message_get_body, osip_message_get_content_type)
from exosip2.error cimport check
from exosip2._debug cimport COUNT_LIVE, live_add, LIVE_SDP
from exosip2.message cimport OsipMessage

import time as _time
import weakref as _weakref
from collections import namedtuple as _namedtuple

from exosip2.error import OsipNotFound, OsipSyntaxError

__all__ = [
    "SdpMessage", "SdpMedia", "Origin", "Connection", "Bandwidth", "Timing", "Attribute", "RtpMap",
    "DIRECTIONS", "MAX_SIZE", "MAX_LINES",
]

#: Largest SDP body :meth:`SdpMessage.parse` accepts, in bytes.
MAX_SIZE = 65536
#: Largest number of lines :meth:`SdpMessage.parse` accepts.
MAX_LINES = 4096
#: The media direction attributes of RFC 3264, in their usual order.
DIRECTIONS = ("sendrecv", "sendonly", "recvonly", "inactive")

cdef Py_ssize_t _MAX_SIZE = MAX_SIZE
cdef Py_ssize_t _MAX_LINES = MAX_LINES
# Longest decimal number accepted in a numeric field (NTP times need 10 to 20 digits).
cdef Py_ssize_t _MAX_DIGITS = 20
cdef int _SYNTAX = -5
# Largest value of a numeric field (20 digits at most, as the parser requires).
_U64 = 2 ** 64 - 1

Origin = _namedtuple("Origin", "username session_id session_version network_type address_type address")
Origin.__doc__ = """The o= line: who made the session and where (all fields are str)."""

Connection = _namedtuple("Connection", "network_type address_type address")
Connection.__doc__ = """A c= line, e.g. ``Connection("IN", "IP4", "192.0.2.1")``.

A multicast address keeps its ``/ttl`` and ``/count`` suffixes, as written in SDP."""

Bandwidth = _namedtuple("Bandwidth", "type value")
Bandwidth.__doc__ = """A b= line: the bandwidth *type* (``"AS"``, ``"CT"``, ``"TIAS"``, …) and its int *value*."""

Timing = _namedtuple("Timing", "start stop")
Timing.__doc__ = """A t= line: NTP *start* and *stop* times as ints (0 means unbounded)."""

Attribute = _namedtuple("Attribute", "field value")
Attribute.__doc__ = """An a= line: its *field* name and its *value* (None for a flag such as ``a=sendonly``)."""

RtpMap = _namedtuple("RtpMap", "encoding clock_rate channels")
RtpMap.__doc__ = """What an rtpmap says of a payload type: *encoding* name, int *clock_rate*, int *channels*
(None when not given)."""

# RFC 3551's static payload types, used when a format has no a=rtpmap line.
_STATIC_PAYLOADS = {
    "0": ("PCMU", 8000, None), "3": ("GSM", 8000, None), "4": ("G723", 8000, None),
    "5": ("DVI4", 8000, None), "6": ("DVI4", 16000, None), "7": ("LPC", 8000, None),
    "8": ("PCMA", 8000, None), "9": ("G722", 8000, None), "10": ("L16", 44100, 2),
    "11": ("L16", 44100, None), "12": ("QCELP", 8000, None), "13": ("CN", 8000, None),
    "14": ("MPA", 90000, None), "15": ("G728", 8000, None), "16": ("DVI4", 11025, None),
    "17": ("DVI4", 22050, None), "18": ("G729", 8000, None), "25": ("CelB", 90000, None),
    "26": ("JPEG", 90000, None), "28": ("nv", 90000, None), "31": ("H261", 90000, None),
    "32": ("MPV", 90000, None), "33": ("MP2T", 90000, None), "34": ("H263", 90000, None),
}


# --- conversions -------------------------------------------------------------------------------

cdef inline object _str(const char *p):
    if p == NULL:
        return None
    return p[:strlen(p)].decode("utf-8", "surrogateescape")


cdef bytes _encode(object value, str what, bint spaces):
    """Return *value* (str or bytes) as bytes fit for one SDP field, or raise TypeError/ValueError."""
    cdef bytes raw
    if isinstance(value, str):
        raw = (<str>value).encode("utf-8", "surrogateescape")
    elif isinstance(value, bytes):
        raw = <bytes>value
    elif isinstance(value, bytearray):
        raw = bytes(value)
    else:
        raise TypeError("%s must be str or bytes, not %s" % (what, type(value).__name__))
    if not raw:
        raise ValueError("%s must not be empty" % what)
    if b"\0" in raw or b"\r" in raw or b"\n" in raw:
        raise ValueError("%s must not contain NUL, CR or LF: %r" % (what, value))
    if not spaces and (b" " in raw or b"\t" in raw):
        raise ValueError("%s must not contain spaces: %r" % (what, value))
    return raw


cdef bytes _number(object value, str what, object maximum):
    """Return a non-negative int (or a str/bytes of digits) as decimal bytes."""
    cdef bytes raw
    if isinstance(value, (str, bytes, bytearray)):
        raw = _encode(value, what, False)
        if not raw.isdigit() or len(raw) > _MAX_DIGITS:
            raise ValueError("%s must be a decimal number, not %r" % (what, value))
        value = int(raw)
    elif isinstance(value, bool) or not isinstance(value, int):
        raise TypeError("%s must be an int, not %s" % (what, type(value).__name__))
    if value < 0 or (maximum is not None and value > maximum):
        raise ValueError("%s out of range: %r" % (what, value))
    return str(value).encode("ascii")


cdef int _set(char **field, bytes value) except -1:
    """Replace the oSIP2-allocated string *field with a copy of value (None clears it)."""
    cdef char *copy = NULL
    if value is not None:
        copy = osip_strdup(value)
        if copy == NULL:
            raise MemoryError()
    if field[0] != NULL:
        osip_free(field[0])
    field[0] = copy
    return 0


cdef bint _digits(const char *p) noexcept:
    cdef Py_ssize_t n = 0
    if p == NULL or p[0] == 0:
        return False
    while p[n] != 0:
        if p[n] < 48 or p[n] > 57 or n >= _MAX_DIGITS:
            return False
        n += 1
    return True


cdef long _port(const char *p) noexcept:
    """The value of a port field, or -1 when it is not a number from 0 to 65535."""
    cdef long value = 0
    cdef Py_ssize_t n = 0
    if p == NULL or p[0] == 0:
        return -1
    while p[n] != 0:
        if p[n] < 48 or p[n] > 57 or n >= 5:
            return -1
        value = value * 10 + (p[n] - 48)
        n += 1
    return value if value <= 65535 else -1


cdef object _int(const char *p):
    return None if p == NULL else int(_str(p))


# --- oSIP2 lists ----------------------------------------------------------------------------------

ctypedef void (*_free_fn)(void *) noexcept nogil

cdef void _free_string(void *e) noexcept nogil:
    osip_free(e)

cdef void _free_attribute(void *e) noexcept nogil:
    sdp_attribute_free(<sdp_attribute_t *>e)

cdef void _free_bandwidth(void *e) noexcept nogil:
    sdp_bandwidth_free(<sdp_bandwidth_t *>e)

cdef void _free_connection(void *e) noexcept nogil:
    sdp_connection_free(<sdp_connection_t *>e)

cdef void _free_time(void *e) noexcept nogil:
    sdp_time_descr_free(<sdp_time_descr_t *>e)

cdef void _free_media(void *e) noexcept nogil:
    sdp_media_free(<sdp_media_t *>e)


cdef int _append(osip_list_t *li, void *element, _free_fn free_element) except -1:
    """Append element to li; on failure free it and raise."""
    cdef int rc = osip_list_add(li, element, -1)
    if rc < 0:
        free_element(element)
        check(rc, b"osip_list_add")
    return 0


cdef void _clear(osip_list_t *li, _free_fn free_element) noexcept nogil:
    cdef void *element
    while li.nb_elt > 0 and li.node != NULL:
        element = li.node.element
        if osip_list_remove(li, 0) < 0:
            break
        free_element(element)


cdef list _strings(osip_list_t *li):
    cdef osip_list_node *node = li.node
    out = []
    while node != NULL:
        out.append(_str(<char *>node.element))
        node = node.next
    return out


cdef int _add_string(osip_list_t *li, bytes value) except -1:
    cdef char *copy = osip_strdup(value)
    if copy == NULL:
        raise MemoryError()
    return _append(li, copy, _free_string)


cdef int _set_strings(osip_list_t *li, list values) except -1:
    _clear(li, _free_string)
    for value in values:
        _add_string(li, <bytes>value)
    return 0


# Attributes (a=), shared by the session and its media.

cdef list _attributes(osip_list_t *li):
    cdef osip_list_node *node = li.node
    cdef sdp_attribute_t *a
    out = []
    while node != NULL:
        a = <sdp_attribute_t *>node.element
        out.append(Attribute(_str(a.a_att_field), _str(a.a_att_value)))
        node = node.next
    return out


cdef tuple _attribute_args(object field, object value):
    cdef bytes f = _encode(field, "attribute name", False)
    if b":" in f:
        raise ValueError("attribute name must not contain ':': %r" % (field,))
    cdef bytes v = None if value is None else _encode(value, "attribute value", True)
    return f, v


cdef int _add_attribute(osip_list_t *li, bytes field, bytes value) except -1:
    cdef sdp_attribute_t *a = NULL
    check(sdp_attribute_init(&a), b"sdp_attribute_init")
    try:
        _set(&a.a_att_field, field)
        _set(&a.a_att_value, value)
    except BaseException:
        sdp_attribute_free(a)
        raise
    return _append(li, a, _free_attribute)


cdef int _remove_attributes(osip_list_t *li, bytes field, bytes value) noexcept:
    """Remove every attribute named field (with that value, unless value is None); return the count."""
    cdef osip_list_node *node = li.node
    cdef osip_list_node *following
    cdef sdp_attribute_t *a
    cdef int pos = 0
    cdef int removed = 0
    cdef const char *f = field
    cdef const char *v = NULL
    if value is not None:
        v = value
    while node != NULL:
        following = node.next
        a = <sdp_attribute_t *>node.element
        if (a.a_att_field != NULL and strcmp(a.a_att_field, f) == 0
                and (v == NULL or (a.a_att_value != NULL and strcmp(a.a_att_value, v) == 0))):
            if osip_list_remove(li, pos) < 0:
                break
            sdp_attribute_free(a)
            removed += 1
        else:
            pos += 1
        node = following
    return removed


cdef list _attribute_values(osip_list_t *li, bytes field, bint first_only):
    cdef osip_list_node *node = li.node
    cdef sdp_attribute_t *a
    cdef const char *f = field
    out = []
    while node != NULL:
        a = <sdp_attribute_t *>node.element
        if a.a_att_field != NULL and strcmp(a.a_att_field, f) == 0:
            out.append(_str(a.a_att_value))
            if first_only:
                break
        node = node.next
    return out


cdef bytes _name(object name):
    return _encode(name, "attribute name", False)


cdef object _direction_in(osip_list_t *li):
    cdef osip_list_node *node = li.node
    cdef sdp_attribute_t *a
    while node != NULL:
        a = <sdp_attribute_t *>node.element
        if a.a_att_field != NULL and a.a_att_value == NULL:
            field = _str(a.a_att_field)
            if field in DIRECTIONS:
                return field
        node = node.next
    return None


cdef bytes _direction_arg(object value):
    if value is None:
        return None
    if isinstance(value, bytes):
        value = (<bytes>value).decode("ascii", "replace")
    if not isinstance(value, str):
        raise TypeError("direction must be a str or None, not %s" % type(value).__name__)
    if value not in DIRECTIONS:
        raise ValueError("direction must be one of %s, not %r" % (", ".join(DIRECTIONS), value))
    return (<str>value).encode("ascii")


cdef int _set_direction(osip_list_t *li, bytes direction) except -1:
    for d in DIRECTIONS:
        _remove_attributes(li, (<str>d).encode("ascii"), None)
    if direction is not None:
        _add_attribute(li, direction, None)
    return 0


# Bandwidths (b=).

cdef list _bandwidths(osip_list_t *li):
    cdef osip_list_node *node = li.node
    cdef sdp_bandwidth_t *b
    out = []
    while node != NULL:
        b = <sdp_bandwidth_t *>node.element
        out.append(Bandwidth(_str(b.b_bwtype), _int(b.b_bandwidth)))
        node = node.next
    return out


cdef tuple _bandwidth_args(object bwtype, object value):
    cdef bytes t = _encode(bwtype, "bandwidth type", False)
    if b":" in t:
        raise ValueError("bandwidth type must not contain ':': %r" % (bwtype,))
    return t, _number(value, "bandwidth", _U64)


cdef int _add_bandwidth(osip_list_t *li, bytes bwtype, bytes value) except -1:
    cdef sdp_bandwidth_t *b = NULL
    check(sdp_bandwidth_init(&b), b"sdp_bandwidth_init")
    try:
        _set(&b.b_bwtype, bwtype)
        _set(&b.b_bandwidth, value)
    except BaseException:
        sdp_bandwidth_free(b)
        raise
    return _append(li, b, _free_bandwidth)


cdef list _pairs(object values, str what):
    if isinstance(values, (str, bytes)) or values is None:
        raise TypeError("%s must be a list of pairs" % what)
    out = []
    for item in values:
        pair = tuple(item)
        if len(pair) != 2:
            raise ValueError("each of %s must be a pair, not %r" % (what, item))
        out.append(pair)
    return out


# Connections (c=).

cdef object _connection(sdp_connection_t *c):
    if c == NULL:
        return None
    address = _str(c.c_addr) or ""
    if c.c_addr_multicast_ttl != NULL:
        address += "/" + _str(c.c_addr_multicast_ttl)
    if c.c_addr_multicast_int != NULL:
        address += "/" + _str(c.c_addr_multicast_int)
    return Connection(_str(c.c_nettype), _str(c.c_addrtype), address)


cdef tuple _connection_args(object value):
    """Accept a Connection, a 3-tuple or a bare address (IN, and IP6 when it holds ':')."""
    if isinstance(value, (str, bytes, bytearray)):
        address = _encode(value, "connection address", False)
        return b"IN", (b"IP6" if b":" in address else b"IP4"), address
    if isinstance(value, (int, float)) or value is None:
        raise TypeError("a connection must be a (network type, address type, address) tuple or an "
                        "address, not %s" % type(value).__name__)
    items = tuple(value)
    if len(items) != 3:
        raise ValueError("a connection has 3 fields (network type, address type, address), not %d"
                         % len(items))
    return (_encode(items[0], "network type", False), _encode(items[1], "address type", False),
            _encode(items[2], "connection address", False))


cdef sdp_connection_t *_new_connection(tuple args) except NULL:
    cdef sdp_connection_t *c = NULL
    check(sdp_connection_init(&c), b"sdp_connection_init")
    try:
        _set(&c.c_nettype, args[0])
        _set(&c.c_addrtype, args[1])
        _set(&c.c_addr, args[2])
    except BaseException:
        sdp_connection_free(c)
        raise
    return c


cdef list _connections(osip_list_t *li):
    cdef osip_list_node *node = li.node
    out = []
    while node != NULL:
        out.append(_connection(<sdp_connection_t *>node.element))
        node = node.next
    return out


# --- parse guard ----------------------------------------------------------------------------------

cdef bytes _sdp_input(object data):
    """Check and normalise what parse() was given; return NUL-free bytes ending in a line break."""
    cdef bytes raw
    if isinstance(data, bytes):
        raw = <bytes>data
    elif isinstance(data, str):
        raw = (<str>data).encode("utf-8", "surrogateescape")
    elif isinstance(data, (bytearray, memoryview)):
        raw = bytes(data)
    elif isinstance(data, int):
        raise TypeError("SdpMessage does not take a native address (%s); parse bytes or str, or use "
                        "SdpMessage.from_message()" % type(data).__name__)
    else:
        raise TypeError("an SDP body must be bytes or str, not %s" % type(data).__name__)
    if not raw.strip():
        raise OsipSyntaxError("empty SDP body", code=_SYNTAX)
    if len(raw) > _MAX_SIZE:
        raise OsipSyntaxError("SDP body of %d bytes is larger than MAX_SIZE (%d)" % (len(raw), _MAX_SIZE),
                              code=_SYNTAX)
    if b"\0" in raw:
        raise OsipSyntaxError("SDP body contains a NUL byte", code=_SYNTAX)
    if max(raw.count(b"\n"), raw.count(b"\r")) > _MAX_LINES:
        raise OsipSyntaxError("SDP body has more than MAX_LINES (%d) lines" % _MAX_LINES, code=_SYNTAX)
    # Every line break as CRLF, one at the end too: oSIP2 ignores a last line without a line break,
    # and reads past the end of the text when the last line is an m= line ended by a lone LF or CR.
    if b"\r" in raw:
        raw = raw.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
    raw = raw.replace(b"\n", b"\r\n")
    if not raw.endswith(b"\r\n"):
        raw += b"\r\n"
    return raw


cdef str _check_bandwidths(osip_list_t *li):
    cdef osip_list_node *node = li.node
    cdef sdp_bandwidth_t *b
    while node != NULL:
        b = <sdp_bandwidth_t *>node.element
        if b.b_bwtype == NULL or not _digits(b.b_bandwidth):
            return "b= needs a type and a decimal bandwidth"
        node = node.next
    return None


cdef str _check_connection(sdp_connection_t *c):
    if c != NULL and (c.c_nettype == NULL or c.c_addrtype == NULL or c.c_addr == NULL):
        return "c= needs a network type, an address type and an address"
    return None


cdef str _check_attributes(osip_list_t *li):
    cdef osip_list_node *node = li.node
    while node != NULL:
        if (<sdp_attribute_t *>node.element).a_att_field == NULL:
            return "a= without a name"
        node = node.next
    return None


cdef str _validate(sdp_message_t *p):
    """What oSIP2 accepted but the binding does not; None when the body is fine."""
    cdef osip_list_node *node
    cdef osip_list_node *inner
    cdef sdp_time_descr_t *t
    cdef sdp_media_t *m
    if not _digits(p.v_version):
        return "v= must be a decimal number"
    if (p.o_username == NULL or p.o_sess_id == NULL or p.o_sess_version == NULL or p.o_nettype == NULL
            or p.o_addrtype == NULL or p.o_addr == NULL):
        return "o= needs six fields"
    if p.s_name == NULL:
        return "s= (session name) is missing"
    node = p.t_descrs.node
    while node != NULL:
        t = <sdp_time_descr_t *>node.element
        if not _digits(t.t_start_time) or not _digits(t.t_stop_time):
            return "t= needs two decimal times"
        node = node.next
    problem = _check_connection(p.c_connection) or _check_bandwidths(&p.b_bandwidths) \
        or _check_attributes(&p.a_attributes)
    if problem:
        return problem
    node = p.m_medias.node
    while node != NULL:
        m = <sdp_media_t *>node.element
        if m.m_media == NULL or m.m_proto == NULL:
            return "m= needs a media type, a port and a protocol"
        if _port(m.m_port) < 0:
            return "m= port must be a number from 0 to 65535"
        if m.m_number_of_port != NULL and not _digits(m.m_number_of_port):
            return "m= number of ports must be a decimal number"
        inner = m.c_connections.node
        while inner != NULL:
            problem = _check_connection(<sdp_connection_t *>inner.element)
            if problem:
                return problem
            inner = inner.next
        problem = _check_bandwidths(&m.b_bandwidths) or _check_attributes(&m.a_attributes)
        if problem:
            return problem
        node = node.next
    return None


cdef str _incomplete(sdp_message_t *p):
    """Why p cannot be serialised into a body that parses again; None when it can."""
    missing = []
    if p.v_version == NULL:
        missing.append("v= (version)")
    if (p.o_username == NULL or p.o_sess_id == NULL or p.o_sess_version == NULL or p.o_nettype == NULL
            or p.o_addrtype == NULL or p.o_addr == NULL):
        missing.append("o= (origin)")
    if p.s_name == NULL:
        missing.append("s= (session name)")
    if p.t_descrs.nb_elt <= 0:
        missing.append("t= (a time)")
    return ("it has no " + ", no ".join(missing)) if missing else None


cdef sdp_message_t *_parse_new(object data) except NULL:
    cdef bytes raw = _sdp_input(data)
    cdef const char *buf = raw
    cdef sdp_message_t *p = NULL
    cdef int rc
    check(sdp_message_init(&p), b"sdp_message_init")
    with nogil:
        rc = sdp_message_parse(p, buf)
    if rc < 0:
        sdp_message_free(p)
        raise OsipSyntaxError("sdp_message_parse() failed: not a valid SDP body (error %d)" % rc,
                              code=_SYNTAX)
    try:
        problem = _validate(p)
    except BaseException:
        sdp_message_free(p)
        raise
    if problem is not None:
        sdp_message_free(p)
        raise OsipSyntaxError("invalid SDP body: " + problem, code=_SYNTAX)
    return p


cdef SdpMessage _adopt(sdp_message_t *p):
    """Wrap a fresh body as an owned SdpMessage, freeing it if even the wrapper cannot be made."""
    try:
        return SdpMessage.from_ptr(p, True, None)
    except BaseException:
        sdp_message_free(p)
        raise


cdef int _is_sdp(osip_content_type_t *ct) except -1:
    if ct == NULL or ct.type == NULL or ct.subtype == NULL:
        return False
    return (ct.type[:strlen(ct.type)].lower() == b"application"
            and ct.subtype[:strlen(ct.subtype)].lower() == b"sdp")


# --- the body ---------------------------------------------------------------------------------------

@cython.no_gc_clear
cdef class SdpMessage:
    """An SDP body (RFC 4566), owned by this object.

    ``SdpMessage()`` makes an empty body to fill in (see also :meth:`create`);
    ``SdpMessage(data)`` is :meth:`parse`. Unlike the ctypes binding's
    ``SdpMessage(ptr)``, a native address is never accepted: an int raises
    :class:`TypeError`. ``bytes(sdp)`` and ``str(sdp)`` serialise it.

    :raises TypeError: *data* is an int (a native address) or not bytes/str.
    :raises exosip2.error.OsipSyntaxError: *data* is not a valid SDP body.
    """

    def __cinit__(self):
        self._ptr = NULL
        self._owned = False
        self._owner = None
        self._busy = 0
        self._media_wrappers = None
        if COUNT_LIVE:
            live_add(LIVE_SDP, 1)

    def __dealloc__(self):
        if self._ptr != NULL and self._owned:
            sdp_message_free(self._ptr)
        self._ptr = NULL
        if COUNT_LIVE:
            live_add(LIVE_SDP, -1)

    def __init__(self, data=None):
        cdef sdp_message_t *p = NULL
        if self._ptr != NULL:
            raise RuntimeError("SdpMessage is already initialised")
        if data is None:
            check(sdp_message_init(&p), b"sdp_message_init")
        else:
            p = _parse_new(data)
        self._ptr = p
        self._owned = True

    @staticmethod
    cdef SdpMessage from_ptr(sdp_message_t *ptr, bint owned, object owner):
        cdef SdpMessage sdp = SdpMessage.__new__(SdpMessage)
        sdp._ptr = ptr
        sdp._owned = owned
        sdp._owner = owner
        return sdp

    cdef sdp_message_t *_get(self) except NULL:
        if self._ptr == NULL:
            raise RuntimeError("this SdpMessage holds no SDP body (it was not initialised)")
        return self._ptr

    cdef sdp_message_t *_mut(self) except NULL:
        if self._busy > 0:
            raise RuntimeError("the SdpMessage is being serialised in another thread; change it later")
        return self._get()

    cdef SdpMedia _wrap_media(self, sdp_media_t *media):
        cdef SdpMedia wrapper
        if self._media_wrappers is None:
            self._media_wrappers = _weakref.WeakValueDictionary()
        key = <size_t>media
        wrapper = self._media_wrappers.get(key)
        if wrapper is None:
            wrapper = SdpMedia.__new__(SdpMedia)
            wrapper._sdp = self
            wrapper._ptr = media
            self._media_wrappers[key] = wrapper
        return wrapper

    # --- making one ---

    @staticmethod
    def parse(data):
        """Parse an SDP body.

        :param data: the body, as bytes (or bytearray/memoryview) or str.
        :returns: a new :class:`SdpMessage`.
        :raises TypeError: *data* is not bytes or str (an int, a native address, is refused too).
        :raises exosip2.error.OsipSyntaxError: *data* is empty, too large (:data:`MAX_SIZE`,
            :data:`MAX_LINES`), contains NUL bytes, or is not a valid SDP body.
        """
        return _adopt(_parse_new(data))

    @staticmethod
    def from_message(OsipMessage msg not None):
        """Parse the SDP body of a SIP message.

        Takes the first body whose content type is ``application/sdp``, or
        else the first body. The result is independent of *msg*.

        :param exosip2.message.OsipMessage msg: the SIP message.
        :raises exosip2.error.OsipNotFound: the message has no body.
        :raises exosip2.error.OsipSyntaxError: the body is not a valid SDP body.
        """
        cdef osip_message_t *sip = msg._get()
        cdef osip_body_t *body = NULL
        cdef osip_body_t *first = NULL
        cdef osip_body_t *chosen = NULL
        cdef osip_content_type_t *ct
        cdef int pos = 0
        while osip_message_get_body(sip, pos, &body) >= 0 and body != NULL:
            ct = body.content_type
            if ct == NULL:
                ct = osip_message_get_content_type(sip)
            if _is_sdp(ct):
                chosen = body
                break
            if first == NULL:
                first = body
            pos += 1
            body = NULL
        if chosen == NULL:
            chosen = first
        if chosen == NULL or chosen.body == NULL:
            raise OsipNotFound("the SIP message has no body", code=-6)
        return _adopt(_parse_new(chosen.body[:chosen.length]))

    @staticmethod
    def create(address, *, session_name="-", username="-", session_id=None, session_version=None):
        """Start a new SDP body for an offer or answer.

        Fills ``v=0``, ``o=<username> <id> <version> IN IP4|IP6 <address>``,
        ``s=<session_name>``, ``c=IN IP4|IP6 <address>`` and ``t=0 0``; add media
        with :meth:`add_media`.

        :param address: the host's address (IP6 when it contains ':').
        :param session_id: the o= session id (default: the current NTP time).
        :param session_version: the o= session version (default: the session id).
        """
        cdef SdpMessage sdp = SdpMessage()
        conn = _connection_args(address)
        if session_id is None:
            session_id = int(_time.time()) + 2208988800
        if session_version is None:
            session_version = session_id
        sdp.version = 0
        sdp.origin = (username, session_id, session_version, conn[0], conn[1], conn[2])
        sdp.session_name = session_name
        sdp.connection = conn
        sdp.add_time(0, 0)
        return sdp

    def copy(self):
        """Return an independent copy of this body.

        :raises exosip2.error.OsipSyntaxError: the body is incomplete (as for :meth:`to_bytes`).
        """
        cdef sdp_message_t *dest = NULL
        cdef sdp_message_t *p = self._get()
        problem = _incomplete(p)
        if problem is not None:
            raise OsipSyntaxError("cannot copy the SDP body: " + problem, code=_SYNTAX)
        check(sdp_message_clone(p, &dest), b"sdp_message_clone")
        return _adopt(dest)

    def __copy__(self):
        return self.copy()

    def __deepcopy__(self, memo):
        return self.copy()

    def __reduce__(self):
        return (SdpMessage.parse, (self.to_bytes(),))

    # --- serialising ---

    def to_bytes(self):
        """Serialise the body (lines end in CRLF).

        :raises exosip2.error.OsipSyntaxError: v=, o=, s= or t= is missing.
        """
        cdef sdp_message_t *p = self._get()
        cdef char *out = NULL
        cdef bytes result
        cdef int rc
        problem = _incomplete(p)
        if problem is not None:
            raise OsipSyntaxError("cannot serialise the SDP body: " + problem, code=_SYNTAX)
        self._busy += 1
        with nogil:
            rc = sdp_message_to_str(p, &out)
        self._busy -= 1
        if rc < 0 or out == NULL:
            if out != NULL:
                osip_free(out)
            check(rc if rc < 0 else -1, b"sdp_message_to_str")
        try:
            result = out
        finally:
            osip_free(out)
        return result

    def __bytes__(self):
        return self.to_bytes()

    def __str__(self):
        return self.to_bytes().decode("utf-8", "surrogateescape")

    def __repr__(self):
        if self._ptr == NULL:
            return "<SdpMessage (empty)>"
        try:
            kinds = " ".join(["%s:%s" % (m.type, m.port) for m in self.media])
            return "<SdpMessage origin=%s media=[%s]>" % (_str(self._ptr.o_addr), kinds)
        except Exception:
            return "<SdpMessage>"

    @property
    def ptr(self):
        """The address of the native ``sdp_message_t`` (read-only int), for C interop."""
        return <size_t>self._get()

    # --- session-level fields ---

    @property
    def version(self):
        """The v= protocol version (int, normally 0), or None."""
        return _int(self._get().v_version)

    @version.setter
    def version(self, value):
        cdef bytes raw = None if value is None else _number(value, "version", _U64)
        _set(&self._mut().v_version, raw)

    @property
    def origin(self):
        """The o= line as an :class:`Origin`, or None; set it with a 6-tuple (ids may be ints)."""
        cdef sdp_message_t *p = self._get()
        if p.o_username == NULL and p.o_addr == NULL:
            return None
        return Origin(_str(p.o_username), _str(p.o_sess_id), _str(p.o_sess_version),
                      _str(p.o_nettype), _str(p.o_addrtype), _str(p.o_addr))

    @origin.setter
    def origin(self, value):
        cdef sdp_message_t *p
        if value is None:
            fields = (None,) * 6
        else:
            if isinstance(value, (str, bytes, int)):
                raise TypeError("origin must be a 6-tuple, not %s" % type(value).__name__)
            items = tuple(value)
            if len(items) != 6:
                raise ValueError("origin has 6 fields (username, session id, session version, network "
                                 "type, address type, address), not %d" % len(items))
            fields = (_encode(items[0], "username", False),
                      _number(items[1], "session id", None), _number(items[2], "session version", None),
                      _encode(items[3], "network type", False), _encode(items[4], "address type", False),
                      _encode(items[5], "address", False))
        p = self._mut()
        _set(&p.o_username, fields[0])
        _set(&p.o_sess_id, fields[1])
        _set(&p.o_sess_version, fields[2])
        _set(&p.o_nettype, fields[3])
        _set(&p.o_addrtype, fields[4])
        _set(&p.o_addr, fields[5])

    @property
    def session_name(self):
        """The s= session name (str), or None."""
        return _str(self._get().s_name)

    @session_name.setter
    def session_name(self, value):
        cdef bytes raw = None if value is None else _encode(value, "session name", True)
        _set(&self._mut().s_name, raw)

    @property
    def session_info(self):
        """The session-level i= information (str), or None."""
        return _str(self._get().i_info)

    @session_info.setter
    def session_info(self, value):
        cdef bytes raw = None if value is None else _encode(value, "session info", True)
        _set(&self._mut().i_info, raw)

    @property
    def uri(self):
        """The u= URI (str), or None."""
        return _str(self._get().u_uri)

    @uri.setter
    def uri(self, value):
        cdef bytes raw = None if value is None else _encode(value, "uri", False)
        _set(&self._mut().u_uri, raw)

    @property
    def emails(self):
        """The e= lines (list of str); assign a list to replace them."""
        return _strings(&self._get().e_emails)

    @emails.setter
    def emails(self, values):
        raw = [_encode(v, "email", True) for v in _sequence(values, "emails")]
        _set_strings(&self._mut().e_emails, raw)

    def add_email(self, email):
        """Append an e= line."""
        cdef bytes raw = _encode(email, "email", True)
        _add_string(&self._mut().e_emails, raw)

    @property
    def phones(self):
        """The p= lines (list of str); assign a list to replace them."""
        return _strings(&self._get().p_phones)

    @phones.setter
    def phones(self, values):
        raw = [_encode(v, "phone", True) for v in _sequence(values, "phones")]
        _set_strings(&self._mut().p_phones, raw)

    def add_phone(self, phone):
        """Append a p= line."""
        cdef bytes raw = _encode(phone, "phone", True)
        _add_string(&self._mut().p_phones, raw)

    @property
    def connection(self):
        """The session-level c= line as a :class:`Connection`, or None.

        Set it with a Connection, a 3-tuple, a bare address (``IN IP4``, or ``IP6``
        when it contains ':'), or None to remove it.
        """
        return _connection(self._get().c_connection)

    @connection.setter
    def connection(self, value):
        cdef sdp_connection_t *c = NULL
        cdef sdp_message_t *p
        args = None if value is None else _connection_args(value)
        p = self._mut()
        if args is not None:
            c = _new_connection(args)
        if p.c_connection != NULL:
            sdp_connection_free(p.c_connection)
        p.c_connection = c

    @property
    def bandwidths(self):
        """The session-level b= lines, a list of :class:`Bandwidth`; assign a list of pairs to replace."""
        return _bandwidths(&self._get().b_bandwidths)

    @bandwidths.setter
    def bandwidths(self, values):
        cdef sdp_message_t *p
        args = [_bandwidth_args(t, v) for t, v in _pairs(values, "bandwidths")]
        p = self._mut()
        _clear(&p.b_bandwidths, _free_bandwidth)
        for t, v in args:
            _add_bandwidth(&p.b_bandwidths, t, v)

    def add_bandwidth(self, bwtype, value):
        """Append a session-level ``b=<bwtype>:<value>`` line (value: int, kbit/s for AS and CT)."""
        args = _bandwidth_args(bwtype, value)
        _add_bandwidth(&self._mut().b_bandwidths, args[0], args[1])

    @property
    def times(self):
        """The t= lines, a list of :class:`Timing`; assign a list of pairs to replace them."""
        cdef osip_list_node *node = self._get().t_descrs.node
        cdef sdp_time_descr_t *t
        out = []
        while node != NULL:
            t = <sdp_time_descr_t *>node.element
            out.append(Timing(_int(t.t_start_time), _int(t.t_stop_time)))
            node = node.next
        return out

    @times.setter
    def times(self, values):
        cdef sdp_message_t *p
        args = [(_number(a, "start time", _U64), _number(b, "stop time", _U64))
                for a, b in _pairs(values, "times")]
        p = self._mut()
        _clear(&p.t_descrs, _free_time)
        for a, b in args:
            _add_time(p, a, b)

    def add_time(self, start=0, stop=0):
        """Append a ``t=<start> <stop>`` line (NTP seconds; ``0 0`` is a permanent session)."""
        cdef bytes a = _number(start, "start time", _U64)
        cdef bytes b = _number(stop, "stop time", _U64)
        _add_time(self._mut(), a, b)

    @property
    def attributes(self):
        """The session-level a= lines, a list of :class:`Attribute`; assign a list of pairs to replace."""
        return _attributes(&self._get().a_attributes)

    @attributes.setter
    def attributes(self, values):
        cdef sdp_message_t *p
        args = [_attribute_args(f, v) for f, v in _pairs(values, "attributes")]
        p = self._mut()
        _clear(&p.a_attributes, _free_attribute)
        for f, v in args:
            _add_attribute(&p.a_attributes, f, v)

    def add_attribute(self, field, value=None):
        """Append a session-level ``a=<field>[:<value>]`` line (value None for a flag)."""
        args = _attribute_args(field, value)
        _add_attribute(&self._mut().a_attributes, args[0], args[1])

    def remove_attribute(self, field, value=None):
        """Remove the session-level attributes named *field* (only those with *value*, if given).

        :returns: how many were removed.
        """
        args = _attribute_args(field, value)
        return _remove_attributes(&self._mut().a_attributes, args[0], args[1])

    def attribute(self, name):
        """The value of the first session-level attribute *name*; None if absent or a flag.

        Use :meth:`has_attribute` to tell a flag from an absent attribute.
        """
        values = _attribute_values(&self._get().a_attributes, _name(name), True)
        return values[0] if values else None

    def has_attribute(self, name):
        """True if the session has an attribute called *name*."""
        return bool(_attribute_values(&self._get().a_attributes, _name(name), True))

    def attribute_values(self, name):
        """The values of every session-level attribute called *name*, in order (None for flags)."""
        return _attribute_values(&self._get().a_attributes, _name(name), False)

    @property
    def direction(self):
        """The session-level direction attribute (one of :data:`DIRECTIONS`), ``"sendrecv"`` when none.

        Setting it replaces any session-level direction attribute; None removes it.
        """
        return _direction_in(&self._get().a_attributes) or "sendrecv"

    @direction.setter
    def direction(self, value):
        cdef bytes raw = _direction_arg(value)
        _set_direction(&self._mut().a_attributes, raw)

    # --- media ---

    @property
    def media(self):
        """The m= sections, a list of :class:`SdpMedia` (the same object for the same section)."""
        cdef osip_list_node *node = self._get().m_medias.node
        out = []
        while node != NULL:
            out.append(self._wrap_media(<sdp_media_t *>node.element))
            node = node.next
        return out

    def add_media(self, media_type, port, protocol, formats=(), number_of_ports=None):
        """Append an m= section and return it.

        :param media_type: ``"audio"``, ``"video"``, ``"application"``, …
        :param int port: the transport port (0 rejects the stream).
        :param protocol: ``"RTP/AVP"``, ``"RTP/SAVP"``, ``"UDP/TLS/RTP/SAVPF"``, …
        :param formats: the media formats, e.g. RTP payload types (ints or str).
        :param number_of_ports: for ``m=<type> <port>/<number>``.
        :rtype: SdpMedia
        """
        cdef sdp_media_t *m = NULL
        cdef sdp_message_t *p
        t = _encode(media_type, "media type", False)
        pt = _number(port, "port", 65535)
        proto = _encode(protocol, "protocol", False)
        nb = None if number_of_ports is None else _number(number_of_ports, "number of ports", _U64)
        fmts = [_format(f) for f in _sequence(formats, "formats")]
        p = self._mut()
        check(sdp_media_init(&m), b"sdp_media_init")
        try:
            _set(&m.m_media, t)
            _set(&m.m_port, pt)
            _set(&m.m_number_of_port, nb)
            _set(&m.m_proto, proto)
            for f in fmts:
                _add_string(&m.m_payloads, <bytes>f)
        except BaseException:
            sdp_media_free(m)
            raise
        _append(&p.m_medias, m, _free_media)
        return self._wrap_media(m)

    def remove_media(self, media):
        """Remove an m= section, given as an :class:`SdpMedia` of this body or an index.

        The removed section's :class:`SdpMedia` object then raises :class:`RuntimeError` when used.
        """
        cdef sdp_message_t *p = self._mut()
        cdef osip_list_node *node = p.m_medias.node
        cdef sdp_media_t *target = NULL
        cdef int pos = 0
        cdef int index
        if isinstance(media, SdpMedia):
            target = (<SdpMedia>media)._ptr
            if target == NULL or (<SdpMedia>media)._sdp is not self:
                raise ValueError("that media does not belong to this SdpMessage")
            while node != NULL and <sdp_media_t *>node.element != target:
                node = node.next
                pos += 1
            if node == NULL:
                raise ValueError("that media does not belong to this SdpMessage")
        elif isinstance(media, int) and not isinstance(media, bool):
            index = media
            if index < 0:
                index += p.m_medias.nb_elt
            if index < 0 or index >= p.m_medias.nb_elt:
                raise IndexError("media index out of range")
            while pos < index:
                node = node.next
                pos += 1
            target = <sdp_media_t *>node.element
        else:
            raise TypeError("media must be an SdpMedia or an int, not %s" % type(media).__name__)
        check(osip_list_remove(&p.m_medias, pos), b"osip_list_remove")
        if self._media_wrappers is not None:
            wrapper = self._media_wrappers.pop(<size_t>target, None)
            if wrapper is not None:
                (<SdpMedia>wrapper)._ptr = NULL
        sdp_media_free(target)


cdef list _sequence(object values, str what):
    if values is None or isinstance(values, (str, bytes, bytearray, int)):
        raise TypeError("%s must be a list, not %s" % (what, type(values).__name__))
    return list(values)


cdef bytes _format(object value):
    if isinstance(value, int) and not isinstance(value, bool):
        return _number(value, "format", 127)
    return _encode(value, "format", False)


cdef int _add_time(sdp_message_t *p, bytes start, bytes stop) except -1:
    cdef sdp_time_descr_t *t = NULL
    check(sdp_time_descr_init(&t), b"sdp_time_descr_init")
    try:
        _set(&t.t_start_time, start)
        _set(&t.t_stop_time, stop)
    except BaseException:
        sdp_time_descr_free(t)
        raise
    return _append(&p.t_descrs, t, _free_time)


# --- one media section --------------------------------------------------------------------------

cdef class SdpMedia:
    """One m= section of an :class:`SdpMessage`, with its own c=, b= and a= lines.

    It borrows from its message (and keeps it alive). Once the message removes
    the section (:meth:`SdpMessage.remove_media`), every use raises
    :class:`RuntimeError`. Get them from :attr:`SdpMessage.media` or
    :meth:`SdpMessage.add_media`; they cannot be created directly.
    """

    def __init__(self):
        raise TypeError("SdpMedia objects come from SdpMessage.media or SdpMessage.add_media()")

    cdef sdp_media_t *_get(self) except NULL:
        if self._ptr == NULL or self._sdp is None:
            raise RuntimeError("this media section was removed from its SdpMessage")
        self._sdp._get()
        return self._ptr

    cdef sdp_media_t *_mut(self) except NULL:
        cdef sdp_media_t *m = self._get()
        self._sdp._mut()
        return m

    def __repr__(self):
        if self._ptr == NULL:
            return "<SdpMedia (removed)>"
        return "<SdpMedia %s %s %s %s>" % (_str(self._ptr.m_media), _str(self._ptr.m_port),
                                            _str(self._ptr.m_proto), " ".join(_strings(&self._ptr.m_payloads)))

    @property
    def message(self):
        """The :class:`SdpMessage` this section belongs to."""
        self._get()
        return self._sdp

    @property
    def index(self):
        """The position of this section among the message's m= sections."""
        cdef sdp_media_t *m = self._get()
        cdef osip_list_node *node = self._sdp._ptr.m_medias.node
        cdef int pos = 0
        while node != NULL:
            if <sdp_media_t *>node.element == m:
                return pos
            node = node.next
            pos += 1
        raise RuntimeError("this media section is no longer in its SdpMessage")

    @property
    def type(self):
        """The media type (``"audio"``, ``"video"``, …)."""
        return _str(self._get().m_media)

    @type.setter
    def type(self, value):
        cdef bytes raw = _encode(value, "media type", False)
        _set(&self._mut().m_media, raw)

    @property
    def port(self):
        """The transport port (int); 0 means the stream is rejected or disabled."""
        return _int(self._get().m_port)

    @port.setter
    def port(self, value):
        cdef bytes raw = _number(value, "port", 65535)
        _set(&self._mut().m_port, raw)

    @property
    def number_of_ports(self):
        """The ``/<number>`` after the port (int), or None."""
        return _int(self._get().m_number_of_port)

    @number_of_ports.setter
    def number_of_ports(self, value):
        cdef bytes raw = None if value is None else _number(value, "number of ports", _U64)
        _set(&self._mut().m_number_of_port, raw)

    @property
    def protocol(self):
        """The transport protocol (``"RTP/AVP"``, ``"RTP/SAVP"``, …)."""
        return _str(self._get().m_proto)

    @protocol.setter
    def protocol(self, value):
        cdef bytes raw = _encode(value, "protocol", False)
        _set(&self._mut().m_proto, raw)

    @property
    def formats(self):
        """The media formats (list of str; RTP payload types for RTP); assign a list to replace."""
        return _strings(&self._get().m_payloads)

    @formats.setter
    def formats(self, values):
        raw = [_format(v) for v in _sequence(values, "formats")]
        _set_strings(&self._mut().m_payloads, raw)

    def add_format(self, fmt):
        """Append a media format (an RTP payload type: int 0-127, or a str)."""
        cdef bytes raw = _format(fmt)
        _add_string(&self._mut().m_payloads, raw)

    def remove_format(self, fmt):
        """Remove a format and its rtpmap and fmtp attributes; return True if it was listed."""
        cdef bytes raw = _format(fmt)
        cdef sdp_media_t *m = self._mut()
        cdef osip_list_node *node = m.m_payloads.node
        cdef osip_list_node *following
        cdef int pos = 0
        cdef bint found = False
        cdef const char *wanted = raw
        cdef void *element
        while node != NULL:
            following = node.next
            element = node.element
            if element != NULL and strcmp(<char *>element, wanted) == 0:
                if osip_list_remove(&m.m_payloads, pos) < 0:
                    break
                osip_free(element)
                found = True
            else:
                pos += 1
            node = following
        prefix = raw.decode("ascii", "surrogateescape") + " "
        for field in (b"rtpmap", b"fmtp"):
            for value in _attribute_values(&m.a_attributes, field, False):
                if value is not None and (value + " ").startswith(prefix):
                    _remove_attributes(&m.a_attributes, field, value.encode("utf-8", "surrogateescape"))
        return found

    @property
    def info(self):
        """The media-level i= information (str), or None."""
        return _str(self._get().i_info)

    @info.setter
    def info(self, value):
        cdef bytes raw = None if value is None else _encode(value, "media info", True)
        _set(&self._mut().i_info, raw)

    @property
    def connections(self):
        """The media-level c= lines, a list of :class:`Connection`; assign a list to replace them."""
        return _connections(&self._get().c_connections)

    @connections.setter
    def connections(self, values):
        cdef sdp_media_t *m
        args = [_connection_args(v) for v in _sequence(values, "connections")]
        m = self._mut()
        _clear(&m.c_connections, _free_connection)
        for a in args:
            _append(&m.c_connections, _new_connection(<tuple>a), _free_connection)

    def add_connection(self, connection):
        """Append a media-level c= line (a :class:`Connection`, a 3-tuple or an address)."""
        args = _connection_args(connection)
        _append(&self._mut().c_connections, _new_connection(args), _free_connection)

    @property
    def connection(self):
        """The first media-level c= line, or None; setting replaces them all (None removes them)."""
        cdef sdp_media_t *m = self._get()
        if m.c_connections.node == NULL:
            return None
        return _connection(<sdp_connection_t *>m.c_connections.node.element)

    @connection.setter
    def connection(self, value):
        self.connections = [] if value is None else [value]

    @property
    def effective_connection(self):
        """The connection that applies: the media's first c= line, else the session's; or None."""
        own = self.connection
        return own if own is not None else self._sdp.connection

    @property
    def bandwidths(self):
        """The media-level b= lines, a list of :class:`Bandwidth`; assign a list of pairs to replace."""
        return _bandwidths(&self._get().b_bandwidths)

    @bandwidths.setter
    def bandwidths(self, values):
        cdef sdp_media_t *m
        args = [_bandwidth_args(t, v) for t, v in _pairs(values, "bandwidths")]
        m = self._mut()
        _clear(&m.b_bandwidths, _free_bandwidth)
        for t, v in args:
            _add_bandwidth(&m.b_bandwidths, t, v)

    def add_bandwidth(self, bwtype, value):
        """Append a media-level ``b=<bwtype>:<value>`` line."""
        args = _bandwidth_args(bwtype, value)
        _add_bandwidth(&self._mut().b_bandwidths, args[0], args[1])

    @property
    def attributes(self):
        """The media-level a= lines, a list of :class:`Attribute`; assign a list of pairs to replace."""
        return _attributes(&self._get().a_attributes)

    @attributes.setter
    def attributes(self, values):
        cdef sdp_media_t *m
        args = [_attribute_args(f, v) for f, v in _pairs(values, "attributes")]
        m = self._mut()
        _clear(&m.a_attributes, _free_attribute)
        for f, v in args:
            _add_attribute(&m.a_attributes, f, v)

    def add_attribute(self, field, value=None):
        """Append a media-level ``a=<field>[:<value>]`` line (value None for a flag)."""
        args = _attribute_args(field, value)
        _add_attribute(&self._mut().a_attributes, args[0], args[1])

    def remove_attribute(self, field, value=None):
        """Remove the media-level attributes named *field* (only those with *value*, if given).

        :returns: how many were removed.
        """
        args = _attribute_args(field, value)
        return _remove_attributes(&self._mut().a_attributes, args[0], args[1])

    def attribute(self, name):
        """The value of the first media-level attribute *name*; None if absent or a flag."""
        values = _attribute_values(&self._get().a_attributes, _name(name), True)
        return values[0] if values else None

    def has_attribute(self, name):
        """True if this section has an attribute called *name*."""
        return bool(_attribute_values(&self._get().a_attributes, _name(name), True))

    def attribute_values(self, name):
        """The values of every media-level attribute called *name*, in order (None for flags)."""
        return _attribute_values(&self._get().a_attributes, _name(name), False)

    cdef tuple _payload_attribute(self, bytes field, object payload):
        key = _format(payload).decode("ascii", "surrogateescape")
        for value in _attribute_values(&self._get().a_attributes, field, False):
            if value is None:
                continue
            head, _, rest = value.partition(" ")
            if head == key:
                return key, rest.strip()
        return key, None

    def rtpmap(self, payload):
        """What the a=rtpmap line says of RTP payload type *payload* (int or str).

        Falls back to RFC 3551's static payload types (0 PCMU, 8 PCMA, 9 G722,
        18 G729, …) when the type is listed in :attr:`formats` without an rtpmap.

        :returns: an :class:`RtpMap` ``(encoding, clock_rate, channels)``; *channels*
            is None when not given. None when nothing is known of *payload*.
        :raises ValueError: the rtpmap line is malformed.
        """
        key, rest = self._payload_attribute(b"rtpmap", payload)
        if rest is None:
            static = _STATIC_PAYLOADS.get(key)
            if static is not None and key in self.formats:
                return RtpMap(*static)
            return None
        parts = rest.split("/")
        if len(parts) not in (2, 3) or not parts[0] or not parts[1].isdigit() \
                or (len(parts) == 3 and not parts[2].isdigit()):
            raise ValueError("malformed rtpmap for payload %s: %r" % (key, rest))
        return RtpMap(parts[0], int(parts[1]), int(parts[2]) if len(parts) == 3 else None)

    def fmtp(self, payload):
        """The format parameters of the a=fmtp line for *payload* (str), or None."""
        return self._payload_attribute(b"fmtp", payload)[1]

    def add_codec(self, payload, encoding, clock_rate, channels=None, fmtp=None):
        """Offer one RTP payload type: add it to :attr:`formats` with its rtpmap (and fmtp) lines.

        ``media.add_codec(101, "telephone-event", 8000, fmtp="0-16")`` adds format
        101, ``a=rtpmap:101 telephone-event/8000`` and ``a=fmtp:101 0-16``.
        """
        pt = _format(payload)
        enc = _encode(encoding, "encoding", False)
        if b"/" in enc:
            raise ValueError("encoding must not contain '/': %r" % (encoding,))
        rtpmap = pt + b" " + enc + b"/" + _number(clock_rate, "clock rate", _U64)
        if channels is not None:
            rtpmap += b"/" + _number(channels, "channels", _U64)
        params = None if fmtp is None else pt + b" " + _encode(fmtp, "fmtp", True)
        m = self._mut()
        _add_string(&m.m_payloads, pt)
        _add_attribute(&m.a_attributes, b"rtpmap", rtpmap)
        if params is not None:
            _add_attribute(&m.a_attributes, b"fmtp", params)

    @property
    def direction(self):
        """The direction that applies (one of :data:`DIRECTIONS`): the media's, else the session's,
        else ``"sendrecv"``. Setting it replaces the media-level one (None removes it)."""
        found = _direction_in(&self._get().a_attributes)
        if found is None:
            found = _direction_in(&self._sdp._ptr.a_attributes)
        return found or "sendrecv"

    @direction.setter
    def direction(self, value):
        cdef bytes raw = _direction_arg(value)
        _set_direction(&self._mut().a_attributes, raw)

    @property
    def on_hold(self):
        """True when the stream is held: direction sendonly or inactive, or address 0.0.0.0 (RFC 2543)."""
        if self.direction in ("sendonly", "inactive"):
            return True
        conn = self.effective_connection
        return conn is not None and conn.address == "0.0.0.0"
