/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A TLS server for the hostile-TLS test under AddressSanitizer: listens for TLS on 127.0.0.1:PORT
 * and answers every OPTIONS and MESSAGE with 200 until SIGTERM, then quits cleanly.
 * Usage: tls_uas CERT KEY PORT. Prints "ready" once listening.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <eXosip2/eXosip.h>
#include <eXosip2/eX_core.h>

static volatile sig_atomic_t stop;

static void on_term(int sig)
{
  (void) sig;
  stop = 1;
}

int main(int argc, char **argv)
{
  struct eXosip_t *ctx;
  eXosip_tls_ctx_t tls;
  int port, timeout_ms = 700, answered = 0;
  if (argc != 4) {
    fprintf(stderr, "usage: tls_uas CERT KEY PORT\n");
    return 2;
  }
  signal(SIGTERM, on_term);
  port = atoi(argv[3]);
  ctx = eXosip_malloc();
  if (ctx == NULL || eXosip_init(ctx) != 0)
    return 1;
  memset(&tls, 0, sizeof(tls));
  snprintf(tls.server.cert, sizeof(tls.server.cert), "%s", argv[1]);
  snprintf(tls.server.priv_key, sizeof(tls.server.priv_key), "%s", argv[2]);
  if (eXosip_set_option(ctx, EXOSIP_OPT_SET_TLS_CERTIFICATES_INFO, &tls) != 0
      || eXosip_set_option(ctx, EXOSIP_CORE_OPT_TCP_MESSAGE_TIMEOUT_MS, &timeout_ms) != 0
      || eXosip_listen_addr(ctx, IPPROTO_TCP, "127.0.0.1", port, AF_INET, 1) != 0) {
    fprintf(stderr, "tls_uas: cannot listen on %d\n", port);
    eXosip_quit(ctx);
    osip_free(ctx);
    return 1;
  }
  printf("ready\n");
  fflush(stdout);
  while (!stop) {
    eXosip_event_t *ev = eXosip_event_wait(ctx, 0, 50);
    if (ev == NULL)
      continue;
    if (ev->type == EXOSIP_MESSAGE_NEW && ev->request != NULL) {
      eXosip_lock(ctx);
      if (MSG_IS_OPTIONS(ev->request))
        eXosip_options_send_answer(ctx, ev->tid, 200, NULL);
      else
        eXosip_message_send_answer(ctx, ev->tid, 200, NULL);
      eXosip_unlock(ctx);
      answered++;
    }
    eXosip_event_free(ev);
  }
  eXosip_quit(ctx);
  osip_free(ctx);
  printf("answered %d\n", answered);
  return 0;
}
