/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Publications (eX_publish.h, RFC 3903): one per address of record. The SIP-ETag of its latest 2xx
 * goes out as SIP-If-Match in the next PUBLISH for that AoR; a 412 (the server lost the state)
 * forgets the publication, so the next PUBLISH starts a new one; Expires: 0 answered 2xx removes
 * it. eXosip_automatic_action refreshes a publication (no body, SIP-If-Match) before it lapses.
 * Answers are reported as EXOSIP_MESSAGE_* events, as for other requests outside dialogs.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "usage.h"
#include "regauth.h"

struct ex_pub {
  char *aor;
  char *etag;            /* SIP-ETag of the latest 2xx, NULL before */
  long period;           /* seconds granted by the latest 2xx, 0 when none */
  uint64_t granted_at;
  osip_message_t *last;  /* the PUBLISH last sent: CSeq and template of refreshes */
  int tid;               /* the PUBLISH in flight, 0 when none */
  struct ex_pub *next;
};

struct ex_pubs {
  struct ex_pub *head;
  int count;
  unsigned long total;
};

static struct ex_pubs *pubs_of(struct eXosip_t *ctx, int create)
{
  if (ctx->pubs == NULL && create)
    ctx->pubs = calloc(1, sizeof(struct ex_pubs));
  return ctx->pubs;
}

static void pub_unlink(struct eXosip_t *ctx, struct ex_pub *p)
{
  struct ex_pubs *l = pubs_of(ctx, 0);
  struct ex_pub **pp;
  for (pp = l != NULL ? &l->head : NULL; pp != NULL && *pp != NULL; pp = &(*pp)->next) {
    if (*pp == p) {
      *pp = p->next;
      l->count--;
      break;
    }
  }
  if (p->last != NULL)
    osip_message_free(p->last);
  free(p->aor);
  free(p->etag);
  free(p);
}

/* The publication whose PUBLISH is transaction tid, also when retry.c sent it again (new tid). */
static struct ex_pub *pub_by_tid(struct eXosip_t *ctx, int tid)
{
  struct ex_pubs *l = pubs_of(ctx, 0);
  struct ex_pub *p;
  unsigned int i, n;
  if (l == NULL || tid <= 0)
    return NULL;
  for (p = l->head; p != NULL; p = p->next)
    if (p->tid == tid)
      return p;
  n = ctx->relink_next < EX_MAX_RELINKS ? ctx->relink_next : EX_MAX_RELINKS;
  for (i = 1; i <= n; i++) {
    const struct ex_tid_link *k = &ctx->relinks[(ctx->relink_next - i) % EX_MAX_RELINKS];
    if (k->to == tid) {
      for (p = l->head; p != NULL; p = p->next)
        if (p->tid == k->from) {
          p->tid = tid;
          return p;
        }
      return NULL;
    }
  }
  return NULL;
}

static int pub_nict_after(struct eXosip_t *ctx, struct ex_tx *w, int cb)
{
  struct ex_pub *p;
  osip_message_t *req = w->tr->orig_request, *resp = w->tr->last_response;
  int status;
  if (req == NULL || !MSG_IS_PUBLISH(req) || (p = pub_by_tid(ctx, w->tid)) == NULL)
    return 0;
  if (cb == OSIP_NICT_STATUS_TIMEOUT) {
    status = 408;
    resp = NULL;
  } else if (resp != NULL && ex_nict_answer_cb(cb)) {
    status = resp->status_code;
  } else {
    return 1;
  }
  if (status >= 200 && status < 300) {
    const char *etag = ex_header_value(resp, "sip-etag");
    long e = ex_header_long(resp, "expires", ex_header_long(req, "expires", 0));
    p->tid = 0;
    if (etag != NULL && strlen(etag) < 256) {
      free(p->etag);
      p->etag = strdup(etag);
    }
    p->period = e > EX_MAX_SUB_EXPIRES ? EX_MAX_SUB_EXPIRES : e;
    p->granted_at = ex_now_us();
  } else if (status >= 300) {
    int again = resp != NULL && ex_retry_note(ctx, w, resp); /* retry.c: a challenge answered later */
    if (!again)
      p->tid = 0;
  }
  ex_event_emit(ctx, ex_event_by_class(status, EXOSIP_MESSAGE_ANSWERED), NULL, NULL, w->tid, req, resp, NULL);
  if (status >= 200 && status < 300 && p->period == 0)
    pub_unlink(ctx, p); /* removed (Expires: 0) */
  else if (status == 412 || (status >= 300 && p->tid == 0 && p->etag == NULL))
    pub_unlink(ctx, p); /* the server has no such state (or never made it): start again next time */
  return 1;
}

static void pub_automatic(struct eXosip_t *ctx)
{
  struct ex_pubs *l = pubs_of(ctx, 0);
  struct ex_pub *p;
  uint64_t now = ex_now_us();
  for (p = l != NULL ? l->head : NULL; p != NULL; p = p->next) {
    uint64_t margin, end;
    osip_message_t *m = NULL;
    char buf[24];
    int cseq;
    if (p->tid != 0 || p->period <= 0 || p->etag == NULL || p->last == NULL)
      continue;
    margin = p->period > 120 ? 60ULL * 1000000ULL : (uint64_t) p->period * 500000ULL;
    end = p->granted_at + (uint64_t) p->period * 1000000ULL;
    if (now + margin < end)
      continue;
    cseq = p->last->cseq != NULL && p->last->cseq->number != NULL ? atoi(p->last->cseq->number) + 1 : 21;
    if (ex_usage_copy_for_resend(ctx, p->last, cseq, &m) != OSIP_SUCCESS)
      continue;
    /* a refresh carries no body (RFC 3903 4.4) */
    while (osip_list_size(&m->bodies) > 0) {
      osip_body_t *b = osip_list_get(&m->bodies, 0);
      osip_list_remove(&m->bodies, 0);
      osip_body_free(b);
    }
    osip_content_type_free(m->content_type);
    m->content_type = NULL;
    osip_content_length_free(m->content_length);
    m->content_length = NULL;
    snprintf(buf, sizeof(buf), "%ld", p->period);
    osip_message_replace_header(m, "Expires", buf);
    osip_message_replace_header(m, "SIP-If-Match", p->etag);
    osip_message_force_update(m);
    eXosip_publish(ctx, m, p->aor);
  }
}

static void pub_free_all(struct eXosip_t *ctx)
{
  struct ex_pubs *l = pubs_of(ctx, 0);
  if (l == NULL)
    return;
  while (l->head != NULL)
    pub_unlink(ctx, l->head);
  free(l);
  ctx->pubs = NULL;
}

static void pub_stats(struct eXosip_t *ctx, struct eXosip_stats *st, double hours)
{
  struct ex_pubs *l = pubs_of(ctx, 0);
  st->allocated_publications = l != NULL ? l->count : 0;
  st->average_publications = (float) ((double) (l != NULL ? l->total : 0) / hours);
}

const struct ex_usage ex_usage_publication = {
  "publication", NULL, pub_nict_after, pub_automatic, pub_free_all, pub_stats,
};

/* ---- public API ---- */

EXOSIP_API int eXosip_build_publish(struct eXosip_t *excontext, osip_message_t **message, const char *to,
                                    const char *from, const char *route, const char *event, const char *expires,
                                    const char *ctype, const char *body)
{
  int rc;
  if (message == NULL)
    return OSIP_BADPARAMETER;
  *message = NULL;
  if (excontext == NULL || !excontext->initialized || to == NULL || from == NULL || event == NULL
      || event[0] == '\0')
    return OSIP_BADPARAMETER;
  if (body != NULL && (ctype == NULL || ctype[0] == '\0'))
    return OSIP_BADPARAMETER; /* a body says what it is */
  ex_ctx_lock(excontext);
  rc = ex_build_request_out(excontext, "PUBLISH", to, from, route, message);
  ex_ctx_unlock(excontext);
  if (rc != OSIP_SUCCESS)
    return rc;
  osip_message_set_header(*message, "Event", event);
  osip_message_set_expires(*message, expires != NULL && expires[0] != '\0' ? expires : "3600");
  if (body != NULL) {
    osip_message_set_content_type(*message, ctype);
    osip_message_set_body(*message, body, strlen(body));
  }
  return OSIP_SUCCESS;
}

EXOSIP_API int eXosip_publish(struct eXosip_t *excontext, osip_message_t *message, const char *to)
{
  struct ex_pubs *l;
  struct ex_pub *p;
  osip_message_t *copy = NULL;
  int rc;
  if (excontext == NULL || !excontext->initialized || to == NULL || to[0] == '\0') {
    osip_message_free(message);
    return OSIP_BADPARAMETER;
  }
  if (message == NULL)
    return OSIP_BADPARAMETER;
  if (!MSG_IS_REQUEST(message) || !MSG_IS_PUBLISH(message) || message->cseq == NULL) {
    osip_message_free(message);
    return OSIP_BADPARAMETER;
  }
  if (ex_header_value(message, "expires") == NULL) {
    osip_message_free(message);
    return OSIP_SYNTAXERROR; /* a publication has a lifetime */
  }
  ex_ctx_lock(excontext);
  l = pubs_of(excontext, 1);
  for (p = l != NULL ? l->head : NULL; p != NULL; p = p->next)
    if (osip_strcasecmp(p->aor, to) == 0)
      break;
  if (l == NULL) {
    rc = OSIP_NOMEM;
    goto fail;
  }
  if (p != NULL && p->tid != 0) {
    rc = OSIP_WRONG_STATE; /* one PUBLISH at a time per AoR */
    goto fail;
  }
  if (p == NULL) {
    p = calloc(1, sizeof(*p));
    if (p == NULL || (p->aor = strdup(to)) == NULL) {
      free(p);
      rc = OSIP_NOMEM;
      goto fail;
    }
    p->next = l->head;
    l->head = p;
    l->count++;
    l->total++;
  } else {
    char buf[16];
    if (p->etag != NULL && ex_header_value(message, "sip-if-match") == NULL)
      osip_message_set_header(message, "SIP-If-Match", p->etag);
    if (p->last != NULL && p->last->cseq != NULL && p->last->cseq->number != NULL) {
      snprintf(buf, sizeof(buf), "%d", atoi(p->last->cseq->number) + 1);
      osip_free(message->cseq->number);
      message->cseq->number = osip_strdup(buf);
      osip_message_force_update(message);
    }
  }
  if (osip_message_clone(message, &copy) != 0) {
    rc = OSIP_NOMEM;
    goto fail;
  }
  rc = ex_usage_send(excontext, message);
  if (rc > 0) {
    if (p->last != NULL)
      osip_message_free(p->last);
    p->last = copy;
    p->tid = rc;
  } else {
    osip_message_free(copy);
    if (p->etag == NULL)
      pub_unlink(excontext, p);
  }
  ex_ctx_unlock(excontext);
  return rc;

fail:
  ex_ctx_unlock(excontext);
  osip_message_free(message);
  return rc;
}
