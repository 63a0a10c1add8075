# SPDX-License-Identifier: Apache-2.0
# eXosip2/eX_register.h: registrations (REGISTER), and the digest credentials of
# eXosip2/eX_setup.h that answer a registrar's (or any other server's) challenge.

from exosip2.includes.eX_setup cimport eXosip_t
from exosip2.includes.osip_parser cimport osip_message_t

cdef extern from "eXosip2/eXosip.h" nogil:
    int eXosip_register_build_initial_register(eXosip_t *excontext, const char *from_, const char *proxy,
                                               const char *contact, int expires, osip_message_t **reg)
    int eXosip_register_build_initial_register_withqvalue(eXosip_t *excontext, const char *from_,
                                                          const char *proxy, const char *contact, int expires,
                                                          const char *qvalue, osip_message_t **reg)
    int eXosip_register_build_register(eXosip_t *excontext, int rid, int expires, osip_message_t **reg)
    int eXosip_register_send_register(eXosip_t *excontext, int rid, osip_message_t *reg)
    int eXosip_register_remove(eXosip_t *excontext, int rid)

    # eX_setup.h: credentials for 401 WWW-Authenticate / 407 Proxy-Authenticate.
    int eXosip_add_authentication_info(eXosip_t *excontext, const char *username, const char *userid,
                                       const char *passwd, const char *ha1, const char *realm)
    int eXosip_remove_authentication_info(eXosip_t *excontext, const char *username, const char *realm)
    int eXosip_clear_authentication_info(eXosip_t *excontext)
