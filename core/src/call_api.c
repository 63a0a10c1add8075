/* SPDX-License-Identifier: Apache-2.0 */
/* Public API of calls (eX_call.h), and the answer helpers shared with MESSAGE and OPTIONS. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "exosip_internal.h"
#include "regauth.h" /* hook: pre-emptive credentials */

#define API_ENTER(ctx)                                                                                     \
  do {                                                                                                     \
    if ((ctx) == NULL || !(ctx)->initialized)                                                              \
      return OSIP_BADPARAMETER;                                                                            \
    ex_ctx_lock(ctx);                                                                                      \
  } while (0)

static struct ex_call *call_of(struct eXosip_t *ctx, int cid, int did, struct ex_dialog **dlg_out)
{
  struct ex_dialog *dlg = ex_dialog_by_did(ctx, did);
  struct ex_call *call = cid > 0 ? ex_call_by_cid(ctx, cid) : NULL;
  if (call == NULL && dlg != NULL)
    call = dlg->call;
  if (dlg != NULL && call != NULL && dlg->call != call)
    dlg = NULL;
  if (dlg_out != NULL)
    *dlg_out = dlg;
  return call;
}

EXOSIP_API int eXosip_call_set_reference(struct eXosip_t *excontext, int id, void *reference)
{
  struct ex_call *call;
  int rc = OSIP_NOTFOUND;
  API_ENTER(excontext);
  call = ex_call_by_cid(excontext, id);
  if (call == NULL) {
    struct ex_dialog *dlg = ex_dialog_by_did(excontext, id);
    call = dlg != NULL ? dlg->call : NULL;
  }
  if (call != NULL) {
    call->reference = reference;
    rc = OSIP_SUCCESS;
  }
  ex_ctx_unlock(excontext);
  return rc;
}

EXOSIP_API void *eXosip_call_get_reference(struct eXosip_t *excontext, int cid)
{
  struct ex_call *call;
  void *ref = NULL;
  if (excontext == NULL || !excontext->initialized)
    return NULL;
  ex_ctx_lock(excontext);
  call = ex_call_by_cid(excontext, cid);
  if (call != NULL)
    ref = call->reference;
  ex_ctx_unlock(excontext);
  return ref;
}

EXOSIP_API int eXosip_call_build_initial_invite(struct eXosip_t *excontext, osip_message_t **invite,
                                                const char *to, const char *from, const char *route,
                                                const char *subject)
{
  int rc;
  if (invite == NULL)
    return OSIP_BADPARAMETER;
  *invite = NULL;
  API_ENTER(excontext);
  rc = ex_build_request_out(excontext, "INVITE", to, from, route, invite);
  if (rc == OSIP_SUCCESS && subject != NULL && subject[0] != '\0')
    osip_message_set_subject(*invite, subject);
  ex_ctx_unlock(excontext);
  return rc;
}

EXOSIP_API int eXosip_call_send_initial_invite(struct eXosip_t *excontext, osip_message_t *invite)
{
  struct ex_call *call = NULL;
  struct ex_tx *w = NULL;
  int rc, cid;
  if (excontext == NULL || !excontext->initialized) {
    osip_message_free(invite);
    return OSIP_BADPARAMETER;
  }
  if (invite == NULL)
    return OSIP_BADPARAMETER;
  if (!MSG_IS_INVITE(invite) || ex_to_tag(invite) != NULL) {
    osip_message_free(invite);
    return OSIP_BADPARAMETER;
  }
  ex_ctx_lock(excontext);
  rc = ex_call_new(excontext, &call);
  if (rc != OSIP_SUCCESS) {
    osip_message_free(invite);
    goto cleanup;
  }
  rc = ex_tx_new(excontext, ICT, invite, &w);
  if (rc != OSIP_SUCCESS) {
    osip_message_free(invite);
    ex_call_release(excontext, call, 0);
    goto cleanup;
  }
  call->inv_tid = w->tid;
  call->inv_cseq = invite->cseq != NULL && invite->cseq->number ? atoi(invite->cseq->number) : 0;
  ex_fork_index_call(excontext, call, invite); /* hook (fork.c): 2xx of other branches */
  w->cid = call->cid;
  cid = call->cid;
  ex_tx_send(excontext, w, invite);
  rc = cid;
cleanup:
  ex_ctx_unlock(excontext);
  return rc;
}

EXOSIP_API int eXosip_call_build_request(struct eXosip_t *excontext, int did, const char *method,
                                         osip_message_t **request)
{
  struct ex_dialog *dlg;
  int rc;
  if (request == NULL)
    return OSIP_BADPARAMETER;
  *request = NULL;
  if (method == NULL || method[0] == '\0' || strcmp(method, "ACK") == 0 || strcmp(method, "CANCEL") == 0)
    return OSIP_BADPARAMETER;
  API_ENTER(excontext);
  dlg = ex_dialog_by_did(excontext, did);
  if (dlg == NULL || dlg->d == NULL || dlg->d->state == DIALOG_CLOSE) {
    rc = OSIP_NOTFOUND;
  } else if (dlg->d->state != DIALOG_CONFIRMED && strcmp(method, "UPDATE") != 0
             && strcmp(method, "INFO") != 0 && strcmp(method, "PRACK") != 0) {
    rc = OSIP_WRONG_STATE;
  } else {
    rc = ex_build_request_in_dialog(excontext, dlg, method, request);
    if (rc == OSIP_SUCCESS)
      ex_auth_preemptive(excontext, *request); /* hook (auth.c): credentials of the dialog's challenge */
  }
  ex_ctx_unlock(excontext);
  return rc;
}

EXOSIP_API int eXosip_call_build_info(struct eXosip_t *excontext, int did, osip_message_t **request)
{
  return eXosip_call_build_request(excontext, did, "INFO", request);
}

EXOSIP_API int eXosip_call_build_options(struct eXosip_t *excontext, int did, osip_message_t **request)
{
  return eXosip_call_build_request(excontext, did, "OPTIONS", request);
}

EXOSIP_API int eXosip_call_build_update(struct eXosip_t *excontext, int did, osip_message_t **request)
{
  return eXosip_call_build_request(excontext, did, "UPDATE", request);
}

EXOSIP_API int eXosip_call_build_refer(struct eXosip_t *excontext, int did, const char *refer_to,
                                       osip_message_t **request)
{
  int rc;
  if (refer_to == NULL || refer_to[0] == '\0' || strpbrk(refer_to, "\r\n") != NULL)
    return OSIP_BADPARAMETER; /* one Refer-To line, never a second header smuggled in */
  rc = eXosip_call_build_request(excontext, did, "REFER", request);
  if (rc == OSIP_SUCCESS)
    osip_message_set_header(*request, "Refer-To", refer_to);
  return rc;
}

EXOSIP_API int eXosip_call_build_notify(struct eXosip_t *excontext, int did, int subscription_status,
                                        osip_message_t **request)
{
  const char *state;
  int rc;
  switch (subscription_status) {
  case EXOSIP_SUBCRSTATE_PENDING: state = "pending"; break;
  case EXOSIP_SUBCRSTATE_ACTIVE: state = "active"; break;
  case EXOSIP_SUBCRSTATE_TERMINATED: state = "terminated;reason=noresource"; break;
  default: return OSIP_BADPARAMETER;
  }
  rc = eXosip_call_build_request(excontext, did, "NOTIFY", request);
  if (rc == OSIP_SUCCESS)
    osip_message_set_header(*request, "Subscription-State", state);
  return rc;
}

/* Sends request in dialog did: the new transaction's tid (> 0) or a negative OSIP_* code. */
static int call_send_request(struct eXosip_t *excontext, int did, osip_message_t *request)
{
  struct ex_dialog *dlg;
  struct ex_tx *w = NULL;
  int rc, is_invite;
  if (excontext == NULL || !excontext->initialized) {
    osip_message_free(request);
    return OSIP_BADPARAMETER;
  }
  if (request == NULL)
    return OSIP_BADPARAMETER;
  if (!MSG_IS_REQUEST(request) || request->sip_method == NULL || MSG_IS_ACK(request)) {
    osip_message_free(request);
    return OSIP_BADPARAMETER;
  }
  is_invite = MSG_IS_INVITE(request);
  ex_ctx_lock(excontext);
  dlg = ex_dialog_by_did(excontext, did);
  if (dlg == NULL || dlg->call == NULL) {
    osip_message_free(request);
    rc = OSIP_NOTFOUND;
    goto cleanup;
  }
  rc = ex_tx_new(excontext, is_invite ? ICT : NICT, request, &w);
  if (rc != OSIP_SUCCESS) {
    osip_message_free(request);
    goto cleanup;
  }
  w->cid = dlg->call->cid;
  w->did = dlg->did;
  if (is_invite) {
    ex_dialog_set_local_sdp(dlg, ex_body_string(request));
    dlg->out_inv_tid = w->tid; /* invite.c: glare */
  }
  if (MSG_IS_BYE(request)) {
    ex_dialog_stop_2xx(excontext, dlg);
    osip_dialog_set_state(dlg->d, DIALOG_CLOSE);
  }
  rc = w->tid;
  ex_tx_send(excontext, w, request);
cleanup:
  ex_ctx_unlock(excontext);
  return rc;
}

/* eXosip2 5.3's contract: OSIP_SUCCESS (0) once sent, whatever the tid. */
EXOSIP_API int eXosip_call_send_request(struct eXosip_t *excontext, int did, osip_message_t *request)
{
  int rc = call_send_request(excontext, did, request);
  return rc < 0 ? rc : OSIP_SUCCESS;
}

EXOSIP_API int eXosip_core_call_send_request_tid(struct eXosip_t *excontext, int did, osip_message_t *request)
{
  return call_send_request(excontext, did, request);
}

/* The dialog whose INVITE transaction is tid (or, for programs written for 4.x, the dialog tid). */
static struct ex_dialog *dialog_for_ack(struct eXosip_t *ctx, int tid)
{
  struct ex_dialog *dlg = ex_hmap_get_int(&ctx->dialogs_by_invtid, tid);
  if (dlg == NULL) {
    struct ex_tx *w = ex_tx_by_tid(ctx, tid);
    if (w != NULL && w->kind == ICT)
      dlg = ex_dialog_by_did(ctx, w->did);
  }
  return dlg;
}

EXOSIP_API int eXosip_call_build_ack(struct eXosip_t *excontext, int tid, osip_message_t **ack)
{
  struct ex_dialog *dlg;
  int rc;
  if (ack == NULL)
    return OSIP_BADPARAMETER;
  *ack = NULL;
  API_ENTER(excontext);
  dlg = dialog_for_ack(excontext, tid);
  if (dlg == NULL)
    rc = OSIP_NOTFOUND;
  else
    rc = ex_build_request_in_dialog(excontext, dlg, "ACK", ack);
  ex_ctx_unlock(excontext);
  return rc;
}

EXOSIP_API int eXosip_call_send_ack(struct eXosip_t *excontext, int tid, osip_message_t *ack)
{
  struct ex_dialog *dlg;
  int rc;
  if (excontext == NULL || !excontext->initialized) {
    osip_message_free(ack);
    return OSIP_BADPARAMETER;
  }
  ex_ctx_lock(excontext);
  dlg = dialog_for_ack(excontext, tid);
  if (dlg == NULL) {
    osip_message_free(ack);
    rc = OSIP_NOTFOUND;
    goto cleanup;
  }
  if (ack == NULL) {
    rc = ex_build_request_in_dialog(excontext, dlg, "ACK", &ack);
    if (rc != OSIP_SUCCESS)
      goto cleanup;
  }
  if (!MSG_IS_ACK(ack)) {
    osip_message_free(ack);
    rc = OSIP_BADPARAMETER;
    goto cleanup;
  }
  rc = ex_dialog_send_ack(excontext, dlg, ack);
cleanup:
  ex_ctx_unlock(excontext);
  return rc;
}

int ex_answer_build(struct eXosip_t *ctx, int tid, int status, osip_message_t **answer)
{
  struct ex_tx *w;
  osip_message_t *req;
  const char *tag = NULL;
  char fresh[16];
  struct ex_dialog *dlg;
  int contact;

  *answer = NULL;
  if (status < 101 || status > 699)
    return OSIP_BADPARAMETER;
  w = ex_tx_by_tid(ctx, tid);
  if (w == NULL || (w->kind != IST && w->kind != NIST) || w->tr->orig_request == NULL)
    return OSIP_NOTFOUND;
  req = w->tr->orig_request;
  dlg = ex_dialog_by_did(ctx, w->did);
  if (ex_to_tag(req) == NULL) {
    if (dlg != NULL && dlg->d != NULL && dlg->d->local_tag != NULL) {
      tag = dlg->d->local_tag;
    } else {
      struct ex_call *call = ex_call_by_cid(ctx, w->cid);
      if (call != NULL && call->local_tag != NULL) {
        tag = call->local_tag;
      } else {
        ex_random_token(ctx, fresh, sizeof(fresh));
        tag = fresh;
      }
    }
  }
  contact = status < 300 && (MSG_IS_INVITE(req) || MSG_IS_UPDATE(req) || MSG_IS_SUBSCRIBE(req)
                             || MSG_IS_REFER(req) || MSG_IS_NOTIFY(req));
  return ex_build_response(ctx, req, status, tag, contact, answer);
}

int ex_answer_send(struct eXosip_t *ctx, int tid, int status, osip_message_t *answer)
{
  struct ex_tx *w = ex_tx_by_tid(ctx, tid);
  osip_message_t *req;
  struct ex_call *call;
  struct ex_dialog *dlg;
  int code, rc;

  if (w == NULL || (w->kind != IST && w->kind != NIST) || w->tr->orig_request == NULL) {
    osip_message_free(answer);
    return OSIP_NOTFOUND;
  }
  req = w->tr->orig_request;
  if (answer == NULL) {
    if (w->kind == IST && status >= 200 && status < 300)
      return OSIP_BADPARAMETER; /* a 2xx to INVITE needs a body the program builds */
    rc = ex_answer_build(ctx, tid, status, &answer);
    if (rc != OSIP_SUCCESS)
      return rc;
  }
  if (!MSG_IS_RESPONSE(answer)) {
    osip_message_free(answer);
    return OSIP_BADPARAMETER;
  }
  code = answer->status_code;
  if ((w->kind == IST && w->tr->state != IST_PRE_PROCEEDING && w->tr->state != IST_PROCEEDING)
      || (w->kind == NIST && w->tr->state != NIST_PRE_TRYING && w->tr->state != NIST_TRYING
          && w->tr->state != NIST_PROCEEDING)) {
    osip_message_free(answer);
    return OSIP_WRONG_STATE; /* already answered finally */
  }
  call = ex_call_by_cid(ctx, w->cid);
  dlg = ex_dialog_by_did(ctx, w->did);
  if (w->kind == IST) {
    int initial = call != NULL && call->inv_tid == w->tid, reliable = 0;
    /* hooks (prack.c): RSeq for a reliable 1xx; a 2xx held until the PRACK of a 1xx with SDP */
    if (code > 100 && code < 200) {
      reliable = ex_prack_uas_1xx(ctx, w, dlg, answer);
      if (reliable < 0)
        return reliable;
    } else if (code >= 200 && ex_prack_uas_final(ctx, w, dlg, answer)) {
      return OSIP_SUCCESS;
    }
    if (code >= 200 && code < 300 && dlg != NULL)
      ex_st_2xx_sent(ctx, dlg, req, answer); /* hook (session_timer.c) */
    if (code >= 200 && code < 300 && dlg != NULL) {
      ex_dialog_set_local_sdp(dlg, ex_body_string(answer));
      osip_dialog_set_state(dlg->d, DIALOG_CONFIRMED);
      if (dlg->inv_tid > 0 && dlg->inv_tid != w->tid
          && ex_hmap_get_int(&ctx->dialogs_by_srvtid, dlg->inv_tid) == dlg)
        ex_hmap_del_int(&ctx->dialogs_by_srvtid, dlg->inv_tid);
      dlg->inv_tid = w->tid;
      ex_hmap_put_int(&ctx->dialogs_by_srvtid, w->tid, dlg); /* eXosip_get_*_sdp_from_tid */
      dlg->inv_cseq = req->cseq != NULL && req->cseq->number ? atoi(req->cseq->number) : 0;
      ex_dialog_start_2xx(ctx, dlg, answer, w);
    }
    if (initial && code >= 200)
      call->final_sent = 1;
    ex_tx_send(ctx, w, answer);
    if (reliable)
      ex_prack_uas_1xx_sent(ctx, dlg);
    if (initial && code >= 300)
      ex_call_release(ctx, call, 1);
    return OSIP_SUCCESS;
  }
  {
    int is_bye = MSG_IS_BYE(req);
    int is_prack = MSG_IS_PRACK(req);
    if (code >= 200 && code < 300 && dlg != NULL && MSG_IS_UPDATE(req))
      ex_st_2xx_sent(ctx, dlg, req, answer); /* hook (session_timer.c) */
    ex_tx_send(ctx, w, answer); /* a completed NIST may retire: req is gone after this */
    if (is_prack && code >= 200)
      ex_prack_uas_prack_answered(ctx, tid, dlg); /* hook (prack.c): a 2xx held behind it */
    /* hook (fork.c): another dialog of the call may still be up */
    if (code >= 200 && call != NULL && is_bye) {
      if (dlg != NULL && dlg->d != NULL)
        osip_dialog_set_state(dlg->d, DIALOG_CLOSE);
      if (!ex_call_other_dialog_up(call, dlg))
        ex_call_release(ctx, call, 1);
    }
  }
  return OSIP_SUCCESS;
}

int ex_request_send_out(struct eXosip_t *ctx, osip_message_t *msg)
{
  struct ex_tx *w = NULL;
  int rc;
  if (!MSG_IS_REQUEST(msg) || msg->sip_method == NULL || MSG_IS_INVITE(msg) || MSG_IS_ACK(msg)
      || MSG_IS_CANCEL(msg)) {
    osip_message_free(msg);
    return OSIP_BADPARAMETER;
  }
  rc = ex_tx_new(ctx, NICT, msg, &w);
  if (rc != OSIP_SUCCESS) {
    osip_message_free(msg);
    return rc;
  }
  rc = w->tid;
  ex_tx_send(ctx, w, msg);
  return rc;
}

EXOSIP_API int eXosip_call_build_answer(struct eXosip_t *excontext, int tid, int status,
                                        osip_message_t **answer)
{
  int rc;
  if (answer == NULL)
    return OSIP_BADPARAMETER;
  *answer = NULL;
  API_ENTER(excontext);
  rc = ex_answer_build(excontext, tid, status, answer);
  ex_ctx_unlock(excontext);
  return rc;
}

EXOSIP_API int eXosip_call_send_answer(struct eXosip_t *excontext, int tid, int status,
                                       osip_message_t *answer)
{
  int rc;
  if (excontext == NULL || !excontext->initialized) {
    osip_message_free(answer);
    return OSIP_BADPARAMETER;
  }
  ex_ctx_lock(excontext);
  if (answer == NULL) {
    /* eXosip2 5.3 builds a default answer to an INVITE only: any other request of a call is
     * answered with a message from eXosip_call_build_answer */
    struct ex_tx *w = ex_tx_by_tid(excontext, tid);
    if (w != NULL && w->kind != IST) {
      ex_ctx_unlock(excontext);
      return OSIP_BADPARAMETER;
    }
  }
  rc = ex_answer_send(excontext, tid, status, answer);
  ex_ctx_unlock(excontext);
  return rc;
}

static int terminate(struct eXosip_t *ctx, int cid, int did, const char *hname, const char *hvalue)
{
  struct ex_dialog *dlg = NULL;
  struct ex_call *call = call_of(ctx, cid, did, &dlg);
  if (call == NULL || call->released)
    return OSIP_NOTFOUND;
  if (call->incoming && !call->final_sent) {
    struct ex_tx *ist = ex_tx_by_tid(ctx, call->inv_tid);
    osip_message_t *resp = NULL;
    call->final_sent = 1;
    if (ist != NULL && ist->kind == IST && ist->tr->state == IST_PROCEEDING
        && ex_build_response(ctx, ist->tr->orig_request, 603, call->local_tag, 0, &resp) == OSIP_SUCCESS) {
      if (hname != NULL && hname[0] != '\0' && hvalue != NULL && hvalue[0] != '\0')
        osip_message_set_header(resp, hname, hvalue);
      ex_tx_send(ctx, ist, resp);
    }
    ex_call_release(ctx, call, 1);
    return OSIP_SUCCESS;
  }
  if (!call->incoming && !call->final_received)
    return ex_invite_cancel(ctx, call, hname, hvalue);
  if (dlg == NULL) {
    struct ex_dialog *d;
    for (d = call->dialogs; d != NULL; d = d->next)
      if (d->d != NULL && d->d->state == DIALOG_CONFIRMED) {
        dlg = d;
        break;
      }
  }
  if (dlg == NULL || dlg->d == NULL || dlg->d->state != DIALOG_CONFIRMED) {
    ex_call_release(ctx, call, 1);
    return OSIP_SUCCESS;
  }
  return ex_send_bye_with(ctx, call, dlg, hname, hvalue);
}

EXOSIP_API int eXosip_call_terminate(struct eXosip_t *excontext, int cid, int did)
{
  int rc;
  API_ENTER(excontext);
  rc = terminate(excontext, cid, did, NULL, NULL);
  ex_ctx_unlock(excontext);
  return rc;
}

EXOSIP_API int eXosip_call_terminate_with_reason(struct eXosip_t *excontext, int cid, int did,
                                                 const char *reason)
{
  int rc;
  if (reason != NULL && strpbrk(reason, "\r\n") != NULL)
    return OSIP_BADPARAMETER; /* one Reason line, never a second header smuggled in */
  API_ENTER(excontext);
  rc = terminate(excontext, cid, did, "Reason", reason);
  ex_ctx_unlock(excontext);
  return rc;
}

EXOSIP_API int eXosip_call_terminate_with_header(struct eXosip_t *excontext, int cid, int did,
                                                 const char *header_name, const char *header_value)
{
  int rc;
  if (header_name != NULL && (header_name[0] == '\0' || strpbrk(header_name, ": \t\r\n") != NULL))
    return OSIP_BADPARAMETER;
  if (header_value != NULL && strpbrk(header_value, "\r\n") != NULL)
    return OSIP_BADPARAMETER; /* one header line, never a second one smuggled in */
  API_ENTER(excontext);
  rc = terminate(excontext, cid, did, header_name, header_value);
  ex_ctx_unlock(excontext);
  return rc;
}

/* Escape the characters of a Replaces value that cannot stand in a URI header. */
static size_t escape_into(char *out, size_t size, const char *s)
{
  static const char hex[] = "0123456789ABCDEF";
  size_t n = 0;
  for (; *s; s++) {
    unsigned char c = (unsigned char) *s;
    int plain = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')
                || strchr("-_.!~*'()[]/:+$", c) != NULL;
    if (plain) {
      if (n + 1 < size)
        out[n] = (char) c;
      n++;
    } else {
      if (n + 3 < size) {
        out[n] = '%';
        out[n + 1] = hex[c >> 4];
        out[n + 2] = hex[c & 15];
      }
      n += 3;
    }
  }
  if (size > 0)
    out[n < size ? n : size - 1] = '\0';
  return n;
}

EXOSIP_API int eXosip_call_get_referto(struct eXosip_t *excontext, int did, char *refer_to, size_t refer_to_len)
{
  struct ex_dialog *dlg;
  char *uri = NULL, replaces[1024], escaped[3072];
  int rc = OSIP_SUCCESS;
  if (refer_to == NULL || refer_to_len == 0)
    return OSIP_BADPARAMETER;
  API_ENTER(excontext);
  dlg = ex_dialog_by_did(excontext, did);
  if (dlg == NULL || dlg->d == NULL || dlg->d->remote_uri == NULL) {
    rc = OSIP_NOTFOUND;
    goto cleanup;
  }
  if (osip_uri_to_str(dlg->d->remote_uri->url, &uri) != 0 || uri == NULL) {
    rc = OSIP_SYNTAXERROR;
    goto cleanup;
  }
  snprintf(replaces, sizeof(replaces), "%s;to-tag=%s;from-tag=%s", dlg->d->call_id,
           dlg->d->remote_tag ? dlg->d->remote_tag : "", dlg->d->local_tag ? dlg->d->local_tag : "");
  escape_into(escaped, sizeof(escaped), replaces);
  if ((size_t) snprintf(refer_to, refer_to_len, "<%s?Replaces=%s>", uri, escaped) >= refer_to_len)
    rc = OSIP_BADPARAMETER;
  osip_free(uri);
cleanup:
  ex_ctx_unlock(excontext);
  return rc;
}

/* Decode %XX escapes in place. */
static void unescape(char *s)
{
  char *w = s;
  for (; *s; s++) {
    if (s[0] == '%' && s[1] && s[2]) {
      char hex[3] = {s[1], s[2], 0};
      *w++ = (char) strtol(hex, NULL, 16);
      s += 2;
    } else {
      *w++ = *s;
    }
  }
  *w = '\0';
}

EXOSIP_API int eXosip_call_find_by_replaces(struct eXosip_t *excontext, char *replaces)
{
  char buf[1024], *callid, *p, *to_tag = NULL, *from_tag = NULL;
  struct ex_dialog *dlg;
  int rc = OSIP_NOTFOUND;
  if (replaces == NULL)
    return OSIP_BADPARAMETER;
  snprintf(buf, sizeof(buf), "%s", replaces);
  unescape(buf);
  callid = buf;
  while (*callid == ' ')
    callid++;
  p = strchr(callid, ';');
  if (p == NULL)
    return OSIP_BADPARAMETER;
  *p++ = '\0';
  while (p != NULL && *p) {
    char *next = strchr(p, ';');
    if (next != NULL)
      *next++ = '\0';
    while (*p == ' ')
      p++;
    if (osip_strncasecmp(p, "to-tag=", 7) == 0)
      to_tag = p + 7;
    else if (osip_strncasecmp(p, "from-tag=", 9) == 0)
      from_tag = p + 9;
    p = next;
  }
  if (to_tag == NULL || from_tag == NULL)
    return OSIP_BADPARAMETER;
  API_ENTER(excontext);
  /* to-tag names our side of the dialog, from-tag the peer's */
  dlg = ex_dialog_lookup(excontext, callid, to_tag, from_tag);
  if (dlg != NULL && dlg->call != NULL)
    rc = dlg->call->cid;
  ex_ctx_unlock(excontext);
  return rc;
}
