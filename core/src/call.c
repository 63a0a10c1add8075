/* SPDX-License-Identifier: Apache-2.0 */
/* The user-agent core for received messages: new calls, re-INVITE, CANCEL, BYE, ACK, in-dialog and
 * out-of-dialog requests, and the reaction to answers of our client transactions. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "exosip_internal.h"
#include "regauth.h" /* hook: authentication retries */
#include "usage.h"   /* the other usages: registrations, subscriptions, publications, plain requests */

static int cseq_number(const osip_message_t *m)
{
  return m->cseq != NULL && m->cseq->number != NULL ? atoi(m->cseq->number) : 0;
}

/* Answer the server transaction w with a bare status (no event). */
static void reply(struct eXosip_t *ctx, struct ex_tx *w, int status, const char *to_tag)
{
  osip_message_t *resp = NULL;
  if (ex_build_response(ctx, w->tr->orig_request, status, to_tag, 0, &resp) == OSIP_SUCCESS)
    ex_tx_send(ctx, w, resp);
}

int ex_request_dest(struct eXosip_t *ctx, const osip_message_t *req, struct ex_dest *dest)
{
  osip_route_t *route = osip_list_get(&req->routes, 0);
  const osip_uri_t *uri = req->req_uri;
  osip_uri_param_t *lr = NULL;
  int proto = ex_proto_of_message(req);
  if (route != NULL && route->url != NULL) {
    osip_uri_uparam_get_byname(route->url, "lr", &lr);
    if (lr != NULL)
      uri = route->url; /* loose routing: the first Route is the next hop */
  }
  if (uri == NULL || uri->host == NULL)
    return OSIP_SYNTAXERROR;
  return ex_dest_resolve(ctx, uri->host,
                         uri->port != NULL ? atoi(uri->port) : ex_contact_proto(req) == EX_PROTO_TLS ? 5061 : 5060,
                         proto, dest);
}

int ex_send_bye(struct eXosip_t *ctx, struct ex_call *call, struct ex_dialog *dlg, const char *reason)
{
  return ex_send_bye_with(ctx, call, dlg, "Reason", reason);
}

int ex_send_bye_with(struct eXosip_t *ctx, struct ex_call *call, struct ex_dialog *dlg, const char *hname,
                     const char *hvalue)
{
  osip_message_t *bye = NULL;
  struct ex_tx *w = NULL;
  int rc;
  if (dlg == NULL || call == NULL)
    return OSIP_NOTFOUND;
  ex_dialog_stop_2xx(ctx, dlg);
  rc = ex_build_request_in_dialog(ctx, dlg, "BYE", &bye);
  if (rc != OSIP_SUCCESS)
    return rc;
  if (hname != NULL && hname[0] != '\0' && hvalue != NULL && hvalue[0] != '\0')
    osip_message_set_header(bye, hname, hvalue);
  ex_auth_preemptive(ctx, bye); /* hook (auth.c): credentials of the dialog's challenge, as 5.3 */
  rc = ex_tx_new(ctx, NICT, bye, &w);
  if (rc != OSIP_SUCCESS) {
    osip_message_free(bye);
    return rc;
  }
  w->cid = call->cid;
  w->did = dlg->did;
  osip_dialog_set_state(dlg->d, DIALOG_CLOSE);
  ex_tx_send(ctx, w, bye); /* w is gone if the BYE could not be sent at all */
  return OSIP_SUCCESS;
}

static void new_call(struct eXosip_t *ctx, struct ex_tx *w)
{
  osip_message_t *req = w->tr->orig_request, *tmp = NULL, *trying = NULL;
  struct ex_call *call = NULL;
  struct ex_dialog *dlg = NULL;
  osip_dialog_t *d = NULL;
  char tag[16], *srv, cid[512];
  const char *ftag = ex_from_tag(req);
  size_t n;

  if (ex_invite_precheck(ctx, w)) /* hook (prack.c): 420 for an unserved Require, 422 */
    return;
  if (ex_call_new(ctx, &call) != OSIP_SUCCESS) {
    reply(ctx, w, 500, NULL);
    return;
  }
  call->incoming = 1;
  call->inv_tid = w->tid;
  call->inv_cseq = cseq_number(req);
  ex_random_token(ctx, tag, sizeof(tag));
  call->local_tag = strdup(tag);
  ex_callid(req, cid, sizeof(cid));
  n = strlen(cid) + (ftag ? strlen(ftag) : 0) + 2;
  srv = malloc(n);
  if (srv != NULL) {
    ex_puts(srv, n, ex_put(srv, n, ex_puts(srv, n, 0, cid), "|", 1), ftag ? ftag : "");
    call->srv_key = srv;
    ex_hmap_put_str(&ctx->calls_by_srvkey, srv, call);
  }
  /* the dialog exists from the INVITE on, with the tag our answers will carry */
  if (ftag != NULL && ex_build_response(ctx, req, 101, tag, 0, &tmp) == OSIP_SUCCESS
      && osip_dialog_init_as_uas(&d, req, tmp) == 0) {
    if (ex_dialog_new(ctx, call, d, &dlg) != OSIP_SUCCESS) {
      osip_dialog_free(d);
      dlg = NULL;
    } else {
      dlg->inv_tid = w->tid;
      dlg->inv_cseq = call->inv_cseq;
      dlg->remote_sdp = ex_body_string(req);
    }
  }
  if (tmp != NULL)
    osip_message_free(tmp);
  w->cid = call->cid;
  w->did = dlg != NULL ? dlg->did : 0;
  if (ex_build_response(ctx, req, 100, NULL, 0, &trying) != OSIP_SUCCESS)
    trying = NULL;
  /* as in eXosip2 5.3, the event carries the automatic 100 Trying as its response */
  ex_event_emit(ctx, EXOSIP_CALL_INVITE, call, dlg, w->tid, req, trying, NULL);
  if (trying != NULL)
    ex_tx_send(ctx, w, trying);
}

static struct ex_dialog *dialog_of_request(struct eXosip_t *ctx, const osip_message_t *req)
{
  char cid[512];
  return ex_dialog_lookup(ctx, ex_callid(req, cid, sizeof(cid)), ex_to_tag(req), ex_from_tag(req));
}

/* A BYE of a live call: served even when the program is behind on its events (a BYE refused
 * with 503 would keep the call until CALL_IDLE_TIMEOUT). Such BYEs add at most two events per
 * call to the queue, so the queue stays bounded by MAX_QUEUED_EVENTS plus what MAX_CALLS allows. */
static int ends_a_call(struct eXosip_t *ctx, const osip_message_t *req)
{
  struct ex_dialog *dlg;
  if (!MSG_IS_BYE(req) || ex_to_tag(req) == NULL)
    return 0;
  dlg = dialog_of_request(ctx, req);
  return dlg != NULL && dlg->call != NULL && !dlg->call->released;
}

static void in_dialog_request(struct eXosip_t *ctx, struct ex_tx *w, int is_invite)
{
  osip_message_t *req = w->tr->orig_request;
  struct ex_dialog *dlg = dialog_of_request(ctx, req);
  struct ex_call *call;
  if (dlg == NULL || dlg->call == NULL || dlg->call->released) {
    reply(ctx, w, 481, NULL);
    return;
  }
  call = dlg->call;
  dlg->last_traffic = ex_now_us();
  if (MSG_IS_PRACK(req) && ex_prack_uas_prack(ctx, w, dlg)) /* hook (prack.c): 400/481 */
    return;
  if (dlg->d->remote_cseq >= cseq_number(req) && dlg->d->remote_cseq > 0 && !MSG_IS_CANCEL(req)) {
    reply(ctx, w, 500, NULL); /* out of order (RFC 3261 12.2.2) */
    return;
  }
  dlg->d->remote_cseq = cseq_number(req);
  w->cid = call->cid;
  w->did = dlg->did;
  if (is_invite) {
    osip_message_t *trying = NULL;
    char *sdp;
    int glare = ex_invite_glare_status(ctx, dlg, w); /* hook (invite.c): 491 / 500 */
    if (glare != 0) {
      osip_message_t *resp = NULL;
      if (ex_build_response(ctx, req, glare, NULL, 0, &resp) == OSIP_SUCCESS) {
        if (glare == 500) {
          char after[16];
          snprintf(after, sizeof(after), "%d", (int) (ex_invite_glare_delay_us(ctx, 0) / 1000000ULL) + 1);
          osip_message_set_header(resp, "Retry-After", after);
        }
        ex_tx_send(ctx, w, resp);
      }
      return;
    }
    sdp = ex_body_string(req);
    if (sdp != NULL) {
      free(dlg->remote_sdp);
      dlg->remote_sdp = sdp;
    }
    if (ex_build_response(ctx, req, 100, NULL, 0, &trying) == OSIP_SUCCESS)
      ex_tx_send(ctx, w, trying);
    ex_event_emit(ctx, EXOSIP_CALL_REINVITE, call, dlg, w->tid, req, NULL, NULL);
    return;
  }
  if (MSG_IS_BYE(req)) {
    if (!call->final_sent && call->incoming) {
      struct ex_tx *ist = ex_tx_by_tid(ctx, call->inv_tid);
      if (ist != NULL && ist->tr->state == IST_PROCEEDING)
        reply(ctx, ist, 487, call->local_tag);
      call->final_sent = 1;
    }
    ex_dialog_stop_2xx(ctx, dlg);
    /* as in eXosip2 5.3: the BYE itself (with its automatic 200), then the end of the call */
    if (ctx->autoanswer_bye) {
      osip_message_t *ok = NULL;
      if (ex_build_response(ctx, req, 200, NULL, 0, &ok) != OSIP_SUCCESS)
        ok = NULL;
      ex_event_emit(ctx, EXOSIP_CALL_MESSAGE_NEW, call, dlg, w->tid, req, ok, NULL);
      ex_event_emit(ctx, EXOSIP_CALL_CLOSED, call, dlg, w->tid, req, NULL, NULL);
      if (ok != NULL)
        ex_tx_send(ctx, w, ok); /* the transaction may retire here: req is gone after this */
      /* hook (fork.c): another dialog of the call (a forked branch) may still be up */
      osip_dialog_set_state(dlg->d, DIALOG_CLOSE);
      if (!ex_call_other_dialog_up(call, dlg))
        ex_call_release(ctx, call, 1);
    } else {
      ex_event_emit(ctx, EXOSIP_CALL_MESSAGE_NEW, call, dlg, w->tid, req, NULL, NULL);
      ex_event_emit(ctx, EXOSIP_CALL_CLOSED, call, dlg, w->tid, req, NULL, NULL);
    }
    return;
  }
  ex_event_emit(ctx, EXOSIP_CALL_MESSAGE_NEW, call, dlg, w->tid, req, NULL, NULL);
}

static void cancel_request(struct eXosip_t *ctx, struct ex_tx *w)
{
  osip_message_t *req = w->tr->orig_request, *ok = NULL;
  int proceeding;
  char *key = ex_server_key(req, "INVITE");
  struct ex_tx *ist = key != NULL ? ex_hmap_get_str(&ctx->tx_by_key, key) : NULL;
  struct ex_call *call;
  free(key);
  if (ist == NULL || ist->kind != IST) {
    reply(ctx, w, 481, NULL);
    return;
  }
  call = ex_call_by_cid(ctx, ist->cid);
  if (ex_build_response(ctx, req, 200, call != NULL ? call->local_tag : NULL, 0, &ok) != OSIP_SUCCESS)
    ok = NULL;
  proceeding = ist->tr->state == IST_PROCEEDING;
  if (proceeding && call != NULL) {
    w->cid = call->cid;
    /* as in eXosip2 5.3, the event is the CANCEL's: its tid, the CANCEL and its 200 */
    if (call->inv_tid == ist->tid)
      ex_event_emit(ctx, EXOSIP_CALL_CANCELLED, call, ex_dialog_by_did(ctx, ist->did), w->tid, req, ok, NULL);
  }
  if (ok != NULL)
    ex_tx_send(ctx, w, ok); /* w and req may be gone after this */
  if (!proceeding)
    return; /* already answered: the CANCEL has no effect */
  reply(ctx, ist, 487, call != NULL ? call->local_tag : NULL);
  if (call != NULL) {
    call->final_sent = 1;
    if (call->inv_tid == ist->tid)
      ex_call_release(ctx, call, 1);
  }
}

/* The INVITE transaction of a call is gone and nothing else would ever end the call: no final
 * answer was sent (over TCP the 100 Trying or a 1xx found the connection gone, so no answer can
 * reach the caller any more), or the INVITE made no dialog (a From without tag), so there is
 * nothing to acknowledge, refresh or end. Called when the transaction is reaped, after whatever
 * was running on it has returned. */
void ex_call_ist_gone(struct eXosip_t *ctx, const struct ex_tx *w)
{
  struct ex_call *call = w->kind == IST && w->cid > 0 ? ex_call_by_cid(ctx, w->cid) : NULL;
  if (call != NULL && call->incoming && !call->released && call->inv_tid == w->tid
      && (!call->final_sent || call->dialogs == NULL))
    ex_call_release(ctx, call, 1);
}

static void ack_for_2xx(struct eXosip_t *ctx, osip_event_t *evt)
{
  osip_message_t *ack = evt->sip;
  struct ex_dialog *dlg = dialog_of_request(ctx, ack);
  if (dlg != NULL)
    dlg->last_traffic = ex_now_us();
  if (dlg != NULL && dlg->ack_pending && (dlg->inv_cseq == 0 || dlg->inv_cseq == cseq_number(ack))) {
    char *sdp = ex_body_string(ack);
    ex_dialog_stop_2xx(ctx, dlg);
    ex_dialog_idle_arm(ctx, dlg);
    if (sdp != NULL) {
      free(dlg->remote_sdp);
      dlg->remote_sdp = sdp;
    }
    evt->sip = NULL; /* handed to the event, not copied: nothing here reads it again */
    ex_event_emit_ack(ctx, dlg->call, dlg, dlg->inv_tid, ack);
  }
  osip_event_free(evt);
}

/* An INVITE whose server transaction is gone (it ended with our 2xx): a retransmission. */
static int late_invite(struct eXosip_t *ctx, const osip_message_t *req)
{
  const char *ftag = ex_from_tag(req);
  char key[1024], cid[512];
  struct ex_call *call;
  struct ex_dialog *dlg;
  {
    size_t at = ex_puts(key, sizeof(key), 0, ex_callid(req, cid, sizeof(cid)));
    ex_puts(key, sizeof(key), ex_put(key, sizeof(key), at, "|", 1), ftag ? ftag : "");
  }
  call = ex_hmap_get_str(&ctx->calls_by_srvkey, key);
  if (call == NULL)
    return 0;
  if (call->inv_cseq != cseq_number(req))
    return 1; /* same call-leg, new INVITE without To tag: not valid; ignore it */
  for (dlg = call->dialogs; dlg != NULL; dlg = dlg->next)
    if (dlg->resp2xx != NULL && dlg->ack_pending)
      ex_send_raw(ctx, &dlg->resp2xx_dest, dlg->resp2xx, dlg->resp2xx_len);
  return 1;
}

void ex_handle_request(struct eXosip_t *ctx, osip_event_t *evt, int proto, const struct sockaddr *src,
                       socklen_t srclen, long conn_id)
{
  osip_message_t *req = evt->sip;
  char *key = ex_server_key(req, NULL);
  struct ex_tx *w = key != NULL ? ex_hmap_get_str(&ctx->tx_by_key, key) : NULL;
  int is_invite = MSG_IS_INVITE(req), rc;

  free(key);
  if (w != NULL) { /* retransmission, or the ACK of a non-2xx final answer */
    if (w->tr == NULL) {
      ex_tx_replay(ctx, w);
      osip_event_free(evt);
    } else if (w->kind == IST || w->kind == NIST) {
      if (conn_id > 0)
        w->conn_id = conn_id;
      ex_tx_execute(ctx, w, evt);
    } else {
      osip_event_free(evt);
    }
    return;
  }
  if (MSG_IS_ACK(req)) {
    ack_for_2xx(ctx, evt);
    return;
  }
  if (ex_tx_merged(ctx, req) != NULL) {
    /* RFC 3261 8.2.2.2: the same request reached us by another path (a forking proxy upstream) */
    ex_reply_stateless(ctx, req, 482, 0, proto, src, srclen, conn_id);
    osip_event_free(evt);
    return;
  }
  if (is_invite && ex_to_tag(req) == NULL && late_invite(ctx, req)) {
    osip_event_free(evt);
    return;
  }
  if (is_invite && ex_to_tag(req) == NULL && ctx->calls_by_cid.count >= (size_t) ctx->limits.max_calls)
    rc = 503;
  else if (ctx->evcount >= ctx->limits.max_queued_events && !ends_a_call(ctx, req))
    rc = 503; /* the program is behind: no new work until it catches up */
  else
    rc = ex_tx_admit(ctx, src);
  if (rc != 0) {
    /* a limit of eX_core.h is reached: refused without holding anything */
    ctx->rejected_busy++;
    ex_reply_stateless(ctx, req, 503, EX_RETRY_AFTER_S, proto, src, srclen, conn_id);
    osip_event_free(evt);
    return;
  }
  rc = ex_tx_new(ctx, is_invite ? IST : NIST, req, &w);
  if (rc != OSIP_SUCCESS) {
    ctx->dropped++;
    osip_event_free(evt);
    return;
  }
  ex_tx_attach(ctx, w, req, src);
  w->conn_id = conn_id;
  memcpy(&w->src, src, srclen);
  w->srclen = srclen;
  ex_tx_execute(ctx, w, evt); /* the transaction now owns the request */
  if (w->tr->orig_request == NULL)
    return;
  req = w->tr->orig_request;
  if (is_invite) {
    if (ex_to_tag(req) != NULL)
      in_dialog_request(ctx, w, 1);
    else
      new_call(ctx, w);
  } else if (MSG_IS_CANCEL(req)) {
    cancel_request(ctx, w);
  } else if (ex_usage_request(ctx, w)) {
    /* taken by the usage it belongs to (usage.c) */
  } else if (ex_to_tag(req) != NULL) {
    in_dialog_request(ctx, w, 0);
  } else {
    reply(ctx, w, 481, NULL); /* a BYE or PRACK outside any dialog */
  }
}

/* Resend the ACK of the dialog that a retransmitted 2xx belongs to. */
static void reack(struct eXosip_t *ctx, const osip_message_t *resp)
{
  char cid[512];
  struct ex_dialog *dlg = ex_dialog_lookup(ctx, ex_callid(resp, cid, sizeof(cid)), ex_from_tag(resp), ex_to_tag(resp));
  if (dlg != NULL && dlg->ack_buf != NULL && dlg->ack_cseq == cseq_number(resp))
    ex_send_raw(ctx, &dlg->ack_dest, dlg->ack_buf, dlg->ack_len);
}

void ex_handle_response(struct eXosip_t *ctx, osip_event_t *evt)
{
  osip_message_t *resp = evt->sip;
  char *key = ex_client_key(resp);
  struct ex_tx *w = key != NULL ? ex_hmap_get_str(&ctx->tx_by_key, key) : NULL;
  if (w != NULL && ex_dns_stale(ctx, w, key, resp))
    w = NULL; /* an answer to the branch of a target failover has left (dns.c): not w's */
  free(key);
  if (w != NULL && w->kind == NICT)
    ex_netopt_learn(ctx, resp); /* hook (netopts.c): EXOSIP_OPT_AUTO_MASQUERADE_CONTACT */
  if (w == NULL || (w->kind != ICT && w->kind != NICT)) {
    /* hook (fork.c): a 2xx of another branch of a forked INVITE, or a retransmission */
    if (resp->status_code >= 200 && resp->status_code < 300 && resp->cseq != NULL
        && osip_strcasecmp(resp->cseq->method, "INVITE") == 0 && !ex_fork_2xx(ctx, resp))
      reack(ctx, resp);
    osip_event_free(evt);
    return;
  }
  if (resp->status_code == 503 && ex_dns_on_503(ctx, w, resp)) {
    osip_event_free(evt); /* RFC 3263: the next server of the name gets the request (dns.c) */
    return;
  }
  ex_tx_execute(ctx, w, evt);
}

/* The dialog an answer to our INVITE belongs to, created when it is the first of its kind. */
static struct ex_dialog *uac_dialog(struct eXosip_t *ctx, struct ex_call *call, osip_message_t *resp)
{
  struct ex_dialog *dlg;
  osip_dialog_t *d = NULL;
  char cid[512];
  if (ex_to_tag(resp) == NULL)
    return NULL;
  dlg = ex_dialog_lookup(ctx, ex_callid(resp, cid, sizeof(cid)), ex_from_tag(resp), ex_to_tag(resp));
  if (dlg != NULL)
    return dlg;
  if (osip_dialog_init_as_uac(&d, resp) != 0)
    return NULL;
  if (ex_dialog_new(ctx, call, d, &dlg) != OSIP_SUCCESS) {
    osip_dialog_free(d);
    return NULL;
  }
  return dlg;
}

static int has_confirmed_dialog(const struct ex_call *call)
{
  const struct ex_dialog *d;
  for (d = call->dialogs; d != NULL; d = d->next)
    if (d->d != NULL && d->d->state == DIALOG_CONFIRMED)
      return 1;
  return 0;
}

static eXosip_event_type_t by_class(int status, eXosip_event_type_t base_ok)
{
  return ex_event_by_class(status, base_ok);
}

static void ict_after(struct eXosip_t *ctx, struct ex_tx *w, int cb)
{
  struct ex_call *call = ex_call_by_cid(ctx, w->cid);
  osip_message_t *req = w->tr->orig_request, *resp = w->tr->last_response;
  struct ex_dialog *dlg = NULL;
  int initial;
  if (call == NULL)
    return;
  initial = call->inv_tid == w->tid;
  switch (cb) {
  case OSIP_ICT_STATUS_1XX_RECEIVED:
    if (resp == NULL)
      return;
    if (resp->status_code > 100 && initial)
      dlg = uac_dialog(ctx, call, resp);
    else
      dlg = ex_dialog_by_did(ctx, w->did);
    if (ex_prack_uac_1xx(ctx, dlg, resp)) /* hook (prack.c): a reliable 1xx seen again */
      return;
    if (initial)
      ex_invite_got_1xx(ctx, call); /* hook (invite.c): a CANCEL that waited for this */
    ex_event_emit(ctx, resp->status_code >= 180 && resp->status_code <= 183 ? EXOSIP_CALL_RINGING
                                                                              : EXOSIP_CALL_PROCEEDING,
                  call, dlg, w->tid, req, resp, NULL);
    return;
  case OSIP_ICT_STATUS_2XX_RECEIVED:
    if (resp == NULL)
      return;
    dlg = initial ? uac_dialog(ctx, call, resp) : ex_dialog_by_did(ctx, w->did);
    if (initial)
      call->final_received = 1;
    if (dlg != NULL) {
      char *sdp = ex_body_string(resp);
      osip_dialog_set_state(dlg->d, DIALOG_CONFIRMED);
      osip_dialog_update_route_set_as_uac(dlg->d, resp);
      if (initial)
        ex_dialog_keep_preroute(ctx, dlg, req); /* hook (netopts.c): EXOSIP_OPT_REMOVE_PREROUTESET */
      dlg->last_traffic = ex_now_us();
      ex_dialog_idle_arm(ctx, dlg);
      if (dlg->inv_tid > 0 && ex_hmap_get_int(&ctx->dialogs_by_invtid, dlg->inv_tid) == dlg)
        ex_hmap_del_int(&ctx->dialogs_by_invtid, dlg->inv_tid);
      dlg->inv_tid = w->tid;
      dlg->inv_cseq = cseq_number(resp);
      ex_hmap_put_int(&ctx->dialogs_by_invtid, w->tid, dlg);
      if (sdp != NULL) {
        free(dlg->remote_sdp);
        dlg->remote_sdp = sdp;
      }
      ex_dialog_set_local_sdp(dlg, req != NULL ? ex_body_string(req) : NULL); /* our offer in the INVITE */
    }
    if (initial && ex_invite_2xx_after_cancel(ctx, call, dlg)) /* hook (invite.c) */
      return;
    ex_event_emit(ctx, EXOSIP_CALL_ANSWERED, call, dlg, w->tid, req, resp, NULL);
    ex_st_2xx_received(ctx, w, dlg, req, resp); /* hook (session_timer.c) */
    return;
  case OSIP_ICT_STATUS_3XX_RECEIVED:
  case OSIP_ICT_STATUS_4XX_RECEIVED:
  case OSIP_ICT_STATUS_5XX_RECEIVED:
  case OSIP_ICT_STATUS_6XX_RECEIVED:
    if (resp == NULL)
      return;
    dlg = ex_dialog_by_did(ctx, w->did);
    if (dlg == NULL && call->dialogs != NULL)
      dlg = call->dialogs;
    if (initial)
      call->final_received = 1;
    ex_st_refresh_failed(ctx, w, dlg); /* hook (session_timer.c) */
    {
      /* hook (retry.c): a challenge, redirection or 422 that eXosip_automatic_action answers keeps the call */
      int again = ex_retry_note(ctx, w, resp);
      ex_event_emit(ctx, by_class(resp->status_code, EXOSIP_CALL_ANSWERED), call, dlg, w->tid, req, resp, NULL);
      if (initial && !has_confirmed_dialog(call) && !again)
        ex_call_release(ctx, call, 1);
    }
    return;
  case OSIP_ICT_STATUS_TIMEOUT:
    if (initial)
      call->final_received = 1;
    ex_event_emit(ctx, EXOSIP_CALL_NOANSWER, call, call->dialogs, w->tid, req, NULL, NULL);
    if (initial && !has_confirmed_dialog(call))
      ex_call_release(ctx, call, 1);
    return;
  case OSIP_ICT_STATUS_2XX_RECEIVED_AGAIN:
    if (resp != NULL)
      reack(ctx, resp);
    return;
  default:
    return;
  }
}

static void nict_after(struct eXosip_t *ctx, struct ex_tx *w, int cb)
{
  osip_message_t *req = w->tr->orig_request, *resp = w->tr->last_response;
  struct ex_call *call = w->cid > 0 ? ex_call_by_cid(ctx, w->cid) : NULL;
  struct ex_dialog *dlg = ex_dialog_by_did(ctx, w->did);
  int final = 0, status = 0;
  eXosip_event_type_t type;

  if (w->is_cancel_of_call)
    return;
  if (w->cid <= 0) {
    ex_usage_nict_after(ctx, w, cb); /* outside calls: the usage it belongs to (usage.c) */
    return;
  }
  switch (cb) {
  case OSIP_NICT_STATUS_1XX_RECEIVED:
  case OSIP_NICT_STATUS_2XX_RECEIVED:
  case OSIP_NICT_STATUS_3XX_RECEIVED:
  case OSIP_NICT_STATUS_4XX_RECEIVED:
  case OSIP_NICT_STATUS_5XX_RECEIVED:
  case OSIP_NICT_STATUS_6XX_RECEIVED:
    if (resp == NULL)
      return;
    status = resp->status_code;
    final = status >= 200;
    break;
  case OSIP_NICT_STATUS_TIMEOUT:
    final = 1;
    status = 408;
    resp = NULL;
    break;
  default:
    return;
  }
  {
    int again;
    if (call == NULL)
      return; /* the call is gone already */
    /* hook (retry.c): a BYE sent again with credentials keeps the call until its own answer */
    again = final && resp != NULL && ex_retry_note(ctx, w, resp);
    if (final && MSG_IS_UPDATE(req)) { /* hook (session_timer.c) */
      if (resp != NULL && status < 300)
        ex_st_2xx_received(ctx, w, dlg, req, resp);
      else
        ex_st_refresh_failed(ctx, w, dlg);
    }
    type = by_class(status, EXOSIP_CALL_MESSAGE_ANSWERED);
    ex_event_emit(ctx, type, call, dlg, w->tid, req, resp, NULL);
    /* hook (fork.c): the BYE of one branch of a forked call leaves the others up */
    if (final && MSG_IS_BYE(req) && !again && !ex_call_other_dialog_up(call, dlg))
      ex_call_release(ctx, call, 1);
  }
}

void ex_tu_after(struct eXosip_t *ctx, struct ex_tx *w, int cb)
{
  if (w->kind == ICT)
    ict_after(ctx, w, cb);
  else if (w->kind == NICT)
    nict_after(ctx, w, cb);
}
