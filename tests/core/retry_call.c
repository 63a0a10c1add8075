/* SPDX-License-Identifier: Apache-2.0 */
/*
 * eXosip_automatic_action after a redirection and a 422: alice calls bob directly over 127.0.0.1;
 * bob answers the first INVITE with 302 (Contact: the same user with a ";moved" parameter), the
 * INVITE at the new target with 422 (Min-SE: 1800) while its Session-Expires is shorter, and
 * the third with 200. Alice's call must survive both refusals and end answered, acknowledged
 * and closed by BYE. The 302 is followed by eXosip_automatic_action, the 422 by
 * eXosip_default_action, each called on the event (the retry is queued before the event is).
 *
 * retry_call udp|tcp
 *
 * Prints one line of counters and "all checks passed"; exits non-zero on the first failed check.
 * Uses only the public eXosip2 API.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <eXosip2/eXosip.h>

#include "check.h"

static struct eXosip_t *alice, *bob;
static int bob_port;
static struct {
  int invites_at_bob, redirected, refused_422, answered, acked, closed, released, cid, did;
  char session_expires[32];
} st;

static long long now_ms(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (long long) ts.tv_sec * 1000LL + ts.tv_nsec / 1000000LL;
}

static const char sdp[] = "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
                          "m=audio 40000 RTP/AVP 0\r\n";

static void on_bob(eXosip_event_t *je)
{
  osip_message_t *answer = NULL;
  osip_header_t *se = NULL;
  char contact[128];
  if (je->type == EXOSIP_CALL_ACK) {
    st.acked++;
    return;
  }
  if (je->type != EXOSIP_CALL_INVITE)
    return;
  st.invites_at_bob++;
  osip_message_header_get_byname(je->request, "session-expires", 0, &se);
  if (st.invites_at_bob == 1) {
    CHECK(eXosip_call_build_answer(bob, je->tid, 302, &answer) == 0);
    snprintf(contact, sizeof(contact), "<sip:bob@127.0.0.1:%d;moved>", bob_port);
    osip_message_set_contact(answer, contact);
    CHECK(eXosip_call_send_answer(bob, je->tid, 302, answer) == 0);
  } else if (se == NULL || se->hvalue == NULL || atoi(se->hvalue) < 1800) {
    osip_uri_param_t *moved = NULL;
    osip_uri_uparam_get_byname(je->request->req_uri, "moved", &moved);
    CHECK(moved != NULL); /* the INVITE went to the new target */
    CHECK(eXosip_call_build_answer(bob, je->tid, 422, &answer) == 0);
    osip_message_set_header(answer, "Min-SE", "1800");
    CHECK(eXosip_call_send_answer(bob, je->tid, 422, answer) == 0);
  } else {
    snprintf(st.session_expires, sizeof(st.session_expires), "%s", se->hvalue);
    CHECK(eXosip_call_build_answer(bob, je->tid, 200, &answer) == 0);
    osip_message_set_body(answer, sdp, strlen(sdp));
    osip_message_set_content_type(answer, "application/sdp");
    CHECK(eXosip_call_send_answer(bob, je->tid, 200, answer) == 0);
  }
}

static void on_alice(eXosip_event_t *je)
{
  osip_message_t *ack = NULL;
  int status = je->response != NULL ? je->response->status_code : 0;
  switch (je->type) {
  case EXOSIP_CALL_REDIRECTED:
    CHECK(status == 302 && je->cid == st.cid);
    st.redirected++;
    eXosip_automatic_action(alice); /* the new target is tried from here */
    break;
  case EXOSIP_CALL_REQUESTFAILURE:
    CHECK(status == 422 && je->cid == st.cid);
    st.refused_422++;
    /* this one is sent again at once by eXosip_default_action; a second call has nothing to do */
    CHECK(eXosip_default_action(alice, je) == 0);
    CHECK(eXosip_default_action(alice, je) == OSIP_BADPARAMETER);
    break;
  case EXOSIP_CALL_ANSWERED:
    CHECK(je->cid == st.cid);
    st.answered++;
    st.did = je->did;
    CHECK(eXosip_call_build_ack(alice, je->tid, &ack) == 0);
    CHECK(eXosip_call_send_ack(alice, je->tid, ack) == 0);
    break;
  case EXOSIP_CALL_MESSAGE_ANSWERED: st.closed++; break;
  case EXOSIP_CALL_RELEASED: st.released++; break;
  case EXOSIP_CALL_SERVERFAILURE:
  case EXOSIP_CALL_GLOBALFAILURE:
  case EXOSIP_CALL_NOANSWER:
    fprintf(stderr, "alice: unexpected event %d status %d\n", je->type, status);
    exit(1);
  default: break;
  }
}

static void run_until(const int *flag, int want, int timeout_ms, const char *what)
{
  long long end = now_ms() + timeout_ms;
  while (*flag < want) {
    eXosip_event_t *je;
    CHECK(now_ms() < end || (fprintf(stderr, "timed out: %s\n", what), 0));
    while ((je = eXosip_event_wait(bob, 0, 10)) != NULL) {
      eXosip_lock(bob);
      on_bob(je);
      eXosip_unlock(bob);
      eXosip_event_free(je);
    }
    while ((je = eXosip_event_wait(alice, 0, 10)) != NULL) {
      eXosip_lock(alice);
      on_alice(je);
      eXosip_unlock(alice);
      eXosip_event_free(je);
    }
  }
}

int main(int argc, char **argv)
{
  osip_message_t *inv = NULL;
  char to[128];
  int proto;
  if (argc != 2) {
    fprintf(stderr, "usage: retry_call udp|tcp\n");
    return 2;
  }
  proto = strcmp(argv[1], "tcp") == 0 ? IPPROTO_TCP : IPPROTO_UDP;
  alice = eXosip_malloc();
  bob = eXosip_malloc();
  CHECK(alice != NULL && bob != NULL && eXosip_init(alice) == 0 && eXosip_init(bob) == 0);
  CHECK(eXosip_listen_addr(alice, proto, "127.0.0.1", 0, AF_INET, 0) == 0);
  bob_port = eXosip_find_free_port(bob, 0, proto);
  CHECK(bob_port > 0);
  CHECK(eXosip_listen_addr(bob, proto, "127.0.0.1", bob_port, AF_INET, 0) == 0);

  snprintf(to, sizeof(to), "sip:bob@127.0.0.1:%d", bob_port);
  eXosip_lock(alice);
  CHECK(eXosip_call_build_initial_invite(alice, &inv, to, "sip:alice@127.0.0.1", NULL, NULL) == 0);
  osip_message_set_header(inv, "Session-Expires", "90");
  osip_message_set_body(inv, sdp, strlen(sdp));
  osip_message_set_content_type(inv, "application/sdp");
  st.cid = eXosip_call_send_initial_invite(alice, inv);
  eXosip_unlock(alice);
  CHECK(st.cid > 0);
  run_until(&st.acked, 1, 10000, "the answered call");
  CHECK(st.invites_at_bob == 3 && st.redirected == 1 && st.refused_422 == 1 && st.answered == 1);
  CHECK(strcmp(st.session_expires, "1800") == 0);

  eXosip_lock(alice);
  CHECK(eXosip_call_terminate(alice, st.cid, st.did) == 0);
  eXosip_unlock(alice);
  run_until(&st.released, 1, 10000, "the end of the call");
  CHECK(st.closed == 1);
  printf("invites=%d redirected=%d refused_422=%d answered=%d session_expires=%s\n", st.invites_at_bob,
         st.redirected, st.refused_422, st.answered, st.session_expires);
  eXosip_quit(alice);
  osip_free(alice);
  eXosip_quit(bob);
  osip_free(bob);
  printf("all checks passed\n");
  return 0;
}
