# SPDX-License-Identifier: Apache-2.0
# eXosip2/eX_core.h: what core/ has beyond the eXosip2 5.3 API. An installed libeXosip2
# (EXOSIP2_SYSTEM=1) has none of it: there EXOSIP2_HAVE_CORE_PRECHECK is 0 and the check is a
# stand-in that accepts everything, so callers test the flag before trusting its answer.

cdef extern from *:
    """
    #if EXOSIP2_SYSTEM_LIBRARY
    #define EXOSIP2_HAVE_CORE_PRECHECK 0
    static int eXosip_core_sip_precheck(const char *buf, size_t len, char *why, size_t whylen)
    {
      (void) buf; (void) len;
      if (why != NULL && whylen > 0)
        why[0] = '\\0';
      return 0;
    }
    #else
    #include <eXosip2/eX_core.h>
    #define EXOSIP2_HAVE_CORE_PRECHECK 1
    #endif
    """
    const bint EXOSIP2_HAVE_CORE_PRECHECK
    int eXosip_core_sip_precheck(const char *buf, size_t len, char *why, size_t whylen) nogil
