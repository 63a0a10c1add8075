/* SPDX-License-Identifier: Apache-2.0 */
/* eXosip2 5.3 compatible API: calls: INVITE, in-dialog requests, answers, termination. */
#ifndef EXOSIP2_EX_CALL_H
#define EXOSIP2_EX_CALL_H

#include <stddef.h>
#include <osipparser2/osip_parser.h>
#include <eXosip2/eX_setup.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Attach (id = cid or did) and read back an application pointer on a call. */
int eXosip_call_set_reference(struct eXosip_t *excontext, int id, void *reference);
void *eXosip_call_get_reference(struct eXosip_t *excontext, int cid);

/* Build an INVITE for a new call to `to` from `from`, through `route` (may be NULL), with a Subject. */
int eXosip_call_build_initial_invite(struct eXosip_t *excontext, osip_message_t **invite, const char *to,
                                     const char *from, const char *route, const char *subject);
/* Send it: returns the new call id (cid > 0) or a negative code; the message is always taken. */
int eXosip_call_send_initial_invite(struct eXosip_t *excontext, osip_message_t *invite);

/* Build a request of `method` inside the dialog did (INVITE, INFO, OPTIONS, UPDATE, REFER, NOTIFY...). */
int eXosip_call_build_request(struct eXosip_t *excontext, int did, const char *method, osip_message_t **request);
/* Build and send the ACK for the 2xx answering the INVITE transaction tid. */
int eXosip_call_build_ack(struct eXosip_t *excontext, int tid, osip_message_t **ack);
int eXosip_call_send_ack(struct eXosip_t *excontext, int tid, osip_message_t *ack);
/* Shorthands of eXosip_call_build_request. */
int eXosip_call_build_refer(struct eXosip_t *excontext, int did, const char *refer_to, osip_message_t **request);
int eXosip_call_build_info(struct eXosip_t *excontext, int did, osip_message_t **request);
int eXosip_call_build_options(struct eXosip_t *excontext, int did, osip_message_t **request);
int eXosip_call_build_update(struct eXosip_t *excontext, int did, osip_message_t **request);
int eXosip_call_build_notify(struct eXosip_t *excontext, int did, int subscription_status,
                             osip_message_t **request);
/* Send a request built for the dialog did: returns its transaction id (> 0); the message is taken. */
int eXosip_call_send_request(struct eXosip_t *excontext, int did, osip_message_t *request);

/* Build an answer with status to the request of the server transaction tid. */
int eXosip_call_build_answer(struct eXosip_t *excontext, int tid, int status, osip_message_t **answer);
/* Send it (answer NULL: a default answer with status; not for 2xx to INVITE). The answer is taken. */
int eXosip_call_send_answer(struct eXosip_t *excontext, int tid, int status, osip_message_t *answer);

/* End a call: CANCEL before a final answer, BYE once answered, 603 for an unanswered incoming call. */
int eXosip_call_terminate(struct eXosip_t *excontext, int cid, int did);
/* The same, with a Reason header (its value, e.g. "SIP;cause=200;text=\"done\""). */
int eXosip_call_terminate_with_reason(struct eXosip_t *excontext, int cid, int did, const char *reason);
/* The same with one header of the program's choice in the CANCEL, BYE or 603. */
int eXosip_call_terminate_with_header(struct eXosip_t *excontext, int cid, int did, const char *header_name,
                                      const char *header_value);

/* A PRACK for the reliable 1xx response1xx (it has RSeq) to INVITE transaction tid: RAck is the
 * RSeq and the INVITE's CSeq. OSIP_WRONG_FORMAT without RSeq, OSIP_WRONG_STATE once the INVITE is
 * answered finally or when this 1xx is PRACKed already. */
int eXosip_call_build_prack(struct eXosip_t *excontext, int tid, osip_message_t *response1xx, osip_message_t **prack);
/* Send it (a new transaction of the early dialog); the PRACK is taken, even on failure. */
int eXosip_call_send_prack(struct eXosip_t *excontext, int tid, osip_message_t *prack);

/* Write into refer_to a Refer-To value (with Replaces) designating the dialog did. */
int eXosip_call_get_referto(struct eXosip_t *excontext, int did, char *refer_to, size_t refer_to_len);
/* The call id of the dialog named by a Replaces header value, or a negative code. */
int eXosip_call_find_by_replaces(struct eXosip_t *excontext, char *replaces);

#ifdef __cplusplus
}
#endif

#endif /* EXOSIP2_EX_CALL_H */
