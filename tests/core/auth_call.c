/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Two contexts call each other through a registrar/proxy that demands credentials
 * (Kamailio with INVITE, MESSAGE and in-dialog authentication): bob registers, alice calls him,
 * sends a re-INVITE, an INFO, a MESSAGE and finally a BYE. The INVITE and the MESSAGE (outside the
 * dialog) are refused once with 407 and go out again with credentials from eXosip_automatic_action;
 * the requests inside the dialog (re-INVITE, INFO, BYE) carry credentials for the INVITE's challenge
 * from the start, as eXosip2 5.3 adds them (eXosip_call_build_request, eXosip_call_terminate), and
 * are never challenged.
 *
 * auth_call HOST PORT udp|tcp [wrong]
 *
 * With "wrong", alice's password is wrong: her INVITE is sent twice (407, then 403) and the call
 * is released; nothing is sent a third time.
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

static struct eXosip_t *alice, *bob;
static char registrar[128], alice_aor[128], bob_aor[128];

static struct {
  int bob_registered, invite_407, reinvite_407, message_407, bye_407;
  int answered, acks_at_bob, reinvites_at_bob, messages_at_bob, message_ok, bye_ok, closed_at_bob, released;
  int cid, did, forbidden, stray, removed_rid, info_407, infos_at_bob, info_ok;
} st;

#include "check.h"

static long long now_ms(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (long long) ts.tv_sec * 1000LL + ts.tv_nsec / 1000000LL;
}

static const char sdp[] = "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
                          "m=audio 40000 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n";

static void with_sdp(osip_message_t *m)
{
  osip_message_set_body(m, sdp, strlen(sdp));
  osip_message_set_content_type(m, "application/sdp");
}

static int status_of(const eXosip_event_t *je)
{
  return je->response != NULL ? je->response->status_code : 0;
}

static void on_bob(eXosip_event_t *je)
{
  osip_message_t *answer = NULL;
  switch (je->type) {
  case EXOSIP_REGISTRATION_SUCCESS: st.bob_registered++; break;
  case EXOSIP_MESSAGE_ANSWERED:
  case EXOSIP_MESSAGE_REQUESTFAILURE: st.stray++; break; /* answers to a removed registration's REGISTER */
  case EXOSIP_REGISTRATION_FAILURE:
    CHECK(status_of(je) == 401);
    if (st.removed_rid > 0 && je->rid == st.removed_rid)
      st.stray++;
    break;
  case EXOSIP_CALL_INVITE:
  case EXOSIP_CALL_REINVITE:
    if (je->type == EXOSIP_CALL_REINVITE)
      st.reinvites_at_bob++;
    CHECK(eXosip_call_build_answer(bob, je->tid, 200, &answer) == 0);
    with_sdp(answer);
    CHECK(eXosip_call_send_answer(bob, je->tid, 200, answer) == 0);
    break;
  case EXOSIP_CALL_ACK: st.acks_at_bob++; break;
  case EXOSIP_CALL_MESSAGE_NEW:
    if (je->request != NULL && MSG_IS_INFO(je->request)) {
      st.infos_at_bob++;
      CHECK(eXosip_call_build_answer(bob, je->tid, 200, &answer) == 0);
      CHECK(eXosip_call_send_answer(bob, je->tid, 200, answer) == 0);
    }
    break;
  case EXOSIP_MESSAGE_NEW:
    if (je->request != NULL && MSG_IS_MESSAGE(je->request)) {
      st.messages_at_bob++;
      CHECK(eXosip_message_send_answer(bob, je->tid, 200, NULL) == 0);
    }
    break;
  case EXOSIP_CALL_CLOSED: st.closed_at_bob++; break;
  default: break;
  }
}

static void on_alice(eXosip_event_t *je)
{
  osip_message_t *ack = NULL;
  int status = status_of(je);
  const osip_message_t *req = je->request;
  switch (je->type) {
  case EXOSIP_CALL_REQUESTFAILURE:
    if (status == 403) {
      st.forbidden++;
      break;
    }
    CHECK(status == 407 && req != NULL);
    CHECK(je->cid == st.cid);
    if (osip_message_get_to(req) != NULL && osip_list_size(&req->to->gen_params) > 0)
      st.reinvite_407++;
    else
      st.invite_407++;
    break;
  case EXOSIP_CALL_ANSWERED:
    CHECK(je->cid == st.cid);
    st.answered++;
    st.did = je->did;
    CHECK(eXosip_call_build_ack(alice, je->tid, &ack) == 0);
    CHECK(eXosip_call_send_ack(alice, je->tid, ack) == 0);
    break;
  case EXOSIP_CALL_MESSAGE_REQUESTFAILURE:
    CHECK(status == 407 && req != NULL && (MSG_IS_BYE(req) || MSG_IS_INFO(req)));
    if (MSG_IS_BYE(req))
      st.bye_407++;
    else
      st.info_407++;
    break;
  case EXOSIP_CALL_MESSAGE_ANSWERED:
    if (req != NULL && MSG_IS_BYE(req))
      st.bye_ok = 1;
    if (req != NULL && MSG_IS_INFO(req))
      st.info_ok = 1;
    break;
  case EXOSIP_MESSAGE_REQUESTFAILURE:
    CHECK(status == 407);
    st.message_407++;
    break;
  case EXOSIP_MESSAGE_ANSWERED: st.message_ok = 1; break;
  case EXOSIP_CALL_RELEASED: st.released = 1; break;
  case EXOSIP_CALL_SERVERFAILURE:
  case EXOSIP_CALL_GLOBALFAILURE:
  case EXOSIP_CALL_NOANSWER:
  case EXOSIP_MESSAGE_SERVERFAILURE:
  case EXOSIP_MESSAGE_GLOBALFAILURE:
  case EXOSIP_CALL_MESSAGE_SERVERFAILURE:
    fprintf(stderr, "alice: unexpected event %d status %d\n", je->type, status);
    exit(1);
  default: break;
  }
}

/* Drain both contexts once and run their automatic actions. */
static void pump(void)
{
  eXosip_event_t *je;
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
  eXosip_lock(alice);
  eXosip_automatic_action(alice);
  eXosip_unlock(alice);
  eXosip_lock(bob);
  eXosip_automatic_action(bob);
  eXosip_unlock(bob);
}

/* Pump until *flag reaches want (bounded). */
static void run_until(const int *flag, int want, int timeout_ms, const char *what)
{
  long long end = now_ms() + timeout_ms;
  while (*flag < want) {
    if (now_ms() > end) {
      fprintf(stderr, "timed out waiting for %s\n", what);
      exit(1);
    }
    pump();
  }
}

static struct eXosip_t *start(int proto)
{
  struct eXosip_t *ctx = eXosip_malloc();
  CHECK(ctx != NULL && eXosip_init(ctx) == 0);
  CHECK(eXosip_listen_addr(ctx, proto, "127.0.0.1", 0, AF_INET, 0) == 0);
  return ctx;
}

int main(int argc, char **argv)
{
  osip_message_t *m = NULL;
  int proto, rid, wrong;
  if (argc != 4 && argc != 5) {
    fprintf(stderr, "usage: auth_call HOST PORT udp|tcp [wrong]\n");
    return 2;
  }
  proto = strcmp(argv[3], "tcp") == 0 ? IPPROTO_TCP : IPPROTO_UDP;
  wrong = argc == 5 && strcmp(argv[4], "wrong") == 0;
  snprintf(registrar, sizeof(registrar), "sip:%s:%s", argv[1], argv[2]);
  snprintf(alice_aor, sizeof(alice_aor), "sip:alice@%s:%s", argv[1], argv[2]);
  snprintf(bob_aor, sizeof(bob_aor), "sip:bob@%s:%s", argv[1], argv[2]);
  alice = start(proto);
  bob = start(proto);
  CHECK(eXosip_add_authentication_info(alice, "alice", "alice", wrong ? "not-alicepw" : "alicepw", NULL, NULL) == 0);
  CHECK(eXosip_add_authentication_info(bob, "bob", "bob", "bobpw", NULL, argv[1]) == 0);

  /* bob registers (401, then credentials) */
  eXosip_lock(bob);
  rid = eXosip_register_build_initial_register(bob, bob_aor, registrar, NULL, 120, &m);
  CHECK(rid > 0);
  CHECK(eXosip_register_send_register(bob, rid, m) == 0);
  eXosip_unlock(bob);
  run_until(&st.bob_registered, 1, 10000, "bob's registration");

  /* alice calls bob: 407, INVITE again with credentials in the same call, 200, ACK */
  eXosip_lock(alice);
  CHECK(eXosip_call_build_initial_invite(alice, &m, bob_aor, alice_aor, NULL, "auth test") == 0);
  with_sdp(m);
  st.cid = eXosip_call_send_initial_invite(alice, m);
  eXosip_unlock(alice);
  CHECK(st.cid > 0);
  if (wrong) {
    long long settle;
    run_until(&st.released, 1, 10000, "the refused call's release");
    CHECK(st.invite_407 == 1 && st.forbidden == 1 && st.answered == 0);
    /* nothing more may go out: keep both contexts running a moment */
    settle = now_ms() + 1500;
    while (now_ms() < settle)
      pump();
    CHECK(st.invite_407 == 1 && st.forbidden == 1);
    printf("invite_407=%d forbidden=%d\n", st.invite_407, st.forbidden);
    eXosip_quit(alice);
    osip_free(alice);
    eXosip_quit(bob);
    osip_free(bob);
    printf("all checks passed\n");
    return 0;
  }
  run_until(&st.acks_at_bob, 1, 10000, "the call");
  CHECK(st.invite_407 == 1 && st.answered == 1);

  /* a re-INVITE: credentials of the INVITE's challenge added when it is built, no 407 */
  eXosip_lock(alice);
  CHECK(eXosip_call_build_request(alice, st.did, "INVITE", &m) == 0);
  with_sdp(m);
  CHECK(eXosip_call_send_request(alice, st.did, m) == OSIP_SUCCESS);
  eXosip_unlock(alice);
  run_until(&st.acks_at_bob, 2, 10000, "the re-INVITE");
  CHECK(st.reinvite_407 == 0 && st.reinvites_at_bob == 1 && st.answered == 2);

  /* an INFO inside the dialog */
  eXosip_lock(alice);
  CHECK(eXosip_call_build_info(alice, st.did, &m) == 0);
  osip_message_set_body(m, "Signal=5\r\nDuration=160\r\n", 26);
  osip_message_set_content_type(m, "application/dtmf-relay");
  CHECK(eXosip_call_send_request(alice, st.did, m) == OSIP_SUCCESS);
  eXosip_unlock(alice);
  run_until(&st.info_ok, 1, 10000, "the INFO");
  CHECK(st.info_407 == 0 && st.infos_at_bob == 1);

  /* a MESSAGE outside the dialog */
  eXosip_lock(alice);
  CHECK(eXosip_message_build_request(alice, &m, "MESSAGE", bob_aor, alice_aor, NULL) == 0);
  osip_message_set_body(m, "hello", 5);
  osip_message_set_content_type(m, "text/plain");
  CHECK(eXosip_message_send_request(alice, m) > 0);
  eXosip_unlock(alice);
  run_until(&st.message_ok, 1, 10000, "the MESSAGE");
  CHECK(st.message_407 == 1 && st.messages_at_bob == 1);

  /* BYE: with credentials from the start; the call ends on both sides */
  eXosip_lock(alice);
  CHECK(eXosip_call_terminate(alice, st.cid, st.did) == 0);
  eXosip_unlock(alice);
  run_until(&st.released, 1, 10000, "the end of the call");
  run_until(&st.closed_at_bob, 1, 5000, "bob's side of the end");
  CHECK(st.bye_407 == 0 && st.bye_ok == 1);

  /* bob leaves the registrar */
  eXosip_lock(bob);
  CHECK(eXosip_register_build_register(bob, rid, 0, &m) == 0);
  CHECK(eXosip_register_send_register(bob, rid, m) == 0);
  eXosip_unlock(bob);
  run_until(&st.bob_registered, 2, 5000, "bob's unregistration");
  {
    /* the registration is counted until it is removed */
    struct eXosip_stats stats;
    CHECK(eXosip_set_option(bob, EXOSIP_OPT_GET_STATISTICS, &stats) == 0);
    CHECK(stats.allocated_registrations == 1 && stats.average_registrations > 0);
    eXosip_lock(bob);
    CHECK(eXosip_register_remove(bob, rid) == 0);
    CHECK(eXosip_register_remove(bob, rid) == OSIP_NOTFOUND);
    CHECK(eXosip_register_build_register(bob, rid, 60, &m) == OSIP_NOTFOUND && m == NULL);
    eXosip_unlock(bob);
    CHECK(eXosip_set_option(bob, EXOSIP_OPT_GET_STATISTICS, &stats) == 0);
    CHECK(stats.allocated_registrations == 0);
    /* credentials: removal by user and realm, then clearing */
    CHECK(eXosip_remove_authentication_info(alice, "alice", "other.realm") == OSIP_NOTFOUND);
    CHECK(eXosip_remove_authentication_info(alice, "alice", NULL) == 0);
    CHECK(eXosip_add_authentication_info(alice, "alice", NULL, NULL, NULL, NULL) == OSIP_BADPARAMETER);
    CHECK(eXosip_add_authentication_info(alice, "alice", NULL, NULL, "0123", NULL) == OSIP_BADPARAMETER);
    CHECK(eXosip_clear_authentication_info(bob) == 0);
  }
  {
    /* a registration removed while its REGISTER waits: the answer is swallowed, nothing is reported */
    long long settle;
    int rid2;
    eXosip_lock(bob);
    rid2 = eXosip_register_build_initial_register(bob, bob_aor, registrar, NULL, 60, &m);
    CHECK(rid2 > rid);
    CHECK(eXosip_register_send_register(bob, rid2, m) == 0);
    CHECK(eXosip_register_remove(bob, rid2) == 0);
    CHECK(eXosip_register_build_register(bob, rid2, 60, &m) == OSIP_NOTFOUND);
    eXosip_unlock(bob);
    st.removed_rid = rid2;
    settle = now_ms() + 1000;
    while (now_ms() < settle)
      pump();
    CHECK(st.stray == 0);
  }

  printf("invite_407=%d reinvite_407=%d info_407=%d message_407=%d bye_407=%d answered=%d\n", st.invite_407,
         st.reinvite_407, st.info_407, st.message_407, st.bye_407, st.answered);
  eXosip_quit(alice);
  osip_free(alice);
  eXosip_quit(bob);
  osip_free(bob);
  printf("all checks passed\n");
  return 0;
}
