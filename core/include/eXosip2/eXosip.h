/* SPDX-License-Identifier: Apache-2.0 */
/*
 * eXosip2 5.3 compatible public API — umbrella header.
 *
 * A program written for eXosip2 5.3 includes this one header; every name,
 * signature, constant and enum value declared under eXosip2/ matches that
 * release, so the same source builds against this core or a real libeXosip2.
 * Only what this core implements is declared.
 */
#ifndef EXOSIP2_EXOSIP_H
#define EXOSIP2_EXOSIP_H

#include <time.h>
#include <sys/time.h>

#include <osipparser2/osip_parser.h>
#include <osipparser2/sdp_message.h>
#include <osip2/osip.h>
#include <osip2/osip_dialog.h>

#include <eXosip2/eX_setup.h>
#include <eXosip2/eX_register.h>
#include <eXosip2/eX_call.h>
#include <eXosip2/eX_options.h>
#include <eXosip2/eX_message.h>
#include <eXosip2/eX_subscribe.h>
#include <eXosip2/eX_publish.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct eXosip_event eXosip_event_t;

/* Act on a failure event the program did not handle itself: retry with credentials on 401/407,
 * follow a 3xx. This core keeps no credentials and follows no redirection, so it returns a
 * negative code: OSIP_NOTFOUND for 401/407, OSIP_UNDEFINED_ERROR for 3xx, else OSIP_BADPARAMETER. */
int eXosip_default_action(struct eXosip_t *excontext, eXosip_event_t *je);

/* Periodic duties (retries, refreshes); timers already run on the I/O thread, so this is cheap. */
void eXosip_automatic_action(struct eXosip_t *excontext);

/* The default handling of an EXOSIP_IN_SUBSCRIPTION_NEW for the "dialog" event package: the
 * SUBSCRIBE is accepted (200) and an active NOTIFY with a dialog-info document is sent. Other
 * packages: OSIP_BADPARAMETER, nothing sent. */
int eXosip_insubscription_automatic(struct eXosip_t *excontext, eXosip_event_t *evt);

/* SDP helpers. The sdp_message_t results are owned by the caller (sdp_message_free). */
sdp_message_t *eXosip_get_remote_sdp(struct eXosip_t *excontext, int did);
sdp_message_t *eXosip_get_local_sdp(struct eXosip_t *excontext, int did);
sdp_message_t *eXosip_get_sdp_info(osip_message_t *message);
/* The first media of the kind, and the connection that applies to it; borrowed from sdp. */
sdp_media_t *eXosip_get_audio_media(sdp_message_t *sdp);
sdp_media_t *eXosip_get_video_media(sdp_message_t *sdp);
sdp_media_t *eXosip_get_media(sdp_message_t *sdp, const char *media);
sdp_connection_t *eXosip_get_connection(sdp_message_t *sdp, const char *media);
/* The local body of the INVITE before the latest one of the dialog (owned by the caller). */
sdp_message_t *eXosip_get_previous_local_sdp(struct eXosip_t *excontext, int did);
/* The peer's and our body of transaction tid (an INVITE's offer or answer; owned by the caller). */
sdp_message_t *eXosip_get_remote_sdp_from_tid(struct eXosip_t *excontext, int tid);
sdp_message_t *eXosip_get_local_sdp_from_tid(struct eXosip_t *excontext, int tid);
/* The connection of the first audio / video media (borrowed from sdp). */
sdp_connection_t *eXosip_get_audio_connection(sdp_message_t *sdp);
sdp_connection_t *eXosip_get_video_connection(sdp_message_t *sdp);

/* Random strings from the kernel's CSPRNG: the decimal digits of a random unsigned int; buf_size
 * random bytes; and buf_size - 1 hexadecimal digits (the three strings of eXosip2, mixed into its
 * low-entropy generator there, are accepted and not needed here). 0, or OSIP_BADPARAMETER. */
int eXosip_generate_random(char *buf, int buf_size);
int eXosip_byte_generate_random(char *buf, int buf_size);
int eXosip_hexa_generate_random(char *buf, int buf_size, char *str1, char *str2, char *str3);

/* What happened: the numeric values are those of eXosip2 5.3, in the same order. */
typedef enum eXosip_event_type {
  EXOSIP_REGISTRATION_SUCCESS,        /* 0 */
  EXOSIP_REGISTRATION_FAILURE,        /* 1 */

  EXOSIP_CALL_INVITE,                 /* 2: a new incoming call */
  EXOSIP_CALL_REINVITE,               /* 3: an INVITE inside an existing call */
  EXOSIP_CALL_NOANSWER,               /* 4: our INVITE got no answer in time */
  EXOSIP_CALL_PROCEEDING,             /* 5: 100..199 (other than ringing) to our INVITE */
  EXOSIP_CALL_RINGING,                /* 6: 180/183 to our INVITE */
  EXOSIP_CALL_ANSWERED,               /* 7: 2xx to our INVITE */
  EXOSIP_CALL_REDIRECTED,             /* 8: 3xx */
  EXOSIP_CALL_REQUESTFAILURE,         /* 9: 4xx */
  EXOSIP_CALL_SERVERFAILURE,          /* 10: 5xx */
  EXOSIP_CALL_GLOBALFAILURE,          /* 11: 6xx */
  EXOSIP_CALL_ACK,                    /* 12: the ACK for our 2xx arrived */
  EXOSIP_CALL_CANCELLED,              /* 13: the peer cancelled its INVITE */

  EXOSIP_CALL_MESSAGE_NEW,            /* 14: a request (not INVITE) inside a call */
  EXOSIP_CALL_MESSAGE_PROCEEDING,     /* 15 */
  EXOSIP_CALL_MESSAGE_ANSWERED,       /* 16 */
  EXOSIP_CALL_MESSAGE_REDIRECTED,     /* 17 */
  EXOSIP_CALL_MESSAGE_REQUESTFAILURE, /* 18 */
  EXOSIP_CALL_MESSAGE_SERVERFAILURE,  /* 19 */
  EXOSIP_CALL_MESSAGE_GLOBALFAILURE,  /* 20 */

  EXOSIP_CALL_CLOSED,                 /* 21: the peer sent BYE */
  EXOSIP_CALL_RELEASED,               /* 22: the call is gone; its ids are no longer valid */

  EXOSIP_MESSAGE_NEW,                 /* 23: a request outside any call */
  EXOSIP_MESSAGE_PROCEEDING,          /* 24 */
  EXOSIP_MESSAGE_ANSWERED,            /* 25 */
  EXOSIP_MESSAGE_REDIRECTED,          /* 26 */
  EXOSIP_MESSAGE_REQUESTFAILURE,      /* 27 */
  EXOSIP_MESSAGE_SERVERFAILURE,       /* 28 */
  EXOSIP_MESSAGE_GLOBALFAILURE,       /* 29 */

  EXOSIP_SUBSCRIPTION_NOANSWER,       /* 30 */
  EXOSIP_SUBSCRIPTION_PROCEEDING,     /* 31 */
  EXOSIP_SUBSCRIPTION_ANSWERED,       /* 32 */
  EXOSIP_SUBSCRIPTION_REDIRECTED,     /* 33 */
  EXOSIP_SUBSCRIPTION_REQUESTFAILURE, /* 34 */
  EXOSIP_SUBSCRIPTION_SERVERFAILURE,  /* 35 */
  EXOSIP_SUBSCRIPTION_GLOBALFAILURE,  /* 36 */
  EXOSIP_SUBSCRIPTION_NOTIFY,         /* 37 */

  EXOSIP_IN_SUBSCRIPTION_NEW,         /* 38 */

  EXOSIP_NOTIFICATION_NOANSWER,       /* 39 */
  EXOSIP_NOTIFICATION_PROCEEDING,     /* 40 */
  EXOSIP_NOTIFICATION_ANSWERED,       /* 41 */
  EXOSIP_NOTIFICATION_REDIRECTED,     /* 42 */
  EXOSIP_NOTIFICATION_REQUESTFAILURE, /* 43 */
  EXOSIP_NOTIFICATION_SERVERFAILURE,  /* 44 */
  EXOSIP_NOTIFICATION_GLOBALFAILURE,  /* 45 */

  EXOSIP_EVENT_COUNT                  /* 46: number of event types */
} eXosip_event_type_t;

/* One event, as returned by eXosip_event_wait; release it with eXosip_event_free. */
struct eXosip_event {
  eXosip_event_type_t type;
  char textinfo[256];       /* a short human-readable description */
  void *external_reference; /* the call's reference (eXosip_call_set_reference) */

  osip_message_t *request;  /* the request of the transaction (a copy owned by the event) */
  osip_message_t *response; /* the latest response of it, when there is one (a copy) */
  osip_message_t *ack;      /* the ACK, for EXOSIP_CALL_ACK (a copy) */

  int tid; /* transaction id: answer with it */
  int did; /* dialog id */

  int rid; /* registration id */
  int cid; /* call id */
  int sid; /* outgoing subscription id */
  int nid; /* incoming subscription id */

  int ss_status; /* Subscription-State of a subscription */
  int ss_reason; /* its reason */
};

/* Free an event together with its request, response and ack. */
void eXosip_event_free(eXosip_event_t *je);

/* Wait up to tv_s seconds plus tv_ms milliseconds for the next event; NULL on timeout. */
eXosip_event_t *eXosip_event_wait(struct eXosip_t *excontext, int tv_s, int tv_ms);

/* Wait without limit for the next event (NULL only when the context stops). */
eXosip_event_t *eXosip_event_get(struct eXosip_t *excontext);

/* A descriptor that is readable while events are queued (for select/poll/epoll loops). */
int eXosip_event_geteventsocket(struct eXosip_t *excontext);

#ifdef __cplusplus
}
#endif

#endif /* EXOSIP2_EXOSIP_H */
