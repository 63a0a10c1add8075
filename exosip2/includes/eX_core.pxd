# SPDX-License-Identifier: Apache-2.0
# eXosip2/eX_core.h: what core/ has beyond the eXosip2 5.3 API. An installed libeXosip2
# (EXOSIP2_SYSTEM=1) has none of it: there EXOSIP2_HAVE_CORE_PRECHECK is 0 and the check is a
# stand-in that accepts everything, so callers test the flag before trusting its answer.

from exosip2.includes.eX_setup cimport eXosip_t, eXosip_tls_ctx_t
from exosip2.includes.osip_parser cimport osip_message_t

cdef extern from *:
    """
    #if EXOSIP2_SYSTEM_LIBRARY
    #define EXOSIP2_HAVE_CORE_PRECHECK 0
    #define EXOSIP2_HAVE_CORE_RETRIED_TID 0
    #define EXOSIP2_HAVE_CORE_SEND_REQUEST_TID 0
    #define EXOSIP2_HAVE_CORE_TLS_CHECK 0
    #include <eXosip2/eXosip.h>
    static int eXosip_core_tls_check(const eXosip_tls_ctx_t *params, char *why, size_t whylen)
    {
      (void) params;
      if (why != NULL && whylen > 0)
        why[0] = '\\0';
      return 0;
    }
    static int eXosip_core_call_send_request_tid(struct eXosip_t *excontext, int did, osip_message_t *request)
    {
      return eXosip_call_send_request(excontext, did, request); /* 5.3: OSIP_SUCCESS, no tid */
    }
    static int eXosip_core_retried_tid(struct eXosip_t *excontext, int tid)
    {
      (void) excontext; (void) tid;
      return -4; /* OSIP_NOTFOUND: eXosip2 tells nobody */
    }
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
    #define EXOSIP2_HAVE_CORE_RETRIED_TID 1
    #define EXOSIP2_HAVE_CORE_SEND_REQUEST_TID 1
    #define EXOSIP2_HAVE_CORE_TLS_CHECK 1
    #endif
    """
    const bint EXOSIP2_HAVE_CORE_PRECHECK
    const bint EXOSIP2_HAVE_CORE_RETRIED_TID
    const bint EXOSIP2_HAVE_CORE_SEND_REQUEST_TID
    const bint EXOSIP2_HAVE_CORE_TLS_CHECK
    int eXosip_core_sip_precheck(const char *buf, size_t len, char *why, size_t whylen) nogil
    # The tid that carries on the request refused in transaction tid (> 0), 0 while its automatic
    # re-send waits, OSIP_NOTFOUND when it is not sent again (always so with an installed libeXosip2).
    int eXosip_core_retried_tid(eXosip_t *excontext, int tid) nogil
    # eXosip_call_send_request returning the new transaction's tid (core/); with an installed
    # libeXosip2 the 5.3 function itself, which returns OSIP_SUCCESS (0) and no tid.
    int eXosip_core_call_send_request_tid(eXosip_t *excontext, int did, osip_message_t *request) nogil
    # Builds (and frees) the client and server SSL_CTX that EXOSIP_OPT_SET_TLS_CERTIFICATES_INFO would
    # install from params: OSIP_SUCCESS, or a negative code with a one-line reason in why (core/); with
    # an installed libeXosip2 a stand-in that accepts everything (EXOSIP2_HAVE_CORE_TLS_CHECK is 0).
    int eXosip_core_tls_check(const eXosip_tls_ctx_t *params, char *why, size_t whylen) nogil
