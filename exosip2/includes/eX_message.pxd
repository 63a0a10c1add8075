# SPDX-License-Identifier: Apache-2.0
# eXosip2/eX_message.h: requests outside of any dialog (MESSAGE and others).

from exosip2.includes.eX_setup cimport eXosip_t
from exosip2.includes.osip_parser cimport osip_message_t

cdef extern from "eXosip2/eXosip.h" nogil:
    int eXosip_message_build_request(eXosip_t *excontext, osip_message_t **message, const char *method,
                                     const char *to, const char *from_url, const char *route)
    int eXosip_message_send_request(eXosip_t *excontext, osip_message_t *message)
    int eXosip_message_build_answer(eXosip_t *excontext, int tid, int status, osip_message_t **answer)
    int eXosip_message_send_answer(eXosip_t *excontext, int tid, int status, osip_message_t *answer)
