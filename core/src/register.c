/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Registrations: the state kept per rid, the reaction to the answers of a REGISTER (events,
 * challenges, 423) and the work of eXosip_automatic_action for them (answering a challenge once,
 * refreshing before the binding lapses).
 *
 * Automatic re-sends of one REGISTER (answers to 401/407, stale nonces, 423 Interval Too Brief)
 * share one budget, ctx->limits.max_automatic_retries but never more than EX_REGISTER_MAX_RETRIES
 * (3, as eXosip2 5.3), with the back-off of ex_retry_backoff_us (retry.c) between them. The budget starts again with each REGISTER the program sends, each
 * refresh and each 2xx. When it is spent, or a 423 asks for more than ctx->limits.max_min_expires,
 * the refusal (already reported as EXOSIP_REGISTRATION_FAILURE) is left unanswered: it is the
 * final failure. Inside that budget, stale challenges in a row are answered at most
 * EX_MAX_STALE_RETRIES times.
 *
 * As in eXosip2 5.3, an Expires of 1 to 29 given by the program is raised to 30
 * (ctx->limits.min_register_expires, EXOSIP_CORE_OPT_MIN_REGISTER_EXPIRES), and a REGISTER built
 * for a registration none of whose REGISTERs was sent yet takes its first CSeq again (1).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "regauth.h"
#include "usage.h"

/* Most consecutive stale challenges answered before the registration is declared failed. */
#define EX_MAX_STALE_RETRIES 3
/* Most automatic re-sends of one REGISTER (eXosip2 5.3 allows 3); lower when
 * ctx->limits.max_automatic_retries is. */
#define EX_REGISTER_MAX_RETRIES 3

static int reg_budget(const struct eXosip_t *ctx)
{
  int n = ctx->limits.max_automatic_retries;
  return n < EX_REGISTER_MAX_RETRIES ? n : EX_REGISTER_MAX_RETRIES;
}

int ex_register_floor_expires(const struct eXosip_t *ctx, int expires)
{
  int min = ctx->limits.min_register_expires;
  return expires > 0 && expires < min ? min : expires;
}

struct ex_reg *ex_reg_by_rid(struct eXosip_t *ctx, int rid)
{
  struct ex_reg *r;
  for (r = ctx->regs; r != NULL; r = r->next)
    if (r->rid == rid && !r->removed)
      return r;
  return NULL;
}

static int in_flight(struct eXosip_t *ctx, const struct ex_reg *r)
{
  struct ex_tx *w = r->tid > 0 ? ex_tx_by_tid(ctx, r->tid) : NULL;
  return w != NULL && w->tr != NULL && (w->tr->state == NICT_PRE_TRYING || w->tr->state == NICT_TRYING
                                        || w->tr->state == NICT_PROCEEDING);
}


static struct ex_reg *reg_by_tid(struct eXosip_t *ctx, int tid)
{
  struct ex_reg *r;
  if (tid <= 0)
    return NULL;
  for (r = ctx->regs; r != NULL; r = r->next)
    if (r->tid == tid)
      return r;
  return NULL;
}

static void reg_free(struct ex_reg *r)
{
  if (r->last != NULL)
    osip_message_free(r->last);
  if (r->challenge != NULL)
    osip_message_free(r->challenge);
  free(r);
}

void ex_register_stats(struct eXosip_t *ctx, struct eXosip_stats *st, double hours)
{
  const struct ex_reg *r;
  int n = 0;
  for (r = ctx->regs; r != NULL; r = r->next)
    n += !r->removed;
  st->allocated_registrations = n;
  /* rids are handed out in sequence from 1: next_rid - 1 registrations were created */
  st->average_registrations = (float) ((double) (ctx->next_rid > 0 ? ctx->next_rid - 1 : 0) / hours);
}

void ex_register_free_all(struct eXosip_t *ctx)
{
  while (ctx->regs != NULL) {
    struct ex_reg *r = ctx->regs;
    ctx->regs = r->next;
    reg_free(r);
  }
}

EXOSIP_API int eXosip_register_remove(struct eXosip_t *excontext, int rid)
{
  struct ex_reg **pp;
  int rc = OSIP_NOTFOUND;
  if (excontext == NULL || !excontext->initialized || rid <= 0)
    return OSIP_BADPARAMETER;
  ex_ctx_lock(excontext);
  for (pp = &excontext->regs; *pp != NULL; pp = &(*pp)->next) {
    if ((*pp)->rid == rid && !(*pp)->removed) {
      struct ex_reg *r = *pp;
      if (in_flight(excontext, r)) {
        r->removed = 1; /* its answer is still swallowed here, then it goes */
      } else {
        *pp = r->next;
        reg_free(r);
      }
      rc = OSIP_SUCCESS;
      break;
    }
  }
  ex_ctx_unlock(excontext);
  return rc;
}

int ex_request_new_branch(struct eXosip_t *ctx, osip_message_t *msg)
{
  osip_via_t *via = osip_list_get(&msg->vias, 0);
  osip_generic_param_t *b = NULL;
  char token[24], value[40];
  if (via == NULL)
    return OSIP_SYNTAXERROR;
  ex_random_token(ctx, token, sizeof(token));
  snprintf(value, sizeof(value), "z9hG4bK%s", token);
  osip_via_param_get_byname(via, "branch", &b);
  if (b != NULL) {
    osip_free(b->gvalue);
    b->gvalue = osip_strdup(value);
  } else {
    osip_via_set_branch(via, osip_strdup(value));
  }
  osip_message_force_update(msg);
  return OSIP_SUCCESS;
}

static int set_cseq_number(osip_message_t *msg, int number)
{
  char buf[16];
  if (msg->cseq == NULL)
    return OSIP_SYNTAXERROR;
  snprintf(buf, sizeof(buf), "%d", number);
  osip_free(msg->cseq->number);
  msg->cseq->number = osip_strdup(buf);
  osip_message_force_update(msg);
  return msg->cseq->number != NULL ? OSIP_SUCCESS : OSIP_NOMEM;
}

static int cseq_of(const osip_message_t *msg)
{
  return msg->cseq != NULL && msg->cseq->number != NULL ? atoi(msg->cseq->number) : 0;
}

/* The Expires header of a message, or -1. */
static int expires_header(const osip_message_t *msg)
{
  osip_header_t *h = NULL;
  osip_message_header_get_byname(msg, "expires", 0, &h);
  if (h == NULL || h->hvalue == NULL || h->hvalue[0] < '0' || h->hvalue[0] > '9')
    return -1;
  return atoi(h->hvalue);
}

static int set_expires(osip_message_t *msg, int expires)
{
  osip_header_t *h = NULL;
  char buf[16];
  int pos, i;
  while ((pos = osip_message_header_get_byname(msg, "expires", 0, &h)) >= 0 && h != NULL) {
    osip_list_remove(&msg->headers, pos);
    osip_header_free(h);
    h = NULL;
  }
  /* an expires parameter on our contacts would contradict the header */
  for (i = 0; i < osip_list_size(&msg->contacts); i++) {
    osip_contact_t *c = osip_list_get(&msg->contacts, i);
    int k;
    for (k = 0; k < osip_list_size(&c->gen_params); k++) {
      osip_generic_param_t *p = osip_list_get(&c->gen_params, k);
      if (p != NULL && p->gname != NULL && osip_strcasecmp(p->gname, "expires") == 0) {
        osip_list_remove(&c->gen_params, k);
        osip_generic_param_free(p);
        k--;
      }
    }
  }
  snprintf(buf, sizeof(buf), "%d", expires);
  osip_message_force_update(msg);
  return osip_message_set_expires(msg, buf) == 0 ? OSIP_SUCCESS : OSIP_NOMEM;
}

static void drop_credentials(osip_message_t *msg)
{
  while (osip_list_size(&msg->authorizations) > 0) {
    osip_authorization_t *a = osip_list_get(&msg->authorizations, 0);
    osip_list_remove(&msg->authorizations, 0);
    osip_authorization_free(a);
  }
  while (osip_list_size(&msg->proxy_authorizations) > 0) {
    osip_proxy_authorization_t *a = osip_list_get(&msg->proxy_authorizations, 0);
    osip_list_remove(&msg->proxy_authorizations, 0);
    osip_proxy_authorization_free(a);
  }
  osip_message_force_update(msg);
}

int ex_register_build_initial(struct eXosip_t *ctx, const char *from, const char *proxy, const char *contact,
                              int expires, const char *qvalue, osip_message_t **out)
{
  osip_message_t *m = NULL;
  osip_uri_t *ruri = NULL;
  struct ex_reg *r = NULL;
  int rc;

  *out = NULL;
  if (from == NULL || proxy == NULL || from[0] == '\0' || proxy[0] == '\0' || expires < 0)
    return OSIP_BADPARAMETER;
  expires = ex_register_floor_expires(ctx, expires);
  rc = ex_build_request_out(ctx, "REGISTER", from, from, NULL, &m);
  if (rc != OSIP_SUCCESS)
    return rc;
  /* the request goes to the registrar; To and From name the address of record */
  rc = OSIP_SYNTAXERROR;
  if (osip_uri_init(&ruri) != 0)
    goto cleanup;
  if (osip_uri_parse(ruri, proxy) != 0 || ruri->host == NULL) {
    osip_uri_free(ruri);
    goto cleanup;
  }
  if (m->req_uri != NULL)
    osip_uri_free(m->req_uri); /* the To URI put there by the builder */
  m->req_uri = NULL;
  osip_message_set_uri(m, ruri);
  if (contact != NULL && contact[0] != '\0')
    rc = osip_message_set_contact(m, contact) == 0 ? OSIP_SUCCESS : OSIP_SYNTAXERROR;
  else
    rc = ex_set_contact(ctx, m, m->from->url != NULL ? m->from->url->username : NULL, ex_contact_proto(m));
  if (rc != OSIP_SUCCESS || osip_list_size(&m->contacts) == 0) {
    rc = OSIP_SYNTAXERROR;
    goto cleanup;
  }
  if (qvalue != NULL && qvalue[0] != '\0') {
    osip_contact_t *c = osip_list_get(&m->contacts, 0);
    osip_contact_param_add(c, osip_strdup("q"), osip_strdup(qvalue));
  }
  rc = set_expires(m, expires);
  if (rc != OSIP_SUCCESS)
    goto cleanup;
  set_cseq_number(m, 1);
  r = calloc(1, sizeof(*r));
  if (r == NULL || osip_message_clone(m, &r->last) != 0) {
    free(r);
    rc = OSIP_NOMEM;
    goto cleanup;
  }
  if (ctx->next_rid <= 0)
    ctx->next_rid = 1;
  r->rid = ctx->next_rid++;
  r->cseq = 1;
  r->expires = expires;
  r->next = ctx->regs;
  ctx->regs = r;
  *out = m;
  return r->rid;

cleanup:
  osip_message_free(m);
  return rc;
}

/* A new REGISTER of registration r from its last one; credentials of the remembered challenge added. */
int ex_register_build_next(struct eXosip_t *ctx, struct ex_reg *r, int expires, osip_message_t **out)
{
  osip_message_t *m = NULL;
  int rc;
  *out = NULL;
  if (r->last == NULL)
    return OSIP_WRONG_STATE;
  if (osip_message_clone(r->last, &m) != 0)
    return OSIP_NOMEM;
  rc = ex_request_new_branch(ctx, m);
  /* nothing sent yet: the REGISTER built replaces the unsent one and keeps its CSeq */
  if (rc == OSIP_SUCCESS)
    rc = set_cseq_number(m, r->sent ? r->cseq + 1 : r->cseq);
  if (rc == OSIP_SUCCESS)
    rc = set_expires(m, expires);
  if (rc == OSIP_SUCCESS) {
    drop_credentials(m);
    if (r->challenge != NULL && ex_auth_answer(ctx, m, r->challenge, r->nc + 1) == OSIP_SUCCESS)
      r->nc++;
  }
  if (rc != OSIP_SUCCESS) {
    osip_message_free(m);
    return rc;
  }
  *out = m;
  return OSIP_SUCCESS;
}

/* Send msg (taken) for registration r. */
int ex_register_send(struct eXosip_t *ctx, struct ex_reg *r, osip_message_t *msg, int preemptive)
{
  osip_message_t *copy = NULL;
  struct ex_tx *w = NULL;
  int rc, expires;
  if (!MSG_IS_REQUEST(msg) || !MSG_IS_REGISTER(msg) || msg->cseq == NULL) {
    osip_message_free(msg);
    return OSIP_BADPARAMETER;
  }
  if (in_flight(ctx, r)) {
    osip_message_free(msg);
    return OSIP_WRONG_STATE;
  }
  if (osip_message_clone(msg, &copy) != 0) {
    osip_message_free(msg);
    return OSIP_NOMEM;
  }
  rc = ex_tx_new(ctx, NICT, msg, &w);
  if (rc != OSIP_SUCCESS) {
    osip_message_free(copy);
    osip_message_free(msg);
    return rc;
  }
  if (r->last != NULL)
    osip_message_free(r->last);
  r->last = copy;
  r->cseq = cseq_of(copy);
  expires = expires_header(copy);
  if (expires >= 0)
    r->expires = expires;
  r->tid = w->tid;
  r->sent = 1;
  r->retry_auth = 0;
  r->retry_interval = 0;
  if (!r->resending)
    r->rounds = 0; /* a new request of the program, or a refresh: a new budget */
  r->resending = 0;
  r->preemptive = preemptive && (osip_list_size(&copy->authorizations) > 0
                                 || osip_list_size(&copy->proxy_authorizations) > 0);
  ex_tx_send(ctx, w, msg);
  return OSIP_SUCCESS;
}

/* The lifetime the registrar granted to the contact we sent, from its 2xx. */
static int granted_expires(const struct ex_reg *r, const osip_message_t *resp)
{
  osip_contact_t *mine = r->last != NULL ? osip_list_get(&r->last->contacts, 0) : NULL;
  int pos, header;
  for (pos = 0; mine != NULL && mine->url != NULL && pos < osip_list_size(&resp->contacts); pos++) {
    osip_contact_t *c = osip_list_get(&resp->contacts, pos);
    osip_generic_param_t *p = NULL;
    if (c == NULL || c->url == NULL || c->url->host == NULL || mine->url->host == NULL)
      continue;
    if (osip_strcasecmp(c->url->host, mine->url->host) != 0)
      continue;
    if ((c->url->port == NULL) != (mine->url->port == NULL)
        || (c->url->port != NULL && strcmp(c->url->port, mine->url->port) != 0))
      continue;
    if ((c->url->username == NULL) != (mine->url->username == NULL)
        || (c->url->username != NULL && strcmp(c->url->username, mine->url->username) != 0))
      continue;
    osip_contact_param_get_byname(c, "expires", &p);
    if (p != NULL && p->gvalue != NULL && p->gvalue[0] >= '0' && p->gvalue[0] <= '9')
      return atoi(p->gvalue);
  }
  header = expires_header(resp);
  return header >= 0 ? header : r->expires;
}

static int min_expires(const osip_message_t *resp)
{
  osip_header_t *h = NULL;
  osip_message_header_get_byname(resp, "min-expires", 0, &h);
  if (h == NULL || h->hvalue == NULL)
    return 0;
  return atoi(h->hvalue);
}

int ex_register_nict_after(struct eXosip_t *ctx, struct ex_tx *w, int cb)
{
  struct ex_reg *r = reg_by_tid(ctx, w->tid);
  osip_message_t *req = w->tr->orig_request, *resp = w->tr->last_response;
  int status;
  if (r == NULL)
    return 0;
  if (r->removed) {
    if (cb != OSIP_NICT_STATUS_1XX_RECEIVED) {
      struct ex_reg **pp;
      for (pp = &ctx->regs; *pp != NULL && *pp != r; pp = &(*pp)->next)
        ;
      if (*pp == r)
        *pp = r->next;
      reg_free(r);
    }
    return 1;
  }
  switch (cb) {
  case OSIP_NICT_STATUS_1XX_RECEIVED:
    return 1; /* no event for provisional answers to REGISTER */
  case OSIP_NICT_STATUS_2XX_RECEIVED:
  case OSIP_NICT_STATUS_3XX_RECEIVED:
  case OSIP_NICT_STATUS_4XX_RECEIVED:
  case OSIP_NICT_STATUS_5XX_RECEIVED:
  case OSIP_NICT_STATUS_6XX_RECEIVED:
    if (resp == NULL)
      return 1;
    status = resp->status_code;
    break;
  case OSIP_NICT_STATUS_TIMEOUT:
    r->tid = 0;
    r->granted = 0;
    ex_event_emit_rid(ctx, EXOSIP_REGISTRATION_FAILURE, NULL, NULL, r->rid, w->tid, req, NULL, NULL);
    return 1;
  default:
    return 1;
  }
  r->tid = 0;
  if (status >= 200 && status < 300) {
    r->granted = r->expires > 0 ? granted_expires(r, resp) : 0;
    r->granted_at = ex_now_us();
    r->stale_retries = 0;
    r->rounds = 0;
    ex_event_emit_rid(ctx, EXOSIP_REGISTRATION_SUCCESS, NULL, NULL, r->rid, w->tid, req, resp, NULL);
    return 1;
  }
  r->granted = 0;
  if (r->rounds >= reg_budget(ctx)) {
    /* the budget is spent: this refusal is the final failure */
  } else if (status == 401 || status == 407) {
    int stale = ex_auth_is_stale(resp);
    if (stale)
      r->stale_retries++;
    if (ex_auth_can_answer(ctx, req, resp, r->preemptive) && r->stale_retries <= EX_MAX_STALE_RETRIES) {
      osip_message_t *copy = NULL;
      if (osip_message_clone(resp, &copy) == 0) {
        if (r->challenge != NULL)
          osip_message_free(r->challenge);
        r->challenge = copy;
        r->nc = 0;
        r->retry_auth = 1;
        r->retry_due = ex_now_us() + ex_retry_backoff_us(r->rounds + 1);
      }
    }
  } else if (status == 423) {
    int min = min_expires(resp);
    /* a registrar asking for more than the ceiling is refused: the 423 is the failure */
    if (min > r->expires && r->expires > 0 && min <= ctx->limits.max_min_expires) {
      r->retry_interval = min;
      r->retry_due = ex_now_us() + ex_retry_backoff_us(r->rounds + 1);
    }
  }
  ex_event_emit_rid(ctx, EXOSIP_REGISTRATION_FAILURE, NULL, NULL, r->rid, w->tid, req, resp, NULL);
  return 1;
}

/* Milliseconds before the end of a binding of `granted` seconds at which it is refreshed: a tenth of
 * it, or half of it up to 30 s when that is more. */
static uint64_t refresh_margin_ms(int granted)
{
  uint64_t g = (uint64_t) granted * 1000ULL, half = g / 2, tenth = g / 10;
  uint64_t m = half < 30000ULL ? half : 30000ULL;
  return tenth > m ? tenth : m;
}

/* retry: an automatic re-send (spends the budget), else a refresh (starts a new one). */
static void resend(struct eXosip_t *ctx, struct ex_reg *r, int expires, int with_challenge, int retry)
{
  osip_message_t *m = NULL;
  if (with_challenge) {
    /* answer the new challenge: the nonce count starts again */
    r->nc = 0;
  }
  if (ex_register_build_next(ctx, r, expires, &m) == OSIP_SUCCESS) {
    if (retry) {
      r->rounds++;
      r->resending = 1;
    }
    ex_register_send(ctx, r, m, !with_challenge);
    r->resending = 0;
  }
}

/* eXosip_default_action: the program asks for this retry now, so the back-off is skipped; the
 * budget still counts (past it no retry is pending: OSIP_NOTFOUND). */
int ex_register_retry_now(struct eXosip_t *ctx, int rid)
{
  struct ex_reg *r = ex_reg_by_rid(ctx, rid);
  if (r == NULL || in_flight(ctx, r))
    return OSIP_NOTFOUND;
  if (r->retry_auth) {
    r->retry_auth = 0;
    resend(ctx, r, r->expires, 1, 1);
    return OSIP_SUCCESS;
  }
  if (r->retry_interval > 0) {
    int e = r->retry_interval;
    r->retry_interval = 0;
    resend(ctx, r, e, 0, 1);
    return OSIP_SUCCESS;
  }
  return OSIP_NOTFOUND;
}

void ex_register_automatic(struct eXosip_t *ctx)
{
  struct ex_reg *r;
  uint64_t now = ex_now_us();
  for (r = ctx->regs; r != NULL; r = r->next) {
    if (r->removed || (r->tid > 0 && in_flight(ctx, r)))
      continue;
    if ((r->retry_auth || r->retry_interval > 0) && now < r->retry_due)
      continue; /* backing off */
    if (r->retry_auth) {
      r->retry_auth = 0;
      resend(ctx, r, r->expires, 1, 1);
    } else if (r->retry_interval > 0) {
      int e = r->retry_interval;
      r->retry_interval = 0;
      resend(ctx, r, e, 0, 1);
    } else if (r->granted > 0 && r->expires > 0) {
      uint64_t due = r->granted_at + ((uint64_t) r->granted * 1000ULL - refresh_margin_ms(r->granted)) * 1000ULL;
      if (now >= due) {
        r->granted = 0; /* until the registrar answers again */
        resend(ctx, r, r->expires, 0, 0);
      }
    }
  }
}

const struct ex_usage ex_usage_registration = {
  "registration", NULL, ex_register_nict_after, ex_register_automatic, ex_register_free_all, ex_register_stats,
};
