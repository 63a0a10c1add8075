/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A program written the way eXosip2 5.3's own tools and manual write them, run on core/:
 * - the context is released with eXosip_quit(ctx) and then freed by the caller, osip_free(ctx)
 *   (also for a context that was never initialised, and after a failed listen);
 * - a non-zero eXosip_call_send_request is a failure (5.3 returns OSIP_SUCCESS, not a tid);
 * - a request of a call other than INVITE is answered with a message built by
 *   eXosip_call_build_answer (5.3 has no default answer for it: OSIP_BADPARAMETER);
 * - an incoming BYE is reported as EXOSIP_CALL_MESSAGE_NEW (already answered 200), then
 *   EXOSIP_CALL_CLOSED; EXOSIP_CALL_INVITE carries the automatic 100 Trying as its response;
 *   EXOSIP_CALL_CANCELLED is the CANCEL's transaction;
 * - an out-of-dialog MESSAGE refused with 401 is sent again by eXosip_default_action on its
 *   failure event (5.3's eXosip_automatic_action does not), and eXosip_automatic_action called
 *   after it does not send it a second time.
 * Usage: idioms_53 udp|tcp. Exit status 0 when every check passes; meant to run under valgrind
 * or AddressSanitizer as well.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <eXosip2/eXosip.h>

static int failures;

#define CHECK_COUNTS_FAILURES
#include "check.h"

static const char *SDP = "v=0\r\no=u 1 1 IN IP4 127.0.0.1\r\ns=u\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
                         "m=audio 40000 RTP/AVP 0\r\n";

/* The next event of ctx other than a 1xx notice, which must be of type want (5 s at most). */
static eXosip_event_t *next_event(struct eXosip_t *ctx, eXosip_event_type_t want, const char *what)
{
  int i;
  for (i = 0; i < 100; i++) {
    eXosip_event_t *ev = eXosip_event_wait(ctx, 0, 50);
    if (ev == NULL)
      continue;
    if (ev->type == want)
      return ev;
    if (ev->type == EXOSIP_CALL_PROCEEDING || ev->type == EXOSIP_CALL_MESSAGE_PROCEEDING) {
      eXosip_event_free(ev);
      continue;
    }
    fprintf(stderr, "%s: expected event %d, got %d (%s)\n", what, want, ev->type, ev->textinfo);
    failures++;
    eXosip_event_free(ev);
    return NULL;
  }
  fprintf(stderr, "%s: no event %d within 5 s\n", what, want);
  failures++;
  return NULL;
}

static int call_from_b(struct eXosip_t *b, const char *to, const char *from, int proto)
{
  osip_message_t *m = NULL;
  int cid;
  eXosip_lock(b);
  CHECK(eXosip_call_build_initial_invite(b, &m, to, from, NULL, NULL) == 0);
  if (proto == IPPROTO_TCP)
    eXosip_transport_set(m, "TCP");
  osip_message_set_body(m, SDP, strlen(SDP));
  osip_message_set_content_type(m, "application/sdp");
  cid = eXosip_call_send_initial_invite(b, m);
  eXosip_unlock(b);
  CHECK(cid > 0);
  return cid;
}

int main(int argc, char **argv)
{
  int proto = argc > 1 && strcmp(argv[1], "tcp") == 0 ? IPPROTO_TCP : IPPROTO_UDP;
  struct eXosip_t *a, *b, *unused;
  int pa, pb, did_a = 0, did_b = 0, tid_inv = 0, cid_b;
  char to[128], from[128];
  osip_message_t *m = NULL;
  eXosip_event_t *ev;

  /* never initialised: quit, then the caller frees */
  unused = eXosip_malloc();
  CHECK(unused != NULL);
  eXosip_quit(unused);
  osip_free(unused);

  a = eXosip_malloc();
  b = eXosip_malloc();
  CHECK(a != NULL && b != NULL);
  if (a == NULL || b == NULL)
    return 1;
  CHECK(eXosip_init(a) == 0 && eXosip_init(b) == 0);
  pa = eXosip_find_free_port(a, 0, proto);
  pb = eXosip_find_free_port(b, 0, proto);
  CHECK(pa > 0 && pb > 0 && pa != pb);
  CHECK(eXosip_listen_addr(a, proto, "127.0.0.1", pa, AF_INET, 0) == 0);
  CHECK(eXosip_listen_addr(b, proto, "127.0.0.1", pb, AF_INET, 0) == 0);
  snprintf(to, sizeof(to), "sip:a@127.0.0.1:%d%s", pa, proto == IPPROTO_TCP ? ";transport=tcp" : "");
  snprintf(from, sizeof(from), "sip:b@127.0.0.1:%d", pb);

  /* a call: INVITE (with its 100 Trying in the event), 200, ACK */
  cid_b = call_from_b(b, to, from, proto);
  ev = next_event(a, EXOSIP_CALL_INVITE, "INVITE at a");
  if (ev != NULL) {
    CHECK(ev->request != NULL && MSG_IS_INVITE(ev->request));
    CHECK(ev->response != NULL && ev->response->status_code == 100);
    did_a = ev->did;
    tid_inv = ev->tid;
    eXosip_lock(a);
    CHECK(eXosip_call_build_answer(a, ev->tid, 200, &m) == 0);
    osip_message_set_body(m, SDP, strlen(SDP));
    osip_message_set_content_type(m, "application/sdp");
    CHECK(eXosip_call_send_answer(a, ev->tid, 200, m) == 0);
    eXosip_unlock(a);
    eXosip_event_free(ev);
  }
  ev = next_event(b, EXOSIP_CALL_ANSWERED, "200 at b");
  if (ev != NULL) {
    did_b = ev->did;
    eXosip_lock(b);
    CHECK(eXosip_call_build_ack(b, ev->tid, &m) == 0);
    CHECK(eXosip_call_send_ack(b, ev->tid, m) == 0);
    eXosip_unlock(b);
    eXosip_event_free(ev);
  }
  ev = next_event(a, EXOSIP_CALL_ACK, "ACK at a");
  if (ev != NULL)
    eXosip_event_free(ev);

  /* INFO: 5.3's eXosip_call_send_request returns 0; anything else is a failure */
  eXosip_lock(b);
  CHECK(eXosip_call_build_info(b, did_b, &m) == 0);
  if (eXosip_call_send_request(b, did_b, m) != 0) {
    fprintf(stderr, "eXosip_call_send_request failed\n");
    failures++;
  }
  CHECK(eXosip_call_send_request(b, 99999, NULL) != 0); /* and a real failure still shows */
  eXosip_unlock(b);
  ev = next_event(a, EXOSIP_CALL_MESSAGE_NEW, "INFO at a");
  if (ev != NULL) {
    CHECK(ev->request != NULL && MSG_IS_INFO(ev->request) && ev->did == did_a);
    eXosip_lock(a);
    CHECK(eXosip_call_send_answer(a, ev->tid, 200, NULL) == OSIP_BADPARAMETER);
    CHECK(eXosip_call_build_answer(a, ev->tid, 200, &m) == 0);
    CHECK(eXosip_call_send_answer(a, ev->tid, 200, m) == 0);
    eXosip_unlock(a);
    eXosip_event_free(ev);
  }
  ev = next_event(b, EXOSIP_CALL_MESSAGE_ANSWERED, "INFO answered at b");
  if (ev != NULL) {
    CHECK(ev->tid > 0 && ev->tid != tid_inv && ev->did == did_b && ev->response->status_code == 200);
    eXosip_event_free(ev);
  }

  /* b hangs up: a sees the BYE (answered), then the end of the call */
  eXosip_lock(b);
  CHECK(eXosip_call_terminate(b, cid_b, did_b) == 0);
  eXosip_unlock(b);
  ev = next_event(a, EXOSIP_CALL_MESSAGE_NEW, "BYE at a");
  if (ev != NULL) {
    CHECK(ev->request != NULL && MSG_IS_BYE(ev->request) && ev->did == did_a);
    CHECK(ev->response != NULL && ev->response->status_code == 200);
    eXosip_event_free(ev);
  }
  ev = next_event(a, EXOSIP_CALL_CLOSED, "closed at a");
  if (ev != NULL)
    eXosip_event_free(ev);
  ev = next_event(a, EXOSIP_CALL_RELEASED, "released at a");
  if (ev != NULL)
    eXosip_event_free(ev);
  ev = next_event(b, EXOSIP_CALL_MESSAGE_ANSWERED, "BYE answered at b");
  if (ev != NULL)
    eXosip_event_free(ev);
  ev = next_event(b, EXOSIP_CALL_RELEASED, "released at b");
  if (ev != NULL)
    eXosip_event_free(ev);

  /* a call cancelled by b: the event is the CANCEL's */
  cid_b = call_from_b(b, to, from, proto);
  ev = next_event(a, EXOSIP_CALL_INVITE, "INVITE 2 at a");
  if (ev != NULL) {
    tid_inv = ev->tid;
    eXosip_lock(a);
    CHECK(eXosip_call_send_answer(a, ev->tid, 180, NULL) == 0);
    eXosip_unlock(a);
    eXosip_event_free(ev);
  }
  ev = next_event(b, EXOSIP_CALL_RINGING, "180 at b");
  if (ev != NULL)
    eXosip_event_free(ev);
  eXosip_lock(b);
  CHECK(eXosip_call_terminate(b, cid_b, 0) == 0);
  eXosip_unlock(b);
  ev = next_event(a, EXOSIP_CALL_CANCELLED, "CANCEL at a");
  if (ev != NULL) {
    CHECK(ev->tid > 0 && ev->tid != tid_inv);
    CHECK(ev->request != NULL && MSG_IS_CANCEL(ev->request));
    eXosip_event_free(ev);
  }
  ev = next_event(a, EXOSIP_CALL_RELEASED, "released (2) at a");
  if (ev != NULL)
    eXosip_event_free(ev);
  ev = next_event(b, EXOSIP_CALL_REQUESTFAILURE, "487 at b");
  if (ev != NULL)
    eXosip_event_free(ev);
  ev = next_event(b, EXOSIP_CALL_RELEASED, "released (2) at b");
  if (ev != NULL)
    eXosip_event_free(ev);

  /* a MESSAGE challenged by a: the program asks eXosip_default_action for the retry, as with 5.3 */
  CHECK(eXosip_add_authentication_info(b, "b", "b", "pw", NULL, "idioms") == 0);
  eXosip_lock(b);
  CHECK(eXosip_message_build_request(b, &m, "MESSAGE", to, from, NULL) == 0);
  osip_message_set_body(m, "hi", 2);
  osip_message_set_content_type(m, "text/plain");
  CHECK(eXosip_message_send_request(b, m) > 0);
  eXosip_unlock(b);
  ev = next_event(a, EXOSIP_MESSAGE_NEW, "MESSAGE at a");
  if (ev != NULL) {
    CHECK(osip_list_size(&ev->request->authorizations) == 0);
    eXosip_lock(a);
    CHECK(eXosip_message_build_answer(a, ev->tid, 401, &m) == 0);
    osip_message_set_www_authenticate(m, "Digest realm=\"idioms\", nonce=\"n1\", algorithm=MD5");
    CHECK(eXosip_message_send_answer(a, ev->tid, 401, m) == 0);
    eXosip_unlock(a);
    eXosip_event_free(ev);
  }
  ev = next_event(b, EXOSIP_MESSAGE_REQUESTFAILURE, "401 at b");
  if (ev != NULL) {
    CHECK(ev->response->status_code == 401);
    eXosip_lock(b);
    CHECK(eXosip_default_action(b, ev) == 0);
    eXosip_automatic_action(b); /* the retry is gone already: nothing more to send */
    eXosip_unlock(b);
    eXosip_event_free(ev);
  }
  ev = next_event(a, EXOSIP_MESSAGE_NEW, "MESSAGE with credentials at a");
  if (ev != NULL) {
    CHECK(osip_list_size(&ev->request->authorizations) == 1);
    eXosip_lock(a);
    CHECK(eXosip_message_build_answer(a, ev->tid, 200, &m) == 0);
    CHECK(eXosip_message_send_answer(a, ev->tid, 200, m) == 0);
    eXosip_unlock(a);
    eXosip_event_free(ev);
  }
  ev = next_event(b, EXOSIP_MESSAGE_ANSWERED, "200 at b");
  if (ev != NULL)
    eXosip_event_free(ev);
  {
    /* a second of automatic actions: no third MESSAGE reaches a */
    int i;
    for (i = 0; i < 20; i++) {
      eXosip_lock(b);
      eXosip_automatic_action(b);
      eXosip_unlock(b);
      ev = eXosip_event_wait(a, 0, 50);
      if (ev != NULL) {
        fprintf(stderr, "unexpected event %d at a after the retry\n", ev->type);
        failures++;
        eXosip_event_free(ev);
      }
    }
  }

  /* 5.3's shutdown idiom; eXosip_quit a second time is harmless before the free */
  eXosip_quit(a);
  eXosip_quit(a);
  osip_free(a);
  eXosip_quit(b);
  osip_free(b);
  if (failures == 0)
    printf("idioms_53: all checks passed\n");
  return failures == 0 ? 0 : 1;
}
