/* SPDX-License-Identifier: Apache-2.0 */
/* Dialogs (on oSIP2's osip_dialog_t) and calls: creation, hash indices, 2xx retransmission. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "exosip_internal.h"
#include "arena.h"

static char *dialog_key(const char *callid, const char *local_tag, const char *remote_tag)
{
  if (callid == NULL)
    return NULL;
  {
    const char *parts[] = { callid, "|", local_tag != NULL ? local_tag : "", "|",
                            remote_tag != NULL ? remote_tag : "", NULL };
    return ex_join_parts(parts); /* built for every in-dialog request: copied, not formatted */
  }
}

/* freed dialogs kept per context for the next ones (64: 130 KB at most) */
#define EX_DIALOG_CACHE 64

int ex_dialog_new(struct eXosip_t *ctx, struct ex_call *call, osip_dialog_t *d, struct ex_dialog **out)
{
  struct ex_dialog *dlg = ctx->dialog_cache;
  if (dlg != NULL) {
    ctx->dialog_cache = dlg->next;
    ctx->dialog_cache_n--;
    memset(dlg, 0, sizeof(*dlg));
  } else {
    dlg = calloc(1, sizeof(*dlg));
  }
  *out = NULL;
  if (dlg == NULL)
    return OSIP_NOMEM;
  dlg->key = dialog_key(d->call_id, d->local_tag, d->remote_tag);
  if (dlg->key == NULL) {
    free(dlg);
    return OSIP_NOMEM;
  }
  dlg->did = ctx->next_did++;
  dlg->call = call;
  dlg->d = d;
  dlg->t2xx.idx = -1;
  dlg->t2xx.kind = EX_TIMER_2XX;
  dlg->t2xx.owner = dlg;
  dlg->trel.idx = -1;
  dlg->trel.kind = EX_TIMER_REL1XX;
  dlg->trel.owner = dlg;
  if (ex_hmap_put_int(&ctx->dialogs_by_did, dlg->did, dlg) != OSIP_SUCCESS
      || ex_hmap_put_str(&ctx->dialogs_by_key, dlg->key, dlg) != OSIP_SUCCESS) {
    ex_hmap_del_int(&ctx->dialogs_by_did, dlg->did);
    free(dlg->key);
    free(dlg);
    return OSIP_NOMEM;
  }
  dlg->next = call->dialogs;
  call->dialogs = dlg;
  call->ndialogs++;
  *out = dlg;
  return OSIP_SUCCESS;
}

struct ex_dialog *ex_dialog_by_did(struct eXosip_t *ctx, int did)
{
  return did > 0 ? ex_hmap_get_int(&ctx->dialogs_by_did, did) : NULL;
}

struct ex_dialog *ex_dialog_lookup(struct eXosip_t *ctx, const char *callid, const char *local_tag,
                                   const char *remote_tag)
{
  char *key = dialog_key(callid, local_tag, remote_tag);
  struct ex_dialog *dlg = key != NULL ? ex_hmap_get_str(&ctx->dialogs_by_key, key) : NULL;
  free(key);
  return dlg;
}

void ex_dialog_free(struct eXosip_t *ctx, struct ex_dialog *dlg)
{
  ex_heap_remove(&ctx->heap, &dlg->t2xx);
  ex_prack_dialog_free(ctx, dlg);
  ex_st_dialog_free(ctx, dlg);
  ex_hmap_del_int(&ctx->dialogs_by_did, dlg->did);
  if (ex_hmap_get_str(&ctx->dialogs_by_key, dlg->key) == dlg)
    ex_hmap_del_str(&ctx->dialogs_by_key, dlg->key);
  if (dlg->inv_tid > 0 && ex_hmap_get_int(&ctx->dialogs_by_invtid, dlg->inv_tid) == dlg)
    ex_hmap_del_int(&ctx->dialogs_by_invtid, dlg->inv_tid);
  if (dlg->inv_tid > 0 && ex_hmap_get_int(&ctx->dialogs_by_srvtid, dlg->inv_tid) == dlg)
    ex_hmap_del_int(&ctx->dialogs_by_srvtid, dlg->inv_tid);
  if (dlg->d != NULL)
    osip_dialog_free(dlg->d);
  free(dlg->key);
  free(dlg->resp2xx);
  free(dlg->ack_buf);
  free(dlg->local_sdp);
  free(dlg->prev_local_sdp);
  free(dlg->remote_sdp);
  if (ctx->dialog_cache_n < EX_DIALOG_CACHE) {
    dlg->next = ctx->dialog_cache;
    ctx->dialog_cache = dlg;
    ctx->dialog_cache_n++;
  } else {
    free(dlg);
  }
}

void ex_dialog_cache_free(struct eXosip_t *ctx)
{
  while (ctx->dialog_cache != NULL) {
    struct ex_dialog *d = ctx->dialog_cache;
    ctx->dialog_cache = d->next;
    free(d);
  }
  ctx->dialog_cache_n = 0;
}

void ex_dest_of_answer(struct eXosip_t *ctx, const osip_message_t *resp, const struct ex_tx *ist,
                       struct ex_dest *dest)
{
  memset(dest, 0, sizeof(*dest));
  if (ex_proto_of_message(resp) == IPPROTO_TCP) {
    dest->proto = IPPROTO_TCP;
    dest->conn_id = ist->conn_id;
    memcpy(&dest->sa, &ist->src, ist->srclen);
    dest->salen = ist->srclen;
  } else {
    char *host = NULL;
    int port = 5060;
    osip_response_get_destination((osip_message_t *) resp, &host, &port);
    if (host == NULL || ex_dest_resolve(ctx, host, port, IPPROTO_UDP, dest) != OSIP_SUCCESS) {
      memcpy(&dest->sa, &ist->src, ist->srclen);
      dest->salen = ist->srclen;
      dest->proto = IPPROTO_UDP;
    }
    osip_free(host);
  }
}

void ex_dialog_start_2xx(struct eXosip_t *ctx, struct ex_dialog *dlg, const osip_message_t *resp2xx,
                         const struct ex_tx *ist)
{
  char *buf = NULL;
  size_t len = 0;
  int proto = ex_proto_of_message(resp2xx), rc;
  uint64_t now = ex_now_us();

  ex_dialog_stop_2xx(ctx, dlg);
  ex_arena_begin(); /* the serialiser's pieces (arena.c) */
  rc = osip_message_to_str((osip_message_t *) resp2xx, &buf, &len);
  ex_arena_end();
  if (rc != 0 || buf == NULL)
    return;
  free(dlg->resp2xx); /* the 2xx of an earlier INVITE of the dialog */
  dlg->resp2xx_len = 0;
  dlg->resp2xx = malloc(len);
  if (dlg->resp2xx == NULL) {
    osip_free(buf);
    return;
  }
  memcpy(dlg->resp2xx, buf, len);
  dlg->resp2xx_len = len;
  osip_free(buf);
  ex_dest_of_answer(ctx, resp2xx, ist, &dlg->resp2xx_dest);
  dlg->ack_pending = 1;
  dlg->t2xx_interval = proto == IPPROTO_TCP ? 0 : EX_T1;
  dlg->t2xx_give_up = now + 64ULL * EX_T1 * 1000ULL;
  ex_arm(ctx, &dlg->t2xx, proto == IPPROTO_TCP ? dlg->t2xx_give_up : now + (uint64_t) EX_T1 * 1000ULL);
}

void ex_dialog_stop_2xx(struct eXosip_t *ctx, struct ex_dialog *dlg)
{
  ex_heap_remove(&ctx->heap, &dlg->t2xx);
  dlg->ack_pending = 0;
  /* the serialized 2xx is kept: a late retransmitted INVITE is answered with it */
}

/*
 * The idle timeout of a confirmed call shares the dialog's timer with the 2xx retransmissions
 * (which end when the dialog is confirmed by the ACK). The deadline is only moved when the timer
 * fires: traffic merely stamps last_traffic, so a busy dialog costs no heap work.
 */
void ex_dialog_idle_arm(struct eXosip_t *ctx, struct ex_dialog *dlg)
{
  int limit = ctx->limits.call_idle_timeout_s;
  if (limit <= 0 || dlg->ack_pending || dlg->d == NULL || dlg->d->state != DIALOG_CONFIRMED)
    return;
  if (dlg->last_traffic == 0)
    dlg->last_traffic = ex_now_us();
  ex_arm(ctx, &dlg->t2xx, dlg->last_traffic + (uint64_t) limit * 1000000ULL);
}

static void idle_fire(struct eXosip_t *ctx, struct ex_dialog *dlg, uint64_t now)
{
  int limit = ctx->limits.call_idle_timeout_s;
  struct ex_call *call = dlg->call;
  uint64_t due;
  if (limit <= 0 || call == NULL || call->released || dlg->d == NULL || dlg->d->state != DIALOG_CONFIRMED)
    return;
  due = dlg->last_traffic + (uint64_t) limit * 1000000ULL;
  if (now < due) {
    ex_arm(ctx, &dlg->t2xx, due);
    return;
  }
  /* no SIP message in either direction for the whole period: the peer is gone or never sends
   * its BYE. End the call as the program would (BYE); it is told with CLOSED, then RELEASED
   * when the BYE transaction ends. */
  ex_event_emit(ctx, EXOSIP_CALL_CLOSED, call, dlg, 0, NULL, NULL, NULL);
  if (ex_send_bye(ctx, call, dlg, "SIP;cause=408;text=\"call idle timeout\"") != OSIP_SUCCESS)
    ex_call_release(ctx, call, 1); /* no BYE could be built: nothing more to wait for */
}

void ex_dialog_2xx_fire(struct eXosip_t *ctx, struct ex_dialog *dlg)
{
  uint64_t now = ex_now_us();
  if (!dlg->ack_pending) {
    idle_fire(ctx, dlg, now);
    return;
  }
  if (dlg->resp2xx == NULL)
    return;
  if (now >= dlg->t2xx_give_up) {
    /* no ACK within 64*T1: the session is ended with a BYE (RFC 3261 13.3.1.4, a SHOULD). When a
     * quarter of the transaction limit is in use (a flood of INVITEs that are never acknowledged,
     * often from forged addresses) the call is released without one: each such BYE would hold a
     * whole transaction (about 20 KB) for another 64*T1 towards a peer that most likely does not
     * exist, and a burst of them would come 32 s after the flood. */
    dlg->ack_pending = 0;
    if (ctx->tx_by_tid.count >= (size_t) ctx->limits.max_transactions / 4) {
      ex_call_release(ctx, dlg->call, 1);
      return;
    }
    ex_send_bye(ctx, dlg->call, dlg, NULL);
    return;
  }
  ex_send_raw(ctx, &dlg->resp2xx_dest, dlg->resp2xx, dlg->resp2xx_len);
  dlg->t2xx_interval *= 2;
  if (dlg->t2xx_interval > EX_T2)
    dlg->t2xx_interval = EX_T2;
  {
    uint64_t next = now + (uint64_t) dlg->t2xx_interval * 1000ULL;
    if (next > dlg->t2xx_give_up)
      next = dlg->t2xx_give_up;
    ex_arm(ctx, &dlg->t2xx, next);
  }
}

int ex_call_new(struct eXosip_t *ctx, struct ex_call **out)
{
  struct ex_call *call = calloc(1, sizeof(*call));
  *out = NULL;
  if (call == NULL)
    return OSIP_NOMEM;
  call->cid = ctx->next_cid++;
  if (ex_hmap_put_int(&ctx->calls_by_cid, call->cid, call) != OSIP_SUCCESS) {
    free(call);
    return OSIP_NOMEM;
  }
  ctx->total_calls++;
  *out = call;
  return OSIP_SUCCESS;
}

struct ex_call *ex_call_by_cid(struct eXosip_t *ctx, int cid)
{
  return cid > 0 ? ex_hmap_get_int(&ctx->calls_by_cid, cid) : NULL;
}

void ex_call_release(struct eXosip_t *ctx, struct ex_call *call, int emit)
{
  if (call == NULL || call->released)
    return;
  call->released = 1;
  if (emit)
    ex_event_emit(ctx, EXOSIP_CALL_RELEASED, call, call->dialogs, 0, NULL, NULL, NULL);
  while (call->dialogs != NULL) {
    struct ex_dialog *d = call->dialogs;
    call->dialogs = d->next;
    ex_dialog_free(ctx, d);
  }
  if (call->srv_key != NULL) {
    if (ex_hmap_get_str(&ctx->calls_by_srvkey, call->srv_key) == call)
      ex_hmap_del_str(&ctx->calls_by_srvkey, call->srv_key);
    free(call->srv_key);
  }
  ex_fork_unindex_call(ctx, call);
  ex_hmap_del_int(&ctx->calls_by_cid, call->cid);
  free(call->local_tag);
  free(call->cancel_hname);
  free(call->cancel_hvalue);
  free(call);
}

static void release_one(void *val, void *arg)
{
  struct ex_call *call = val;
  struct eXosip_t *ctx = arg;
  while (call->dialogs != NULL) {
    struct ex_dialog *d = call->dialogs;
    call->dialogs = d->next;
    ex_dialog_free(ctx, d);
  }
  free(call->srv_key);
  free(call->uac_key);
  free(call->cancel_hname);
  free(call->cancel_hvalue);
  free(call->local_tag);
  free(call);
}

void ex_call_free_all(struct eXosip_t *ctx)
{
  ex_hmap_foreach(&ctx->calls_by_cid, release_one, ctx);
  ex_hmap_destroy(&ctx->calls_by_cid);
  ex_hmap_init(&ctx->calls_by_cid, 16);
}
