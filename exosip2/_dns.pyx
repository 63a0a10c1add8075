# SPDX-License-Identifier: Apache-2.0
"""RFC 3263 server location for :func:`exosip2.utils.resolve` (``eXosip_core_dns_lookup``)."""

from libc.string cimport memset

from exosip2.includes.eX_dns cimport EXOSIP2_HAVE_CORE_DNS, eXosip_core_dns_lookup, eXosip_core_dns_target

from exosip2.error cimport check

cdef enum:
    MAX_TARGETS = 16


def lookup(name, server, int timeout_ms, int capabilities):
    """The ordered targets of host *name*: a list of ``(transport, host, ip, port, priority, weight, ttl)``.

    Runs the lookup on the calling thread with the GIL released. Raises the
    :class:`~exosip2.error.OsipError` of the failure (``OsipUnknownHost`` for a name without SIP
    servers or addresses, ``OsipTimeout`` when no DNS server answered).
    """
    cdef eXosip_core_dns_target targets[MAX_TARGETS]
    cdef bytes bname = name.encode("idna") if isinstance(name, str) else bytes(name)
    cdef bytes bserver = None if server is None else (server.encode("ascii") if isinstance(server, str)
                                                      else bytes(server))
    cdef const char *cname = bname
    cdef const char *cserver = NULL
    cdef int n
    if bserver is not None:
        cserver = bserver
    if not EXOSIP2_HAVE_CORE_DNS:
        raise NotImplementedError("exosip2.utils.resolve needs the bundled core (built with EXOSIP2_SYSTEM=1)")
    memset(targets, 0, sizeof(targets))
    with nogil:
        n = eXosip_core_dns_lookup(cserver, timeout_ms, capabilities, cname, targets, MAX_TARGETS)
    check(n, b"eXosip_core_dns_lookup")
    return [(targets[i].transport.decode("ascii"), targets[i].host.decode("ascii", "replace"),
             targets[i].ip.decode("ascii"), targets[i].port, targets[i].priority, targets[i].weight,
             targets[i].ttl) for i in range(n)]
