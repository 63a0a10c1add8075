/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Outgoing subscriptions (eX_subscribe.h): the SUBSCRIBE or REFER we send, its refreshes, and the
 * NOTIFYs of the notifier, answered here (200, or 400/481/489) and reported as
 * EXOSIP_SUBSCRIPTION_NOTIFY. The dialog is made by the first 2xx or by a NOTIFY that overtakes it
 * (RFC 6665 4.1.2.4). eXosip_automatic_action refreshes before expiry and answers a 401/407 with
 * the stored credentials; a terminated subscription is freed.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "usage.h"
#include "regauth.h"

/* How long an unsubscribed subscription waits for its last NOTIFY before it is freed. */
#define EX_SUB_LINGER_US (32ULL * 1000000ULL)

struct ex_sub {
  int sid, did;
  int is_refer;
  osip_dialog_t *d;       /* NULL until the first 2xx or NOTIFY */
  char *match;            /* Call-ID|our tag: how a NOTIFY finds us, dialog or not */
  osip_message_t *last;   /* the SUBSCRIBE last sent: template of refreshes and retries */
  int tid;                /* the SUBSCRIBE in flight, 0 when none */
  int cseq;               /* CSeq of the latest SUBSCRIBE outside the dialog */
  long granted;           /* seconds of the latest 2xx (or NOTIFY), 0 when none */
  uint64_t granted_at;
  osip_message_t *challenge; /* a 401/407 the automatic action answers */
  int rounds;
  int ss_status, ss_reason;
  int closing;            /* Expires: 0 sent or answered: freed at the final NOTIFY or after the linger */
  uint64_t closing_since;
  struct ex_sub *next;
};

struct ex_subs {
  struct ex_sub *head;
  int next_sid;
  int count;
};

/* Created on first use. */
static struct ex_subs *subs_of(struct eXosip_t *ctx, int create)
{
  if (ctx->subs == NULL && create) {
    ctx->subs = calloc(1, sizeof(struct ex_subs));
    if (ctx->subs != NULL)
      ctx->subs->next_sid = 1;
  }
  return ctx->subs;
}

static void ev_of(const struct ex_sub *s, struct ex_event_sub *e)
{
  memset(e, 0, sizeof(*e));
  e->did = s->did;
  e->sid = s->sid;
  e->ss_status = s->ss_status;
  e->ss_reason = s->ss_reason;
}

static void sub_free(struct ex_sub *s)
{
  if (s->d != NULL)
    osip_dialog_free(s->d);
  if (s->last != NULL)
    osip_message_free(s->last);
  if (s->challenge != NULL)
    osip_message_free(s->challenge);
  free(s->match);
  free(s);
}

static void sub_unlink(struct eXosip_t *ctx, struct ex_sub *s)
{
  struct ex_subs *l = subs_of(ctx, 0);
  struct ex_sub **pp;
  if (l == NULL)
    return;
  for (pp = &l->head; *pp != NULL; pp = &(*pp)->next) {
    if (*pp == s) {
      *pp = s->next;
      l->count--;
      sub_free(s);
      return;
    }
  }
}

static struct ex_sub *sub_find(struct eXosip_t *ctx, int tid, int did, const char *match)
{
  struct ex_subs *l = subs_of(ctx, 0);
  struct ex_sub *s;
  for (s = l != NULL ? l->head : NULL; s != NULL; s = s->next) {
    if ((tid > 0 && s->tid == tid) || (did > 0 && s->did == did)
        || (match != NULL && s->match != NULL && strcmp(s->match, match) == 0))
      return s;
  }
  return NULL;
}

static char *match_key(const char *callid, const char *tag)
{
  size_t n = strlen(callid) + (tag != NULL ? strlen(tag) : 0) + 2;
  char *k = malloc(n);
  if (k != NULL)
    snprintf(k, n, "%s|%s", callid, tag != NULL ? tag : "");
  return k;
}

static int cseq_of(const osip_message_t *m)
{
  return m->cseq != NULL && m->cseq->number != NULL ? atoi(m->cseq->number) : 0;
}

/* Send msg for s (always taken); the tid or a negative code. */
static int sub_send(struct eXosip_t *ctx, struct ex_sub *s, osip_message_t *msg)
{
  osip_message_t *copy = NULL;
  int tid;
  if (osip_message_clone(msg, &copy) != 0) {
    osip_message_free(msg);
    return OSIP_NOMEM;
  }
  if (s->d == NULL)
    s->cseq = cseq_of(msg);
  tid = ex_usage_send(ctx, msg);
  if (tid < 0) {
    osip_message_free(copy);
    return tid;
  }
  if (s->last != NULL)
    osip_message_free(s->last);
  s->last = copy;
  s->tid = tid;
  if (ex_header_long(copy, "expires", 1) == 0 && !s->is_refer) {
    s->closing = 1;
    s->closing_since = ex_now_us();
  }
  return tid;
}

/* The dialog from the first NOTIFY (UAC side, from the notifier's request). */
static int dialog_from_notify(struct ex_sub *s, osip_message_t *notify)
{
  osip_dialog_t *d = NULL;
  if (osip_dialog_init_as_uac_with_remote_request(&d, notify, s->cseq) != 0 || d == NULL)
    return OSIP_UNDEFINED_ERROR;
  d->local_cseq = s->cseq;
  osip_dialog_set_state(d, DIALOG_CONFIRMED);
  s->d = d;
  return OSIP_SUCCESS;
}

static void answer(struct eXosip_t *ctx, struct ex_tx *w, int status)
{
  osip_message_t *resp = NULL;
  if (ex_build_response(ctx, w->tr->orig_request, status, NULL, 0, &resp) == OSIP_SUCCESS)
    ex_tx_send(ctx, w, resp);
}

/* A NOTIFY received: ours when its Call-ID and To tag are those of one of our subscriptions. */
static int sub_request(struct eXosip_t *ctx, struct ex_tx *w)
{
  osip_message_t *req = w->tr->orig_request, *copy = NULL;
  struct ex_sub *s;
  struct ex_event_sub ev;
  char cid[512], *key;
  const char *event, *state;
  long expires;
  if (!MSG_IS_NOTIFY(req) || ex_to_tag(req) == NULL || subs_of(ctx, 0) == NULL)
    return 0;
  key = match_key(ex_callid(req, cid, sizeof(cid)), ex_to_tag(req));
  s = key != NULL ? sub_find(ctx, 0, 0, key) : NULL;
  free(key);
  if (s == NULL)
    return 0; /* the call usage answers (481, or a REFER's NOTIFY inside a call) */
  if (s->d != NULL && (s->d->remote_tag == NULL || ex_from_tag(req) == NULL
                       || strcmp(s->d->remote_tag, ex_from_tag(req)) != 0)) {
    answer(ctx, w, 481); /* a second notifier (forked SUBSCRIBE): not followed */
    return 1;
  }
  event = ex_header_value(req, "event");
  if (event == NULL && !s->is_refer) {
    answer(ctx, w, 489); /* RFC 6665 8.2.1: no Event */
    return 1;
  }
  state = ex_header_value(req, "subscription-state");
  if (state == NULL) {
    answer(ctx, w, 400); /* RFC 6665 4.1.3: Subscription-State is mandatory */
    return 1;
  }
  if (s->d == NULL) {
    if (dialog_from_notify(s, req) != OSIP_SUCCESS) {
      answer(ctx, w, 500);
      return 1;
    }
    s->did = ctx->next_did++;
  } else {
    if (s->d->remote_cseq >= cseq_of(req) && s->d->remote_cseq > 0) {
      answer(ctx, w, 500); /* out of order (RFC 3261 12.2.2) */
      return 1;
    }
    s->d->remote_cseq = cseq_of(req);
  }
  ex_parse_substate(state, &s->ss_status, &s->ss_reason, &expires);
  if (expires >= 0 && s->ss_status != EXOSIP_SUBCRSTATE_TERMINATED) {
    s->granted = expires;
    s->granted_at = ex_now_us();
  }
  osip_message_clone(req, &copy); /* the answer may retire the transaction and free req */
  answer(ctx, w, 200);
  ev_of(s, &ev);
  ex_event_emit_sub(ctx, EXOSIP_SUBSCRIPTION_NOTIFY, &ev, w->tid, copy, NULL);
  if (copy != NULL)
    osip_message_free(copy);
  if (s->ss_status == EXOSIP_SUBCRSTATE_TERMINATED) {
    if (s->tid == 0) {
      sub_unlink(ctx, s);
    } else { /* freed with the answer to the SUBSCRIBE in flight */
      s->closing = 1;
      s->closing_since = ex_now_us();
    }
  }
  return 1;
}

static int sub_nict_after(struct eXosip_t *ctx, struct ex_tx *w, int cb)
{
  struct ex_sub *s = sub_find(ctx, w->tid, 0, NULL);
  osip_message_t *req = w->tr->orig_request, *resp = w->tr->last_response;
  struct ex_event_sub ev;
  int status;
  if (s == NULL)
    return 0;
  if (cb == OSIP_NICT_STATUS_TIMEOUT) {
    status = 408;
    resp = NULL;
  } else if (resp != NULL && ex_nict_answer_cb(cb)) {
    status = resp->status_code;
  } else {
    return 1;
  }
  if (status < 200) {
    ev_of(s, &ev);
    ex_event_emit_sub(ctx, EXOSIP_SUBSCRIPTION_PROCEEDING, &ev, w->tid, req, resp);
    return 1;
  }
  s->tid = 0;
  if (status < 300) {
    long granted = ex_header_long(resp, "expires", -1);
    if (granted < 0)
      granted = ex_header_long(req, "expires", s->is_refer ? 60 : 3600);
    if (granted > EX_MAX_SUB_EXPIRES)
      granted = EX_MAX_SUB_EXPIRES;
    if (s->d == NULL && ex_to_tag(resp) != NULL) {
      osip_dialog_t *d = NULL;
      if (osip_dialog_init_as_uac(&d, resp) == 0 && d != NULL) {
        osip_dialog_set_state(d, DIALOG_CONFIRMED);
        d->local_cseq = cseq_of(req);
        s->d = d;
        s->did = ctx->next_did++;
      }
    }
    s->granted = granted;
    s->granted_at = ex_now_us();
    s->rounds = 0;
    ev_of(s, &ev);
    ex_event_emit_sub(ctx, EXOSIP_SUBSCRIPTION_ANSWERED, &ev, w->tid, req, resp);
    if (s->ss_status == EXOSIP_SUBCRSTATE_TERMINATED) {
      sub_unlink(ctx, s); /* the final NOTIFY came first */
      return 1;
    }
    if (granted == 0 && !s->closing) {
      s->closing = 1;
      s->closing_since = ex_now_us();
    }
    return 1;
  }
  if ((status == 401 || status == 407) && resp != NULL && s->rounds < ctx->limits.max_automatic_retries
      && ex_auth_can_answer(ctx, req, resp, 0)) {
    /* answered by eXosip_automatic_action with the stored credentials */
    if (s->challenge != NULL)
      osip_message_free(s->challenge);
    s->challenge = NULL;
    osip_message_clone(resp, &s->challenge);
  }
  ev_of(s, &ev);
  ex_event_emit_sub(ctx, status == 408 && resp == NULL ? EXOSIP_SUBSCRIPTION_NOANSWER
                                                         : ex_event_by_class(status, EXOSIP_SUBSCRIPTION_ANSWERED),
                    &ev, w->tid, req, resp);
  if (s->challenge != NULL)
    return 1;
  /* a refusal ends a subscription not yet made, and a refresh the notifier no longer knows */
  if (s->d == NULL || status == 481 || status == 408 || s->closing)
    sub_unlink(ctx, s);
  return 1;
}

static void sub_resend(struct eXosip_t *ctx, struct ex_sub *s, osip_message_t *tmpl, int with_auth)
{
  osip_message_t *m = NULL;
  int cseq = s->d != NULL && ex_to_tag(tmpl) != NULL ? ++s->d->local_cseq : cseq_of(tmpl) + 1;
  if (ex_usage_copy_for_resend(ctx, tmpl, cseq, &m) != OSIP_SUCCESS)
    return;
  if (with_auth && s->challenge != NULL)
    ex_auth_answer(ctx, m, s->challenge, 1);
  sub_send(ctx, s, m);
}

static void sub_automatic(struct eXosip_t *ctx)
{
  struct ex_subs *l = subs_of(ctx, 0);
  struct ex_sub *s, *next;
  uint64_t now = ex_now_us();
  if (l == NULL)
    return;
  for (s = l->head; s != NULL; s = next) {
    next = s->next;
    if (s->challenge != NULL && s->tid == 0 && s->last != NULL) {
      osip_message_t *ch = s->challenge;
      s->rounds++;
      sub_resend(ctx, s, s->last, 1);
      s->challenge = NULL;
      osip_message_free(ch);
      continue;
    }
    if (s->closing) {
      if (s->tid == 0 && now >= s->closing_since + EX_SUB_LINGER_US)
        sub_unlink(ctx, s);
      continue;
    }
    if (s->tid == 0 && s->d != NULL && s->granted > 0 && s->last != NULL) {
      /* refresh at half the granted time when short, a minute before its end when long */
      uint64_t margin = s->granted > 120 ? 60ULL * 1000000ULL : (uint64_t) s->granted * 500000ULL;
      if (now + margin >= s->granted_at + (uint64_t) s->granted * 1000000ULL) {
        osip_message_t *m = NULL;
        char buf[24];
        if (eXosip_subscription_build_refresh_request(ctx, s->did, &m) == OSIP_SUCCESS) {
          snprintf(buf, sizeof(buf), "%ld", s->granted);
          osip_message_replace_header(m, "Expires", buf);
          sub_send(ctx, s, m);
        }
      }
    }
  }
}

static void sub_free_all(struct eXosip_t *ctx)
{
  struct ex_subs *l = subs_of(ctx, 0);
  if (l == NULL)
    return;
  while (l->head != NULL) {
    struct ex_sub *s = l->head;
    l->head = s->next;
    sub_free(s);
  }
  free(l);
  ctx->subs = NULL;
}

static void sub_stats(struct eXosip_t *ctx, struct eXosip_stats *st, double hours)
{
  struct ex_subs *l = subs_of(ctx, 0);
  st->allocated_subscriptions = l != NULL ? l->count : 0;
  /* sids are handed out in sequence from 1 */
  st->average_subscriptions = (float) ((double) (l != NULL ? l->next_sid - 1 : 0) / hours);
}

const struct ex_usage ex_usage_subscription = {
  "subscription", sub_request, sub_nict_after, sub_automatic, sub_free_all, sub_stats,
};

/* ---- public API ---- */

#define API_CHECK(ctx)                                                                                           \
  do {                                                                                                         \
    if ((ctx) == NULL || !(ctx)->initialized)                                                                  \
      return OSIP_BADPARAMETER;                                                                                \
  } while (0)

EXOSIP_API int eXosip_subscription_build_initial_subscribe(struct eXosip_t *excontext, osip_message_t **subscribe,
                                                           const char *to, const char *from, const char *route,
                                                           const char *event, int expires)
{
  int rc;
  char buf[24];
  if (subscribe == NULL)
    return OSIP_BADPARAMETER;
  *subscribe = NULL;
  API_CHECK(excontext);
  if (event == NULL || event[0] == '\0' || to == NULL || from == NULL)
    return OSIP_BADPARAMETER;
  ex_ctx_lock(excontext);
  rc = ex_build_request_out(excontext, "SUBSCRIBE", to, from, route, subscribe);
  ex_ctx_unlock(excontext);
  if (rc != OSIP_SUCCESS)
    return rc;
  if (expires < 0)
    expires = 3600;
  snprintf(buf, sizeof(buf), "%d", expires);
  osip_message_set_header(*subscribe, "Event", event);
  osip_message_set_expires(*subscribe, buf);
  return OSIP_SUCCESS;
}

EXOSIP_API int eXosip_subscription_build_initial_refer(struct eXosip_t *excontext, osip_message_t **refer,
                                                       const char *to, const char *from, const char *route,
                                                       const char *refer_to)
{
  int rc;
  if (refer == NULL)
    return OSIP_BADPARAMETER;
  *refer = NULL;
  API_CHECK(excontext);
  if (refer_to == NULL || refer_to[0] == '\0' || strpbrk(refer_to, "\r\n") != NULL || to == NULL
      || from == NULL)
    return OSIP_BADPARAMETER; /* one Refer-To line, never a second header smuggled in */
  ex_ctx_lock(excontext);
  rc = ex_build_request_out(excontext, "REFER", to, from, route, refer);
  ex_ctx_unlock(excontext);
  if (rc != OSIP_SUCCESS)
    return rc;
  osip_message_set_header(*refer, "Refer-To", refer_to);
  return OSIP_SUCCESS;
}

EXOSIP_API int eXosip_subscription_send_initial_request(struct eXosip_t *excontext, osip_message_t *subscribe)
{
  struct ex_subs *l;
  struct ex_sub *s;
  char cid[512];
  int rc;
  if (excontext == NULL || !excontext->initialized) {
    osip_message_free(subscribe);
    return OSIP_BADPARAMETER;
  }
  if (subscribe == NULL)
    return OSIP_BADPARAMETER;
  if (!MSG_IS_REQUEST(subscribe) || (!MSG_IS_SUBSCRIBE(subscribe) && !MSG_IS_REFER(subscribe))
      || ex_to_tag(subscribe) != NULL || ex_from_tag(subscribe) == NULL || subscribe->call_id == NULL) {
    osip_message_free(subscribe);
    return OSIP_BADPARAMETER;
  }
  ex_ctx_lock(excontext);
  l = subs_of(excontext, 1);
  s = l != NULL ? calloc(1, sizeof(*s)) : NULL;
  if (s == NULL) {
    ex_ctx_unlock(excontext);
    osip_message_free(subscribe);
    return OSIP_NOMEM;
  }
  s->is_refer = MSG_IS_REFER(subscribe);
  s->match = match_key(ex_callid(subscribe, cid, sizeof(cid)), ex_from_tag(subscribe));
  s->sid = l->next_sid++;
  s->next = l->head;
  l->head = s;
  l->count++;
  rc = sub_send(excontext, s, subscribe);
  if (rc < 0)
    sub_unlink(excontext, s);
  else
    rc = s->sid;
  ex_ctx_unlock(excontext);
  return rc;
}

EXOSIP_API int eXosip_subscription_build_refresh_request(struct eXosip_t *excontext, int did,
                                                         osip_message_t **sub)
{
  struct ex_sub *s;
  int rc;
  if (sub == NULL)
    return OSIP_BADPARAMETER;
  *sub = NULL;
  API_CHECK(excontext);
  if (did <= 0)
    return OSIP_BADPARAMETER;
  ex_ctx_lock(excontext);
  s = sub_find(excontext, 0, did, NULL);
  if (s == NULL || s->d == NULL) {
    ex_ctx_unlock(excontext);
    return OSIP_NOTFOUND;
  }
  if (s->tid > 0) {
    ex_ctx_unlock(excontext);
    return OSIP_WRONG_STATE; /* a SUBSCRIBE is in flight */
  }
  rc = ex_usage_build_in_dialog(excontext, s->d, s->is_refer ? "REFER" : "SUBSCRIBE", sub);
  if (rc == OSIP_SUCCESS && s->last != NULL) {
    const char *v = ex_header_value(s->last, "event");
    if (v != NULL)
      osip_message_set_header(*sub, "Event", v);
    v = ex_header_value(s->last, s->is_refer ? "refer-to" : "expires");
    if (v != NULL)
      osip_message_set_header(*sub, s->is_refer ? "Refer-To" : "Expires", v);
  }
  ex_ctx_unlock(excontext);
  return rc;
}

EXOSIP_API int eXosip_subscription_send_refresh_request(struct eXosip_t *excontext, int did, osip_message_t *sub)
{
  struct ex_sub *s;
  int rc;
  if (excontext == NULL || !excontext->initialized || did <= 0) {
    osip_message_free(sub);
    return OSIP_BADPARAMETER;
  }
  if (sub == NULL)
    return OSIP_BADPARAMETER;
  ex_ctx_lock(excontext);
  s = sub_find(excontext, 0, did, NULL);
  if (s == NULL || s->d == NULL) {
    ex_ctx_unlock(excontext);
    osip_message_free(sub);
    return OSIP_NOTFOUND;
  }
  if (s->tid > 0) {
    ex_ctx_unlock(excontext);
    osip_message_free(sub);
    return OSIP_WRONG_STATE;
  }
  rc = sub_send(excontext, s, sub);
  ex_ctx_unlock(excontext);
  return rc < 0 ? rc : OSIP_SUCCESS;
}

EXOSIP_API int eXosip_subscription_remove(struct eXosip_t *excontext, int did)
{
  struct ex_sub *s;
  API_CHECK(excontext);
  if (did <= 0)
    return OSIP_BADPARAMETER;
  ex_ctx_lock(excontext);
  s = sub_find(excontext, 0, did, NULL);
  if (s != NULL)
    sub_unlink(excontext, s);
  ex_ctx_unlock(excontext);
  return s != NULL ? OSIP_SUCCESS : OSIP_NOTFOUND;
}
