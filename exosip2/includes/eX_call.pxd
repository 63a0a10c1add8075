# SPDX-License-Identifier: Apache-2.0
# eXosip2/eX_call.h: calls (INVITE, in-dialog requests, answers, termination).

from exosip2.includes.eX_setup cimport eXosip_t
from exosip2.includes.osip_parser cimport osip_message_t

cdef extern from "eXosip2/eXosip.h" nogil:
    int eXosip_call_build_initial_invite(eXosip_t *excontext, osip_message_t **invite, const char *to,
                                         const char *from_url, const char *route, const char *subject)
    int eXosip_call_send_initial_invite(eXosip_t *excontext, osip_message_t *invite)
    int eXosip_call_set_reference(eXosip_t *excontext, int id, void *reference)
    int eXosip_call_build_request(eXosip_t *excontext, int did, const char *method, osip_message_t **request)
    int eXosip_call_build_ack(eXosip_t *excontext, int tid, osip_message_t **ack)
    int eXosip_call_send_ack(eXosip_t *excontext, int tid, osip_message_t *ack)
    int eXosip_call_build_prack(eXosip_t *excontext, int tid, osip_message_t *response1xx,
                                osip_message_t **prack)
    int eXosip_call_send_prack(eXosip_t *excontext, int tid, osip_message_t *prack)
    int eXosip_call_build_refer(eXosip_t *excontext, int did, const char *refer_to, osip_message_t **request)
    int eXosip_call_build_info(eXosip_t *excontext, int did, osip_message_t **request)
    int eXosip_call_build_options(eXosip_t *excontext, int did, osip_message_t **request)
    int eXosip_call_build_update(eXosip_t *excontext, int did, osip_message_t **request)
    int eXosip_call_build_notify(eXosip_t *excontext, int did, int subscription_status,
                                 osip_message_t **request)
    int eXosip_call_send_request(eXosip_t *excontext, int did, osip_message_t *request)
    int eXosip_call_build_answer(eXosip_t *excontext, int tid, int status, osip_message_t **answer)
    int eXosip_call_send_answer(eXosip_t *excontext, int tid, int status, osip_message_t *answer)
    int eXosip_call_terminate(eXosip_t *excontext, int cid, int did)
    int eXosip_call_terminate_with_reason(eXosip_t *excontext, int cid, int did, const char *reason)
    int eXosip_call_terminate_with_header(eXosip_t *excontext, int cid, int did, const char *header_name,
                                          const char *header_value)
