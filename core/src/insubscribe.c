/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Incoming subscriptions (eX_subscribe.h): a SUBSCRIBE outside dialogs makes one (reported as
 * EXOSIP_IN_SUBSCRIPTION_NEW; a refresh comes on the same did), the program answers it and sends
 * NOTIFYs in its dialog; their answers are EXOSIP_NOTIFICATION_*. When its Expires has run out
 * (and the program has not sent the final NOTIFY itself within EX_INSUB_GRACE_US),
 * eXosip_automatic_action sends the final NOTIFY (terminated;reason=timeout) and frees it. They are
 * held in hash tables (by did, by dialog) and bounded by limits.max_calls, like calls.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "usage.h"

/* How long a subscription whose final NOTIFY went unanswered is kept. */
#define EX_INSUB_LINGER_US (32ULL * 1000000ULL)
/* How long after its expiry the program may still send the final NOTIFY itself (after an unsubscribe,
 * say) before the core sends it. */
#define EX_INSUB_GRACE_US (2ULL * 1000000ULL)

struct ex_insub {
  int nid, did;
  osip_dialog_t *d;
  char *key;      /* Call-ID|our tag|their tag */
  char *event;    /* the Event of the SUBSCRIBE, copied into NOTIFYs */
  int tid;        /* the SUBSCRIBE last received */
  int notify_tid; /* our NOTIFY in flight, 0 when none */
  long expires;   /* seconds granted */
  uint64_t expires_at;
  int confirmed;  /* a 2xx was sent */
  int final_sent; /* a terminated NOTIFY was sent: freed with its answer */
  uint64_t final_at;
  int ss_status, ss_reason;
};

struct ex_insubs {
  struct ex_hmap by_did, by_key;
  int next_nid;
};

static struct ex_insubs *insubs_of(struct eXosip_t *ctx, int create)
{
  if (ctx->insubs == NULL && create) {
    struct ex_insubs *l = calloc(1, sizeof(*l));
    if (l == NULL)
      return NULL;
    if (ex_hmap_init(&l->by_did, 64) != OSIP_SUCCESS || ex_hmap_init(&l->by_key, 64) != OSIP_SUCCESS) {
      ex_hmap_destroy(&l->by_did);
      free(l);
      return NULL;
    }
    l->next_nid = 1;
    ctx->insubs = l;
  }
  return ctx->insubs;
}

static struct ex_insub *insub_by_did(struct eXosip_t *ctx, int did)
{
  struct ex_insubs *l = insubs_of(ctx, 0);
  return l != NULL && did > 0 ? ex_hmap_get_int(&l->by_did, did) : NULL;
}

static void ev_of(const struct ex_insub *n, struct ex_event_sub *e)
{
  memset(e, 0, sizeof(*e));
  e->did = n->did;
  e->nid = n->nid;
  e->ss_status = n->ss_status;
  e->ss_reason = n->ss_reason;
}

static void insub_destroy(struct ex_insub *n)
{
  if (n->d != NULL)
    osip_dialog_free(n->d);
  free(n->key);
  free(n->event);
  free(n);
}

static void insub_free(struct eXosip_t *ctx, struct ex_insub *n)
{
  struct ex_insubs *l = insubs_of(ctx, 0);
  ex_hmap_del_int(&l->by_did, n->did);
  if (n->key != NULL && ex_hmap_get_str(&l->by_key, n->key) == n)
    ex_hmap_del_str(&l->by_key, n->key);
  insub_destroy(n);
}

static int cseq_of(const osip_message_t *m)
{
  return m->cseq != NULL && m->cseq->number != NULL ? atoi(m->cseq->number) : 0;
}

static void answer(struct eXosip_t *ctx, struct ex_tx *w, int status, const char *tag)
{
  osip_message_t *resp = NULL;
  if (ex_build_response(ctx, w->tr->orig_request, status, tag, 0, &resp) == OSIP_SUCCESS)
    ex_tx_send(ctx, w, resp);
}

static void take_expires(struct ex_insub *n, const osip_message_t *req)
{
  long e = ex_header_long(req, "expires", 3600);
  if (e > EX_MAX_SUB_EXPIRES)
    e = EX_MAX_SUB_EXPIRES;
  n->expires = e;
  n->expires_at = ex_now_us() + (uint64_t) e * 1000000ULL;
}

static struct ex_insub *insub_new(struct eXosip_t *ctx, struct ex_tx *w)
{
  struct ex_insubs *l = insubs_of(ctx, 1);
  osip_message_t *req = w->tr->orig_request, *tmp = NULL;
  struct ex_insub *n;
  char tag[16], cid[512];
  size_t len;
  if (l == NULL || (n = calloc(1, sizeof(*n))) == NULL)
    return NULL;
  ex_random_token(ctx, tag, sizeof(tag));
  if (ex_build_response(ctx, req, 101, tag, 0, &tmp) != OSIP_SUCCESS || osip_dialog_init_as_uas(&n->d, req, tmp) != 0) {
    if (tmp != NULL)
      osip_message_free(tmp);
    free(n);
    return NULL;
  }
  osip_message_free(tmp);
  ex_callid(req, cid, sizeof(cid));
  len = strlen(cid) + strlen(tag) + strlen(ex_from_tag(req)) + 3;
  n->key = malloc(len);
  n->event = osip_strdup(ex_header_value(req, "event"));
  if (n->key == NULL || n->event == NULL) {
    insub_destroy(n);
    return NULL;
  }
  snprintf(n->key, len, "%s|%s|%s", cid, tag, ex_from_tag(req));
  n->nid = l->next_nid++;
  n->did = ctx->next_did++;
  n->ss_status = EXOSIP_SUBCRSTATE_PENDING;
  if (ex_hmap_put_int(&l->by_did, n->did, n) != OSIP_SUCCESS
      || ex_hmap_put_str(&l->by_key, n->key, n) != OSIP_SUCCESS) {
    ex_hmap_del_int(&l->by_did, n->did);
    insub_destroy(n);
    return NULL;
  }
  return n;
}

static int insub_request(struct eXosip_t *ctx, struct ex_tx *w)
{
  osip_message_t *req = w->tr->orig_request;
  struct ex_insubs *l;
  struct ex_insub *n = NULL;
  struct ex_event_sub ev;
  if (!MSG_IS_SUBSCRIBE(req))
    return 0;
  if (ex_to_tag(req) != NULL) {
    char key[1024], cid[512];
    l = insubs_of(ctx, 0);
    snprintf(key, sizeof(key), "%s|%s|%s", ex_callid(req, cid, sizeof(cid)), ex_to_tag(req),
             ex_from_tag(req) != NULL ? ex_from_tag(req) : "");
    n = l != NULL ? ex_hmap_get_str(&l->by_key, key) : NULL;
    if (n == NULL)
      return 0; /* an unknown dialog: the call usage answers 481 */
    if (n->d->remote_cseq >= cseq_of(req) && n->d->remote_cseq > 0) {
      answer(ctx, w, 500, NULL); /* out of order (RFC 3261 12.2.2) */
      return 1;
    }
    n->d->remote_cseq = cseq_of(req);
  } else {
    if (ex_from_tag(req) == NULL) {
      answer(ctx, w, 400, NULL);
      return 1;
    }
    if (ex_header_value(req, "event") == NULL) {
      answer(ctx, w, 489, NULL); /* RFC 6665 3.2.2: a SUBSCRIBE names its event package */
      return 1;
    }
    l = insubs_of(ctx, 0);
    if (l != NULL && l->by_did.count + ctx->calls_by_cid.count >= (size_t) ctx->limits.max_calls) {
      ctx->rejected_busy++;
      {
        osip_message_t *resp = NULL;
        if (ex_build_response(ctx, req, 503, NULL, 0, &resp) == OSIP_SUCCESS) {
          osip_message_set_header(resp, "Retry-After", "5");
          ex_tx_send(ctx, w, resp);
        }
      }
      return 1;
    }
    n = insub_new(ctx, w);
    if (n == NULL) {
      answer(ctx, w, 500, NULL);
      return 1;
    }
  }
  take_expires(n, req);
  n->tid = w->tid;
  w->did = n->did;
  ev_of(n, &ev);
  ex_event_emit_sub(ctx, EXOSIP_IN_SUBSCRIPTION_NEW, &ev, w->tid, req, NULL);
  return 1;
}

static int insub_nict_after(struct eXosip_t *ctx, struct ex_tx *w, int cb)
{
  struct ex_insubs *l = insubs_of(ctx, 0);
  struct ex_insub *n = l != NULL && w->did > 0 ? ex_hmap_get_int(&l->by_did, w->did) : NULL;
  osip_message_t *req = w->tr->orig_request, *resp = w->tr->last_response;
  struct ex_event_sub ev;
  int status;
  if (w->did <= 0)
    return 0; /* outside calls, only requests of incoming subscriptions carry a did */
  if (n == NULL)
    return 1; /* removed meanwhile: nothing to report */
  if (cb == OSIP_NICT_STATUS_TIMEOUT) {
    status = 408;
    resp = NULL;
  } else if (resp != NULL && ex_nict_answer_cb(cb)) {
    status = resp->status_code;
  } else {
    return 1;
  }
  ev_of(n, &ev);
  ex_event_emit_sub(ctx, resp == NULL ? EXOSIP_NOTIFICATION_NOANSWER
                                      : ex_event_by_class(status, EXOSIP_NOTIFICATION_ANSWERED),
                    &ev, w->tid, req, resp);
  if (status < 200 || w->tid != n->notify_tid)
    return 1;
  n->notify_tid = 0;
  /* a final NOTIFY answered, or a subscriber that no longer knows the dialog: the end */
  if (n->final_sent || status == 481 || status == 408)
    insub_free(ctx, n);
  return 1;
}

static int send_final(struct eXosip_t *ctx, struct ex_insub *n, int reason)
{
  osip_message_t *m = NULL;
  if (eXosip_insubscription_build_notify(ctx, n->did, EXOSIP_SUBCRSTATE_TERMINATED, reason, &m) != OSIP_SUCCESS)
    return -1;
  return eXosip_insubscription_send_request(ctx, n->did, m);
}

struct sweep {
  struct eXosip_t *ctx;
  uint64_t now;
  int *dids;
  size_t n, cap;
};

static void collect(void *val, void *arg)
{
  struct ex_insub *n = val;
  struct sweep *s = arg;
  int due = (!n->final_sent && n->notify_tid == 0 && s->now >= n->expires_at + EX_INSUB_GRACE_US)
            || (n->final_sent && s->now >= n->final_at + EX_INSUB_LINGER_US);
  if (!due)
    return;
  if (s->n == s->cap) {
    size_t cap = s->cap ? s->cap * 2 : 64;
    int *d = realloc(s->dids, cap * sizeof(int));
    if (d == NULL)
      return;
    s->dids = d;
    s->cap = cap;
  }
  s->dids[s->n++] = n->did;
}

static void insub_automatic(struct eXosip_t *ctx)
{
  struct ex_insubs *l = insubs_of(ctx, 0);
  struct sweep s;
  size_t i;
  if (l == NULL || l->by_did.count == 0)
    return;
  memset(&s, 0, sizeof(s));
  s.ctx = ctx;
  s.now = ex_now_us();
  ex_hmap_foreach(&l->by_did, collect, &s);
  for (i = 0; i < s.n; i++) {
    struct ex_insub *n = insub_by_did(ctx, s.dids[i]);
    if (n == NULL)
      continue;
    if (n->final_sent || !n->confirmed || send_final(ctx, n, TIMEOUT) < 0)
      insub_free(ctx, n); /* never accepted, or no NOTIFY can be sent: freed at once */
  }
  free(s.dids);
}

static void free_one(void *val, void *arg)
{
  (void) arg;
  insub_destroy(val);
}

static void insub_free_all(struct eXosip_t *ctx)
{
  struct ex_insubs *l = insubs_of(ctx, 0);
  if (l == NULL)
    return;
  ex_hmap_foreach(&l->by_did, free_one, NULL);
  ex_hmap_destroy(&l->by_did);
  ex_hmap_destroy(&l->by_key);
  free(l);
  ctx->insubs = NULL;
}

static void insub_stats(struct eXosip_t *ctx, struct eXosip_stats *st, double hours)
{
  struct ex_insubs *l = insubs_of(ctx, 0);
  st->allocated_insubscriptions = l != NULL ? (int) l->by_did.count : 0;
  /* nids are handed out in sequence from 1 */
  st->average_insubscriptions = (float) ((double) (l != NULL ? l->next_nid - 1 : 0) / hours);
}

const struct ex_usage ex_usage_insubscription = {
  "incoming subscription", insub_request, insub_nict_after, insub_automatic, insub_free_all, insub_stats,
};

/* ---- public API ---- */

/* The incoming subscription whose SUBSCRIBE is server transaction tid. */
static struct ex_insub *insub_of_tid(struct eXosip_t *ctx, int tid, struct ex_tx **wout)
{
  struct ex_tx *w = ex_tx_by_tid(ctx, tid);
  struct ex_insub *n;
  if (w == NULL || w->kind != NIST || w->tr->orig_request == NULL || !MSG_IS_SUBSCRIBE(w->tr->orig_request))
    return NULL;
  n = insub_by_did(ctx, w->did);
  if (n != NULL && wout != NULL)
    *wout = w;
  return n;
}

/* The SUBSCRIBE of server transaction w was never answered and the core closes it (osip_glue.c,
 * after 64*T1): a subscription that never existed for the peer is freed with it, instead of
 * being held until its Expires. */
void ex_insub_unanswered(struct eXosip_t *ctx, struct ex_tx *w)
{
  struct ex_insub *n;
  if (w == NULL || w->tr == NULL || w->tr->orig_request == NULL || !MSG_IS_SUBSCRIBE(w->tr->orig_request))
    return;
  n = insub_by_did(ctx, w->did);
  if (n != NULL && !n->confirmed && n->tid == w->tid)
    insub_free(ctx, n);
}

static int build_answer(struct eXosip_t *ctx, struct ex_insub *n, struct ex_tx *w, int status, osip_message_t **out)
{
  char buf[24];
  int rc = ex_build_response(ctx, w->tr->orig_request, status, n->d->local_tag, status < 300, out);
  if (rc == OSIP_SUCCESS && status >= 200 && status < 300) {
    snprintf(buf, sizeof(buf), "%ld", n->expires);
    osip_message_set_expires(*out, buf);
  }
  return rc;
}

EXOSIP_API int eXosip_insubscription_build_answer(struct eXosip_t *excontext, int tid, int status,
                                                  osip_message_t **answer)
{
  struct ex_insub *n;
  struct ex_tx *w = NULL;
  int rc;
  if (answer == NULL)
    return OSIP_BADPARAMETER;
  *answer = NULL;
  if (excontext == NULL || !excontext->initialized || tid <= 0 || status < 101 || status > 699)
    return OSIP_BADPARAMETER;
  ex_ctx_lock(excontext);
  n = insub_of_tid(excontext, tid, &w);
  rc = n != NULL ? build_answer(excontext, n, w, status, answer) : OSIP_NOTFOUND;
  ex_ctx_unlock(excontext);
  return rc;
}

EXOSIP_API int eXosip_insubscription_send_answer(struct eXosip_t *excontext, int tid, int status,
                                                 osip_message_t *answer)
{
  struct ex_insub *n;
  struct ex_tx *w = NULL;
  int rc = OSIP_SUCCESS, code;
  if (excontext == NULL || !excontext->initialized || tid <= 0) {
    osip_message_free(answer);
    return OSIP_BADPARAMETER;
  }
  ex_ctx_lock(excontext);
  n = insub_of_tid(excontext, tid, &w);
  if (n == NULL) {
    rc = OSIP_NOTFOUND;
  } else if (w->tr->state != NIST_PRE_TRYING && w->tr->state != NIST_TRYING && w->tr->state != NIST_PROCEEDING) {
    rc = OSIP_WRONG_STATE; /* already answered finally */
  } else if (answer == NULL) {
    rc = build_answer(excontext, n, w, status, &answer);
  } else if (!MSG_IS_RESPONSE(answer)) {
    rc = OSIP_BADPARAMETER;
  }
  if (rc != OSIP_SUCCESS) {
    ex_ctx_unlock(excontext);
    osip_message_free(answer);
    return rc;
  }
  code = answer->status_code;
  ex_tx_send(excontext, w, answer);
  if (code >= 200 && code < 300) {
    n->confirmed = 1;
    osip_dialog_set_state(n->d, DIALOG_CONFIRMED);
  } else if (code >= 300 && !n->confirmed) {
    insub_free(excontext, n); /* refused before it existed */
  }
  ex_ctx_unlock(excontext);
  return OSIP_SUCCESS;
}

EXOSIP_API int eXosip_insubscription_build_request(struct eXosip_t *excontext, int did, const char *method,
                                                   osip_message_t **request)
{
  struct ex_insub *n;
  int rc;
  if (request == NULL)
    return OSIP_BADPARAMETER;
  *request = NULL;
  if (excontext == NULL || !excontext->initialized || did <= 0 || method == NULL || method[0] == '\0')
    return OSIP_BADPARAMETER;
  ex_ctx_lock(excontext);
  n = insub_by_did(excontext, did);
  if (n == NULL)
    rc = OSIP_NOTFOUND;
  else if (n->notify_tid > 0)
    rc = OSIP_WRONG_STATE; /* one NOTIFY at a time (RFC 6665 4.2.2) */
  else
    rc = ex_usage_build_in_dialog(excontext, n->d, method, request);
  ex_ctx_unlock(excontext);
  return rc;
}

static const char *const reason_names[] = {"deactivated", "probation", "rejected", "timeout", "giveup", "noresource"};

EXOSIP_API int eXosip_insubscription_build_notify(struct eXosip_t *excontext, int did, int subscription_status,
                                                  int subscription_reason, osip_message_t **request)
{
  struct ex_insub *n;
  char state[96];
  int rc;
  if (request == NULL)
    return OSIP_BADPARAMETER;
  *request = NULL;
  rc = eXosip_insubscription_build_request(excontext, did, "NOTIFY", request);
  if (rc != OSIP_SUCCESS)
    return rc;
  ex_ctx_lock(excontext);
  n = insub_by_did(excontext, did);
  if (n == NULL) {
    ex_ctx_unlock(excontext);
    osip_message_free(*request);
    *request = NULL;
    return OSIP_NOTFOUND;
  }
  if (subscription_status == EXOSIP_SUBCRSTATE_TERMINATED) {
    const char *r = subscription_reason >= 0 && subscription_reason <= NORESOURCE ? reason_names[subscription_reason]
                                                                                : "noresource";
    snprintf(state, sizeof(state), "terminated;reason=%s", r);
  } else {
    uint64_t now = ex_now_us();
    long left = n->expires_at > now ? (long) ((n->expires_at - now + 999999ULL) / 1000000ULL) : 0;
    snprintf(state, sizeof(state), "%s;expires=%ld",
             subscription_status == EXOSIP_SUBCRSTATE_ACTIVE ? "active" : "pending", left);
  }
  osip_message_set_header(*request, "Event", n->event);
  osip_message_set_header(*request, "Subscription-State", state);
  ex_ctx_unlock(excontext);
  return OSIP_SUCCESS;
}

EXOSIP_API int eXosip_insubscription_send_request(struct eXosip_t *excontext, int did, osip_message_t *request)
{
  struct ex_insub *n;
  struct ex_tx *w = NULL;
  int rc, st = EXOSIP_SUBCRSTATE_UNKNOWN, reason = DEACTIVATED;
  long e;
  if (excontext == NULL || !excontext->initialized || did <= 0) {
    osip_message_free(request);
    return OSIP_BADPARAMETER;
  }
  if (request == NULL)
    return OSIP_BADPARAMETER;
  ex_ctx_lock(excontext);
  n = insub_by_did(excontext, did);
  if (n == NULL || n->notify_tid > 0 || !MSG_IS_REQUEST(request)) {
    rc = n == NULL ? OSIP_NOTFOUND : n->notify_tid > 0 ? OSIP_WRONG_STATE : OSIP_BADPARAMETER;
    ex_ctx_unlock(excontext);
    osip_message_free(request);
    return rc;
  }
  if (MSG_IS_NOTIFY(request)) {
    ex_parse_substate(ex_header_value(request, "subscription-state"), &st, &reason, &e);
    n->ss_status = st;
    n->ss_reason = reason;
  }
  rc = ex_tx_new(excontext, NICT, request, &w);
  if (rc != OSIP_SUCCESS) {
    ex_ctx_unlock(excontext);
    osip_message_free(request);
    return rc;
  }
  w->did = n->did;
  if (MSG_IS_NOTIFY(request)) {
    n->notify_tid = w->tid;
    if (st == EXOSIP_SUBCRSTATE_TERMINATED) {
      n->final_sent = 1;
      n->final_at = ex_now_us();
    }
  }
  rc = w->tid;
  ex_tx_send(excontext, w, request);
  ex_ctx_unlock(excontext);
  return rc > 0 ? OSIP_SUCCESS : rc;
}

EXOSIP_API int eXosip_insubscription_remove(struct eXosip_t *excontext, int did)
{
  struct ex_insub *n;
  if (excontext == NULL || !excontext->initialized || did <= 0)
    return OSIP_BADPARAMETER;
  ex_ctx_lock(excontext);
  n = insub_by_did(excontext, did);
  if (n != NULL)
    insub_free(excontext, n);
  ex_ctx_unlock(excontext);
  return n != NULL ? OSIP_SUCCESS : OSIP_NOTFOUND;
}

EXOSIP_API int eXosip_insubscription_automatic(struct eXosip_t *excontext, eXosip_event_t *evt)
{
  osip_message_t *notify = NULL;
  const char *event;
  char body[1024], *entity = NULL;
  int rc;
  if (excontext == NULL || !excontext->initialized || evt == NULL || evt->did <= 0 || evt->nid <= 0
      || evt->request == NULL)
    return OSIP_BADPARAMETER;
  event = ex_header_value(evt->request, "event");
  if (event == NULL || osip_strncasecmp(event, "dialog", 6) != 0 || (event[6] != '\0' && event[6] != ';'))
    return OSIP_BADPARAMETER;
  rc = eXosip_insubscription_send_answer(excontext, evt->tid, 200, NULL);
  if (rc != OSIP_SUCCESS)
    return rc;
  rc = eXosip_insubscription_build_notify(excontext, evt->did, EXOSIP_SUBCRSTATE_ACTIVE, DEACTIVATED, &notify);
  if (rc != OSIP_SUCCESS)
    return rc;
  /* RFC 4235: a full document; this core reports no dialogs in it */
  if (evt->request->to == NULL || evt->request->to->url == NULL || osip_uri_to_str(evt->request->to->url, &entity) != 0)
    entity = NULL;
  snprintf(body, sizeof(body),
           "<?xml version=\"1.0\"?>\r\n<dialog-info xmlns=\"urn:ietf:params:xml:ns:dialog-info\" version=\"0\" "
           "state=\"full\" entity=\"%.900s\"/>\r\n",
           entity != NULL && strchr(entity, '"') == NULL ? entity : "sip:anonymous@anonymous.invalid");
  osip_free(entity);
  osip_message_set_content_type(notify, "application/dialog-info+xml");
  osip_message_set_body(notify, body, strlen(body));
  return eXosip_insubscription_send_request(excontext, evt->did, notify);
}
