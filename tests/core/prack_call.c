/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A program written for eXosip2 5.3 that uses reliable provisional responses and session timers:
 * alice calls bob over 127.0.0.1 with Supported: 100rel, timer and Session-Expires: 90. Bob answers
 * with a 183 carrying SDP and Require: 100rel, then at once with 200 (which the core holds until the
 * PRACK is answered). Alice PRACKs the 183 with eXosip_call_build_prack / eXosip_call_send_prack
 * (a second PRACK for it is refused, a 1xx without RSeq cannot be PRACKed), bob answers the PRACK,
 * alice gets the 200 with Session-Expires: 90;refresher=uac and Require: timer, ACKs, hangs up.
 *
 * prack_call udp|tcp
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
static struct {
  int rel_1xx, pracks_sent, pracks_at_bob, answered, acked, closed, released, cid, did;
  int prack_answered_before_200;
  char rack[64], session_expires[64];
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
  if (je->type == EXOSIP_CALL_ACK) {
    st.acked++;
    return;
  }
  if (je->type == EXOSIP_CALL_MESSAGE_NEW && je->request != NULL && MSG_IS_PRACK(je->request)) {
    osip_header_t *rack = NULL;
    st.pracks_at_bob++;
    osip_message_header_get_byname(je->request, "RAck", 0, &rack);
    CHECK(rack != NULL && rack->hvalue != NULL);
    snprintf(st.rack, sizeof(st.rack), "%s", rack->hvalue);
    CHECK(eXosip_call_build_answer(bob, je->tid, 200, &answer) == 0);
    CHECK(eXosip_call_send_answer(bob, je->tid, 200, answer) == 0);
    return;
  }
  if (je->type != EXOSIP_CALL_INVITE)
    return;
  CHECK(eXosip_call_build_answer(bob, je->tid, 183, &answer) == 0);
  osip_message_set_require(answer, "100rel");
  osip_message_set_body(answer, sdp, strlen(sdp));
  osip_message_set_content_type(answer, "application/sdp");
  CHECK(eXosip_call_send_answer(bob, je->tid, 183, answer) == 0);
  /* a second reliable 1xx before the PRACK of the first is refused (RFC 3262 3) */
  CHECK(eXosip_call_build_answer(bob, je->tid, 180, &answer) == 0);
  osip_message_set_require(answer, "100rel");
  CHECK(eXosip_call_send_answer(bob, je->tid, 180, answer) == OSIP_WRONG_STATE);
  CHECK(eXosip_call_build_answer(bob, je->tid, 200, &answer) == 0);
  osip_message_set_body(answer, sdp, strlen(sdp));
  osip_message_set_content_type(answer, "application/sdp");
  CHECK(eXosip_call_send_answer(bob, je->tid, 200, answer) == 0); /* held until the PRACK is answered */
}

static void on_alice(eXosip_event_t *je)
{
  osip_message_t *ack = NULL, *prack = NULL, *copy = NULL;
  osip_header_t *rseq = NULL, *h = NULL;
  int status = je->response != NULL ? je->response->status_code : 0, pos;
  switch (je->type) {
  case EXOSIP_CALL_RINGING:
    osip_message_header_get_byname(je->response, "RSeq", 0, &rseq);
    CHECK(status == 183 && rseq != NULL);
    st.rel_1xx++;
    /* without RSeq there is nothing to PRACK */
    CHECK(osip_message_clone(je->response, &copy) == 0);
    while ((pos = osip_message_header_get_byname(copy, "RSeq", 0, &h)) >= 0 && h != NULL) {
      osip_list_remove(&copy->headers, pos);
      osip_header_free(h);
      h = NULL;
    }
    CHECK(eXosip_call_build_prack(alice, je->tid, copy, &prack) == OSIP_WRONG_FORMAT && prack == NULL);
    osip_message_free(copy);
    CHECK(eXosip_call_build_prack(alice, je->tid, je->response, &prack) == 0);
    CHECK(eXosip_call_send_prack(alice, je->tid, prack) == 0);
    st.pracks_sent++;
    CHECK(eXosip_call_build_prack(alice, je->tid, je->response, &prack) == OSIP_WRONG_STATE);
    break;
  case EXOSIP_CALL_MESSAGE_ANSWERED:
    if (je->request != NULL && MSG_IS_PRACK(je->request)) {
      CHECK(status == 200 && st.answered == 0);
      st.prack_answered_before_200 = 1;
    } else {
      st.closed++;
    }
    break;
  case EXOSIP_CALL_ANSWERED:
    CHECK(je->cid == st.cid && status == 200);
    st.answered++;
    st.did = je->did;
    osip_message_header_get_byname(je->response, "Session-Expires", 0, &h);
    CHECK(h != NULL && h->hvalue != NULL);
    snprintf(st.session_expires, sizeof(st.session_expires), "%s", h->hvalue);
    h = NULL;
    osip_message_header_get_byname(je->response, "Require", 0, &h);
    CHECK(h != NULL && h->hvalue != NULL && strstr(h->hvalue, "timer") != NULL);
    CHECK(eXosip_call_build_ack(alice, je->tid, &ack) == 0);
    CHECK(eXosip_call_send_ack(alice, je->tid, ack) == 0);
    /* answered finally: no PRACK any more */
    CHECK(eXosip_call_build_prack(alice, je->tid, je->response, &prack) == OSIP_WRONG_STATE);
    break;
  case EXOSIP_CALL_RELEASED: st.released++; break;
  case EXOSIP_CALL_REQUESTFAILURE:
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
  osip_message_t *inv = NULL, *prack = NULL;
  char to[128];
  int proto, bob_port, force = 1;
  if (argc != 2) {
    fprintf(stderr, "usage: prack_call udp|tcp\n");
    return 2;
  }
  proto = strcmp(argv[1], "tcp") == 0 ? IPPROTO_TCP : IPPROTO_UDP;
  alice = eXosip_malloc();
  bob = eXosip_malloc();
  CHECK(alice != NULL && bob != NULL && eXosip_init(alice) == 0 && eXosip_init(bob) == 0);
  CHECK(eXosip_set_option(alice, EXOSIP_OPT_SET_SESSIONTIMERS_FORCE, &force) == 0);
  CHECK(eXosip_listen_addr(alice, proto, "127.0.0.1", 0, AF_INET, 0) == 0);
  bob_port = eXosip_find_free_port(bob, 0, proto);
  CHECK(bob_port > 0);
  CHECK(eXosip_listen_addr(bob, proto, "127.0.0.1", bob_port, AF_INET, 0) == 0);
  /* bad arguments */
  CHECK(eXosip_call_build_prack(alice, -1, NULL, &prack) == OSIP_BADPARAMETER);
  CHECK(eXosip_call_build_prack(alice, 12345, NULL, &prack) == OSIP_BADPARAMETER);
  CHECK(eXosip_call_send_prack(alice, 12345, NULL) == OSIP_BADPARAMETER);

  snprintf(to, sizeof(to), "sip:bob@127.0.0.1:%d%s", bob_port, proto == IPPROTO_TCP ? ";transport=tcp" : "");
  eXosip_lock(alice);
  CHECK(eXosip_call_build_initial_invite(alice, &inv, to, "sip:alice@127.0.0.1", NULL, NULL) == 0);
  osip_message_set_supported(inv, "100rel");
  osip_message_set_supported(inv, "timer");
  osip_message_set_header(inv, "Session-Expires", "90");
  osip_message_set_body(inv, sdp, strlen(sdp));
  osip_message_set_content_type(inv, "application/sdp");
  st.cid = eXosip_call_send_initial_invite(alice, inv);
  eXosip_unlock(alice);
  CHECK(st.cid > 0);
  run_until(&st.acked, 1, 10000, "the answered call");
  CHECK(st.rel_1xx == 1 && st.pracks_sent == 1 && st.pracks_at_bob == 1 && st.answered == 1);
  CHECK(st.prack_answered_before_200 == 1);
  CHECK(strstr(st.rack, " INVITE") != NULL);
  CHECK(strcmp(st.session_expires, "90;refresher=uac") == 0);

  eXosip_lock(alice);
  CHECK(eXosip_call_terminate(alice, st.cid, st.did) == 0);
  eXosip_unlock(alice);
  run_until(&st.released, 1, 10000, "the end of the call");
  CHECK(st.closed == 1);
  printf("reliable_1xx=%d pracks=%d rack=%s session_expires=%s\n", st.rel_1xx, st.pracks_sent, st.rack,
         st.session_expires);
  eXosip_quit(alice); /* eXosip2 5.3's contract: the caller frees the struct */
  osip_free(alice);
  eXosip_quit(bob);
  osip_free(bob);
  printf("all checks passed\n");
  return 0;
}
