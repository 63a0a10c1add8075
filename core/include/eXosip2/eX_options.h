/* SPDX-License-Identifier: Apache-2.0 */
/* eXosip2 5.3 compatible API: out-of-dialog OPTIONS. */
#ifndef EXOSIP2_EX_OPTIONS_H
#define EXOSIP2_EX_OPTIONS_H

#include <osipparser2/osip_parser.h>
#include <eXosip2/eX_setup.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Build an OPTIONS request to `to` from `from` (route may be NULL). */
int eXosip_options_build_request(struct eXosip_t *excontext, osip_message_t **options, const char *to,
                                 const char *from, const char *route);
/* Send it: returns the transaction id (> 0); the message is always taken. */
int eXosip_options_send_request(struct eXosip_t *excontext, osip_message_t *options);
/* Build and send the answer to the incoming OPTIONS transaction tid. */
int eXosip_options_build_answer(struct eXosip_t *excontext, int tid, int status, osip_message_t **answer);
int eXosip_options_send_answer(struct eXosip_t *excontext, int tid, int status, osip_message_t *answer);

#ifdef __cplusplus
}
#endif

#endif /* EXOSIP2_EX_OPTIONS_H */
