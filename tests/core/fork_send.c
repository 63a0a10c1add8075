/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Tokens on the wire after fork(): one context is initialised, builds a MESSAGE (so its pool of
 * random bytes is in use) and gets credentials, then the process forks CHILDREN times. Every child
 * and the parent then listen on a port of their own with that same context and send one MESSAGE
 * to PORT on 127.0.0.1. The peer there (the test) challenges it with 401 (qop=auth) and accepts the
 * answer, so each process sends a Call-ID, a From tag, two Via branches and a cnonce; the peer
 * compares what it received from every process.
 *
 * fork_send PORT CHILDREN
 *
 * Each process prints "WHO answered=STATUS" (WHO is "parent" or "childN") and exits 0 when its
 * MESSAGE got a final answer within 10 s. No thread of the context runs when the process forks:
 * the I/O thread starts with eXosip_listen_addr, in each process after the fork.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/wait.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <eXosip2/eXosip.h>

#include "check.h"

static int send_and_wait(struct eXosip_t *ctx, int port, const char *who)
{
  osip_message_t *msg = NULL;
  char to[64];
  time_t end;
  int status = 0;

  CHECK(eXosip_listen_addr(ctx, IPPROTO_UDP, "127.0.0.1", 0, AF_INET, 0) == 0);
  snprintf(to, sizeof(to), "sip:bob@127.0.0.1:%d", port);
  eXosip_lock(ctx);
  CHECK(eXosip_message_build_request(ctx, &msg, "MESSAGE", to, "sip:alice@127.0.0.1", NULL) == 0);
  osip_message_set_body(msg, who, strlen(who));
  osip_message_set_content_type(msg, "text/plain");
  CHECK(eXosip_message_send_request(ctx, msg) > 0);
  eXosip_unlock(ctx);
  end = time(NULL) + 10;
  while (status == 0 && time(NULL) < end) {
    eXosip_event_t *je = eXosip_event_wait(ctx, 0, 100);
    if (je != NULL) {
      if (je->type == EXOSIP_MESSAGE_ANSWERED && je->response != NULL)
        status = je->response->status_code;
      else if (je->type == EXOSIP_MESSAGE_REQUESTFAILURE && je->response != NULL &&
               je->response->status_code != 401)
        status = je->response->status_code;
      eXosip_event_free(je);
    }
    eXosip_automatic_action(ctx); /* answers the 401 with the stored credentials */
  }
  printf("%s answered=%d\n", who, status);
  fflush(stdout);
  return status == 200 ? 0 : 1;
}

int main(int argc, char **argv)
{
  struct eXosip_t *ctx;
  osip_message_t *warm = NULL;
  int port, children, i, failed;

  CHECK(argc == 3);
  port = atoi(argv[1]);
  children = atoi(argv[2]);
  CHECK(port > 0 && port < 65536 && children >= 1 && children <= 64);
  ctx = eXosip_malloc();
  CHECK(ctx != NULL && eXosip_init(ctx) == 0);
  eXosip_lock(ctx);
  CHECK(eXosip_message_build_request(ctx, &warm, "MESSAGE", "sip:bob@127.0.0.1:5999", "sip:alice@127.0.0.1",
                                     NULL) == 0);
  CHECK(eXosip_add_authentication_info(ctx, "alice", "alice", "pw", NULL, NULL) == 0);
  eXosip_unlock(ctx);
  osip_message_free(warm);
  for (i = 0; i < children; i++) {
    pid_t pid = fork();
    CHECK(pid >= 0);
    if (pid == 0) {
      char who[32];
      int rc;
      snprintf(who, sizeof(who), "child%d", i);
      rc = send_and_wait(ctx, port, who);
      eXosip_quit(ctx); /* the child's copy: its own socket and thread */
      osip_free(ctx);
      _exit(rc);
    }
  }
  failed = send_and_wait(ctx, port, "parent");
  for (i = 0; i < children; i++) {
    int status = 0;
    if (wait(&status) < 0 || !WIFEXITED(status) || WEXITSTATUS(status) != 0)
      failed = 1;
  }
  eXosip_quit(ctx);
  osip_free(ctx);
  return failed;
}
