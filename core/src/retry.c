/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Requests sent again by eXosip_automatic_action after a final refusal that says how to succeed:
 * a 401/407 challenge that the stored credentials answer (once per fresh challenge), a 3xx that
 * names another target (out of dialog and initial INVITE), a 422 with a larger Min-SE.
 * The refusal itself is reported as usual; the new request is a new transaction (a new tid, as in
 * eXosip2) of the same call. eXosip_core_retried_tid (eX_core.h) tells a program that follows a
 * request by its tid which transaction carries it on.
 * All re-sends of one request share the budget ctx->limits.max_automatic_retries, spaced by the
 * exponential back-off of ex_retry_backoff_us; past the budget the refusal is the final failure.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "regauth.h"

/* Redirections followed per request: CSeq numbers of new requests start at 20 (msgbuild.c). */
#define EX_MAX_REDIRECT_CSEQ 30
/* Transactions remembered in `retried`; the oldest are forgotten first. */
#define EX_MAX_RETRIED 256

/* Back-off between automatic re-sends: the first answers a refusal at once (a challenge is the
 * normal first answer of a registrar or proxy); from the second on, exponential: 250 ms, 500 ms,
 * 1 s, 2 s, ... capped at 8 s. A peer that refuses every time gets a handful of requests spread
 * over seconds, and then the refusal is reported as the failure. */
uint64_t ex_retry_backoff_us(int round)
{
  uint64_t d;
  if (round <= 1)
    return 0;
  d = 250000ULL << (round - 2 < 5 ? round - 2 : 5);
  return d < 8000000ULL ? d : 8000000ULL;
}

static void retry_free(struct ex_retry *r)
{
  if (r->request != NULL)
    osip_message_free(r->request);
  if (r->response != NULL)
    osip_message_free(r->response);
  free(r);
}

void ex_retry_free_all(struct eXosip_t *ctx)
{
  while (ctx->retries != NULL) {
    struct ex_retry *r = ctx->retries;
    ctx->retries = r->next;
    retry_free(r);
  }
  while (ctx->retried != NULL) {
    struct ex_retry *r = ctx->retried;
    ctx->retried = r->next;
    retry_free(r);
  }
}

/* The rounds already done for the request of transaction tid (and forget it). */
static int take_rounds(struct eXosip_t *ctx, int tid)
{
  struct ex_retry **pp;
  for (pp = &ctx->retried; *pp != NULL; pp = &(*pp)->next) {
    if ((*pp)->tid == tid) {
      struct ex_retry *r = *pp;
      int rounds = r->rounds;
      *pp = r->next;
      retry_free(r);
      return rounds;
    }
  }
  return 0;
}

static void remember_rounds(struct eXosip_t *ctx, int tid, int rounds)
{
  struct ex_retry *r = calloc(1, sizeof(*r)), **pp;
  int n = 0;
  if (r == NULL)
    return;
  r->tid = tid;
  r->rounds = rounds;
  r->next = ctx->retried;
  ctx->retried = r;
  for (pp = &ctx->retried; *pp != NULL; pp = &(*pp)->next) {
    if (++n > EX_MAX_RETRIED) {
      struct ex_retry *old = *pp;
      *pp = NULL;
      while (old != NULL) {
        struct ex_retry *next = old->next;
        retry_free(old);
        old = next;
      }
      break;
    }
  }
}

static int cseq_of(const osip_message_t *msg)
{
  return msg->cseq != NULL && msg->cseq->number != NULL ? atoi(msg->cseq->number) : 0;
}

static int header_int(const osip_message_t *msg, const char *name)
{
  osip_header_t *h = NULL;
  osip_message_header_get_byname(msg, name, 0, &h);
  return h != NULL && h->hvalue != NULL ? atoi(h->hvalue) : 0;
}

/* The first Contact of a 3xx that is not the present target, or NULL. */
static osip_contact_t *redirect_target(const osip_message_t *req, const osip_message_t *resp)
{
  int pos;
  char *now = NULL;
  osip_contact_t *found = NULL;
  if (req->req_uri == NULL || osip_uri_to_str(req->req_uri, &now) != 0)
    return NULL;
  for (pos = 0; pos < osip_list_size(&resp->contacts) && found == NULL; pos++) {
    osip_contact_t *c = osip_list_get(&resp->contacts, pos);
    char *s = NULL;
    if (c == NULL || c->url == NULL || c->url->host == NULL || osip_uri_to_str(c->url, &s) != 0)
      continue;
    if (strcmp(s, now) != 0)
      found = c;
    osip_free(s);
  }
  osip_free(now);
  return found;
}

static int worth_retrying(struct eXosip_t *ctx, const osip_message_t *req, const osip_message_t *resp)
{
  int status = resp->status_code;
  if (status == 401 || status == 407)
    return ex_auth_can_answer(ctx, req, resp, 0);
  if (status >= 300 && status < 400 && status != 380)
    return ex_to_tag(req) == NULL && cseq_of(req) < EX_MAX_REDIRECT_CSEQ && redirect_target(req, resp) != NULL;
  if (status == 491 && MSG_IS_INVITE(req) && ex_to_tag(req) != NULL)
    return 1; /* glare (RFC 3261 14.1): sent again after a random delay */
  if (status == 422 && (MSG_IS_INVITE(req) || MSG_IS_UPDATE(req))) {
    int min = header_int(resp, "min-se");
    return min > 0 && min > header_int(req, "session-expires");
  }
  return 0;
}

int ex_retry_note(struct eXosip_t *ctx, struct ex_tx *w, const osip_message_t *response)
{
  const osip_message_t *req = w->tr->orig_request;
  struct ex_retry *r, **tail;
  int rounds;
  if (req == NULL || response == NULL || response->status_code < 300 || req->sip_method == NULL)
    return 0;
  if (MSG_IS_REGISTER(req) || MSG_IS_CANCEL(req) || MSG_IS_ACK(req) || w->is_cancel_of_call)
    return 0;
  rounds = take_rounds(ctx, w->tid);
  if (rounds >= ctx->limits.max_automatic_retries || !worth_retrying(ctx, req, response))
    return 0; /* budget spent (or nothing to try): this refusal is the failure reported */
  r = calloc(1, sizeof(*r));
  if (r == NULL)
    return 0;
  r->tid = w->tid;
  r->rounds = rounds + 1;
  r->due = ex_now_us() + ex_retry_backoff_us(r->rounds);
  if (response->status_code == 491) { /* hook (invite.c): the delay of RFC 3261 14.1 */
    struct ex_call *call = ex_call_by_cid(ctx, w->cid);
    r->due = ex_now_us() + ex_invite_glare_delay_us(ctx, call != NULL && !call->incoming);
  }
  if (osip_message_clone(req, &r->request) != 0 || osip_message_clone(response, &r->response) != 0) {
    retry_free(r);
    return 0;
  }
  r->cid = w->cid;
  r->did = w->did;
  for (tail = &ctx->retries; *tail != NULL; tail = &(*tail)->next)
    ;
  *tail = r;
  return 1;
}

static int replace_header(osip_message_t *msg, const char *name, const char *value)
{
  osip_header_t *h = NULL;
  int pos;
  while ((pos = osip_message_header_get_byname(msg, name, 0, &h)) >= 0 && h != NULL) {
    osip_list_remove(&msg->headers, pos);
    osip_header_free(h);
    h = NULL;
  }
  osip_message_force_update(msg);
  return osip_message_set_header(msg, name, value) == 0 ? OSIP_SUCCESS : OSIP_NOMEM;
}

/* Turn the refused request into the next one; OSIP_SUCCESS or a code meaning "give up". */
static int prepare(struct eXosip_t *ctx, struct ex_retry *r, struct ex_dialog *dlg)
{
  osip_message_t *req = r->request;
  const osip_message_t *resp = r->response;
  int status = resp->status_code, rc;
  char buf[16];

  rc = ex_request_new_branch(ctx, req);
  if (rc != OSIP_SUCCESS)
    return rc;
  if (dlg != NULL && ex_to_tag(req) != NULL)
    snprintf(buf, sizeof(buf), "%d", ++dlg->d->local_cseq);
  else
    snprintf(buf, sizeof(buf), "%d", cseq_of(req) + 1);
  osip_free(req->cseq->number);
  req->cseq->number = osip_strdup(buf);
  osip_message_force_update(req);
  if (status == 401 || status == 407)
    return ex_auth_answer(ctx, req, resp, 1);
  if (status >= 300 && status < 400) {
    osip_contact_t *target = redirect_target(req, resp);
    osip_uri_t *uri = NULL;
    if (target == NULL || osip_uri_clone(target->url, &uri) != 0)
      return OSIP_NOTFOUND;
    osip_uri_free(req->req_uri);
    req->req_uri = uri;
    /* the new target is reached directly: the route toward the old one does not apply */
    while (osip_list_size(&req->routes) > 0) {
      osip_route_t *rt = osip_list_get(&req->routes, 0);
      osip_list_remove(&req->routes, 0);
      osip_route_free(rt);
    }
    osip_message_force_update(req);
    return OSIP_SUCCESS;
  }
  if (status == 422) {
    int min = header_int(resp, "min-se");
    snprintf(buf, sizeof(buf), "%d", min);
    rc = replace_header(req, "Session-Expires", buf);
    if (rc == OSIP_SUCCESS)
      rc = replace_header(req, "Min-SE", buf);
    return rc;
  }
  if (status == 491)
    return OSIP_SUCCESS; /* the same re-INVITE, with its new CSeq and branch */
  return OSIP_UNDEFINED_ERROR;
}

static void send_again(struct eXosip_t *ctx, struct ex_retry *r)
{
  struct ex_call *call = r->cid > 0 ? ex_call_by_cid(ctx, r->cid) : NULL;
  struct ex_dialog *dlg = r->did > 0 ? ex_dialog_by_did(ctx, r->did) : NULL;
  osip_message_t *req;
  struct ex_tx *w = NULL;
  int is_invite = MSG_IS_INVITE(r->request), initial = is_invite && ex_to_tag(r->request) == NULL;
  int is_bye = MSG_IS_BYE(r->request), rc;

  if (r->cid > 0 && (call == NULL || call->released))
    return; /* the call ended meanwhile */
  if (r->did > 0 && ex_to_tag(r->request) != NULL && dlg == NULL)
    return;
  rc = prepare(ctx, r, dlg);
  if (rc == OSIP_SUCCESS) {
    req = r->request;
    r->request = NULL;
    rc = ex_tx_new(ctx, is_invite ? ICT : NICT, req, &w);
    if (rc != OSIP_SUCCESS) {
      osip_message_free(req);
    } else {
      w->cid = r->cid;
      w->did = r->did;
      if (is_invite && dlg != NULL)
        dlg->out_inv_tid = w->tid; /* invite.c: glare */
      if (initial && call != NULL) {
        call->inv_tid = w->tid;
        call->inv_cseq = cseq_of(req);
        call->final_received = 0;
      }
      remember_rounds(ctx, w->tid, r->rounds);
      ctx->relinks[ctx->relink_next % EX_MAX_RELINKS].from = r->tid;
      ctx->relinks[ctx->relink_next % EX_MAX_RELINKS].to = w->tid;
      ctx->relink_next++;
      ex_tx_send(ctx, w, req);
      return;
    }
  }
  /* given up: a call kept alive for this retry is released as it would have been */
  if (call != NULL && (initial || is_bye))
    ex_call_release(ctx, call, 1);
}

void ex_retry_automatic(struct eXosip_t *ctx)
{
  struct ex_retry *list = ctx->retries, *later = NULL, **later_tail = &later;
  uint64_t now = ex_now_us();
  ctx->retries = NULL; /* retries queued while sending these wait for the next round */
  while (list != NULL) {
    struct ex_retry *r = list;
    list = r->next;
    if (r->due > now) { /* still backing off */
      r->next = NULL;
      *later_tail = r;
      later_tail = &r->next;
      continue;
    }
    send_again(ctx, r);
    retry_free(r);
  }
  /* the ones still waiting go first, before those queued meanwhile */
  *later_tail = ctx->retries;
  ctx->retries = later;
}

/* The program asks, for this one refusal, to send it again now: the back-off is skipped, the budget
 * still counts (a refusal past the budget has no pending retry: OSIP_NOTFOUND). */
int ex_retry_now(struct eXosip_t *ctx, int tid)
{
  struct ex_retry **pp;
  for (pp = &ctx->retries; *pp != NULL; pp = &(*pp)->next) {
    if ((*pp)->tid == tid) {
      struct ex_retry *r = *pp;
      *pp = r->next;
      send_again(ctx, r);
      retry_free(r);
      return OSIP_SUCCESS;
    }
  }
  return OSIP_NOTFOUND;
}

EXOSIP_API int eXosip_core_retried_tid(struct eXosip_t *ctx, int tid)
{
  const struct ex_retry *r;
  unsigned int i, n;
  int found = OSIP_NOTFOUND;
  if (ctx == NULL || !ctx->initialized || tid <= 0)
    return OSIP_BADPARAMETER;
  ex_ctx_lock(ctx);
  for (r = ctx->retries; r != NULL && found == OSIP_NOTFOUND; r = r->next)
    if (r->tid == tid)
      found = 0; /* queued: eXosip_automatic_action sends it when its back-off ends */
  /* newest first: a tid is sent again at most once, so the first match is the only one */
  n = ctx->relink_next < EX_MAX_RELINKS ? ctx->relink_next : EX_MAX_RELINKS;
  for (i = 1; i <= n && found == OSIP_NOTFOUND; i++) {
    const struct ex_tid_link *l = &ctx->relinks[(ctx->relink_next - i) % EX_MAX_RELINKS];
    if (l->from == tid)
      found = l->to;
  }
  ex_ctx_unlock(ctx);
  return found;
}
