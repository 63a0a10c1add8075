# SPDX-License-Identifier: Apache-2.0
# eXosip2/eX_setup.h (struct eXosip_dns_cache, EXOSIP_OPT_ADD_DNS_CACHE) and eXosip2/eX_core.h
# (eXosip_core_dns_lookup): server location. An installed libeXosip2 (EXOSIP2_SYSTEM=1) has no
# eXosip_core_dns_lookup: there EXOSIP2_HAVE_CORE_DNS is 0 and the stand-in refuses.

cdef extern from *:
    """
    #if EXOSIP2_SYSTEM_LIBRARY
    #include <eXosip2/eXosip.h>
    #define EXOSIP2_HAVE_CORE_DNS 0
    struct eXosip_core_dns_target {
      char transport[8];
      char host[256];
      char ip[64];
      int port, priority, weight, ttl;
    };
    static int eXosip_core_dns_lookup(const char *s, int t, int c, const char *n, struct eXosip_core_dns_target *o,
                                      int m) { (void) s; (void) t; (void) c; (void) n; (void) o; (void) m; return -2; }
    #else
    #include <eXosip2/eX_core.h>
    #define EXOSIP2_HAVE_CORE_DNS 1
    #endif
    """
    const bint EXOSIP2_HAVE_CORE_DNS
    struct eXosip_dns_cache:
        char host[1024]
        char ip[256]
    struct eXosip_core_dns_target:
        char transport[8]
        char host[256]
        char ip[64]
        int port
        int priority
        int weight
        int ttl
    int eXosip_core_dns_lookup(const char *server, int timeout_ms, int capabilities, const char *name,
                               eXosip_core_dns_target *targets, int max) nogil
