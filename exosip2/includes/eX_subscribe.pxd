# SPDX-License-Identifier: Apache-2.0
# eXosip2/eX_subscribe.h: outgoing subscriptions (SUBSCRIBE, REFER) and incoming ones (NOTIFY).

from exosip2.includes.eX_setup cimport eXosip_t
from exosip2.includes.osip_parser cimport osip_message_t

cdef extern from "eXosip2/eXosip.h" nogil:
    int eXosip_subscription_build_initial_subscribe(eXosip_t *excontext, osip_message_t **subscribe,
                                                    const char *to, const char *from_url, const char *route,
                                                    const char *event, int expires)
    int eXosip_subscription_build_initial_refer(eXosip_t *excontext, osip_message_t **refer, const char *to,
                                                const char *from_url, const char *route, const char *refer_to)
    int eXosip_subscription_send_initial_request(eXosip_t *excontext, osip_message_t *subscribe)
    int eXosip_subscription_build_refresh_request(eXosip_t *excontext, int did, osip_message_t **sub)
    int eXosip_subscription_send_refresh_request(eXosip_t *excontext, int did, osip_message_t *sub)
    int eXosip_subscription_remove(eXosip_t *excontext, int did)
    int eXosip_insubscription_build_answer(eXosip_t *excontext, int tid, int status, osip_message_t **answer)
    int eXosip_insubscription_send_answer(eXosip_t *excontext, int tid, int status, osip_message_t *answer)
    int eXosip_insubscription_build_request(eXosip_t *excontext, int did, const char *method,
                                            osip_message_t **request)
    int eXosip_insubscription_build_notify(eXosip_t *excontext, int did, int subscription_status,
                                           int subscription_reason, osip_message_t **request)
    int eXosip_insubscription_send_request(eXosip_t *excontext, int did, osip_message_t *request)
    int eXosip_insubscription_remove(eXosip_t *excontext, int did)
