/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Usages: what a transaction is for, above the transaction layer. Calls and dialogs live in call.c;
 * every other usage (registration, outgoing subscription, incoming subscription, publication, plain
 * request outside dialogs) is one file with one entry in the table of usage.c, and the transaction
 * layer hands it a transaction's outcome through that table only.
 */
#ifndef EXOSIP2_CORE_USAGE_H
#define EXOSIP2_CORE_USAGE_H

#include "exosip_internal.h"

struct ex_usage {
  const char *name;
  /* A request that opened a new server transaction w (not INVITE, ACK or CANCEL): nonzero when this
   * usage took it (answered it or reported it). */
  int (*request)(struct eXosip_t *ctx, struct ex_tx *w);
  /* An answer or timeout (oSIP2 callback type cb) of a client transaction outside calls: nonzero
   * when the transaction was this usage's. */
  int (*nict_after)(struct eXosip_t *ctx, struct ex_tx *w, int cb);
  /* The usage's share of eXosip_automatic_action (refreshes, retries, expiry), or NULL. */
  void (*automatic)(struct eXosip_t *ctx);
  /* Free everything the usage holds (eXosip_quit), or NULL. */
  void (*free_all)(struct eXosip_t *ctx);
};

/* usage.c: the hand-off, asking each usage in turn */
int ex_usage_request(struct eXosip_t *ctx, struct ex_tx *w);
int ex_usage_nict_after(struct eXosip_t *ctx, struct ex_tx *w, int cb);
void ex_usage_automatic(struct eXosip_t *ctx);
void ex_usage_free_all(struct eXosip_t *ctx);
/* The event of an answer: base_ok is the *_ANSWERED event of its family (the failures follow it in
 * eXosip_event_type_t, the provisional one precedes it). */
eXosip_event_type_t ex_event_by_class(int status, eXosip_event_type_t base_ok);

/* The usages (each defined in its own file). */
extern const struct ex_usage ex_usage_registration; /* register.c */
extern const struct ex_usage ex_usage_plain;        /* request.c */

#endif /* EXOSIP2_CORE_USAGE_H */
