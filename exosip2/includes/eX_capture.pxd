# SPDX-License-Identifier: Apache-2.0
# eXosip2/eX_core.h: capture of SIP messages and the errno of a failed listen (core/ only). An
# installed libeXosip2 (EXOSIP2_SYSTEM=1) has neither: there EXOSIP2_HAVE_CORE_CAPTURE is 0 and
# the stand-ins below refuse capture and report no errno.

from exosip2.includes.eX_setup cimport eXosip_t


cdef extern from *:
    """
    #if EXOSIP2_SYSTEM_LIBRARY
    #define EXOSIP2_HAVE_CORE_CAPTURE 0
    struct eXosip_core_captured {
      int direction, transport, family;
      char local_ip[64];
      int local_port;
      char remote_ip[64];
      int remote_port;
      long long time_us;
      size_t length;
      char text[1];
    };
    static int eXosip_core_capture(struct eXosip_t *c, int m, size_t b) { (void) c; (void) m; (void) b; return -1; }
    static struct eXosip_core_captured *eXosip_core_capture_next(struct eXosip_t *c) { (void) c; return NULL; }
    static void eXosip_core_captured_free(struct eXosip_core_captured *m) { (void) m; }
    static int eXosip_core_capture_queued(struct eXosip_t *c) { (void) c; return 0; }
    static unsigned long eXosip_core_capture_dropped(struct eXosip_t *c) { (void) c; return 0; }
    static int eXosip_core_listen_errno(struct eXosip_t *c) { (void) c; return 0; }
    #else
    #include <eXosip2/eX_core.h>
    #define EXOSIP2_HAVE_CORE_CAPTURE 1
    #endif
    """
    const bint EXOSIP2_HAVE_CORE_CAPTURE
    struct eXosip_core_captured:
        int direction
        int transport
        int family
        char local_ip[64]
        int local_port
        char remote_ip[64]
        int remote_port
        long long time_us
        size_t length
        char *text
    int eXosip_core_capture(eXosip_t *ctx, int max_messages, size_t max_bytes) nogil
    eXosip_core_captured *eXosip_core_capture_next(eXosip_t *ctx) nogil
    void eXosip_core_captured_free(eXosip_core_captured *msg) nogil
    int eXosip_core_capture_queued(eXosip_t *ctx) nogil
    unsigned long eXosip_core_capture_dropped(eXosip_t *ctx) nogil
    int eXosip_core_listen_errno(eXosip_t *ctx) nogil
