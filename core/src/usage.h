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
  /* Its counters in EXOSIP_OPT_GET_STATISTICS (hours: since the context started), or NULL. */
  void (*stats)(struct eXosip_t *ctx, struct eXosip_stats *st, double hours);
};

/* usage.c: the hand-off, asking each usage in turn */
int ex_usage_request(struct eXosip_t *ctx, struct ex_tx *w);
int ex_usage_nict_after(struct eXosip_t *ctx, struct ex_tx *w, int cb);
void ex_usage_automatic(struct eXosip_t *ctx);
void ex_usage_free_all(struct eXosip_t *ctx);
void ex_usage_stats(struct eXosip_t *ctx, struct eXosip_stats *st, double hours);
/* The event of an answer: base_ok is the *_ANSWERED event of its family (the failures follow it in
 * eXosip_event_type_t, the provisional one precedes it). */
eXosip_event_type_t ex_event_by_class(int status, eXosip_event_type_t base_ok);

/* The usages (each defined in its own file). */
extern const struct ex_usage ex_usage_registration;   /* register.c */
extern const struct ex_usage ex_usage_subscription;   /* subscribe.c: our SUBSCRIBE/REFER, NOTIFY received */
extern const struct ex_usage ex_usage_insubscription; /* insubscribe.c: SUBSCRIBE received, our NOTIFY */
extern const struct ex_usage ex_usage_publication;    /* publish.c: our PUBLISH */
extern const struct ex_usage ex_usage_plain;          /* request.c */

/* event.c: what an event of a subscription names */
struct ex_event_sub {
  int did, sid, nid;
  int ss_status, ss_reason; /* enum eXosip_ss, enum eXosip_ss_reason */
};
int ex_event_emit_sub(struct eXosip_t *ctx, eXosip_event_type_t type, const struct ex_event_sub *sub, int tid,
                      const osip_message_t *request, const osip_message_t *response);

/* usage.c: helpers the subscription usages share */
/* A request inside the dialog d (CSeq taken from it). */
int ex_usage_build_in_dialog(struct eXosip_t *ctx, osip_dialog_t *d, const char *method, osip_message_t **out);
/* Send a request on a new client transaction; returns its tid or a negative code (msg always taken). */
int ex_usage_send(struct eXosip_t *ctx, osip_message_t *msg);
/* An oSIP2 NICT callback type that reports an answer for the first time (not a retransmission). */
int ex_nict_answer_cb(int cb);
/* The integer value of a header (Expires, ...), or dflt when absent or not a number. */
long ex_header_long(const osip_message_t *msg, const char *name, long dflt);
/* The value of a header, or NULL. */
const char *ex_header_value(const osip_message_t *msg, const char *name);
/* A fresh copy of a request sent again: new Via branch, CSeq cseq (always taken on failure). */
int ex_usage_copy_for_resend(struct eXosip_t *ctx, const osip_message_t *req, int cseq, osip_message_t **out);
/* Parse a Subscription-State value into enum eXosip_ss / eXosip_ss_reason and its expires (-1 none). */
void ex_parse_substate(const char *value, int *status, int *reason, long *expires);
/* Expires of subscriptions and publications: at most this many seconds, whatever a peer asks. */
#define EX_MAX_SUB_EXPIRES 86400

#endif /* EXOSIP2_CORE_USAGE_H */
