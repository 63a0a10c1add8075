/* SPDX-License-Identifier: Apache-2.0 */
/* eXosip2 5.3 compatible API: outgoing subscriptions (SUBSCRIBE, REFER) and incoming ones (NOTIFY). */
#ifndef EXOSIP2_EX_SUBSCRIBE_H
#define EXOSIP2_EX_SUBSCRIBE_H

#include <eXosip2/eX_setup.h>

#ifdef __cplusplus
extern "C" {
#endif

/* States of a subscription (the Subscription-State header), numbered as in eXosip2 5.3. */
enum eXosip_ss {
  EXOSIP_SUBCRSTATE_UNKNOWN,    /* 0 */
  EXOSIP_SUBCRSTATE_PENDING,    /* 1 */
  EXOSIP_SUBCRSTATE_ACTIVE,     /* 2 */
  EXOSIP_SUBCRSTATE_TERMINATED  /* 3 */
};

/* Reasons of a terminated subscription (RFC 6665), numbered as in eXosip2 5.3. */
enum eXosip_ss_reason {
  DEACTIVATED, /* 0 */
  PROBATION,   /* 1 */
  REJECTED,    /* 2 */
  TIMEOUT,     /* 3 */
  GIVEUP,      /* 4 */
  NORESOURCE   /* 5 */
};

/* Presence states of eXosip2 5.3 (kept for programs that name them). */
enum eXosip_ss_status {
  EXOSIP_NOTIFY_UNKNOWN,     /* 0 */
  EXOSIP_NOTIFY_PENDING,     /* 1 */
  EXOSIP_NOTIFY_ONLINE,      /* 2 */
  EXOSIP_NOTIFY_BUSY,        /* 3 */
  EXOSIP_NOTIFY_BERIGHTBACK, /* 4 */
  EXOSIP_NOTIFY_AWAY,        /* 5 */
  EXOSIP_NOTIFY_ONTHEPHONE,  /* 6 */
  EXOSIP_NOTIFY_OUTTOLUNCH,  /* 7 */
  EXOSIP_NOTIFY_CLOSED       /* 8 */
};

/* Outgoing subscriptions. */
/* An initial SUBSCRIBE with Event and Expires. */
int eXosip_subscription_build_initial_subscribe(struct eXosip_t *excontext, osip_message_t **subscribe,
                                                const char *to, const char *from, const char *route,
                                                const char *event, int expires);
/* An initial REFER with Refer-To (its implicit subscription is handled as a SUBSCRIBE's). */
int eXosip_subscription_build_initial_refer(struct eXosip_t *excontext, osip_message_t **refer, const char *to,
                                            const char *from, const char *route, const char *refer_to);
/* Send an initial SUBSCRIBE or REFER (always taken); returns the sid (> 0) or a negative code. */
int eXosip_subscription_send_initial_request(struct eXosip_t *excontext, osip_message_t *subscribe);
/* A SUBSCRIBE inside the subscription's dialog did, with the Event and Expires of the last one. */
int eXosip_subscription_build_refresh_request(struct eXosip_t *excontext, int did, osip_message_t **sub);
/* Send it (always taken); Expires: 0 ends the subscription. */
int eXosip_subscription_send_refresh_request(struct eXosip_t *excontext, int did, osip_message_t *sub);
/* Forget the subscription of dialog did (nothing is sent). */
int eXosip_subscription_remove(struct eXosip_t *excontext, int did);

/* Incoming subscriptions. */
/* An answer to the SUBSCRIBE of transaction tid (2xx: with Contact and the granted Expires). */
int eXosip_insubscription_build_answer(struct eXosip_t *excontext, int tid, int status, osip_message_t **answer);
/* Send it (answer NULL: a default one of that status). */
int eXosip_insubscription_send_answer(struct eXosip_t *excontext, int tid, int status, osip_message_t *answer);
/* A request inside the incoming subscription's dialog did. */
int eXosip_insubscription_build_request(struct eXosip_t *excontext, int did, const char *method,
                                        osip_message_t **request);
/* A NOTIFY with Subscription-State (enum eXosip_ss, enum eXosip_ss_reason) and the SUBSCRIBE's Event. */
int eXosip_insubscription_build_notify(struct eXosip_t *excontext, int did, int subscription_status,
                                       int subscription_reason, osip_message_t **request);
/* Send a request built above (always taken). */
int eXosip_insubscription_send_request(struct eXosip_t *excontext, int did, osip_message_t *request);
/* Forget the incoming subscription of dialog did (nothing is sent). */
int eXosip_insubscription_remove(struct eXosip_t *excontext, int did);

#ifdef __cplusplus
}
#endif

#endif /* EXOSIP2_EX_SUBSCRIBE_H */
