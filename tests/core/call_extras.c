/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The eXosip2 5.3 functions added with forking and the INVITE rules, through the public API only:
 * eXosip_set_socket (alice runs on a UDP socket the program bound), eXosip_execute,
 * eXosip_get_remote_sdp_from_tid / _local_sdp_from_tid, eXosip_get_previous_local_sdp,
 * eXosip_get_audio_connection / _video_connection, eXosip_call_terminate_with_header (the header
 * reaches the peer in the BYE), eXosip_reset_transports, and the three random generators.
 * Usage: call_extras. Exit status 0 when every check passes.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <eXosip2/eXosip.h>
#include <eXosip2/eX_core.h>

static int failures;

#define CHECK_COUNTS_FAILURES
#include "check.h"

static const char *SDP_1 = "v=0\r\no=a 1 1 IN IP4 127.0.0.1\r\ns=a\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
                           "m=audio 40000 RTP/AVP 0\r\n";
static const char *SDP_2 = "v=0\r\no=a 1 2 IN IP4 127.0.0.2\r\ns=a\r\nc=IN IP4 127.0.0.2\r\nt=0 0\r\n"
                           "m=audio 40010 RTP/AVP 0\r\n";
static const char *SDP_B = "v=0\r\no=b 1 1 IN IP4 127.0.0.1\r\ns=b\r\nt=0 0\r\n"
                           "m=audio 40002 RTP/AVP 0\r\nc=IN IP4 127.0.0.3\r\nm=video 40004 RTP/AVP 96\r\n"
                           "c=IN IP4 127.0.0.4\r\n";

static eXosip_event_t *expect(struct eXosip_t *ctx, eXosip_event_type_t want, const char *what)
{
  int i;
  for (i = 0; i < 100; i++) {
    eXosip_event_t *ev = eXosip_event_wait(ctx, 0, 50);
    eXosip_execute(ctx);
    if (ev == NULL)
      continue;
    if (ev->type == want)
      return ev;
    if (ev->type == EXOSIP_CALL_PROCEEDING || ev->type == EXOSIP_CALL_MESSAGE_PROCEEDING) {
      eXosip_event_free(ev);
      continue;
    }
    fprintf(stderr, "%s: expected event %d, got %d\n", what, want, ev->type);
    failures++;
    eXosip_event_free(ev);
    return NULL;
  }
  fprintf(stderr, "%s: no event %d within 5 s\n", what, want);
  failures++;
  return NULL;
}

static int sdp_port(sdp_message_t *sdp)
{
  sdp_media_t *m = eXosip_get_audio_media(sdp);
  int port = m != NULL && m->m_port != NULL ? atoi(m->m_port) : -1;
  sdp_message_free(sdp);
  return port;
}

static void randoms(void)
{
  char buf[64], again[64];
  int i, zeros = 0;
  CHECK(eXosip_generate_random(buf, sizeof(buf)) == 0);
  CHECK(buf[0] != '\0' && strspn(buf, "0123456789") == strlen(buf) && strlen(buf) <= 10);
  CHECK(eXosip_hexa_generate_random(buf, 33, "a", "b", "c") == 0);
  CHECK(strlen(buf) == 32 && strspn(buf, "0123456789abcdef") == 32);
  CHECK(eXosip_hexa_generate_random(again, 33, NULL, NULL, NULL) == 0);
  CHECK(strcmp(buf, again) != 0);
  memset(buf, 0, sizeof(buf));
  CHECK(eXosip_byte_generate_random(buf, sizeof(buf)) == 0);
  for (i = 0; i < (int) sizeof(buf); i++)
    zeros += buf[i] == 0;
  CHECK(zeros < 8);
  CHECK(eXosip_generate_random(NULL, 8) < 0 && eXosip_byte_generate_random(buf, 0) < 0);
  CHECK(eXosip_hexa_generate_random(buf, -1, NULL, NULL, NULL) < 0);
  CHECK(eXosip_hexa_generate_random(buf, 1, NULL, NULL, NULL) == 0 && buf[0] == '\0');
}

int main(void)
{
  struct eXosip_t *a = eXosip_malloc(), *b = eXosip_malloc();
  struct sockaddr_in sin;
  socklen_t len = sizeof(sin);
  osip_message_t *inv = NULL, *ans = NULL, *ack = NULL, *re = NULL;
  eXosip_event_t *ev;
  char to[128], from[128];
  int fd, a_port, b_port, cid, did, b_tid, b_did, re_tid;
  sdp_message_t *sdp;

  randoms();
  CHECK(eXosip_execute(NULL) < 0 && eXosip_reset_transports(NULL) < 0);
  CHECK(eXosip_init(a) == 0 && eXosip_init(b) == 0);
  /* alice: a UDP socket bound by the program */
  fd = socket(AF_INET, SOCK_DGRAM, 0);
  memset(&sin, 0, sizeof(sin));
  sin.sin_family = AF_INET;
  sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  CHECK(bind(fd, (struct sockaddr *) &sin, sizeof(sin)) == 0);
  CHECK(getsockname(fd, (struct sockaddr *) &sin, &len) == 0);
  a_port = ntohs(sin.sin_port);
  CHECK(eXosip_set_socket(a, IPPROTO_TCP, fd, 0) < 0);
  CHECK(eXosip_set_socket(a, IPPROTO_UDP, -1, 0) < 0);
  CHECK(eXosip_set_socket(a, IPPROTO_UDP, fd, 0) == 0);
  CHECK(eXosip_set_socket(a, IPPROTO_UDP, fd, 0) < 0); /* one UDP socket per context */
  b_port = eXosip_find_free_port(b, 0, IPPROTO_UDP);
  CHECK(eXosip_listen_addr(b, IPPROTO_UDP, "127.0.0.1", b_port, AF_INET, 0) == 0);
  CHECK(eXosip_execute(a) == 0);

  snprintf(to, sizeof(to), "sip:bob@127.0.0.1:%d", b_port);
  snprintf(from, sizeof(from), "sip:alice@127.0.0.1:%d", a_port);
  eXosip_lock(a);
  CHECK(eXosip_call_build_initial_invite(a, &inv, to, from, NULL, "extras") == 0);
  osip_message_set_body(inv, SDP_1, strlen(SDP_1));
  osip_message_set_content_type(inv, "application/sdp");
  cid = eXosip_call_send_initial_invite(a, inv);
  eXosip_unlock(a);
  CHECK(cid > 0);

  ev = expect(b, EXOSIP_CALL_INVITE, "bob: invite");
  if (ev == NULL)
    return 1;
  b_tid = ev->tid;
  b_did = ev->did;
  eXosip_event_free(ev);
  CHECK(sdp_port(eXosip_get_remote_sdp_from_tid(b, b_tid)) == 40000);
  CHECK(eXosip_get_local_sdp_from_tid(b, b_tid) == NULL); /* not answered yet */
  eXosip_lock(b);
  CHECK(eXosip_call_build_answer(b, b_tid, 200, &ans) == 0);
  osip_message_set_body(ans, SDP_B, strlen(SDP_B));
  osip_message_set_content_type(ans, "application/sdp");
  CHECK(eXosip_call_send_answer(b, b_tid, 200, ans) == 0);
  eXosip_unlock(b);
  CHECK(sdp_port(eXosip_get_local_sdp_from_tid(b, b_tid)) == 40002);

  ev = expect(a, EXOSIP_CALL_ANSWERED, "alice: answered");
  if (ev == NULL)
    return 1;
  did = ev->did;
  CHECK(sdp_port(eXosip_get_remote_sdp_from_tid(a, ev->tid)) == 40002);
  CHECK(sdp_port(eXosip_get_local_sdp_from_tid(a, ev->tid)) == 40000);
  sdp = eXosip_get_remote_sdp(a, did);
  CHECK(sdp != NULL);
  if (sdp != NULL) {
    sdp_connection_t *ca = eXosip_get_audio_connection(sdp), *cv = eXosip_get_video_connection(sdp);
    CHECK(ca != NULL && strcmp(ca->c_addr, "127.0.0.3") == 0);
    CHECK(cv != NULL && strcmp(cv->c_addr, "127.0.0.4") == 0);
    sdp_message_free(sdp);
  }
  CHECK(eXosip_get_audio_connection(NULL) == NULL && eXosip_get_video_connection(NULL) == NULL);
  CHECK(eXosip_get_previous_local_sdp(a, did) == NULL); /* one offer so far */
  eXosip_lock(a);
  CHECK(eXosip_call_build_ack(a, ev->tid, &ack) == 0);
  CHECK(eXosip_call_send_ack(a, ev->tid, ack) == 0);
  eXosip_unlock(a);
  eXosip_event_free(ev);
  ev = expect(b, EXOSIP_CALL_ACK, "bob: ack");
  eXosip_event_free(ev);

  /* a re-INVITE with a new offer: the first one becomes the previous local SDP */
  eXosip_lock(a);
  CHECK(eXosip_call_build_request(a, did, "INVITE", &re) == 0);
  osip_message_set_body(re, SDP_2, strlen(SDP_2));
  osip_message_set_content_type(re, "application/sdp");
  /* eXosip2 5.3's eXosip_call_send_request returns 0; the tid comes from core's extension */
  re_tid = eXosip_core_call_send_request_tid(a, did, re);
  eXosip_unlock(a);
  CHECK(re_tid > 0);
  CHECK(sdp_port(eXosip_get_local_sdp(a, did)) == 40010);
  CHECK(sdp_port(eXosip_get_previous_local_sdp(a, did)) == 40000);
  CHECK(sdp_port(eXosip_get_local_sdp_from_tid(a, re_tid)) == 40010);
  ev = expect(b, EXOSIP_CALL_REINVITE, "bob: reinvite");
  if (ev != NULL) {
    CHECK(sdp_port(eXosip_get_remote_sdp_from_tid(b, ev->tid)) == 40010);
    eXosip_lock(b);
    CHECK(eXosip_call_build_answer(b, ev->tid, 200, &ans) == 0);
    osip_message_set_body(ans, SDP_B, strlen(SDP_B));
    osip_message_set_content_type(ans, "application/sdp");
    CHECK(eXosip_call_send_answer(b, ev->tid, 200, ans) == 0);
    eXosip_unlock(b);
    eXosip_event_free(ev);
  }
  ev = expect(a, EXOSIP_CALL_ANSWERED, "alice: re-INVITE answered");
  if (ev != NULL) {
    eXosip_lock(a);
    CHECK(eXosip_call_send_ack(a, ev->tid, NULL) == 0);
    eXosip_unlock(a);
    eXosip_event_free(ev);
  }
  ev = expect(b, EXOSIP_CALL_ACK, "bob: ack 2");
  eXosip_event_free(ev);
  CHECK(eXosip_get_remote_sdp_from_tid(a, 999999) == NULL && eXosip_get_local_sdp_from_tid(NULL, 1) == NULL);

  /* the network changed: the call goes on */
  CHECK(eXosip_reset_transports(a) == 0 && eXosip_reset_transports(b) == 0);

  /* BYE with a header of the program's choice; a header that would smuggle a second line is refused */
  eXosip_lock(a);
  CHECK(eXosip_call_terminate_with_header(a, cid, did, "X-Why", "done\r\nX-Evil: 1") == OSIP_BADPARAMETER);
  CHECK(eXosip_call_terminate_with_header(a, cid, did, "Bad Name", "x") == OSIP_BADPARAMETER);
  CHECK(eXosip_call_terminate_with_header(a, cid, did, "X-Why", "all said") == 0);
  eXosip_unlock(a);
  /* as in eXosip2 5.3: the BYE (answered by the stack), then the end of the call */
  ev = expect(b, EXOSIP_CALL_MESSAGE_NEW, "bob: the BYE");
  CHECK(ev == NULL || (ev->request != NULL && MSG_IS_BYE(ev->request)));
  eXosip_event_free(ev);
  ev = expect(b, EXOSIP_CALL_CLOSED, "bob: closed");
  if (ev != NULL) {
    osip_header_t *h = NULL;
    CHECK(ev->did == b_did);
    osip_message_header_get_byname(ev->request, "x-why", 0, &h);
    CHECK(h != NULL && h->hvalue != NULL && strcmp(h->hvalue, "all said") == 0);
    eXosip_event_free(ev);
  }
  ev = expect(a, EXOSIP_CALL_MESSAGE_ANSWERED, "alice: bye answered");
  eXosip_event_free(ev);
  ev = expect(a, EXOSIP_CALL_RELEASED, "alice: released");
  eXosip_event_free(ev);

  eXosip_quit(a); /* eXosip2 5.3's contract: the caller frees the struct */
  osip_free(a);
  eXosip_quit(b);
  osip_free(b);
  if (failures == 0)
    printf("all checks passed\n");
  return failures != 0;
}
