# SPDX-License-Identifier: Apache-2.0
"""Header values as objects: :class:`Uri` and :class:`NameAddr`, read from oSIP2's parsed structures.

A :class:`Uri` is what oSIP2 parses into ``osip_uri_t`` (a SIP URI's scheme,
user, password, host, port, ``;parameters`` and ``?headers``); a
:class:`NameAddr` is what it parses into ``osip_from_t`` — the value of a From,
To or Contact header: an optional display name, a URI, the ``tag`` and the
other header parameters. :class:`~exosip2.message.OsipMessage` gives them as
``from_header``, ``to_header``, ``contact_headers`` and ``request_uri``.

Both are immutable values: equal when their parts are equal (compared as
stored: parameter names and host names keep their case), hashable, changed by
making a new one with ``replace(...)``. Text goes through oSIP2 both ways:
``Uri.parse`` / ``NameAddr.parse`` use ``osip_uri_parse`` / ``osip_from_parse``
(or ``osip_contact_parse`` for Contact), and ``str()`` builds the structure
field by field and serialises it with ``osip_uri_to_str`` /
``osip_from_to_str``, so ``X.parse(str(x)) == x``. oSIP2 keeps user,
password, URI parameters and URI headers unescaped (``%41`` reads as ``A``)
and escapes them again when writing; header parameter values are kept as
written (a quoted value keeps its quotes). IPv6 hosts are given without
brackets (``"::1"``) and written with them.

Other URI schemes (``tel:``, ``urn:``, ``http:``...) are not split into parts
by oSIP2: such a :class:`Uri` has its scheme and the rest of the text in
``opaque``, and every other part None or empty.

Bounds: text given to ``parse`` is at most :data:`MAX_TEXT` (4096) bytes with
at most :data:`MAX_PARAMS` (64) ``;``, ``?`` and ``&`` separators in all, and
holds no NUL, CR or LF; a port must be a number in 0..65535. Longer, busier or
broken text raises :class:`~exosip2.error.OsipSyntaxError` naming it (cut to
its first 80 characters). Objects built from arguments obey the same bounds
and raise :class:`ValueError` (:class:`~exosip2.error.OsipBadParameter`) or
:class:`TypeError` naming the argument.
"""

cimport cython
from libc.string cimport strlen

from exosip2.error cimport check
from exosip2.includes.osip_headers cimport (
    osip_from_free, osip_from_init, osip_from_parse, osip_from_t, osip_from_to_str,
)
from exosip2.includes.osip_list cimport osip_list_get_first, osip_list_get_next, osip_list_iterator_t, osip_list_t
from exosip2.includes.osip_port cimport OSIP_NOMEM, osip_free, osip_strdup
from exosip2.includes.osip_uri cimport (
    osip_generic_param_t, osip_uri_free, osip_uri_init, osip_uri_param_add, osip_uri_param_t, osip_uri_parse,
    osip_uri_t, osip_uri_to_str,
)

from exosip2.error import OsipBadParameter, OsipNoMem, OsipSyntaxError

__all__ = ["Uri", "NameAddr", "WILDCARD", "MAX_TEXT", "MAX_PARAMS"]

#: The longest text (bytes, UTF-8) that :meth:`Uri.parse` and :meth:`NameAddr.parse` accept.
MAX_TEXT = 4096
#: The most ``;``, ``?`` and ``&`` separators (parameters and URI headers) that text may hold.
MAX_PARAMS = 64

cdef Py_ssize_t _MAX_TEXT = MAX_TEXT
cdef Py_ssize_t _MAX_PARAMS = MAX_PARAMS

_SIP_SCHEMES = ("sip", "sips")


# --- conversions -----------------------------------------------------------------------------

cdef inline str _dec(const char *s):
    if s == NULL:
        return None
    return s[:strlen(s)].decode("utf-8", "surrogateescape")


cdef bytes _enc(object value, str what):
    """An argument as bytes without NUL, CR or LF (None stays None)."""
    cdef bytes b
    if value is None:
        return None
    if isinstance(value, str):
        b = (<str>value).encode("utf-8", "surrogateescape")
    elif isinstance(value, bytes):
        b = <bytes>value
    else:
        raise TypeError("%s must be str or bytes, not %s" % (what, type(value).__name__))
    if b"\0" in b or b"\r" in b or b"\n" in b:
        raise OsipBadParameter("%s must not contain NUL, CR or LF characters: %r" % (what, value))
    return b


cdef str _opt_str(object value, str what):
    cdef bytes b = _enc(value, what)
    return None if b is None else b.decode("utf-8", "surrogateescape")


cdef str _shown(bytes text):
    cdef str s = text[:80].decode("utf-8", "replace")
    return repr(s + "...") if len(text) > 80 else repr(s)


cdef bytes _parse_arg(object text, str kind):
    """The text given to parse(): str or bytes, within the bounds, no NUL, CR or LF."""
    cdef bytes b
    cdef Py_ssize_t seps
    if isinstance(text, str):
        b = (<str>text).encode("utf-8", "surrogateescape")
    elif isinstance(text, bytes):
        b = <bytes>text
    else:
        raise TypeError("%s.parse() takes str or bytes, not %s" % (kind, type(text).__name__))
    if len(b) > _MAX_TEXT:
        raise OsipSyntaxError("%s text of %d bytes is longer than %d: %s" % (kind, len(b), _MAX_TEXT, _shown(b)),
                              code=-5)
    if b"\0" in b or b"\r" in b or b"\n" in b:
        raise OsipSyntaxError("%s text holds NUL, CR or LF: %s" % (kind, _shown(b)), code=-5)
    seps = b.count(b";") + b.count(b"?") + b.count(b"&")
    if seps > _MAX_PARAMS:
        raise OsipSyntaxError("%s text has %d parameter separators, more than %d: %s"
                              % (kind, seps, _MAX_PARAMS, _shown(b)), code=-5)
    if not b.strip():
        raise OsipSyntaxError("%s text is empty" % kind, code=-5)
    return b


cdef tuple _pairs(object params, str what):
    """params given as a mapping, or pairs / bare names: a tuple of (name, value or None)."""
    cdef list out = []
    if params is None:
        return ()
    if isinstance(params, (str, bytes)):
        raise TypeError("%s must be a mapping or a sequence of (name, value) pairs, not %s"
                        % (what, type(params).__name__))
    items = params.items() if hasattr(params, "items") else params
    for item in items:
        if isinstance(item, (str, bytes)):
            name, value = item, None
        else:
            try:
                name, value = item
            except (TypeError, ValueError):
                raise TypeError("each of %s must be a name or a (name, value) pair, not %r"
                                % (what, item)) from None
        name = _opt_str(name, what + " name")
        if not name:
            raise OsipBadParameter("a name in %s must not be empty" % what)
        out.append((name, _opt_str(value, "the value of %s %r" % (what, name))))
        if len(out) > _MAX_PARAMS:
            raise OsipBadParameter("%s: more than %d parameters" % (what, _MAX_PARAMS))
    return tuple(out)


cdef tuple _list_pairs(osip_list_t *lst):
    cdef list out = []
    cdef osip_uri_param_t *p
    cdef osip_list_iterator_t it
    p = <osip_uri_param_t *>osip_list_get_first(lst, &it)
    while p != NULL:
        out.append((_dec(p.gname) if p.gname != NULL else "", _dec(p.gvalue)))
        p = <osip_uri_param_t *>osip_list_get_next(&it)
    return tuple(out)


cdef int _add_pairs(osip_list_t *lst, tuple pairs) except -1:
    cdef char *n
    cdef char *v
    for name, value in pairs:
        n = osip_strdup((<str>name).encode("utf-8", "surrogateescape"))
        v = NULL
        if value is not None:
            v = osip_strdup((<str>value).encode("utf-8", "surrogateescape"))
        if n == NULL or (value is not None and v == NULL):
            osip_free(n)
            osip_free(v)
            raise OsipNoMem("out of memory")
        if osip_uri_param_add(lst, n, v) < 0:
            osip_free(n)
            osip_free(v)
            raise OsipNoMem("out of memory")
    return 0


cdef int _set_field(char **field, str value) except -1:
    if value is None:
        return 0
    field[0] = osip_strdup(value.encode("utf-8", "surrogateescape"))
    if field[0] == NULL:
        raise OsipNoMem("out of memory")
    return 0


cdef str _take_text(int rc, char *s, const char *func):
    try:
        if rc < 0 or s == NULL:
            check(rc if rc < 0 else -1, func)
        return _dec(s)
    finally:
        osip_free(s)


cdef bint _is_scheme(str s):
    if not s or not s[0].isascii() or not s[0].isalpha():
        return False
    for c in s:
        if not (c.isascii() and (c.isalnum() or c in "+-.")):
            return False
    return True


cdef bint _has_control(str s):
    for c in s:
        if (c < " " and c != "\t") or c == "\x7f":
            return True
    return False


# --- Uri -----------------------------------------------------------------------------------

@cython.final
cdef class Uri:
    """A URI as oSIP2 parses it (``osip_uri_t``); immutable.

    ``Uri(scheme="sip", user=None, password=None, host=None, port=None,
    params=(), headers=(), *, opaque=None)``: *params* (``;name=value``) and
    *headers* (``?name=value&...``) are a mapping or a sequence of ``(name,
    value)`` pairs (a value None, or a bare name, for a parameter without
    value); they are kept as tuples of pairs, in order. *port* is an int in
    0..65535 or None. A ``sip``/``sips`` URI needs a host; another scheme
    takes the text after its colon as *opaque* instead. Parts are unescaped
    text (``%HH`` is written by ``str()``).

    :raises TypeError: for an argument of the wrong type.
    :raises OsipBadParameter: (a ValueError) for a value out of range, a
        missing host, or parts that oSIP2 could not write so that they read
        back the same.
    """

    def __init__(self, scheme="sip", user=None, password=None, host=None, port=None, params=(), headers=(),
                 *, opaque=None):
        cdef str sch = _opt_str(scheme, "scheme")
        if not _is_scheme(sch):
            raise OsipBadParameter("scheme must be letters, digits, '+', '-' or '.' starting with a letter, "
                                   "not %r" % (scheme,))
        if port is not None:
            if isinstance(port, bool) or not isinstance(port, int):
                raise TypeError("port must be an int or None, not %s" % type(port).__name__)
            if not 0 <= port <= 65535:
                raise OsipBadParameter("port must be in 0..65535, not %d" % port)
        self.scheme = sch
        self.user = _opt_str(user, "user")
        self.password = _opt_str(password, "password")
        self.host = _opt_str(host, "host")
        self.port = port
        self.params = _pairs(params, "params")
        self.headers = _pairs(headers, "headers")
        self.opaque = _opt_str(opaque, "opaque")
        if sch.lower() in _SIP_SCHEMES:
            if not self.host:
                raise OsipBadParameter("a %s URI needs a host" % sch)
            if self.opaque is not None:
                raise OsipBadParameter("a %s URI has parts, not opaque text" % sch)
            if self.password is not None and self.user is None:
                raise OsipBadParameter("a password needs a user")
        else:
            if not self.opaque:
                raise OsipBadParameter("a %s URI is opaque text: give opaque=, not parts" % sch)
            if (self.user is not None or self.password is not None or self.host is not None
                    or port is not None or self.params or self.headers):
                raise OsipBadParameter("oSIP2 does not split a %s URI into parts: give opaque= only" % sch)
        text = self._build_text()
        try:
            again = _uri_parse(_parse_arg(text, "URI"))
        except OsipSyntaxError as e:
            raise OsipBadParameter("these URI parts do not make a URI oSIP2 reads back (%s): %s"
                                   % (text, e)) from None
        if again != self:
            raise OsipBadParameter("these URI parts do not read back the same once written: %r" % text)

    @staticmethod
    def parse(text):
        """Parse *text* (str or bytes) with ``osip_uri_parse``.

        :raises OsipSyntaxError: (a ValueError) naming the text, when it is
            not a URI, breaks the bounds (:data:`MAX_TEXT`, :data:`MAX_PARAMS`),
            has a port outside 0..65535, or does not read back the same once
            written.
        """
        cdef bytes b = _parse_arg(text, "URI")
        cdef Uri out = _uri_parse(b)
        _check_round_trip(out, b, "URI")
        return out

    def replace(self, **changes):
        """A new :class:`Uri` with the given parts changed (same names as the constructor)."""
        parts = dict(scheme=self.scheme, user=self.user, password=self.password, host=self.host,
                     port=self.port, params=self.params, headers=self.headers, opaque=self.opaque)
        for key in changes:
            if key not in parts:
                raise TypeError("Uri has no part %r" % key)
        parts.update(changes)
        return Uri(**parts)

    cdef str _build_text(self):
        cdef osip_uri_t *u = NULL
        cdef char *s = NULL
        cdef int rc
        if self._text is not None:
            return self._text
        u = uri_to_c(self)
        try:
            rc = osip_uri_to_str(u, &s)
        finally:
            osip_uri_free(u)
        self._text = _take_text(rc, s, b"osip_uri_to_str")
        return self._text

    def __str__(self):
        return self._build_text()

    def __repr__(self):
        if self.opaque is not None:
            return "Uri(%r, opaque=%r)" % (self.scheme, self.opaque)
        return "Uri(%r, %r, %r, %r, %r, %r, %r)" % (self.scheme, self.user, self.password, self.host, self.port,
                                                    self.params, self.headers)

    cdef tuple _key(self):
        return (self.scheme, self.user, self.password, self.host, self.port, self.params, self.headers, self.opaque)

    def __eq__(self, other):
        if not isinstance(other, Uri):
            return NotImplemented
        return self._key() == (<Uri>other)._key()

    def __hash__(self):
        return hash(self._key())

    def __reduce__(self):
        return (Uri.parse, (str(self),))


cdef int _check_round_trip(object value, bytes text, str kind) except -1:
    """Refuse what oSIP2 parses but does not write back the same (so str() always round-trips)."""
    cdef str written = str(value)
    try:
        if isinstance(value, Uri):
            again = _uri_parse(_parse_arg(written, kind))
        else:
            again = _name_addr_parse(_parse_arg(written, kind))
    except OsipSyntaxError:
        again = None
    if again != value:
        raise OsipSyntaxError("%s text does not read back the same once written (%r): %s"
                              % (kind, written, _shown(text)), code=-5)
    return 0


cdef Uri _uri_parse(bytes b):
    cdef osip_uri_t *u = NULL
    cdef int rc
    check(osip_uri_init(&u), b"osip_uri_init")
    try:
        rc = osip_uri_parse(u, b)
        if rc < 0:
            raise OsipSyntaxError("not a URI: %s" % _shown(b), code=rc)
        return uri_from_c(u, "URI " + _shown(b))
    finally:
        osip_uri_free(u)


cdef NameAddr _name_addr_parse(bytes b):
    cdef osip_from_t *f = NULL
    cdef int rc
    if b.strip() == b"*":
        return WILDCARD
    check(osip_from_init(&f), b"osip_from_init")
    try:
        rc = osip_from_parse(f, b)
        if rc < 0 or f.url == NULL:
            raise OsipSyntaxError("not a name-addr: %s" % _shown(b), code=rc if rc < 0 else -5)
        return name_addr_from_c(f, "name-addr " + _shown(b))
    finally:
        osip_from_free(f)


cdef Uri uri_from_c(osip_uri_t *u, str where):
    cdef Uri out = Uri.__new__(Uri)
    cdef str port
    out.scheme = _dec(u.scheme) or "sip"
    if u.host == NULL and u.string != NULL:
        out.opaque = _dec(u.string)
        out.params = ()
        out.headers = ()
        return out
    out.user = _dec(u.username)
    out.password = _dec(u.password)
    out.host = _dec(u.host)
    if out.host is None or out.host == "":
        raise OsipSyntaxError("%s has no host" % where, code=-5)
    port = _dec(u.port)
    if port is not None:
        if not (port.isascii() and port.isdigit()) or len(port) > 5 or int(port) > 65535:
            raise OsipSyntaxError("%s has a port that is not in 0..65535: %r" % (where, port), code=-5)
        out.port = int(port)
    out.params = _list_pairs(&u.url_params)
    out.headers = _list_pairs(&u.url_headers)
    return out


cdef osip_uri_t *uri_to_c(Uri uri) except NULL:
    cdef osip_uri_t *u = NULL
    check(osip_uri_init(&u), b"osip_uri_init")
    try:
        _set_field(&u.scheme, uri.scheme)
        if uri.opaque is not None:
            _set_field(&u.string, uri.opaque)
            return u
        _set_field(&u.username, uri.user)
        _set_field(&u.password, uri.password)
        _set_field(&u.host, uri.host)
        if uri.port is not None:
            _set_field(&u.port, str(uri.port))
        _add_pairs(&u.url_params, uri.params)
        _add_pairs(&u.url_headers, uri.headers)
    except BaseException:
        osip_uri_free(u)
        raise
    return u


# --- NameAddr ------------------------------------------------------------------------------

cdef str _unquote(str raw):
    """oSIP2 keeps a display name as written: a quoted string is unquoted and unescaped here."""
    cdef list out
    cdef Py_ssize_t i, n
    raw = raw.strip()
    n = len(raw)
    if n >= 2 and raw[0] == '"' and raw[n - 1] == '"':
        out = []
        i = 1
        while i < n - 1:
            if raw[i] == "\\" and i + 1 < n - 1:
                i += 1
            out.append(raw[i])
            i += 1
        return "".join(out)
    return raw


cdef str _quote(str name):
    return '"' + name.replace("\\", "\\\\").replace('"', '\\"') + '"'


@cython.final
cdef class NameAddr:
    """The value of a From, To or Contact header (``osip_from_t``); immutable.

    ``NameAddr(display_name=None, uri=None, tag=None, params=())``:
    *display_name* is the text shown (unquoted; written as a quoted string),
    *uri* a :class:`Uri` (or its text), *tag* the ``tag`` parameter, *params*
    the other header parameters as (name, value) pairs or a mapping (values
    kept as written: a quoted value keeps its quotes). :data:`WILDCARD`
    is the Contact ``*`` of a REGISTER that removes every binding: its
    ``uri`` is None.

    :raises TypeError: for an argument of the wrong type.
    :raises OsipBadParameter: (a ValueError) for control characters in the
        display name, a missing URI, or parts that do not read back the same.
    """

    def __init__(self, display_name=None, uri=None, tag=None, params=()):
        cdef str name = _opt_str(display_name, "display_name")
        if name is not None and _has_control(name):
            raise OsipBadParameter("display_name must not hold control characters: %r" % (display_name,))
        if isinstance(uri, (str, bytes)):
            uri = Uri.parse(uri)
        elif not isinstance(uri, Uri):
            raise TypeError("uri must be a Uri (or its text), not %s" % type(uri).__name__)
        self.display_name = name
        self.uri = uri
        self.tag = _opt_str(tag, "tag")
        if self.tag is not None and not self.tag:
            raise OsipBadParameter("tag must not be empty (None: no tag)")
        self.params = _pairs(params, "params")
        for pname, _ in self.params:
            if pname.lower() == "tag":
                raise OsipBadParameter("give the tag as tag=, not among params")
        text = self._build_text()
        try:
            again = _name_addr_parse(_parse_arg(text, "name-addr"))
        except OsipSyntaxError as e:
            raise OsipBadParameter("these parts do not make a header value oSIP2 reads back (%s): %s"
                                   % (text, e)) from None
        if again != self:
            raise OsipBadParameter("these parts do not read back the same once written: %r" % text)

    @staticmethod
    def parse(text):
        """Parse a From/To/Contact value (str or bytes) with ``osip_from_parse``.

        ``"*"`` gives :data:`WILDCARD`.

        :raises OsipSyntaxError: (a ValueError) naming the text, when it is
            not a name-addr or addr-spec, breaks the bounds (:data:`MAX_TEXT`,
            :data:`MAX_PARAMS`), has a bad URI or a tag without value, or does
            not read back the same once written.
        """
        cdef bytes b = _parse_arg(text, "name-addr")
        cdef NameAddr out = _name_addr_parse(b)
        _check_round_trip(out, b, "name-addr")
        return out

    def replace(self, **changes):
        """A new :class:`NameAddr` with the given parts changed (``display_name``, ``uri``, ``tag``, ``params``)."""
        parts = dict(display_name=self.display_name, uri=self.uri, tag=self.tag, params=self.params)
        for key in changes:
            if key not in parts:
                raise TypeError("NameAddr has no part %r" % key)
        parts.update(changes)
        return NameAddr(**parts)

    def param(self, name, default=None):
        """The value of the first header parameter *name* (case-insensitive; "" for one without value)."""
        cdef str key = _opt_str(name, "name").lower()
        if key == "tag":
            return self.tag if self.tag is not None else default
        for pname, value in self.params:
            if pname.lower() == key:
                return value if value is not None else ""
        return default

    cdef str _build_text(self):
        cdef osip_from_t *f = NULL
        cdef char *s = NULL
        cdef int rc
        if self._text is not None:
            return self._text
        if self.uri is None:
            self._text = "*"
            return self._text
        f = name_addr_to_c(self)
        try:
            rc = osip_from_to_str(f, &s)
        finally:
            osip_from_free(f)
        self._text = _take_text(rc, s, b"osip_from_to_str")
        return self._text

    def __str__(self):
        return self._build_text()

    def __repr__(self):
        if self.uri is None:
            return "WILDCARD"
        return "NameAddr(%r, %r, %r, %r)" % (self.display_name, self.uri, self.tag, self.params)

    cdef tuple _key(self):
        return (self.display_name, self.uri, self.tag, self.params)

    def __eq__(self, other):
        if not isinstance(other, NameAddr):
            return NotImplemented
        return self._key() == (<NameAddr>other)._key()

    def __hash__(self):
        return hash(self._key())

    def __reduce__(self):
        return (NameAddr.parse, (str(self),))


cdef NameAddr _wildcard():
    cdef NameAddr w = NameAddr.__new__(NameAddr)
    w.params = ()
    return w


#: The Contact ``*`` (a REGISTER removing every binding): a :class:`NameAddr` whose uri is None.
WILDCARD = _wildcard()


cdef NameAddr name_addr_from_c(osip_from_t *f, str where):
    cdef NameAddr out
    cdef list params = []
    cdef osip_generic_param_t *p
    cdef osip_list_iterator_t it
    cdef str name
    if f.url == NULL:
        if f.displayname != NULL and _dec(f.displayname).strip() == "*":
            return WILDCARD
        raise OsipSyntaxError("%s has no URI" % where, code=-5)
    out = NameAddr.__new__(NameAddr)
    if f.displayname != NULL:
        out.display_name = _unquote(_dec(f.displayname))
    out.uri = uri_from_c(f.url, where)
    p = <osip_generic_param_t *>osip_list_get_first(&f.gen_params, &it)
    while p != NULL:
        name = _dec(p.gname) if p.gname != NULL else ""
        if name.lower() == "tag":
            if out.tag is not None:
                raise OsipSyntaxError("%s has more than one tag" % where, code=-5)
            if p.gvalue == NULL or p.gvalue[0] == 0:
                raise OsipSyntaxError("%s has a tag without value" % where, code=-5)
            out.tag = _dec(p.gvalue)
        else:
            params.append((name, _dec(p.gvalue)))
        p = <osip_generic_param_t *>osip_list_get_next(&it)
    out.params = tuple(params)
    return out


cdef osip_from_t *name_addr_to_c(NameAddr na) except NULL:
    cdef osip_from_t *f = NULL
    check(osip_from_init(&f), b"osip_from_init")
    try:
        if na.display_name is not None:
            _set_field(&f.displayname, _quote(na.display_name))
        f.url = uri_to_c(na.uri)
        if na.tag is not None:
            _add_pairs(&f.gen_params, (("tag", na.tag),))
        _add_pairs(&f.gen_params, na.params)
    except BaseException:
        osip_from_free(f)
        raise
    return f

