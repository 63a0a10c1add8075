/* SPDX-License-Identifier: Apache-2.0 */
/*
 * eXosip2 5.3's TLS API from C: eXosip_tls_ctx_t through EXOSIP_OPT_SET_TLS_CERTIFICATES_INFO and
 * eXosip_set_tls_ctx, eXosip_tls_verify_certificate / EXOSIP_OPT_SET_TLS_VERIFY_CERTIFICATE, and
 * eXosip_listen_addr(..., 1). An OPTIONS over TLS between two contexts that verify each other, then
 * one from a context that trusts another root: refused in the handshake, its transaction fails at
 * once. Usage: tls_options CA CERT KEY OTHER_CA. Exit status 0 when every check passes.
 */
#include <stdio.h>
#include <string.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <time.h>

#include <eXosip2/eXosip.h>

static int failures;

#define CHECK_COUNTS_FAILURES
#include "check.h"

static eXosip_event_t *next_event(struct eXosip_t *ctx)
{
  int i;
  for (i = 0; i < 100; i++) {
    eXosip_event_t *ev = eXosip_event_wait(ctx, 0, 50);
    if (ev != NULL && ev->type == EXOSIP_MESSAGE_PROCEEDING) {
      eXosip_event_free(ev);
      continue;
    }
    if (ev != NULL)
      return ev;
  }
  return NULL;
}

static struct eXosip_t *tls_context(const char *ca, const char *cert, const char *key, int verify, int *port)
{
  struct eXosip_t *ctx = eXosip_malloc();
  eXosip_tls_ctx_t tls;
  CHECK(ctx != NULL && eXosip_init(ctx) == 0);
  memset(&tls, 0, sizeof(tls));
  snprintf(tls.root_ca_cert, sizeof(tls.root_ca_cert), "%s", ca);
  snprintf(tls.client.cert, sizeof(tls.client.cert), "%s", cert);
  snprintf(tls.client.priv_key, sizeof(tls.client.priv_key), "%s", key);
  snprintf(tls.server.cert, sizeof(tls.server.cert), "%s", cert);
  snprintf(tls.server.priv_key, sizeof(tls.server.priv_key), "%s", key);
  CHECK(eXosip_set_option(ctx, EXOSIP_OPT_SET_TLS_CERTIFICATES_INFO, &tls) == 0);
  CHECK(eXosip_set_option(ctx, EXOSIP_OPT_SET_TLS_VERIFY_CERTIFICATE, &verify) == 0);
  *port = eXosip_find_free_port(ctx, 0, IPPROTO_TCP);
  CHECK(*port > 0);
  CHECK(eXosip_listen_addr(ctx, IPPROTO_TCP, "127.0.0.1", *port, AF_INET, 1) == 0);
  return ctx;
}

static int send_options(struct eXosip_t *ctx, int to_port, int from_port)
{
  char to[96], from[96];
  osip_message_t *m = NULL;
  int tid;
  snprintf(to, sizeof(to), "sips:a@127.0.0.1:%d", to_port);
  snprintf(from, sizeof(from), "sips:b@127.0.0.1:%d", from_port);
  eXosip_lock(ctx);
  CHECK(eXosip_options_build_request(ctx, &m, to, from, NULL) == 0);
  tid = eXosip_options_send_request(ctx, m);
  eXosip_unlock(ctx);
  CHECK(tid > 0);
  return tid;
}

int main(int argc, char **argv)
{
  struct eXosip_t *a, *b, *c;
  int pa, pb, pc, tid, off = 0;
  eXosip_event_t *ev;
  eXosip_tls_ctx_t half;
  struct timespec t0, t1;

  if (argc != 5) {
    fprintf(stderr, "usage: tls_options CA CERT KEY OTHER_CA\n");
    return 2;
  }
  a = tls_context(argv[1], argv[2], argv[3], 1, &pa);
  b = tls_context(argv[1], argv[2], argv[3], 1, &pb);

  /* a certificate without its key is refused, as eXosip2 does */
  memset(&half, 0, sizeof(half));
  snprintf(half.client.cert, sizeof(half.client.cert), "%s", argv[2]);
  CHECK(eXosip_set_tls_ctx(b, &half) == TLS_ERR_MISSING_AUTH_PART);
  CHECK(eXosip_tls_verify_certificate(b, 1) == 0);
  /* listening for TLS over UDP makes no sense */
  CHECK(eXosip_listen_addr(b, IPPROTO_UDP, "127.0.0.1", 0, AF_INET, 1) < 0);

  tid = send_options(b, pa, pb);
  ev = next_event(a);
  CHECK(ev != NULL && ev->type == EXOSIP_MESSAGE_NEW);
  if (ev != NULL && ev->request != NULL) {
    osip_via_t *via = NULL;
    osip_message_get_via(ev->request, 0, &via);
    CHECK(via != NULL && via->protocol != NULL && strcmp(via->protocol, "TLS") == 0);
    eXosip_lock(a);
    CHECK(eXosip_options_send_answer(a, ev->tid, 200, NULL) == 0);
    eXosip_unlock(a);
  }
  if (ev != NULL)
    eXosip_event_free(ev);
  ev = next_event(b);
  CHECK(ev != NULL && ev->type == EXOSIP_MESSAGE_ANSWERED && ev->tid == tid);
  CHECK(ev != NULL && ev->response != NULL && ev->response->status_code == 200);
  if (ev != NULL)
    eXosip_event_free(ev);

  /* a client that trusts another root refuses a's certificate: nothing reaches a, and the
   * transaction fails in well under timer F's 32 s */
  c = tls_context(argv[4], argv[2], argv[3], 1, &pc);
  clock_gettime(CLOCK_MONOTONIC, &t0);
  tid = send_options(c, pa, pc);
  ev = next_event(c);
  clock_gettime(CLOCK_MONOTONIC, &t1);
  CHECK(ev != NULL && ev->tid == tid && ev->response == NULL
        && (ev->type == EXOSIP_MESSAGE_REQUESTFAILURE || ev->type == EXOSIP_MESSAGE_SERVERFAILURE
            || ev->type == EXOSIP_MESSAGE_GLOBALFAILURE));
  CHECK(t1.tv_sec - t0.tv_sec < 4);
  if (ev != NULL)
    eXosip_event_free(ev);
  ev = eXosip_event_wait(a, 0, 200);
  CHECK(ev == NULL);
  if (ev != NULL)
    eXosip_event_free(ev);
  /* with verification off the same certificate is accepted */
  CHECK(eXosip_tls_verify_certificate(c, off) == 0);
  send_options(c, pa, pc);
  ev = next_event(a);
  CHECK(ev != NULL && ev->type == EXOSIP_MESSAGE_NEW);
  if (ev != NULL) {
    eXosip_lock(a);
    eXosip_options_send_answer(a, ev->tid, 200, NULL);
    eXosip_unlock(a);
    eXosip_event_free(ev);
  }
  ev = next_event(c);
  CHECK(ev != NULL && ev->type == EXOSIP_MESSAGE_ANSWERED);
  if (ev != NULL)
    eXosip_event_free(ev);

  eXosip_quit(c);

  osip_free(c);
  eXosip_quit(b);
  osip_free(b);
  eXosip_quit(a);
  osip_free(a);
  if (failures == 0)
    printf("tls_options: all checks passed\n");
  return failures == 0 ? 0 : 1;
}
