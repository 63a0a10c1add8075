/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Subscriptions and publications with the eXosip2 5.3 C API between two contexts over 127.0.0.1:
 * a subscribes to b (presence, Expires 4), b accepts and notifies, a's automatic actions refresh,
 * a unsubscribes, b sends the final NOTIFY; then a PUBLISH whose SIP-ETag comes back as
 * SIP-If-Match, and a REFER outside dialogs refused. Usage: subscribe_publish udp|tcp.
 * Exit status 0 when every check passes.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <eXosip2/eXosip.h>

static int failures;
/* both contexts: each wait runs the automatic actions of both, as an event loop per context would */
static struct eXosip_t *ctxs[2];

#define CHECK_COUNTS_FAILURES
#include "check.h"

/* The next event of ctx of type want within ms, running the automatic actions meanwhile. */
static eXosip_event_t *expect(struct eXosip_t *ctx, eXosip_event_type_t want, int ms, const char *what)
{
  int waited;
  for (waited = 0; waited < ms; waited += 50) {
    eXosip_event_t *ev = eXosip_event_wait(ctx, 0, 50);
    int i;
    for (i = 0; i < 2; i++) {
      eXosip_lock(ctxs[i]);
      eXosip_automatic_action(ctxs[i]);
      eXosip_unlock(ctxs[i]);
    }
    if (ev == NULL)
      continue;
    if (ev->type == want)
      return ev;
    if (ev->type == EXOSIP_SUBSCRIPTION_PROCEEDING || ev->type == EXOSIP_MESSAGE_PROCEEDING) {
      eXosip_event_free(ev);
      continue;
    }
    fprintf(stderr, "%s: expected event %d, got %d (%s)\n", what, want, ev->type, ev->textinfo);
    failures++;
    eXosip_event_free(ev);
    return NULL;
  }
  fprintf(stderr, "%s: no event %d within %d ms\n", what, want, ms);
  failures++;
  return NULL;
}

static const char *header(osip_message_t *m, const char *name)
{
  osip_header_t *h = NULL;
  if (m == NULL)
    return NULL;
  osip_message_header_get_byname(m, name, 0, &h);
  return h != NULL ? h->hvalue : NULL;
}

int main(int argc, char **argv)
{
  int proto = argc > 1 && strcmp(argv[1], "tcp") == 0 ? IPPROTO_TCP : IPPROTO_UDP;
  struct eXosip_t *a = eXosip_malloc(), *b = eXosip_malloc();
  char a_uri[128], b_uri[128];
  osip_message_t *m = NULL;
  eXosip_event_t *ev;
  int pa, pb, sid, did_a = 0, did_b = 0, nid = 0, tid;
  struct eXosip_stats st;
  const char *v;

  CHECK(a != NULL && b != NULL);
  CHECK(eXosip_init(a) == 0 && eXosip_init(b) == 0);
  ctxs[0] = a;
  ctxs[1] = b;
  pa = eXosip_find_free_port(a, 0, proto);
  CHECK(eXosip_listen_addr(a, proto, "127.0.0.1", pa, AF_INET, 0) == 0);
  pb = eXosip_find_free_port(b, 0, proto);
  CHECK(eXosip_listen_addr(b, proto, "127.0.0.1", pb, AF_INET, 0) == 0);
  snprintf(a_uri, sizeof(a_uri), "sip:alice@127.0.0.1:%d%s", pa, proto == IPPROTO_TCP ? ";transport=tcp" : "");
  snprintf(b_uri, sizeof(b_uri), "sip:bob@127.0.0.1:%d%s", pb, proto == IPPROTO_TCP ? ";transport=tcp" : "");

  /* SUBSCRIBE, 200, NOTIFY */
  eXosip_lock(a);
  CHECK(eXosip_subscription_build_initial_subscribe(a, &m, b_uri, a_uri, NULL, "presence", 4) == 0);
  sid = eXosip_subscription_send_initial_request(a, m);
  eXosip_unlock(a);
  CHECK(sid > 0);
  ev = expect(b, EXOSIP_IN_SUBSCRIPTION_NEW, 3000, "SUBSCRIBE at b");
  if (ev != NULL) {
    did_b = ev->did;
    nid = ev->nid;
    CHECK(did_b > 0 && nid > 0);
    eXosip_lock(b);
    CHECK(eXosip_insubscription_build_answer(b, ev->tid, 200, &m) == 0);
    CHECK(m != NULL && header(m, "expires") != NULL && strcmp(header(m, "expires"), "4") == 0);
    CHECK(eXosip_insubscription_send_answer(b, ev->tid, 200, m) == 0);
    CHECK(eXosip_insubscription_build_notify(b, did_b, EXOSIP_SUBCRSTATE_ACTIVE, DEACTIVATED, &m) == 0);
    osip_message_set_content_type(m, "application/pidf+xml");
    osip_message_set_body(m, "<presence/>", 11);
    CHECK(eXosip_insubscription_send_request(b, did_b, m) == 0);
    CHECK(eXosip_insubscription_build_notify(b, did_b, EXOSIP_SUBCRSTATE_ACTIVE, 0, &m) == OSIP_WRONG_STATE);
    eXosip_unlock(b);
    eXosip_event_free(ev);
  }
  ev = expect(a, EXOSIP_SUBSCRIPTION_ANSWERED, 3000, "200 at a");
  if (ev != NULL) {
    CHECK(ev->sid == sid && ev->did > 0);
    did_a = ev->did;
    eXosip_event_free(ev);
  }
  ev = expect(a, EXOSIP_SUBSCRIPTION_NOTIFY, 3000, "NOTIFY at a");
  if (ev != NULL) {
    CHECK(ev->sid == sid && ev->did == did_a && ev->ss_status == EXOSIP_SUBCRSTATE_ACTIVE);
    v = header(ev->request, "subscription-state");
    CHECK(v != NULL && strncmp(v, "active;expires=", 15) == 0);
    eXosip_event_free(ev);
  }
  ev = expect(b, EXOSIP_NOTIFICATION_ANSWERED, 3000, "200 to NOTIFY at b");
  if (ev != NULL) {
    CHECK(ev->did == did_b && ev->nid == nid);
    eXosip_event_free(ev);
  }

  /* the refresh comes from a's automatic actions, on the same dialog */
  ev = expect(b, EXOSIP_IN_SUBSCRIPTION_NEW, 5000, "refresh at b");
  if (ev != NULL) {
    CHECK(ev->did == did_b && ev->nid == nid);
    eXosip_lock(b);
    CHECK(eXosip_insubscription_send_answer(b, ev->tid, 200, NULL) == 0);
    eXosip_unlock(b);
    eXosip_event_free(ev);
  }
  ev = expect(a, EXOSIP_SUBSCRIPTION_ANSWERED, 3000, "refresh answered at a");
  if (ev != NULL)
    eXosip_event_free(ev);

  /* unsubscribe, final NOTIFY */
  eXosip_lock(a);
  CHECK(eXosip_subscription_build_refresh_request(a, did_a, &m) == 0);
  if (m != NULL)
    osip_message_replace_header(m, "Expires", "0");
  CHECK(eXosip_subscription_send_refresh_request(a, did_a, m) == 0);
  eXosip_unlock(a);
  ev = expect(b, EXOSIP_IN_SUBSCRIPTION_NEW, 3000, "unsubscribe at b");
  if (ev != NULL) {
    v = header(ev->request, "expires");
    CHECK(v != NULL && strcmp(v, "0") == 0);
    eXosip_lock(b);
    CHECK(eXosip_insubscription_send_answer(b, ev->tid, 200, NULL) == 0);
    CHECK(eXosip_insubscription_build_notify(b, did_b, EXOSIP_SUBCRSTATE_TERMINATED, TIMEOUT, &m) == 0);
    CHECK(eXosip_insubscription_send_request(b, did_b, m) == 0);
    eXosip_unlock(b);
    eXosip_event_free(ev);
  }
  ev = expect(a, EXOSIP_SUBSCRIPTION_ANSWERED, 3000, "unsubscribe answered at a");
  if (ev != NULL)
    eXosip_event_free(ev);
  ev = expect(a, EXOSIP_SUBSCRIPTION_NOTIFY, 3000, "final NOTIFY at a");
  if (ev != NULL) {
    CHECK(ev->ss_status == EXOSIP_SUBCRSTATE_TERMINATED && ev->ss_reason == TIMEOUT);
    eXosip_event_free(ev);
  }
  ev = expect(b, EXOSIP_NOTIFICATION_ANSWERED, 3000, "final NOTIFY answered at b");
  if (ev != NULL)
    eXosip_event_free(ev);
  eXosip_lock(a);
  CHECK(eXosip_subscription_remove(a, did_a) == OSIP_NOTFOUND);
  CHECK(eXosip_set_option(a, EXOSIP_OPT_GET_STATISTICS, &st) == 0 && st.allocated_subscriptions == 0);
  eXosip_unlock(a);
  eXosip_lock(b);
  CHECK(eXosip_insubscription_remove(b, did_b) == OSIP_NOTFOUND);
  CHECK(eXosip_set_option(b, EXOSIP_OPT_GET_STATISTICS, &st) == 0 && st.allocated_insubscriptions == 0);
  eXosip_unlock(b);

  /* PUBLISH: SIP-ETag, then SIP-If-Match */
  eXosip_lock(a);
  CHECK(eXosip_build_publish(a, &m, b_uri, a_uri, NULL, "presence", "60", "text/plain", "open") == 0);
  tid = eXosip_publish(a, m, b_uri);
  eXosip_unlock(a);
  CHECK(tid > 0);
  ev = expect(b, EXOSIP_MESSAGE_NEW, 3000, "PUBLISH at b");
  if (ev != NULL) {
    CHECK(header(ev->request, "sip-if-match") == NULL);
    eXosip_lock(b);
    CHECK(eXosip_message_build_answer(b, ev->tid, 200, &m) == 0);
    osip_message_set_header(m, "SIP-ETag", "tag-1");
    CHECK(eXosip_message_send_answer(b, ev->tid, 200, m) == 0);
    eXosip_unlock(b);
    eXosip_event_free(ev);
  }
  ev = expect(a, EXOSIP_MESSAGE_ANSWERED, 3000, "PUBLISH answered at a");
  if (ev != NULL) {
    CHECK(ev->tid == tid);
    eXosip_event_free(ev);
  }
  eXosip_lock(a);
  CHECK(eXosip_build_publish(a, &m, b_uri, a_uri, NULL, "presence", "0", NULL, NULL) == 0);
  CHECK(eXosip_publish(a, m, b_uri) > 0);
  CHECK(eXosip_build_publish(a, &m, b_uri, a_uri, NULL, "presence", "60", NULL, "body without type")
        == OSIP_BADPARAMETER);
  eXosip_unlock(a);
  ev = expect(b, EXOSIP_MESSAGE_NEW, 3000, "PUBLISH refresh at b");
  if (ev != NULL) {
    v = header(ev->request, "sip-if-match");
    CHECK(v != NULL && strcmp(v, "tag-1") == 0);
    eXosip_lock(b);
    CHECK(eXosip_message_send_answer(b, ev->tid, 200, NULL) == 0);
    eXosip_unlock(b);
    eXosip_event_free(ev);
  }
  ev = expect(a, EXOSIP_MESSAGE_ANSWERED, 3000, "removal answered at a");
  if (ev != NULL)
    eXosip_event_free(ev);
  eXosip_lock(a);
  CHECK(eXosip_set_option(a, EXOSIP_OPT_GET_STATISTICS, &st) == 0 && st.allocated_publications == 0);
  eXosip_unlock(a);

  /* REFER outside dialogs: refused, the subscription it would have made is gone */
  eXosip_lock(a);
  CHECK(eXosip_subscription_build_initial_refer(a, &m, b_uri, a_uri, NULL, "sip:carol@127.0.0.1") == 0);
  sid = eXosip_subscription_send_initial_request(a, m);
  eXosip_unlock(a);
  CHECK(sid > 0);
  ev = expect(b, EXOSIP_MESSAGE_NEW, 3000, "REFER at b");
  if (ev != NULL) {
    eXosip_lock(b);
    CHECK(eXosip_message_send_answer(b, ev->tid, 603, NULL) == 0);
    eXosip_unlock(b);
    eXosip_event_free(ev);
  }
  ev = expect(a, EXOSIP_SUBSCRIPTION_GLOBALFAILURE, 3000, "REFER refused at a");
  if (ev != NULL) {
    CHECK(ev->sid == sid);
    eXosip_event_free(ev);
  }
  eXosip_lock(a);
  CHECK(eXosip_set_option(a, EXOSIP_OPT_GET_STATISTICS, &st) == 0 && st.allocated_subscriptions == 0);
  eXosip_unlock(a);

  /* a subscription left open is freed by eXosip_quit */
  eXosip_lock(a);
  CHECK(eXosip_subscription_build_initial_subscribe(a, &m, b_uri, a_uri, NULL, "dialog", 60) == 0);
  CHECK(eXosip_subscription_send_initial_request(a, m) > 0);
  eXosip_unlock(a);
  ev = expect(b, EXOSIP_IN_SUBSCRIPTION_NEW, 3000, "dialog SUBSCRIBE at b");
  if (ev != NULL) {
    eXosip_lock(b);
    CHECK(eXosip_insubscription_automatic(b, ev) == 0);
    eXosip_unlock(b);
    eXosip_event_free(ev);
  }
  ev = expect(a, EXOSIP_SUBSCRIPTION_ANSWERED, 3000, "dialog answered at a");
  if (ev != NULL)
    eXosip_event_free(ev);
  ev = expect(a, EXOSIP_SUBSCRIPTION_NOTIFY, 3000, "dialog-info at a");
  if (ev != NULL) {
    osip_content_type_t *ct = osip_message_get_content_type(ev->request);
    CHECK(ct != NULL && ct->subtype != NULL && strcmp(ct->subtype, "dialog-info+xml") == 0);
    eXosip_event_free(ev);
  }

  eXosip_quit(a); /* eXosip2 5.3's contract: the caller frees the struct */
  osip_free(a);
  eXosip_quit(b);
  osip_free(b);
  if (failures == 0)
    printf("all checks passed\n");
  return failures == 0 ? 0 : 1;
}
