# SPDX-License-Identifier: Apache-2.0
"""Option numbers for :meth:`Context.set_option <exosip2.context.Context.set_option>`.

:class:`Option` names every option the bundled core implements: eXosip2 5.3's own
``EXOSIP_OPT_*`` numbers (``eXosip2/eX_setup.h``) and the core-only limits
``EXOSIP_CORE_OPT_*`` (``eXosip2/eX_core.h``, numbered from :data:`CORE_OPTION_BASE`), which bound
what a peer can make a context hold or spend. Each option has one value type, checked by
``set_option`` before anything reaches C (:func:`option_type`):

* ``int`` — flags (0/1, ``bool`` accepted) and limits; a C ``int``;
* ``str`` — :attr:`Option.SET_HEADER_USER_AGENT`, :attr:`Option.SET_SIP_INSTANCE`,
  :attr:`Option.SET_DEFAULT_CONTACT_DISPLAYNAME`, :attr:`Option.SET_OC_LOCAL_ADDRESS`,
  :attr:`Option.SET_CONTACT_DIALOG_EXTRA_PARAMS` (``str``/``bytes``, or ``None`` for none),
  :attr:`Option.DNS_SERVER` and :attr:`Option.DELETE_DNS_CACHE`;
* ``tuple`` — :attr:`Option.SET_OC_PORT_RANGE`: ``(low, high)``, ints (a C ``int[2]``);
  :attr:`Option.ADD_DNS_CACHE`, a ``(host, ip)`` pair of str;
* :attr:`Option.GET_STATISTICS` is not set but read: :meth:`Context.get_statistics
  <exosip2.context.Context.get_statistics>` returns a :class:`Statistics`.

Built against an installed libeXosip2 (``EXOSIP2_SYSTEM=1``) the core-only options are unknown to
the library, and ``set_option`` raises :class:`~exosip2.error.OsipBadParameter` saying so.
"""

import enum
from typing import NamedTuple, Tuple

__all__ = ["Option", "CORE_OPTION_BASE", "Statistics", "option_type", "is_core_option"]

#: The first core-only option number (``EXOSIP_CORE_OPT_BASE``); eXosip2's own end at 2000.
CORE_OPTION_BASE = 0x10000


class Option(enum.IntEnum):
    """The ``EXOSIP_OPT_*`` / ``EXOSIP_CORE_OPT_*`` option numbers, with eXosip2 5.3's values."""

    #: int: milliseconds between keep-alives toward each registrar (0: none), sent from
    #: ``eXosip_automatic_action`` (the event loop calls it): CRLFCRLF, or OPTIONS with
    #: :attr:`KEEP_ALIVE_OPTIONS_METHOD`.
    UDP_KEEP_ALIVE = 1
    #: int: 1 takes the received/rport of the Via of a 2xx to our REGISTER as our Contact address.
    AUTO_MASQUERADE_CONTACT = 2
    #: the older name of :attr:`AUTO_MASQUERADE_CONTACT` (the same number).
    UDP_LEARN_PORT = 2
    #: int: 1 (default) puts ``;rport`` in the Via of outgoing requests.
    USE_RPORT = 7
    #: int: the DSCP (0..63) of the SIP sockets.
    SET_DSCP = 15
    #: str or None: the User-Agent header value (None: no User-Agent header).
    SET_HEADER_USER_AGENT = 17
    #: int: 1 (default) answers an incoming BYE with 200 at once.
    ENABLE_AUTOANSWERBYE = 19
    #: int: 1 prefers IPv6 when guessing addresses and resolving names.
    ENABLE_IPV6 = 20
    #: int: 1 refreshes the session (as UAC, with our INVITE's Session-Expires) even when the
    #: peer's 2xx has no Session-Expires; 0 (default) only when it has one.
    SET_SESSIONTIMERS_FORCE = 32
    #: (host, ip): a fixed address for a host name, used instead of DNS.
    ADD_DNS_CACHE = 9
    #: str: a host name whose fixed address and cached DNS answers are removed.
    DELETE_DNS_CACHE = 10
    #: int: 0 A/AAAA records only, 1 SRV then A, 2 (default) NAPTR, SRV then A (RFC 3263).
    DNS_CAPABILITIES = 14
    #: int: 1 (default) keeps DNS answers for their TTL; 0 disables and empties the cache.
    ENABLE_DNS_CACHE = 18
    #: int: 1 verifies the certificates of TLS peers (off by default, as in eXosip2); see
    #: :meth:`~exosip2.context.Context.set_tls`, which sets it.
    SET_TLS_VERIFY_CERTIFICATE = 500
    #: a C struct (``eXosip_tls_ctx_t``): set it with :meth:`~exosip2.context.Context.set_tls`.
    SET_TLS_CERTIFICATES_INFO = 501
    #: int: 1 makes our TCP connections leave from the port we listen on (set it before listening).
    ENABLE_REUSE_TCP_PORT = 21
    #: int: 1 puts the RFC 5626 ``ob`` parameter in the Contact of our dialogs.
    ENABLE_OUTBOUND = 24
    #: str or None: the local address our TCP connections are bound to.
    SET_OC_LOCAL_ADDRESS = 25
    #: (int, int): the range of local ports of our TCP connections; ``(0, 0)`` for any.
    SET_OC_PORT_RANGE = 26
    #: int: 1 (default) drops our INVITE's Route from a dialog whose 2xx has no Record-Route; 0 keeps it.
    REMOVE_PREROUTESET = 27
    #: str or None: the ``+sip.instance`` of our Contacts (RFC 5626), e.g. ``"<urn:uuid:...>"``.
    SET_SIP_INSTANCE = 28
    #: int: datagrams read per wake-up of the I/O thread (0: the default, 128).
    SET_MAX_MESSAGE_TO_READ = 29
    #: str or None: the display name of our Contacts.
    SET_DEFAULT_CONTACT_DISPLAYNAME = 31
    #: int: 1 sends over any open TCP connection with the peer's address when none matches its port.
    FORCE_CONNECTIONREUSE = 33
    #: str or None: URI parameters added to the Contact of our dialogs (not of REGISTER).
    SET_CONTACT_DIALOG_EXTRA_PARAMS = 34
    #: int: 1 sends the keep-alives of :attr:`UDP_KEEP_ALIVE` as OPTIONS requests.
    KEEP_ALIVE_OPTIONS_METHOD = 1000
    #: read only: the counters of the context (:meth:`~exosip2.context.Context.get_statistics`).
    GET_STATISTICS = 2000

    # -- core-only limits (eXosip2/eX_core.h): ints; see that header for defaults and ranges --
    #: open TCP connections in all.
    MAX_TCP_CONNECTIONS = CORE_OPTION_BASE + 1
    #: open TCP connections from one source address.
    MAX_TCP_CONNECTIONS_PER_SOURCE = CORE_OPTION_BASE + 2
    #: milliseconds a TCP peer has to complete a message it started.
    TCP_MESSAGE_TIMEOUT_MS = CORE_OPTION_BASE + 3
    #: milliseconds an idle TCP connection is kept.
    TCP_IDLE_TIMEOUT_MS = CORE_OPTION_BASE + 4
    #: header lines in one message.
    MAX_HEADERS = CORE_OPTION_BASE + 10
    #: parameters in one header line or URI.
    MAX_PARAMS = CORE_OPTION_BASE + 11
    #: comma separated values in one header line.
    MAX_HEADER_VALUES = CORE_OPTION_BASE + 12
    #: transactions alive in all.
    MAX_TRANSACTIONS = CORE_OPTION_BASE + 20
    #: server transactions alive for one source address.
    MAX_TRANSACTIONS_PER_SOURCE = CORE_OPTION_BASE + 21
    #: calls alive in all.
    MAX_CALLS = CORE_OPTION_BASE + 22
    #: seconds a confirmed call may stay silent before it is ended with BYE (0: never).
    CALL_IDLE_TIMEOUT = CORE_OPTION_BASE + 23
    #: events waiting for the program beyond which new requests get 503 (load is shed).
    MAX_QUEUED_EVENTS = CORE_OPTION_BASE + 24
    #: automatic re-sends (401/407, 3xx, 422, 423) of one request before its failure is reported
    #: (a REGISTER gets at most 3, as in eXosip2 5.3).
    MAX_AUTOMATIC_RETRIES = CORE_OPTION_BASE + 30
    #: the largest Min-Expires of a 423 that a registration follows.
    MAX_MIN_EXPIRES = CORE_OPTION_BASE + 31
    #: the smallest Expires a REGISTER asks for: 1 up to one less is raised to it (default 30, as
    #: eXosip2 5.3 does; 0, the removal, stays 0).
    MIN_REGISTER_EXPIRES = CORE_OPTION_BASE + 32
    #: the smallest session interval (seconds) honoured; smaller ones are raised, and a new INVITE
    #: asking for less gets 422 with this Min-SE (default 90, RFC 4028's floor).
    MIN_SESSION_EXPIRES = CORE_OPTION_BASE + 45
    #: str or None: "IP[:PORT]" of the one DNS server the context asks (None: the system's).
    DNS_SERVER = CORE_OPTION_BASE + 50
    #: milliseconds one DNS query waits for its answer (tried twice).
    DNS_TIMEOUT_MS = CORE_OPTION_BASE + 51
    #: milliseconds the program has to answer an INVITE finally (0: no bound).
    INVITE_ANSWER_TIMEOUT_MS = CORE_OPTION_BASE + 40
    #: the status sent when that bound passes (408 by default).
    INVITE_ANSWER_TIMEOUT_STATUS = CORE_OPTION_BASE + 41
    #: dialogs one outgoing call may hold (early dialogs and forked branches).
    MAX_FORKED_DIALOGS = CORE_OPTION_BASE + 42
    #: 1 keeps the dialogs of further 2xx of a forked INVITE (0: acknowledged and ended with BYE).
    KEEP_FORKED_DIALOGS = CORE_OPTION_BASE + 43


_STR_OPTIONS = frozenset([Option.SET_HEADER_USER_AGENT, Option.SET_SIP_INSTANCE,
                          Option.SET_DEFAULT_CONTACT_DISPLAYNAME, Option.SET_OC_LOCAL_ADDRESS,
                          Option.SET_CONTACT_DIALOG_EXTRA_PARAMS, Option.DELETE_DNS_CACHE, Option.DNS_SERVER])
_TUPLE_OPTIONS = frozenset([Option.SET_OC_PORT_RANGE, Option.ADD_DNS_CACHE])
_READ_ONLY = frozenset([Option.GET_STATISTICS])


def option_type(option):
    """The Python type :meth:`~exosip2.context.Context.set_option` takes for *option* (``int``, ``str``,
    or ``tuple`` for :attr:`Option.SET_OC_PORT_RANGE`, a pair of ints, and :attr:`Option.ADD_DNS_CACHE`,
    a ``(host, ip)`` pair).

    :raises ValueError: for a number that is not an :class:`Option`, and for
        :attr:`Option.GET_STATISTICS` (read it with ``Context.get_statistics()``).
    :raises TypeError: when *option* is not an int.
    """
    if not isinstance(option, int) or isinstance(option, bool):
        raise TypeError("option must be an int (an exosip2.Option), not %s" % type(option).__name__)
    try:
        opt = Option(option)
    except ValueError:
        raise ValueError("unknown option number %d; the known ones are exosip2.Option: %s"
                         % (option, ", ".join("%s=%d" % (o.name, o.value) for o in Option))) from None
    if opt in _READ_ONLY:
        raise ValueError("Option.GET_STATISTICS is not set but read: use Context.get_statistics()")
    if opt in _TUPLE_OPTIONS:
        return tuple
    if opt == Option.SET_TLS_CERTIFICATES_INFO:
        raise ValueError("Option.SET_TLS_CERTIFICATES_INFO takes a C struct: use Context.set_tls()")
    return str if opt in _STR_OPTIONS else int


def is_core_option(option):
    """True for the core-only options (``EXOSIP_CORE_OPT_*``), which an installed libeXosip2 lacks."""
    return int(option) >= CORE_OPTION_BASE


class Statistics(NamedTuple):
    """The counters of a context (``struct eXosip_stats``, read with ``EXOSIP_OPT_GET_STATISTICS``).

    ``allocated_*`` count objects alive now; ``average_*`` new objects per hour since the start.
    ``reserved1`` holds the 20 reserved ints of the struct: in the bundled core, ``reserved1[0]``
    counts received messages dropped as malformed or oversized and ``reserved1[1]`` TCP
    connections closed for abuse or idleness.
    """

    allocated_transactions: int
    average_transactions: float
    allocated_registrations: int
    average_registrations: float
    allocated_calls: int
    average_calls: float
    allocated_publications: int
    average_publications: float
    allocated_subscriptions: int
    average_subscriptions: float
    allocated_insubscriptions: int
    average_insubscriptions: float
    reserved1: Tuple[int, ...]
