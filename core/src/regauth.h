/* SPDX-License-Identifier: Apache-2.0 */
/* Private declarations of registrations (register.c, register_api.c) and digest authentication (auth.c). */
#ifndef EXOSIP2_CORE_REGAUTH_H
#define EXOSIP2_CORE_REGAUTH_H

#include "exosip_internal.h"

/* One entry of eXosip_add_authentication_info. realm NULL: answers a challenge of any realm. */
struct ex_cred {
  char *username;
  char *userid; /* the name put in the credentials (username when not given) */
  char *passwd;
  char *ha1;    /* precomputed MD5(userid:realm:passwd), used instead of passwd when given */
  char *realm;
  struct ex_cred *next;
};

/* One registration (rid). */
struct ex_reg {
  int rid;
  osip_message_t *last;      /* the REGISTER last sent (or built): the template of the next */
  osip_message_t *challenge; /* the latest 401/407 received, answered by later REGISTERs */
  int tid;                   /* the REGISTER in flight, 0 when none */
  int cseq;                  /* CSeq number of the latest REGISTER */
  int expires;               /* what the program asked for */
  int granted;               /* what the registrar granted in the latest 2xx, 0 when not registered */
  uint64_t granted_at;       /* monotonic us of that 2xx */
  int retry_auth;            /* a challenge waits for eXosip_automatic_action */
  int retry_interval;        /* a 423 asked for at least this Expires: resend with it */
  int preemptive;            /* the REGISTER in flight carries credentials of an older challenge */
  int stale_retries;         /* consecutive stale challenges answered */
  int rounds;                /* automatic re-sends of the present REGISTER (ctx->limits.max_automatic_retries) */
  int resending;             /* set while register.c itself sends a retry: the budget is not reset */
  uint64_t retry_due;        /* monotonic us before which the pending retry waits (back-off) */
  unsigned int nc;           /* nonce count used with the remembered challenge */
  int removed;               /* eXosip_register_remove came while a REGISTER was in flight: freed at its end */
  int sent;                  /* a REGISTER of this registration was sent */
  struct ex_reg *next;
};

/* A request refused with a challenge (or redirected), to be sent again by eXosip_automatic_action. */
struct ex_retry {
  osip_message_t *request;   /* copy of the refused request */
  osip_message_t *response;  /* copy of the refusal */
  int cid, did;
  int tid;    /* the refused transaction (in `retried`: the transaction that carried the retry) */
  int rounds; /* how many times this request has been sent again already */
  uint64_t due; /* monotonic us before which it is not sent again (back-off) */
  struct ex_retry *next;
};

/* auth.c */
/* Nonzero when a 401/407 to request can be answered: credentials exist for one of its challenges and
 * none of them refuses credentials already sent (a not-stale challenge for a realm answered before).
 * previous_was_preemptive lets a challenge to credentials of an older challenge be answered once. */
int ex_auth_can_answer(struct eXosip_t *ctx, const osip_message_t *request, const osip_message_t *response,
                       int previous_was_preemptive);
/* True when a challenge of response says stale=true. */
int ex_auth_is_stale(const osip_message_t *response);
/* Add (replacing those of the same realm) credentials answering every challenge of response that
 * a credential matches; nc is the nonce count to use with qop=auth. OSIP_NOTFOUND when none matched. */
int ex_auth_answer(struct eXosip_t *ctx, osip_message_t *request, const osip_message_t *response,
                   unsigned int nc);
void ex_auth_free_all(struct eXosip_t *ctx);
/* Credentials for a request built inside a dialog, from the challenge last answered for its Call-ID
 * (as eXosip2 5.3 adds them before any challenge); OSIP_NOTFOUND when none applies or the request
 * carries credentials already. */
int ex_auth_preemptive(struct eXosip_t *ctx, osip_message_t *request);
void ex_auth_cache_free(struct eXosip_t *ctx);

/* register.c */
/* Called for every answer or timeout of a NICT; nonzero when the transaction was a REGISTER of ours
 * (the registration then emits its own events). */
int ex_register_nict_after(struct eXosip_t *ctx, struct ex_tx *w, int cbtype);
/* The refresh and challenge work of eXosip_automatic_action. */
void ex_register_automatic(struct eXosip_t *ctx);
/* eXosip_default_action for a registration event: answer its pending challenge (or 423) now. */
int ex_register_retry_now(struct eXosip_t *ctx, int rid);
struct ex_reg *ex_reg_by_rid(struct eXosip_t *ctx, int rid);
/* The first REGISTER of a new registration; returns its rid. */
int ex_register_build_initial(struct eXosip_t *ctx, const char *from, const char *proxy, const char *contact,
                              int expires, const char *qvalue, osip_message_t **out);
/* The next REGISTER of r, with credentials answering its remembered challenge. */
int ex_register_build_next(struct eXosip_t *ctx, struct ex_reg *r, int expires, osip_message_t **out);
/* Send msg (always taken) for r; preemptive: it may carry credentials of an older challenge. */
int ex_register_send(struct eXosip_t *ctx, struct ex_reg *r, osip_message_t *msg, int preemptive);
void ex_register_free_all(struct eXosip_t *ctx);
/* expires raised to ctx->limits.min_register_expires when it is 1 up to one less (0 stays 0). */
int ex_register_floor_expires(const struct eXosip_t *ctx, int expires);
/* The registration counters of EXOSIP_OPT_GET_STATISTICS. */
void ex_register_stats(struct eXosip_t *ctx, struct eXosip_stats *st, double hours);
/* A new Via branch on the top Via of a request copied for sending again. */
int ex_request_new_branch(struct eXosip_t *ctx, osip_message_t *msg);

/* retry.c: challenges, redirections and 422 for requests other than REGISTER */
/* Every automatic re-send of one request or registration spends one unit of the budget
 * ctx->limits.max_automatic_retries; the n-th waits ex_retry_backoff_us(n) after the refusal. */
uint64_t ex_retry_backoff_us(int round);
/* Called with a final answer of a client transaction of a call or outside dialogs; nonzero when
 * eXosip_automatic_action will send the request again (the caller then keeps the call alive). */
int ex_retry_note(struct eXosip_t *ctx, struct ex_tx *w, const osip_message_t *response);
void ex_retry_automatic(struct eXosip_t *ctx);
/* eXosip_default_action for one event: send again the request refused in transaction tid. */
int ex_retry_now(struct eXosip_t *ctx, int tid);
void ex_retry_free_all(struct eXosip_t *ctx);

#endif /* EXOSIP2_CORE_REGAUTH_H */
