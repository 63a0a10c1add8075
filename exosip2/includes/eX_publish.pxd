# SPDX-License-Identifier: Apache-2.0
# eXosip2/eX_publish.h: PUBLISH.

from exosip2.includes.eX_setup cimport eXosip_t
from exosip2.includes.osip_parser cimport osip_message_t

cdef extern from "eXosip2/eXosip.h" nogil:
    int eXosip_build_publish(eXosip_t *excontext, osip_message_t **message, const char *to, const char *from_url,
                             const char *route, const char *event, const char *expires, const char *ctype,
                             const char *body)
    int eXosip_publish(eXosip_t *excontext, osip_message_t *message, const char *to)
