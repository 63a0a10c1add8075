/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Reliable provisional responses (RFC 3262), both sides.
 *
 * UAC: the program sends the PRACK (eXosip_call_build_prack / eXosip_call_send_prack, as in eXosip2
 * 5.3); it puts `Supported: 100rel` (or Require) in its INVITE itself, as eXosip2 expects. A reliable
 * 1xx seen again (same RSeq or an older one) is a retransmission: the PRACK sent for it goes out
 * again and the program is not told a second time.
 *
 * UAS: a 1xx the program sends with `Require: 100rel` gets an RSeq (random start, one higher for each
 * next one) and is sent again at T1, 2*T1, ... (capped at T2) until a PRACK with the matching RAck
 * arrives; after 64*T1 without one the INVITE is refused with 500 (RFC 3262 section 3). The PRACK
 * reaches the program as EXOSIP_CALL_MESSAGE_NEW, and the program answers it, as with eXosip2. A
 * PRACK without a usable RAck gets 400; one that matches no unacknowledged 1xx (unknown RSeq, a
 * second PRACK for the same 1xx, or none outstanding) gets 481. While a reliable 1xx is outstanding
 * a second one is refused (OSIP_WRONG_STATE); a 2xx sent while the outstanding 1xx carried SDP is
 * held until the PRACK comes and is answered by the program, then sent; any other final answer goes
 * at once and ends the
 * retransmissions.
 *
 * A new INVITE whose Require names an extension we do not serve gets 420 with Unsupported
 * (RFC 3261 8.2.2.3); 100rel, timer and replaces are served.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "exosip_internal.h"

static const char *const served_extensions[] = {"100rel", "timer", "replaces", NULL};

/* Call fn on each token of every value of header name/alt; stops when fn returns non-zero. */
static int each_token(const osip_message_t *msg, const char *name, const char *alt,
                      int (*fn)(const char *tok, size_t n, void *arg), void *arg)
{
  int i;
  for (i = 0; i < osip_list_size(&msg->headers); i++) {
    const osip_header_t *h = osip_list_get(&msg->headers, i);
    const char *p;
    if (h == NULL || h->hname == NULL || h->hvalue == NULL)
      continue;
    if (osip_strcasecmp(h->hname, name) != 0 && (alt == NULL || osip_strcasecmp(h->hname, alt) != 0))
      continue;
    p = h->hvalue;
    while (*p) {
      const char *start, *end;
      while (*p == ',' || isspace((unsigned char) *p))
        p++;
      start = p;
      while (*p && *p != ',')
        p++;
      end = p;
      while (end > start && isspace((unsigned char) end[-1]))
        end--;
      if (end > start) {
        int r = fn(start, (size_t) (end - start), arg);
        if (r != 0)
          return r;
      }
    }
  }
  return 0;
}

static int token_is(const char *tok, size_t n, void *arg)
{
  const char *want = arg;
  return strlen(want) == n && osip_strncasecmp(tok, want, n) == 0;
}

int ex_header_has_token(const osip_message_t *msg, const char *name, const char *alt, const char *token)
{
  return msg != NULL && each_token(msg, name, alt, token_is, (void *) token);
}

struct unsupported {
  char list[256];
  size_t len;
};

static int collect_unsupported(const char *tok, size_t n, void *arg)
{
  struct unsupported *u = arg;
  int i;
  for (i = 0; served_extensions[i] != NULL; i++)
    if (strlen(served_extensions[i]) == n && osip_strncasecmp(tok, served_extensions[i], n) == 0)
      return 0;
  if (u->len + n + 3 < sizeof(u->list)) {
    if (u->len > 0) {
      memcpy(u->list + u->len, ", ", 2);
      u->len += 2;
    }
    memcpy(u->list + u->len, tok, n);
    u->len += n;
    u->list[u->len] = '\0';
  }
  return 0;
}

/* The number and refresher of a Session-Expires value ("1800;refresher=uac"): seconds or 0. */
static int session_expires_of(const osip_message_t *msg)
{
  osip_header_t *h = NULL;
  osip_message_header_get_byname(msg, "session-expires", 0, &h);
  if (h == NULL)
    osip_message_header_get_byname(msg, "x", 0, &h);
  if (h == NULL || h->hvalue == NULL || !isdigit((unsigned char) h->hvalue[0]))
    return 0;
  return (int) strtol(h->hvalue, NULL, 10);
}

static void answer_tx(struct eXosip_t *ctx, struct ex_tx *w, int status, const char *name, const char *value)
{
  osip_message_t *resp = NULL;
  if (ex_build_response(ctx, w->tr->orig_request, status, NULL, 0, &resp) != OSIP_SUCCESS)
    return;
  if (name != NULL)
    osip_message_set_header(resp, name, value);
  ex_tx_send(ctx, w, resp);
}

int ex_invite_precheck(struct eXosip_t *ctx, struct ex_tx *w)
{
  const osip_message_t *req = w->tr->orig_request;
  struct unsupported u;
  int se;
  u.len = 0;
  u.list[0] = '\0';
  each_token(req, "require", NULL, collect_unsupported, &u);
  if (u.len > 0) {
    answer_tx(ctx, w, 420, "Unsupported", u.list);
    return 1;
  }
  se = session_expires_of(req);
  if (se > 0 && se < ctx->limits.min_session_expires
      && (ex_header_has_token(req, "supported", "k", "timer") || ex_header_has_token(req, "require", NULL, "timer"))) {
    char buf[16];
    snprintf(buf, sizeof(buf), "%d", ctx->limits.min_session_expires);
    answer_tx(ctx, w, 422, "Min-SE", buf); /* RFC 4028 8.1 */
    return 1;
  }
  return 0;
}

/* The RSeq of a response: 1 and *out, or 0 when it has none that parses (1..2^32-1). */
static int rseq_of(const osip_message_t *resp, unsigned long *out)
{
  osip_header_t *h = NULL;
  char *end = NULL;
  unsigned long v;
  osip_message_header_get_byname(resp, "rseq", 0, &h);
  if (h == NULL || h->hvalue == NULL || !isdigit((unsigned char) h->hvalue[0]))
    return 0;
  v = strtoul(h->hvalue, &end, 10);
  while (end != NULL && isspace((unsigned char) *end))
    end++;
  if (end == NULL || *end != '\0' || v == 0 || v > 4294967295UL)
    return 0;
  *out = v;
  return 1;
}

/* ---- UAC ---- */

int ex_prack_uac_1xx(struct eXosip_t *ctx, struct ex_dialog *dlg, const osip_message_t *resp)
{
  unsigned long rseq;
  if (dlg == NULL || resp->status_code <= 100 || !ex_header_has_token(resp, "require", NULL, "100rel")
      || !rseq_of(resp, &rseq))
    return 0;
  if (dlg->rseq_seen_set && rseq <= dlg->rseq_seen) {
    if (dlg->prack_buf != NULL && rseq == dlg->rseq_seen)
      ex_send_raw(ctx, &dlg->prack_dest, dlg->prack_buf, dlg->prack_len);
    return 1;
  }
  dlg->rseq_seen = rseq;
  dlg->rseq_seen_set = 1;
  return 0;
}

#define API_ENTER(ctx)                                                                                     \
  do {                                                                                                     \
    if ((ctx) == NULL || !(ctx)->initialized)                                                              \
      return OSIP_BADPARAMETER;                                                                            \
    ex_ctx_lock(ctx);                                                                                      \
  } while (0)

/* The INVITE client transaction tid, in a state where a PRACK may go: OSIP_SUCCESS or a code. */
static int prack_ict(struct eXosip_t *ctx, int tid, struct ex_tx **out)
{
  struct ex_tx *w = tid > 0 ? ex_tx_by_tid(ctx, tid) : NULL;
  *out = NULL;
  if (w == NULL && tid > 0 && ex_hmap_get_int(&ctx->dialogs_by_invtid, tid) != NULL)
    return OSIP_WRONG_STATE; /* answered finally: the transaction is over */
  if (w == NULL || w->tr == NULL || w->tr->orig_request == NULL || w->tr->orig_request->sip_method == NULL)
    return OSIP_NOTFOUND;
  if (w->kind != ICT || !MSG_IS_INVITE(w->tr->orig_request))
    return OSIP_BADPARAMETER;
  if (w->tr->state != ICT_PROCEEDING)
    return OSIP_WRONG_STATE;
  if (w->tr->orig_request->cseq == NULL || w->tr->orig_request->cseq->number == NULL
      || w->tr->orig_request->cseq->method == NULL)
    return OSIP_SYNTAXERROR;
  *out = w;
  return OSIP_SUCCESS;
}

static struct ex_dialog *dialog_of_response(struct eXosip_t *ctx, const osip_message_t *resp)
{
  char cid[512];
  if (ex_to_tag(resp) == NULL)
    return NULL;
  return ex_dialog_lookup(ctx, ex_callid(resp, cid, sizeof(cid)), ex_from_tag(resp), ex_to_tag(resp));
}

EXOSIP_API int eXosip_call_build_prack(struct eXosip_t *excontext, int tid, osip_message_t *response1xx,
                                       osip_message_t **prack)
{
  struct ex_tx *w;
  struct ex_dialog *dlg;
  osip_header_t *rseq = NULL;
  char rack[96];
  int rc;
  if (prack == NULL)
    return OSIP_BADPARAMETER;
  *prack = NULL;
  if (tid < 0 || response1xx == NULL)
    return OSIP_BADPARAMETER;
  API_ENTER(excontext);
  rc = prack_ict(excontext, tid, &w);
  if (rc != OSIP_SUCCESS)
    goto cleanup;
  osip_message_header_get_byname(response1xx, "rseq", 0, &rseq);
  {
    unsigned long n;
    if (rseq == NULL || rseq->hvalue == NULL || !rseq_of(response1xx, &n)) {
      rc = OSIP_WRONG_FORMAT; /* no RSeq, or not a number of 1..2^32-1 */
      goto cleanup;
    }
  }
  dlg = dialog_of_response(excontext, response1xx);
  if (dlg == NULL || dlg->call == NULL || dlg->call->cid != w->cid || dlg->d == NULL) {
    rc = OSIP_WRONG_STATE; /* no early dialog for this 1xx (no To tag, or another call's) */
    goto cleanup;
  }
  snprintf(rack, sizeof(rack), "%s %s %s", rseq->hvalue, w->tr->orig_request->cseq->number,
           w->tr->orig_request->cseq->method);
  if (osip_strcasecmp(dlg->prack_rack, rack) == 0) {
    rc = OSIP_WRONG_STATE; /* this 1xx is PRACKed already */
    goto cleanup;
  }
  rc = ex_build_request_in_dialog(excontext, dlg, "PRACK", prack);
  if (rc == OSIP_SUCCESS)
    osip_message_set_header(*prack, "RAck", rack);
cleanup:
  ex_ctx_unlock(excontext);
  return rc;
}

EXOSIP_API int eXosip_call_send_prack(struct eXosip_t *excontext, int tid, osip_message_t *prack)
{
  struct ex_tx *w = NULL, *nw = NULL;
  struct ex_dialog *dlg;
  osip_header_t *rack = NULL;
  char cid[512], *buf = NULL;
  size_t len = 0;
  int rc;
  if (excontext == NULL || !excontext->initialized || tid < 0) {
    osip_message_free(prack);
    return OSIP_BADPARAMETER;
  }
  if (prack == NULL)
    return OSIP_BADPARAMETER;
  ex_ctx_lock(excontext);
  rc = prack_ict(excontext, tid, &w);
  if (rc == OSIP_SUCCESS && (!MSG_IS_PRACK(prack) || prack->call_id == NULL || prack->cseq == NULL))
    rc = OSIP_BADPARAMETER;
  if (rc != OSIP_SUCCESS) {
    osip_message_free(prack);
    goto cleanup;
  }
  dlg = ex_dialog_lookup(excontext, ex_callid(prack, cid, sizeof(cid)), ex_from_tag(prack), ex_to_tag(prack));
  if (dlg == NULL || dlg->call == NULL || dlg->call->cid != w->cid) {
    osip_message_free(prack);
    rc = OSIP_NOTFOUND;
    goto cleanup;
  }
  osip_message_header_get_byname(prack, "rack", 0, &rack);
  rc = ex_tx_new(excontext, NICT, prack, &nw);
  if (rc != OSIP_SUCCESS) {
    osip_message_free(prack);
    goto cleanup;
  }
  nw->cid = w->cid;
  nw->did = dlg->did;
  /* kept to answer a retransmission of the 1xx */
  free(dlg->prack_buf);
  dlg->prack_buf = NULL;
  dlg->prack_len = 0;
  snprintf(dlg->prack_rack, sizeof(dlg->prack_rack), "%s", rack != NULL && rack->hvalue != NULL ? rack->hvalue : "");
  if (ex_request_dest(excontext, prack, &dlg->prack_dest) == OSIP_SUCCESS
      && osip_message_to_str(prack, &buf, &len) == 0 && buf != NULL) {
    dlg->prack_buf = malloc(len);
    if (dlg->prack_buf != NULL) {
      memcpy(dlg->prack_buf, buf, len);
      dlg->prack_len = len;
    }
  }
  osip_free(buf);
  ex_tx_send(excontext, nw, prack);
  rc = OSIP_SUCCESS;
cleanup:
  ex_ctx_unlock(excontext);
  return rc;
}

/* ---- UAS ---- */

static void rel_stop(struct eXosip_t *ctx, struct ex_dialog *dlg)
{
  ex_heap_remove(&ctx->heap, &dlg->trel);
  free(dlg->rel_buf);
  dlg->rel_buf = NULL;
  dlg->rel_len = 0;
  dlg->rel_rseq = 0;
  dlg->rel_has_sdp = 0;
}

int ex_prack_uas_1xx(struct eXosip_t *ctx, struct ex_tx *w, struct ex_dialog *dlg, osip_message_t *answer)
{
  char buf[16];
  osip_header_t *old = NULL;
  int pos;
  if (answer->status_code <= 100 || answer->status_code >= 200
      || !ex_header_has_token(answer, "require", NULL, "100rel"))
    return 0;
  if (dlg == NULL || dlg->d == NULL) {
    osip_message_free(answer);
    return OSIP_WRONG_STATE; /* a reliable 1xx needs the early dialog (a To tag) */
  }
  if (dlg->rel_rseq != 0) {
    osip_message_free(answer);
    return OSIP_WRONG_STATE; /* RFC 3262 3: one unacknowledged reliable 1xx at a time */
  }
  if (dlg->rseq_next == 0) {
    unsigned char r[4];
    char tok[9];
    ex_random_token(ctx, tok, sizeof(tok));
    memcpy(r, tok, 4);
    /* a random start well below 2^31 (RFC 3262 3), never 0 */
    dlg->rseq_next = 1 + (((unsigned long) r[0] << 16 | (unsigned long) r[1] << 8 | r[2]) % 1000000UL);
  }
  while ((pos = osip_message_header_get_byname(answer, "rseq", 0, &old)) >= 0 && old != NULL) {
    osip_list_remove(&answer->headers, pos);
    osip_header_free(old);
    old = NULL;
  }
  snprintf(buf, sizeof(buf), "%lu", dlg->rseq_next);
  osip_message_set_header(answer, "RSeq", buf);
  osip_message_force_update(answer);
  dlg->rel_rseq = dlg->rseq_next++;
  dlg->rel_tid = w->tid;
  dlg->rel_has_sdp = osip_list_size(&answer->bodies) > 0;
  free(dlg->rel_buf);
  dlg->rel_buf = NULL;
  {
    char *s = NULL;
    size_t len = 0;
    if (osip_message_to_str(answer, &s, &len) == 0 && s != NULL) {
      dlg->rel_buf = malloc(len);
      if (dlg->rel_buf != NULL) {
        memcpy(dlg->rel_buf, s, len);
        dlg->rel_len = len;
      }
      osip_free(s);
    }
  }
  ex_dest_of_answer(ctx, answer, w, &dlg->rel_dest);
  return 1;
}

void ex_prack_uas_1xx_sent(struct eXosip_t *ctx, struct ex_dialog *dlg)
{
  uint64_t now = ex_now_us();
  if (dlg == NULL || dlg->rel_rseq == 0)
    return;
  dlg->rel_interval = EX_T1;
  dlg->rel_give_up = now + 64ULL * EX_T1 * 1000ULL;
  ex_arm(ctx, &dlg->trel, now + (uint64_t) EX_T1 * 1000ULL);
}

void ex_prack_rel_fire(struct eXosip_t *ctx, struct ex_dialog *dlg)
{
  uint64_t now = ex_now_us();
  struct ex_tx *ist;
  struct ex_call *call = dlg->call;
  if (dlg->rel_rseq == 0)
    return;
  ist = ex_tx_by_tid(ctx, dlg->rel_tid);
  if (ist == NULL || ist->tr == NULL || ist->tr->state != IST_PROCEEDING) {
    rel_stop(ctx, dlg); /* answered finally meanwhile, or gone */
    return;
  }
  if (now >= dlg->rel_give_up) {
    /* no PRACK within 64*T1: the INVITE is refused with a 5xx (RFC 3262 3) */
    int initial = call != NULL && call->inv_tid == ist->tid;
    rel_stop(ctx, dlg);
    if (dlg->held_2xx != NULL) {
      osip_message_free(dlg->held_2xx);
      dlg->held_2xx = NULL;
    }
    if (call != NULL && initial)
      call->final_sent = 1;
    answer_tx(ctx, ist, 500, "Reason", "SIP;cause=500;text=\"no PRACK\"");
    if (call != NULL && initial)
      ex_call_release(ctx, call, 1);
    return;
  }
  if (dlg->rel_buf != NULL)
    ex_send_raw(ctx, &dlg->rel_dest, dlg->rel_buf, dlg->rel_len);
  dlg->rel_interval *= 2;
  if (dlg->rel_interval > EX_T2)
    dlg->rel_interval = EX_T2;
  {
    uint64_t next = now + (uint64_t) dlg->rel_interval * 1000ULL;
    ex_arm(ctx, &dlg->trel, next < dlg->rel_give_up ? next : dlg->rel_give_up);
  }
}

int ex_prack_uas_final(struct eXosip_t *ctx, struct ex_tx *w, struct ex_dialog *dlg, osip_message_t *answer)
{
  (void) ctx;
  int is_2xx = answer->status_code >= 200 && answer->status_code < 300;
  if (dlg == NULL || dlg->rel_tid != w->tid)
    return 0;
  if (dlg->rel_rseq == 0) {
    if (!is_2xx || dlg->held_prack_tid == 0)
      return 0;
    /* the PRACK of the 1xx with SDP came, and waits for the program's answer: the 2xx follows it */
    if (dlg->held_2xx != NULL)
      osip_message_free(dlg->held_2xx);
    dlg->held_2xx = answer;
    return 1;
  }
  if (is_2xx && dlg->rel_has_sdp) {
    if (dlg->held_2xx != NULL)
      osip_message_free(dlg->held_2xx);
    dlg->held_2xx = answer; /* RFC 3262 3: after the PRACK of the 1xx with SDP */
    return 1;
  }
  rel_stop(ctx, dlg);
  return 0;
}

int ex_prack_uas_prack(struct eXosip_t *ctx, struct ex_tx *w, struct ex_dialog *dlg)
{
  const osip_message_t *req = w->tr->orig_request;
  osip_header_t *h = NULL;
  char method[32];
  unsigned long rseq = 0, cseq = 0;
  int n = 0;
  osip_message_header_get_byname(req, "rack", 0, &h);
  if (h == NULL || h->hvalue == NULL
      || sscanf(h->hvalue, "%lu %lu %31s%n", &rseq, &cseq, method, &n) != 3 || rseq == 0
      || h->hvalue[n + (int) strspn(h->hvalue + n, " \t")] != '\0') {
    answer_tx(ctx, w, 400, NULL, NULL);
    return 1;
  }
  if (dlg->rel_rseq == 0 || rseq != dlg->rel_rseq || (int) cseq != dlg->inv_cseq
      || osip_strcasecmp(method, "INVITE") != 0) {
    answer_tx(ctx, w, 481, NULL, NULL);
    return 1;
  }
  if (dlg->rel_has_sdp)
    dlg->held_prack_tid = w->tid; /* a 2xx goes only after the PRACK's own answer */
  rel_stop(ctx, dlg);
  return 0;
}

void ex_prack_uas_prack_answered(struct eXosip_t *ctx, int tid, struct ex_dialog *dlg)
{
  osip_message_t *held;
  if (dlg == NULL || dlg->held_prack_tid == 0 || dlg->held_prack_tid != tid)
    return;
  dlg->held_prack_tid = 0;
  if (dlg->held_2xx == NULL)
    return;
  held = dlg->held_2xx;
  dlg->held_2xx = NULL;
  ex_answer_send(ctx, dlg->rel_tid, 0, held);
}

void ex_prack_dialog_free(struct eXosip_t *ctx, struct ex_dialog *dlg)
{
  rel_stop(ctx, dlg);
  free(dlg->prack_buf);
  dlg->prack_buf = NULL;
  if (dlg->held_2xx != NULL)
    osip_message_free(dlg->held_2xx);
  dlg->held_2xx = NULL;
}
