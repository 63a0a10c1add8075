# SPDX-License-Identifier: Apache-2.0
"""Small helpers shared by the package: text conversion, a logger mixin, and DNS server location."""

import ipaddress
import logging
from typing import NamedTuple

__all__ = ["to_bytes", "to_str", "to_unicode", "LoggerMixin", "DnsTarget", "resolve"]


def to_bytes(s, encoding="utf-8"):
    """Return *s* encoded to bytes if it is a str; any other object is returned unchanged."""
    if isinstance(s, str):
        return s.encode(encoding)
    return s


def to_str(s, encoding="utf-8"):
    """Return *s* decoded to str if it is bytes (or bytearray); any other object is returned unchanged."""
    if isinstance(s, (bytes, bytearray)):
        return bytes(s).decode(encoding)
    return s


to_unicode = to_str


class LoggerMixin:
    """Gives a class a :attr:`logger` named ``module.ClassName``."""

    @classmethod
    def _get_logger(cls):
        name = "%s.%s" % (cls.__module__, cls.__qualname__)
        logger = cls.__dict__.get("_LoggerMixin__logger")
        if logger is None or logger.name != name:
            logger = logging.getLogger(name)
            try:
                setattr(cls, "_LoggerMixin__logger", logger)
            except TypeError:  # extension types do not take new attributes
                pass
        return logger

    @property
    def logger(self):
        """The :class:`logging.Logger` of this class, named ``module.ClassName``."""
        return type(self)._get_logger()


class DnsTarget(NamedTuple):
    """One server a request to a URI is sent to (:func:`resolve`), in the order they are tried.

    ``transport`` is ``"UDP"``, ``"TCP"`` or ``"TLS"``; ``host`` the SRV target (or the URI's
    host); ``port`` the port; ``ip`` its address; ``priority`` and ``weight`` those of its SRV
    record (0 without one); ``ttl`` the seconds the answer may be cached (0 when no DNS was asked).
    """

    transport: str
    host: str
    port: int
    ip: str
    priority: int = 0
    weight: int = 0
    ttl: int = 0


def _split_uri(uri):
    """(secure, host, port or None, transport or None) of a SIP URI, or of a bare host name."""
    text = to_str(uri).strip()
    if text.startswith("<") and text.endswith(">"):
        text = text[1:-1]
    secure = False
    lower = text.lower()
    if lower.startswith("sips:"):
        secure, text = True, text[5:]
    elif lower.startswith("sip:"):
        text = text[4:]
    params = {}
    text, _, rest = text.partition(";")
    for p in rest.split(";"):
        k, _, v = p.partition("=")
        if k:
            params[k.strip().lower()] = v.strip()
    text = text.split("?", 1)[0]
    hostport = text.rsplit("@", 1)[-1]
    port = None
    if hostport.startswith("["):
        host, _, tail = hostport[1:].partition("]")
        if tail.startswith(":"):
            port = tail[1:]
    elif hostport.count(":") == 1:
        host, port = hostport.split(":")
    else:
        host = hostport
    if "maddr" in params:
        host = params["maddr"]
    if not host:
        raise ValueError("no host in %r" % (uri,))
    if port is not None:
        if not port.isdigit() or not 0 < int(port) < 65536:
            raise ValueError("bad port in %r" % (uri,))
        port = int(port)
    transport = params.get("transport")
    return secure, host, port, transport.upper() if transport else None


def resolve(uri, dns_server=None, timeout_ms=2000, capabilities=2):
    """The servers a request to *uri* goes to, in order (RFC 3263 server location), for debugging DNS.

    A host name without a port is looked up as the bundled core does for the requests it sends:
    NAPTR records (``SIP+D2U``, ``SIP+D2T``, ``SIPS+D2T``) in order and preference, then the SRV
    records they name — or, without NAPTR, ``_sip._udp``, ``_sip._tcp`` and ``_sips._tcp`` —
    by priority and RFC 2782's weighted random order, then A/AAAA records on 5060 (5061 for TLS).
    A numeric host, a port or ``maddr`` skips NAPTR and SRV; ``sips:`` keeps TLS targets only
    and ``;transport=`` that transport only. Nothing is cached: each call asks the DNS server
    (and may wait, up to *timeout_ms* per query and try, on the calling thread).

    :param uri: a SIP or SIPS URI (``"sip:example.com"``, ``"<sips:bob@example.com>"``) or a host.
    :param dns_server: ``"IP[:PORT]"`` of the DNS server to ask (default: those of
        ``/etc/resolv.conf``), as :attr:`Option.DNS_SERVER <exosip2.options.Option.DNS_SERVER>`.
    :param capabilities: as :attr:`Option.DNS_CAPABILITIES <exosip2.options.Option.DNS_CAPABILITIES>`:
        2 NAPTR, SRV and A; 1 SRV and A; 0 A only.
    :returns: a list of :class:`DnsTarget`.
    :raises ValueError: for a URI without a host or with a bad port.
    :raises exosip2.error.OsipUnknownHost: when the name has no SIP server and no address.
    :raises exosip2.error.OsipTimeout: when no DNS server answered.
    """
    from exosip2 import _dns

    secure, host, port, transport = _split_uri(uri)
    if secure:
        transport = "TLS"
    elif transport == "TLS":
        secure = True
    try:
        ip = str(ipaddress.ip_address(host.strip("[]")))
    except ValueError:
        ip = None
    if ip is not None:
        return [DnsTarget(transport or "UDP", host, port or (5061 if secure else 5060), ip)]
    found = _dns.lookup(host, dns_server, timeout_ms, 0 if port is not None else capabilities)
    out = []
    for t in found:
        kind, name, ip, tport, priority, weight, ttl = t
        target = DnsTarget(kind, name, tport, ip, priority, weight, ttl)
        if port is not None:  # a name with a port: its addresses, on that port
            if target.transport != (transport or "UDP"):
                continue
            target = target._replace(port=port)
        elif transport is not None and target.transport != transport:
            continue
        out.append(target)
    return out
