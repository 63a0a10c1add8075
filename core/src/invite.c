/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Rules of the INVITE transaction that sit above oSIP2's state machines:
 *  - CANCEL (RFC 3261 9.1): never before a provisional answer has come. Asked for earlier, it is
 *    queued on the call and sent when the first 1xx arrives; a final answer first makes it moot
 *    (a 2xx is then acknowledged and ended with BYE, as the program wanted the call ended).
 *  - An INVITE the program never answers: after limits.invite_answer_timeout_ms the server
 *    transaction is answered with limits.invite_answer_timeout_status (408 by default), and an
 *    initial INVITE's call is released. Without it a program that forgets a call holds the
 *    transaction, the call and the caller forever (oSIP2's IST has no timer in Proceeding).
 *  - Glare (RFC 3261 14.1, 14.2): a re-INVITE that arrives while ours is in progress in the same
 *    dialog gets 491; one that arrives while the peer's previous INVITE is still unanswered gets
 *    500 with Retry-After. Our re-INVITE refused with 491 is sent again by
 *    eXosip_automatic_action after the random delay of 14.1 (retry.c).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "osrandom.h"

#include "exosip_internal.h"

static int send_cancel(struct eXosip_t *ctx, struct ex_call *call, const char *hname, const char *hvalue)
{
  struct ex_tx *ict = ex_tx_by_tid(ctx, call->inv_tid), *w = NULL;
  osip_message_t *inv, *cancel = NULL;
  osip_via_t *via = NULL;
  int rc;
  if (ict == NULL || ict->kind != ICT || ict->tr->orig_request == NULL)
    return OSIP_NOTFOUND;
  inv = ict->tr->orig_request;
  if (osip_message_init(&cancel) != 0)
    return OSIP_NOMEM;
  osip_message_set_method(cancel, osip_strdup("CANCEL"));
  osip_message_set_version(cancel, osip_strdup("SIP/2.0"));
  osip_message_set_status_code(cancel, 0);
  rc = OSIP_NOMEM;
  {
    osip_uri_t *ruri = NULL;
    char cseq[64];
    if (osip_uri_clone(inv->req_uri, &ruri) != 0)
      goto cleanup;
    osip_message_set_uri(cancel, ruri);
    if (osip_from_clone(inv->from, &cancel->from) != 0 || osip_to_clone(inv->to, &cancel->to) != 0
        || osip_call_id_clone(inv->call_id, &cancel->call_id) != 0)
      goto cleanup;
    snprintf(cseq, sizeof(cseq), "%s CANCEL", inv->cseq->number);
    osip_message_set_cseq(cancel, cseq);
    osip_message_get_via(inv, 0, &via);
    if (via == NULL)
      goto cleanup;
    {
      osip_via_t *copy = NULL;
      if (osip_via_clone(via, &copy) != 0)
        goto cleanup;
      osip_list_add(&cancel->vias, copy, -1);
    }
    {
      int pos;
      for (pos = 0; pos < osip_list_size(&inv->routes); pos++) {
        osip_route_t *r = osip_list_get(&inv->routes, pos), *copy = NULL;
        if (osip_route_clone(r, &copy) != 0)
          goto cleanup;
        osip_list_add(&cancel->routes, copy, -1);
      }
    }
  }
  osip_message_set_max_forwards(cancel, "70");
  if (hname != NULL && hname[0] != '\0' && hvalue != NULL && hvalue[0] != '\0')
    osip_message_set_header(cancel, hname, hvalue);
  ex_set_user_agent_header(ctx, cancel);
  rc = ex_tx_new(ctx, NICT, cancel, &w);
  if (rc != OSIP_SUCCESS)
    goto cleanup;
  w->cid = call->cid;
  w->is_cancel_of_call = 1;
  ex_tx_send(ctx, w, cancel);
  return OSIP_SUCCESS;
cleanup:
  osip_message_free(cancel);
  return rc;
}

int ex_invite_cancel(struct eXosip_t *ctx, struct ex_call *call, const char *hname, const char *hvalue)
{
  struct ex_tx *ict = ex_tx_by_tid(ctx, call->inv_tid);
  if (ict == NULL || ict->kind != ICT || ict->tr->orig_request == NULL)
    return OSIP_NOTFOUND;
  /* the program ends the attempt: no other RFC 3263 target gets this INVITE (ex_dns_failover) */
  ict->cancelled = 1;
  if (ict->tr->state == ICT_CALLING) {
    /* nothing provisional yet: the CANCEL waits for it (RFC 3261 9.1) */
    call->cancel_pending = 1;
    free(call->cancel_hname);
    free(call->cancel_hvalue);
    call->cancel_hname = hname != NULL && hvalue != NULL ? strdup(hname) : NULL;
    call->cancel_hvalue = hname != NULL && hvalue != NULL ? strdup(hvalue) : NULL;
    return OSIP_SUCCESS;
  }
  if (ict->tr->state != ICT_PROCEEDING)
    return OSIP_WRONG_STATE;
  call->cancel_pending = 0;
  return send_cancel(ctx, call, hname, hvalue);
}

void ex_invite_got_1xx(struct eXosip_t *ctx, struct ex_call *call)
{
  if (call == NULL || !call->cancel_pending)
    return;
  call->cancel_pending = 0;
  send_cancel(ctx, call, call->cancel_hname, call->cancel_hvalue);
}

int ex_invite_2xx_after_cancel(struct eXosip_t *ctx, struct ex_call *call, struct ex_dialog *dlg)
{
  osip_message_t *ack = NULL;
  if (call == NULL || !call->cancel_pending || dlg == NULL)
    return 0;
  call->cancel_pending = 0;
  if (ex_build_request_in_dialog(ctx, dlg, "ACK", &ack) == OSIP_SUCCESS)
    ex_dialog_send_ack(ctx, dlg, ack);
  if (ex_send_bye_with(ctx, call, dlg, call->cancel_hname, call->cancel_hvalue) != OSIP_SUCCESS)
    ex_call_release(ctx, call, 1);
  return 1;
}

uint64_t ex_invite_answer_deadline(struct eXosip_t *ctx, const struct ex_tx *w)
{
  int ms = ctx->limits.invite_answer_timeout_ms;
  if (ms <= 0 || w->kind != IST || w->tr == NULL
      || (w->tr->state != IST_PRE_PROCEEDING && w->tr->state != IST_PROCEEDING))
    return 0;
  return w->created + (uint64_t) ms * 1000ULL;
}

void ex_invite_answer_timeout(struct eXosip_t *ctx, struct ex_tx *w)
{
  struct ex_call *call = ex_call_by_cid(ctx, w->cid);
  osip_message_t *resp = NULL;
  const char *tag = call != NULL ? call->local_tag : NULL;
  int initial = call != NULL && call->inv_tid == w->tid;
  struct ex_dialog *dlg = ex_dialog_by_did(ctx, w->did);
  if (ex_to_tag(w->tr->orig_request) != NULL)
    tag = NULL; /* a re-INVITE: its To tag is already ours */
  else if (dlg != NULL && dlg->d != NULL && dlg->d->local_tag != NULL)
    tag = dlg->d->local_tag;
  if (initial)
    call->final_sent = 1;
  if (ex_build_response(ctx, w->tr->orig_request, ctx->limits.invite_answer_timeout_status, tag, 0, &resp)
      == OSIP_SUCCESS)
    ex_tx_send(ctx, w, resp);
  if (initial)
    ex_call_release(ctx, call, 1);
}

static int invite_in_progress(struct eXosip_t *ctx, int tid, int server)
{
  struct ex_tx *w = tid > 0 ? ex_tx_by_tid(ctx, tid) : NULL;
  if (w == NULL)
    return 0;
  if (server)
    return w->kind == IST && (w->tr->state == IST_PRE_PROCEEDING || w->tr->state == IST_PROCEEDING);
  return w->kind == ICT && (w->tr->state == ICT_CALLING || w->tr->state == ICT_PROCEEDING);
}

int ex_invite_glare_status(struct eXosip_t *ctx, struct ex_dialog *dlg, struct ex_tx *w)
{
  int status = 0;
  if (invite_in_progress(ctx, dlg->out_inv_tid, 0))
    status = 491;
  else if (dlg->in_inv_tid != w->tid && invite_in_progress(ctx, dlg->in_inv_tid, 1))
    status = 500;
  if (status == 0)
    dlg->in_inv_tid = w->tid;
  return status;
}

uint64_t ex_invite_glare_delay_us(struct eXosip_t *ctx, int call_id_owner)
{
  unsigned int r = 0;
  (void) ctx;
  if (ex_os_random(&r, sizeof(r)) != (ssize_t) sizeof(r))
    r = (unsigned int) (ex_now_us() / 7);
  /* in units of 10 ms: 2.1 s to 4 s for the owner of the Call-ID, 0 to 2 s for the other side */
  if (call_id_owner)
    return (210ULL + r % 191U) * 10000ULL;
  return (uint64_t) (r % 201U) * 10000ULL;
}
