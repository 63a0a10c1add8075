/* SPDX-License-Identifier: Apache-2.0 */
/* eXosip2 5.3 compatible API: REGISTER and registration management. */
#ifndef EXOSIP2_EX_REGISTER_H
#define EXOSIP2_EX_REGISTER_H

#include <eXosip2/eX_setup.h>

#ifdef __cplusplus
extern "C" {
#endif

/*
 * Build the first REGISTER of a new registration: from is the address of record (To and From),
 * proxy the registrar's URI (the Request-URI), contact the Contact to bind (NULL: this context's
 * address), expires the lifetime asked for. Returns the registration id (rid, > 0) or a negative code.
 * Answers come as EXOSIP_REGISTRATION_SUCCESS / EXOSIP_REGISTRATION_FAILURE events carrying the rid.
 */
int eXosip_register_build_initial_register(struct eXosip_t *excontext, const char *from, const char *proxy,
                                           const char *contact, int expires, osip_message_t **reg);

/* The same with a q parameter (e.g. "0.5") on the Contact. */
int eXosip_register_build_initial_register_withqvalue(struct eXosip_t *excontext, const char *from,
                                                      const char *proxy, const char *contact, int expires,
                                                      const char *qvalue, osip_message_t **reg);

/* The next REGISTER of registration rid (expires 0 removes the binding). OSIP_WRONG_STATE while a
 * REGISTER of it still waits for its answer. */
int eXosip_register_build_register(struct eXosip_t *excontext, int rid, int expires, osip_message_t **reg);

/* Send a REGISTER of registration rid (reg NULL: one built with the last expires). Takes reg. */
int eXosip_register_send_register(struct eXosip_t *excontext, int rid, osip_message_t *reg);

/* Forget registration rid without sending anything (unregister first with expires 0). */
int eXosip_register_remove(struct eXosip_t *excontext, int rid);

#ifdef __cplusplus
}
#endif

#endif /* EXOSIP2_EX_REGISTER_H */
