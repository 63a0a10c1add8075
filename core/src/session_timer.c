/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Session timers (RFC 4028), with eXosip2 5.3's division of work: the program puts Session-Expires
 * (and Supported: timer, Min-SE) in its INVITE; the core reads the answer and keeps the timer.
 *
 * - UAC: a 2xx with Session-Expires starts the timer; `refresher=uac` (or no refresher) makes us
 *   the refresher, `refresher=uas` the peer. A 2xx without one starts no timer, unless
 *   EXOSIP_OPT_SET_SESSIONTIMERS_FORCE is set: then we refresh with the interval we asked for.
 * - UAS: when the program answers an INVITE (or UPDATE) carrying Session-Expires with a 2xx that
 *   has none, the core adds `Session-Expires: N;refresher=R` (R from the request, else uac when the
 *   peer supports timer, uas when it does not) and `Require: timer` when the peer supports it.
 *   A new INVITE asking for less than our minimum is refused with 422 and Min-SE (prack.c).
 * - Intervals below EXOSIP_CORE_OPT_MIN_SESSION_EXPIRES (default 90 s, the RFC's floor) are raised
 *   to it.
 * - From eXosip_automatic_action: the refresher sends its refresh (UPDATE when the peer allows it,
 *   else a re-INVITE with the last local SDP, which the core acknowledges itself) once 45% of the
 *   interval has passed; each 2xx to a refresh, in either direction, starts a new interval. When
 *   the interval nearly runs out (interval - min(32 s, interval/3)) without a refresh, the call is
 *   ended with BYE: the program sees EXOSIP_CALL_CLOSED, then EXOSIP_CALL_RELEASED.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "exosip_internal.h"

/* refresher parameter values */
#define REF_NONE (-1)
#define REF_UAC 0
#define REF_UAS 1

static osip_header_t *se_header(const osip_message_t *msg)
{
  osip_header_t *h = NULL;
  osip_message_header_get_byname(msg, "session-expires", 0, &h);
  if (h == NULL)
    osip_message_header_get_byname(msg, "x", 0, &h);
  return h;
}

/* Seconds of a Session-Expires header (0 when absent or malformed) and its refresher. */
static int se_parse(const osip_message_t *msg, int *refresher)
{
  osip_header_t *h = se_header(msg);
  const char *p;
  char *end = NULL;
  long v;
  *refresher = REF_NONE;
  if (h == NULL || h->hvalue == NULL)
    return 0;
  p = h->hvalue;
  while (isspace((unsigned char) *p))
    p++;
  if (!isdigit((unsigned char) *p))
    return 0;
  v = strtol(p, &end, 10);
  if (v <= 0 || v > 86400 * 7)
    return 0;
  while (end != NULL && *end != '\0') {
    const char *semi = strchr(end, ';');
    if (semi == NULL)
      break;
    end = (char *) semi + 1;
    while (isspace((unsigned char) *end))
      end++;
    if (osip_strncasecmp(end, "refresher", 9) == 0) {
      const char *eq = strchr(end, '=');
      if (eq != NULL) {
        eq++;
        while (isspace((unsigned char) *eq))
          eq++;
        if (osip_strncasecmp(eq, "uac", 3) == 0)
          *refresher = REF_UAC;
        else if (osip_strncasecmp(eq, "uas", 3) == 0)
          *refresher = REF_UAS;
      }
    }
  }
  return (int) v;
}

static int allows_update(const osip_message_t *msg)
{
  int i;
  for (i = 0; i < osip_list_size(&msg->allows); i++) {
    osip_allow_t *a = osip_list_get(&msg->allows, i);
    if (a != NULL && a->value != NULL && osip_strcasecmp(a->value, "UPDATE") == 0)
      return 1;
  }
  return ex_header_has_token(msg, "allow", NULL, "UPDATE");
}

static void st_start(struct eXosip_t *ctx, struct ex_dialog *dlg, int secs, int we_refresh)
{
  if (secs < ctx->limits.min_session_expires)
    secs = ctx->limits.min_session_expires;
  if (dlg->st_interval == 0)
    ctx->st_active++;
  dlg->st_interval = secs;
  dlg->st_refresher = we_refresh;
  dlg->st_start = ex_now_us();
  dlg->st_refresh_tid = 0;
}

static void st_stop(struct eXosip_t *ctx, struct ex_dialog *dlg)
{
  if (dlg->st_interval != 0 && ctx->st_active > 0)
    ctx->st_active--;
  dlg->st_interval = 0;
  dlg->st_refresh_tid = 0;
}

void ex_st_2xx_received(struct eXosip_t *ctx, struct ex_tx *w, struct ex_dialog *dlg,
                        const osip_message_t *req, const osip_message_t *resp)
{
  int ref_req, ref_resp, asked, got, own_refresh;
  if (dlg == NULL || req == NULL || resp == NULL)
    return;
  own_refresh = w->tid != 0 && w->tid == dlg->st_refresh_tid;
  asked = se_parse(req, &ref_req);
  got = se_parse(resp, &ref_resp);
  if (allows_update(resp))
    dlg->st_use_update = 1;
  if (got > 0)
    st_start(ctx, dlg, got, ref_resp != REF_UAS); /* we are this transaction's UAC */
  else if (asked > 0 && ctx->sessiontimers_force)
    st_start(ctx, dlg, asked, 1);
  else if (asked > 0 || own_refresh)
    st_stop(ctx, dlg); /* the peer does not take part: no timer */
  if (own_refresh)
    dlg->st_refresh_tid = 0;
  if (own_refresh && MSG_IS_INVITE(req)) {
    eXosip_call_send_ack(ctx, w->tid, NULL); /* our own refresh: acknowledged here */
  }
}

void ex_st_refresh_failed(struct eXosip_t *ctx, struct ex_tx *w, struct ex_dialog *dlg)
{
  (void) ctx;
  if (dlg != NULL && w->tid == dlg->st_refresh_tid)
    dlg->st_refresh_tid = -1; /* not tried again: the session ends at its expiry unless the peer refreshes */
}

void ex_st_2xx_sent(struct eXosip_t *ctx, struct ex_dialog *dlg, const osip_message_t *req, osip_message_t *answer)
{
  int ref_req, ref_ans, asked, got;
  int timer_ok;
  if (dlg == NULL || req == NULL || answer == NULL)
    return;
  asked = se_parse(req, &ref_req);
  got = se_parse(answer, &ref_ans);
  timer_ok = ex_header_has_token(req, "supported", "k", "timer") || ex_header_has_token(req, "require", NULL, "timer");
  if (allows_update(req))
    dlg->st_use_update = 1;
  if (got == 0 && asked > 0) {
    char buf[48];
    got = asked < ctx->limits.min_session_expires ? ctx->limits.min_session_expires : asked;
    ref_ans = ref_req != REF_NONE ? ref_req : (timer_ok ? REF_UAC : REF_UAS);
    snprintf(buf, sizeof(buf), "%d;refresher=%s", got, ref_ans == REF_UAC ? "uac" : "uas");
    osip_message_set_header(answer, "Session-Expires", buf);
    if (timer_ok && !ex_header_has_token(answer, "require", NULL, "timer"))
      osip_message_set_header(answer, "Require", "timer");
    osip_message_force_update(answer);
  }
  if (got > 0)
    st_start(ctx, dlg, got, ref_ans == REF_UAS); /* we are this transaction's UAS */
  else if (dlg->st_interval > 0)
    st_stop(ctx, dlg); /* a refresh without Session-Expires ends the timer (RFC 4028 10) */
}

static int send_refresh(struct eXosip_t *ctx, struct ex_dialog *dlg)
{
  osip_message_t *req = NULL;
  struct ex_tx *w = NULL;
  char se[48];
  int is_update = dlg->st_use_update, rc;
  rc = ex_build_request_in_dialog(ctx, dlg, is_update ? "UPDATE" : "INVITE", &req);
  if (rc != OSIP_SUCCESS)
    return rc;
  snprintf(se, sizeof(se), "%d;refresher=uac", dlg->st_interval);
  osip_message_set_header(req, "Session-Expires", se);
  osip_message_set_header(req, "Supported", "timer");
  if (!is_update && dlg->local_sdp != NULL) {
    osip_message_set_body(req, dlg->local_sdp, strlen(dlg->local_sdp));
    osip_message_set_content_type(req, "application/sdp");
  }
  rc = ex_tx_new(ctx, is_update ? NICT : ICT, req, &w);
  if (rc != OSIP_SUCCESS) {
    osip_message_free(req);
    return rc;
  }
  w->cid = dlg->call->cid;
  w->did = dlg->did;
  dlg->st_refresh_tid = w->tid;
  ex_tx_send(ctx, w, req);
  return OSIP_SUCCESS;
}

struct st_list {
  int *dids;
  size_t n, cap;
};

static void collect(void *val, void *arg)
{
  struct ex_dialog *dlg = val;
  struct st_list *l = arg;
  if (dlg->st_interval <= 0 || l->n >= l->cap)
    return;
  l->dids[l->n++] = dlg->did;
}

void ex_st_automatic(struct eXosip_t *ctx)
{
  struct st_list l;
  size_t i;
  uint64_t now;
  if (ctx->st_active <= 0)
    return;
  l.cap = (size_t) ctx->st_active;
  l.n = 0;
  l.dids = malloc(l.cap * sizeof(int));
  if (l.dids == NULL)
    return;
  ex_hmap_foreach(&ctx->dialogs_by_did, collect, &l);
  now = ex_now_us();
  for (i = 0; i < l.n; i++) {
    struct ex_dialog *dlg = ex_dialog_by_did(ctx, l.dids[i]);
    uint64_t interval, elapsed, margin;
    struct ex_call *call;
    if (dlg == NULL || dlg->st_interval <= 0 || dlg->call == NULL || dlg->call->released || dlg->d == NULL)
      continue;
    if (dlg->d->state != DIALOG_CONFIRMED) {
      if (dlg->d->state == DIALOG_CLOSE)
        st_stop(ctx, dlg);
      continue;
    }
    interval = (uint64_t) dlg->st_interval * 1000000ULL;
    elapsed = now > dlg->st_start ? now - dlg->st_start : 0;
    margin = interval / 3 < 32000000ULL ? interval / 3 : 32000000ULL;
    if (elapsed + margin >= interval) {
      /* no refresh in time: the session is over (RFC 4028 10) */
      call = dlg->call;
      st_stop(ctx, dlg);
      ex_event_emit(ctx, EXOSIP_CALL_CLOSED, call, dlg, 0, NULL, NULL, NULL);
      if (ex_send_bye(ctx, call, dlg, "SIP;cause=408;text=\"session expired\"") != OSIP_SUCCESS)
        ex_call_release(ctx, call, 1);
      continue;
    }
    if (dlg->st_refresher && dlg->st_refresh_tid == 0 && elapsed * 20 >= interval * 9)
      send_refresh(ctx, dlg);
  }
  free(l.dids);
}

void ex_st_dialog_free(struct eXosip_t *ctx, struct ex_dialog *dlg)
{
  st_stop(ctx, dlg);
}
