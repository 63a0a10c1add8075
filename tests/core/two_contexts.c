/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Two eXosip contexts in one process talk to each other over 127.0.0.1 (or ::1):
 * OPTIONS, MESSAGE, a call with ringing, answer, ACK, INFO, re-INVITE, Replaces lookup
 * and BYE; then a call cancelled by the caller and one declined by the callee.
 * Usage: two_contexts udp|tcp [ipv6]. Exit status 0 when every check passes.
 */
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <eXosip2/eXosip.h>

static int failures;

#define CHECK_COUNTS_FAILURES
#include "check.h"

static const char *SDP_A = "v=0\r\no=a 1 1 IN IP4 127.0.0.1\r\ns=a\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
                           "m=audio 40000 RTP/AVP 0\r\n";
static const char *SDP_B = "v=0\r\no=b 1 1 IN IP4 127.0.0.1\r\ns=b\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
                           "m=audio 40002 RTP/AVP 0\r\nm=video 40004 RTP/AVP 96\r\n";

static int skippable(eXosip_event_type_t t)
{
  return t == EXOSIP_CALL_PROCEEDING || t == EXOSIP_CALL_MESSAGE_PROCEEDING || t == EXOSIP_MESSAGE_PROCEEDING;
}

/* The next event of ctx that is not a mere 1xx notice; it must be of type `want`. */
static eXosip_event_t *expect(struct eXosip_t *ctx, eXosip_event_type_t want, const char *what)
{
  int i;
  for (i = 0; i < 100; i++) {
    eXosip_event_t *ev = eXosip_event_wait(ctx, 0, 50);
    if (ev == NULL)
      continue;
    if (ev->type == want)
      return ev;
    if (skippable(ev->type)) {
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

static void set_sdp(osip_message_t *m, const char *sdp)
{
  osip_message_set_body(m, sdp, strlen(sdp));
  osip_message_set_content_type(m, "application/sdp");
}

int main(int argc, char **argv)
{
  int proto = argc > 1 && strcmp(argv[1], "tcp") == 0 ? IPPROTO_TCP : IPPROTO_UDP;
  int v6 = argc > 2 && strcmp(argv[2], "ipv6") == 0;
  const char *ip = v6 ? "::1" : "127.0.0.1";
  int family = v6 ? AF_INET6 : AF_INET;
  struct eXosip_t *a = eXosip_malloc(), *b = eXosip_malloc();
  int pa, pb, tid, cid_b, did_a, did_b, tid_inv, ival = 0;
  char to[128], from[128], refer[512];
  osip_message_t *m = NULL;
  eXosip_event_t *ev;

  CHECK(a != NULL && b != NULL);
  CHECK(eXosip_init(a) == 0 && eXosip_init(b) == 0);
  pa = eXosip_find_free_port(a, 0, proto);
  CHECK(pa > 0);
  CHECK(eXosip_listen_addr(a, proto, ip, pa, family, 0) == 0);
  pb = eXosip_find_free_port(b, 0, proto);
  CHECK(pb > 0 && pb != pa);
  CHECK(eXosip_listen_addr(b, proto, ip, pb, family, 0) == 0);
  CHECK(eXosip_set_option(a, EXOSIP_OPT_ENABLE_AUTOANSWERBYE, &(int){1}) == 0);
  CHECK(eXosip_set_option(a, 123456, &ival) < 0);
  eXosip_set_user_agent(b, "two-contexts");
  snprintf(to, sizeof(to), v6 ? "sip:a@[%s]:%d%s" : "sip:a@%s:%d%s", ip, pa,
           proto == IPPROTO_TCP ? ";transport=tcp" : "");
  snprintf(from, sizeof(from), v6 ? "sip:b@[%s]:%d" : "sip:b@%s:%d", ip, pb);

  /* a masqueraded address is what Via and Contact advertise */
  eXosip_masquerade_contact(a, "192.0.2.7", 5099);
  eXosip_lock(a);
  CHECK(eXosip_message_build_request(a, &m, "SUBSCRIBE", from, to, NULL) == 0);
  if (m != NULL) {
    osip_via_t *via = NULL;
    osip_contact_t *contact = NULL;
    osip_message_get_via(m, 0, &via);
    osip_message_get_contact(m, 0, &contact);
    CHECK(via != NULL && strcmp(via->host, "192.0.2.7") == 0 && strcmp(via->port, "5099") == 0);
    CHECK(contact != NULL && strcmp(contact->url->host, "192.0.2.7") == 0);
    osip_message_free(m);
  }
  eXosip_unlock(a);
  eXosip_masquerade_contact(a, NULL, 0);

  /* OPTIONS outside any dialog */
  eXosip_lock(b);
  CHECK(eXosip_options_build_request(b, &m, to, from, NULL) == 0);
  if (proto == IPPROTO_TCP)
    CHECK(eXosip_transport_set(m, "TCP") == 0);
  tid = eXosip_options_send_request(b, m);
  eXosip_unlock(b);
  CHECK(tid > 0);
  {
    struct pollfd pfd = {eXosip_event_geteventsocket(a), POLLIN, 0};
    CHECK(pfd.fd >= 0);
    CHECK(poll(&pfd, 1, 5000) == 1); /* readable once the OPTIONS is queued */
  }
  ev = expect(a, EXOSIP_MESSAGE_NEW, "OPTIONS at a");
  if (ev != NULL) {
    CHECK(ev->request != NULL && MSG_IS_OPTIONS(ev->request));
    eXosip_lock(a);
    CHECK(eXosip_options_send_answer(a, ev->tid, 200, NULL) == 0);
    CHECK(eXosip_options_send_answer(a, ev->tid, 200, NULL) < 0); /* answered already */
    eXosip_unlock(a);
    eXosip_event_free(ev);
  }
  {
    struct pollfd pfd = {eXosip_event_geteventsocket(a), POLLIN, 0};
    CHECK(poll(&pfd, 1, 0) == 0); /* drained */
  }
  {
    /* b asks for its descriptor only now, after its answer has (most likely) been queued: the
     * descriptor is written only for programs that asked, and catches up on what is queued */
    struct pollfd pfd;
    usleep(200000);
    pfd.fd = eXosip_event_geteventsocket(b);
    pfd.events = POLLIN;
    pfd.revents = 0;
    CHECK(pfd.fd >= 0);
    CHECK(poll(&pfd, 1, 5000) == 1);
  }
  ev = expect(b, EXOSIP_MESSAGE_ANSWERED, "OPTIONS answered at b");
  if (ev != NULL) {
    CHECK(ev->tid == tid && ev->response != NULL && ev->response->status_code == 200);
    eXosip_event_free(ev);
  }

  /* MESSAGE outside any dialog, refused with 486 */
  eXosip_lock(b);
  CHECK(eXosip_message_build_request(b, &m, "MESSAGE", to, from, NULL) == 0);
  if (proto == IPPROTO_TCP)
    eXosip_transport_set(m, "TCP");
  osip_message_set_body(m, "hello", 5);
  osip_message_set_content_type(m, "text/plain");
  tid = eXosip_message_send_request(b, m);
  eXosip_unlock(b);
  CHECK(tid > 0);
  ev = expect(a, EXOSIP_MESSAGE_NEW, "MESSAGE at a");
  if (ev != NULL) {
    osip_body_t *body = osip_list_get(&ev->request->bodies, 0);
    CHECK(body != NULL && body->length == 5 && memcmp(body->body, "hello", 5) == 0);
    eXosip_lock(a);
    CHECK(eXosip_message_build_answer(a, ev->tid, 486, &m) == 0);
    CHECK(eXosip_message_send_answer(a, ev->tid, 486, m) == 0);
    eXosip_unlock(a);
    eXosip_event_free(ev);
  }
  ev = expect(b, EXOSIP_MESSAGE_REQUESTFAILURE, "MESSAGE refused at b");
  if (ev != NULL) {
    struct pollfd pfd = {eXosip_event_geteventsocket(b), POLLIN, 0};
    CHECK(poll(&pfd, 1, 0) == 0); /* b's queue is empty again, and so its descriptor */
    CHECK(ev->tid == tid && ev->response != NULL && ev->response->status_code == 486);
    eXosip_event_free(ev);
  }

  /* a call: ringing, answer, ACK */
  eXosip_lock(b);
  CHECK(eXosip_call_build_initial_invite(b, &m, to, from, NULL, "two contexts") == 0);
  if (proto == IPPROTO_TCP)
    eXosip_transport_set(m, "TCP");
  set_sdp(m, SDP_B);
  cid_b = eXosip_call_send_initial_invite(b, m);
  CHECK(cid_b > 0);
  CHECK(eXosip_call_set_reference(b, cid_b, &failures) == 0);
  CHECK(eXosip_call_get_reference(b, cid_b) == &failures);
  eXosip_unlock(b);
  ev = expect(a, EXOSIP_CALL_INVITE, "INVITE at a");
  did_a = 0;
  tid_inv = 0;
  if (ev != NULL) {
    sdp_message_t *sdp = eXosip_get_sdp_info(ev->request);
    CHECK(ev->cid > 0 && ev->did > 0 && ev->tid > 0);
    /* as in eXosip2 5.3, the event carries the automatic 100 Trying */
    CHECK(ev->response != NULL && ev->response->status_code == 100);
    did_a = ev->did;
    tid_inv = ev->tid;
    CHECK(sdp != NULL);
    if (sdp != NULL) {
      sdp_media_t *audio = eXosip_get_audio_media(sdp), *video = eXosip_get_video_media(sdp);
      sdp_connection_t *conn = eXosip_get_connection(sdp, "audio");
      CHECK(audio != NULL && strcmp(audio->m_port, "40002") == 0);
      CHECK(video != NULL && strcmp(video->m_port, "40004") == 0);
      CHECK(eXosip_get_media(sdp, "application") == NULL);
      CHECK(conn != NULL && strcmp(conn->c_addr, "127.0.0.1") == 0);
      sdp_message_free(sdp);
    }
    sdp = eXosip_get_remote_sdp(a, did_a);
    CHECK(sdp != NULL);
    if (sdp != NULL)
      sdp_message_free(sdp);
    eXosip_lock(a);
    CHECK(eXosip_call_send_answer(a, ev->tid, 180, NULL) == 0);
    CHECK(eXosip_call_send_answer(a, ev->tid, 200, NULL) < 0); /* a 2xx needs a built answer */
    eXosip_unlock(a);
    eXosip_event_free(ev);
  }
  ev = expect(b, EXOSIP_CALL_RINGING, "180 at b");
  if (ev != NULL) {
    CHECK(ev->cid == cid_b && ev->external_reference == &failures);
    eXosip_event_free(ev);
  }
  eXosip_lock(a);
  CHECK(eXosip_call_build_answer(a, tid_inv, 200, &m) == 0);
  if (m != NULL) {
    osip_contact_t *contact = NULL;
    set_sdp(m, SDP_A);
    osip_message_get_contact(m, 0, &contact);
    CHECK(contact != NULL && contact->url != NULL && contact->url->port != NULL && atoi(contact->url->port) == pa);
    CHECK(eXosip_call_send_answer(a, tid_inv, 200, m) == 0);
  }
  eXosip_unlock(a);
  ev = expect(b, EXOSIP_CALL_ANSWERED, "200 at b");
  did_b = 0;
  if (ev != NULL) {
    did_b = ev->did;
    CHECK(did_b > 0 && ev->cid == cid_b && ev->response->status_code == 200);
    eXosip_lock(b);
    CHECK(eXosip_call_build_ack(b, ev->tid, &m) == 0);
    CHECK(eXosip_call_send_ack(b, ev->tid, m) == 0);
    eXosip_unlock(b);
    eXosip_event_free(ev);
  }
  ev = expect(a, EXOSIP_CALL_ACK, "ACK at a");
  if (ev != NULL) {
    CHECK(ev->did == did_a && ev->ack != NULL);
    eXosip_event_free(ev);
  }
  {
    sdp_message_t *sdp = eXosip_get_remote_sdp(b, did_b);
    sdp_media_t *audio = eXosip_get_audio_media(sdp);
    CHECK(audio != NULL && strcmp(audio->m_port, "40000") == 0);
    sdp_message_free(sdp);
    sdp = eXosip_get_local_sdp(b, did_b);
    CHECK(sdp != NULL);
    sdp_message_free(sdp);
  }

  /* Replaces: a names its dialog, b finds its own call from it */
  eXosip_lock(a);
  CHECK(eXosip_call_get_referto(a, did_a, refer, sizeof(refer)) == 0);
  eXosip_unlock(a);
  {
    char *rep = strstr(refer, "?Replaces=");
    CHECK(rep != NULL);
    if (rep != NULL) {
      char value[512];
      snprintf(value, sizeof(value), "%s", rep + 10);
      value[strcspn(value, ">")] = '\0';
      CHECK(eXosip_call_find_by_replaces(b, value) == cid_b);
    }
  }

  /* INFO inside the dialog */
  eXosip_lock(b);
  CHECK(eXosip_call_build_info(b, did_b, &m) == 0);
  CHECK(eXosip_call_send_request(b, did_b, m) == OSIP_SUCCESS); /* 5.3: 0, not a tid */
  eXosip_unlock(b);
  ev = expect(a, EXOSIP_CALL_MESSAGE_NEW, "INFO at a");
  if (ev != NULL) {
    CHECK(ev->did == did_a && MSG_IS_INFO(ev->request));
    eXosip_lock(a);
    /* as in eXosip2 5.3: no default answer to a request of a call other than INVITE */
    CHECK(eXosip_call_send_answer(a, ev->tid, 200, NULL) == OSIP_BADPARAMETER);
    CHECK(eXosip_call_build_answer(a, ev->tid, 200, &m) == 0);
    CHECK(eXosip_call_send_answer(a, ev->tid, 200, m) == 0);
    eXosip_unlock(a);
    eXosip_event_free(ev);
  }
  ev = expect(b, EXOSIP_CALL_MESSAGE_ANSWERED, "INFO answered at b");
  if (ev != NULL) {
    CHECK(ev->tid > 0 && ev->did == did_b);
    eXosip_event_free(ev);
  }

  /* re-INVITE from b */
  eXosip_lock(b);
  CHECK(eXosip_call_build_request(b, did_b, "INVITE", &m) == 0);
  set_sdp(m, SDP_B);
  CHECK(eXosip_call_send_request(b, did_b, m) == OSIP_SUCCESS); /* 5.3: 0, not a tid */
  eXosip_unlock(b);
  ev = expect(a, EXOSIP_CALL_REINVITE, "re-INVITE at a");
  if (ev != NULL) {
    CHECK(ev->did == did_a);
    eXosip_lock(a);
    CHECK(eXosip_call_build_answer(a, ev->tid, 200, &m) == 0);
    set_sdp(m, SDP_A);
    CHECK(eXosip_call_send_answer(a, ev->tid, 200, m) == 0);
    eXosip_unlock(a);
    eXosip_event_free(ev);
  }
  ev = expect(b, EXOSIP_CALL_ANSWERED, "re-INVITE answered at b");
  if (ev != NULL) {
    CHECK(ev->tid > 0 && ev->did == did_b);
    eXosip_lock(b);
    CHECK(eXosip_call_send_ack(b, ev->tid, NULL) == 0);
    eXosip_unlock(b);
    eXosip_event_free(ev);
  }
  ev = expect(a, EXOSIP_CALL_ACK, "re-INVITE ACK at a");
  if (ev != NULL)
    eXosip_event_free(ev);

  /* b hangs up */
  eXosip_lock(b);
  CHECK(eXosip_call_terminate(b, cid_b, did_b) == 0);
  eXosip_unlock(b);
  /* as in eXosip2 5.3: the BYE (answered by the stack), then the end of the call */
  ev = expect(a, EXOSIP_CALL_MESSAGE_NEW, "BYE at a");
  if (ev != NULL) {
    CHECK(ev->did == did_a && ev->request != NULL && MSG_IS_BYE(ev->request));
    CHECK(ev->response != NULL && ev->response->status_code == 200);
    eXosip_event_free(ev);
  }
  ev = expect(a, EXOSIP_CALL_CLOSED, "call closed at a");
  if (ev != NULL)
    eXosip_event_free(ev);
  ev = expect(a, EXOSIP_CALL_RELEASED, "released at a");
  if (ev != NULL)
    eXosip_event_free(ev);
  ev = expect(b, EXOSIP_CALL_MESSAGE_ANSWERED, "BYE answered at b");
  if (ev != NULL)
    eXosip_event_free(ev);
  ev = expect(b, EXOSIP_CALL_RELEASED, "released at b");
  if (ev != NULL) {
    CHECK(ev->cid == cid_b);
    eXosip_event_free(ev);
  }
  eXosip_lock(b);
  CHECK(eXosip_call_build_info(b, did_b, &m) < 0); /* the dialog is gone */
  eXosip_unlock(b);

  /* a call cancelled by the caller */
  eXosip_lock(b);
  CHECK(eXosip_call_build_initial_invite(b, &m, to, from, NULL, NULL) == 0);
  if (proto == IPPROTO_TCP)
    eXosip_transport_set(m, "TCP");
  cid_b = eXosip_call_send_initial_invite(b, m);
  eXosip_unlock(b);
  ev = expect(a, EXOSIP_CALL_INVITE, "INVITE 2 at a");
  if (ev != NULL) {
    tid_inv = ev->tid;
    eXosip_lock(a);
    eXosip_call_send_answer(a, ev->tid, 180, NULL);
    eXosip_unlock(a);
    eXosip_event_free(ev);
  }
  ev = expect(b, EXOSIP_CALL_RINGING, "180 (2) at b");
  if (ev != NULL)
    eXosip_event_free(ev);
  eXosip_lock(b);
  CHECK(eXosip_call_terminate(b, cid_b, 0) == 0);
  eXosip_unlock(b);
  ev = expect(a, EXOSIP_CALL_CANCELLED, "CANCEL at a");
  if (ev != NULL) {
    /* as in eXosip2 5.3, the event is the CANCEL's transaction, not the INVITE's */
    CHECK(ev->tid > 0 && ev->tid != tid_inv);
    CHECK(ev->request != NULL && MSG_IS_CANCEL(ev->request));
    eXosip_event_free(ev);
  }
  ev = expect(a, EXOSIP_CALL_RELEASED, "released (2) at a");
  if (ev != NULL)
    eXosip_event_free(ev);
  ev = expect(b, EXOSIP_CALL_REQUESTFAILURE, "487 at b");
  if (ev != NULL) {
    CHECK(ev->response != NULL && ev->response->status_code == 487);
    eXosip_event_free(ev);
  }
  ev = expect(b, EXOSIP_CALL_RELEASED, "released (2) at b");
  if (ev != NULL)
    eXosip_event_free(ev);

  /* a call declined by the callee */
  eXosip_lock(b);
  CHECK(eXosip_call_build_initial_invite(b, &m, to, from, NULL, NULL) == 0);
  if (proto == IPPROTO_TCP)
    eXosip_transport_set(m, "TCP");
  cid_b = eXosip_call_send_initial_invite(b, m);
  eXosip_unlock(b);
  ev = expect(a, EXOSIP_CALL_INVITE, "INVITE 3 at a");
  if (ev != NULL) {
    eXosip_lock(a);
    CHECK(eXosip_call_terminate_with_reason(a, ev->cid, ev->did, "SIP;cause=603;text=\"no\"") == 0);
    eXosip_unlock(a);
    eXosip_event_free(ev);
  }
  ev = expect(b, EXOSIP_CALL_GLOBALFAILURE, "603 at b");
  if (ev != NULL) {
    CHECK(ev->response != NULL && ev->response->status_code == 603);
    eXosip_event_free(ev);
  }
  ev = expect(b, EXOSIP_CALL_RELEASED, "released (3) at b");
  if (ev != NULL)
    eXosip_event_free(ev);

  {
    struct eXosip_stats st;
    memset(&st, 0, sizeof(st));
    CHECK(eXosip_set_option(a, EXOSIP_OPT_GET_STATISTICS, &st) == 0);
    CHECK(st.allocated_calls == 0);
    CHECK(st.reserved1[0] == 0);
  }
  eXosip_quit(a);
  osip_free(a);
  eXosip_quit(b);
  osip_free(b);
  if (failures == 0)
    printf("two_contexts: all checks passed\n");
  return failures == 0 ? 0 : 1;
}
