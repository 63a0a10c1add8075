/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Forked INVITEs (RFC 3261 13.2.2.4). A proxy on the way may fork our INVITE; each branch that
 * accepts answers with its own 2xx and its own To tag, and each 2xx must be acknowledged. oSIP2's
 * client transaction ends with the first 2xx, so the 2xx of the other branches arrive outside any
 * transaction: they are recognised here by the call's Call-ID and From tag (the call's index
 * calls_by_uackey) and the CSeq of its INVITE.
 *
 * Each such branch gets a dialog of its own (its own did), acknowledged at once by the core. Then,
 * as eXosip2 does, the dialog the program did not ask for is ended with BYE: the program sees the
 * answer to that BYE (EXOSIP_CALL_MESSAGE_ANSWERED) with the dialog's did, and the call itself goes
 * on with its first dialog. With EXOSIP_CORE_OPT_KEEP_FORKED_DIALOGS set, the dialog is kept and
 * reported with EXOSIP_CALL_ANSWERED (its did, the INVITE's tid); the program ends the ones it
 * does not want with eXosip_call_terminate(cid, did).
 *
 * Bounds: at most limits.max_forked_dialogs dialogs per call (further branches are not answered,
 * their 2xx retransmissions stop at the peer's Timer H); nothing is held for a 2xx whose call is
 * gone or whose CSeq is not that of the call's INVITE.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "exosip_internal.h"
#include "arena.h"

static int cseq_number(const osip_message_t *m)
{
  return m->cseq != NULL && m->cseq->number != NULL ? atoi(m->cseq->number) : 0;
}

static char *uac_key(const osip_message_t *msg)
{
  char cid[512];
  const char *ftag = ex_from_tag(msg);
  size_t n;
  char *key;
  if (ftag == NULL || ex_callid(msg, cid, sizeof(cid)) == NULL)
    return NULL;
  n = strlen(cid) + strlen(ftag) + 2;
  key = malloc(n);
  if (key != NULL)
    snprintf(key, n, "%s|%s", cid, ftag);
  return key;
}

int ex_fork_index_call(struct eXosip_t *ctx, struct ex_call *call, const osip_message_t *invite)
{
  char *key = uac_key(invite);
  if (key == NULL)
    return OSIP_SYNTAXERROR;
  ex_fork_unindex_call(ctx, call);
  if (ex_hmap_put_str(&ctx->calls_by_uackey, key, call) != OSIP_SUCCESS) {
    free(key);
    return OSIP_NOMEM;
  }
  call->uac_key = key;
  return OSIP_SUCCESS;
}

void ex_fork_unindex_call(struct eXosip_t *ctx, struct ex_call *call)
{
  if (call->uac_key == NULL)
    return;
  if (ex_hmap_get_str(&ctx->calls_by_uackey, call->uac_key) == call)
    ex_hmap_del_str(&ctx->calls_by_uackey, call->uac_key);
  free(call->uac_key);
  call->uac_key = NULL;
}

int ex_call_other_dialog_up(const struct ex_call *call, const struct ex_dialog *dlg)
{
  const struct ex_dialog *d;
  if (call == NULL)
    return 0;
  for (d = call->dialogs; d != NULL; d = d->next)
    if (d != dlg && d->d != NULL && d->d->state == DIALOG_CONFIRMED)
      return 1;
  return 0;
}

void ex_dialog_set_local_sdp(struct ex_dialog *dlg, char *sdp)
{
  if (sdp == NULL)
    return;
  if (dlg->local_sdp != NULL && strcmp(dlg->local_sdp, sdp) == 0) {
    free(sdp); /* the same body again: the previous one stays what it was */
    return;
  }
  free(dlg->prev_local_sdp);
  dlg->prev_local_sdp = dlg->local_sdp;
  dlg->local_sdp = sdp;
}

int ex_dialog_send_ack(struct eXosip_t *ctx, struct ex_dialog *dlg, osip_message_t *ack)
{
  struct ex_dest dest;
  char *buf = NULL;
  size_t len = 0;
  int rc = ex_request_dest(ctx, ack, &dest);
  if (rc == OSIP_SUCCESS) {
    int ok;
    ex_arena_begin(); /* the serialiser's pieces (arena.c) */
    ok = osip_message_to_str(ack, &buf, &len) == 0 && buf != NULL;
    ex_arena_end();
    if (!ok)
      rc = OSIP_SYNTAXERROR;
  }
  if (rc == OSIP_SUCCESS) {
    char *copy = malloc(len);
    if (ctx->cbsip != NULL)
      ctx->cbsip(ack, 0);
    rc = ex_send_raw(ctx, &dest, buf, len);
    if (copy != NULL) { /* kept to answer a retransmitted 2xx */
      memcpy(copy, buf, len);
      free(dlg->ack_buf);
      dlg->ack_buf = copy;
      dlg->ack_len = len;
      dlg->ack_dest = dest;
      dlg->ack_cseq = cseq_number(ack);
    }
    ex_dialog_set_local_sdp(dlg, ex_body_string(ack));
    osip_free(buf);
  }
  osip_message_free(ack);
  return rc;
}

/* The local offer of the call (its INVITE's body, kept by the dialogs answered before). */
static char *call_offer(const struct ex_call *call, const struct ex_dialog *except)
{
  const struct ex_dialog *d;
  for (d = call->dialogs; d != NULL; d = d->next)
    if (d != except && d->local_sdp != NULL)
      return strdup(d->local_sdp);
  return NULL;
}

int ex_fork_2xx(struct eXosip_t *ctx, osip_message_t *resp)
{
  char cid[512], *key;
  const char *ftag = ex_from_tag(resp), *ttag = ex_to_tag(resp);
  struct ex_call *call;
  struct ex_dialog *dlg;
  osip_message_t *ack = NULL;

  if (ftag == NULL || ttag == NULL || resp->cseq == NULL || ex_callid(resp, cid, sizeof(cid)) == NULL)
    return 0;
  dlg = ex_dialog_lookup(ctx, cid, ftag, ttag);
  if (dlg != NULL && (dlg->ack_buf != NULL || dlg->d == NULL || dlg->d->state != DIALOG_EARLY))
    return 0; /* a retransmission in a dialog already answered: reack() */
  key = uac_key(resp);
  call = key != NULL ? ex_hmap_get_str(&ctx->calls_by_uackey, key) : NULL;
  free(key);
  if (call == NULL || call->released || call->incoming || call->inv_cseq != cseq_number(resp)
      || !call->final_received)
    return 0; /* stray, late, or for an INVITE still in its transaction: nothing to hold */
  if (dlg == NULL) {
    osip_dialog_t *d = NULL;
    if (call->ndialogs >= ctx->limits.max_forked_dialogs)
      return 1; /* bound reached: this branch is left unanswered */
    if (osip_dialog_init_as_uac(&d, resp) != 0)
      return 1;
    if (ex_dialog_new(ctx, call, d, &dlg) != OSIP_SUCCESS) {
      osip_dialog_free(d);
      return 1;
    }
  } else {
    osip_dialog_update_route_set_as_uac(dlg->d, resp);
  }
  dlg->forked = 1;
  osip_dialog_set_state(dlg->d, DIALOG_CONFIRMED);
  dlg->inv_tid = call->inv_tid;
  dlg->inv_cseq = cseq_number(resp);
  dlg->last_traffic = ex_now_us();
  {
    char *sdp = ex_body_string(resp);
    if (sdp != NULL) {
      free(dlg->remote_sdp);
      dlg->remote_sdp = sdp;
    }
    if (dlg->local_sdp == NULL)
      dlg->local_sdp = call_offer(call, dlg);
  }
  if (ctx->limits.keep_forked_dialogs)
    ex_event_emit(ctx, EXOSIP_CALL_ANSWERED, call, dlg, call->inv_tid, NULL, resp, NULL);
  if (ex_build_request_in_dialog(ctx, dlg, "ACK", &ack) == OSIP_SUCCESS)
    ex_dialog_send_ack(ctx, dlg, ack);
  if (!ctx->limits.keep_forked_dialogs)
    ex_send_bye(ctx, call, dlg, NULL);
  else
    ex_dialog_idle_arm(ctx, dlg);
  return 1;
}
