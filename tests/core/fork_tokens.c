/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Tokens after fork(): one context is initialised, builds a MESSAGE (so its pool of random bytes is
 * in use), then the process forks CHILDREN times. Every child and the parent then build a MESSAGE
 * and an INVITE on that same context and print, one line each,
 *
 *   WHO callid=... branch=... tag=... invite_callid=... invite_branch=... invite_tag=...
 *
 * where WHO is "parent" or "childN". The caller compares the lines: no token may repeat.
 *
 * fork_tokens CHILDREN
 *
 * Uses only the public eXosip2 API; no socket is opened (building needs none), so no thread of the
 * context runs when the process forks.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/wait.h>

#include <eXosip2/eXosip.h>

#include "check.h"

static void tokens_of(osip_message_t *m, const char *prefix, char *out, size_t size)
{
  osip_via_t *via = NULL;
  osip_generic_param_t *branch = NULL, *tag = NULL;
  CHECK(osip_message_get_via(m, 0, &via) >= 0 && via != NULL);
  CHECK(osip_via_param_get_byname(via, "branch", &branch) == 0 && branch != NULL && branch->gvalue != NULL);
  CHECK(osip_from_get_tag(m->from, &tag) == 0 && tag != NULL && tag->gvalue != NULL);
  CHECK(m->call_id != NULL && m->call_id->number != NULL);
  snprintf(out, size, "%scallid=%s %sbranch=%s %stag=%s", prefix, m->call_id->number, prefix, branch->gvalue, prefix,
           tag->gvalue);
}

static void build_and_print(struct eXosip_t *ctx, const char *who)
{
  osip_message_t *msg = NULL, *inv = NULL;
  char a[512], b[512];
  eXosip_lock(ctx);
  CHECK(eXosip_message_build_request(ctx, &msg, "MESSAGE", "sip:bob@127.0.0.1:5999", "sip:alice@127.0.0.1",
                                     NULL) == 0);
  CHECK(eXosip_call_build_initial_invite(ctx, &inv, "sip:bob@127.0.0.1:5999", "sip:alice@127.0.0.1", NULL,
                                         "fork") == 0);
  eXosip_unlock(ctx);
  tokens_of(msg, "", a, sizeof(a));
  tokens_of(inv, "invite_", b, sizeof(b));
  printf("%s %s %s\n", who, a, b);
  fflush(stdout);
  osip_message_free(msg);
  osip_message_free(inv);
}

int main(int argc, char **argv)
{
  struct eXosip_t *ctx;
  osip_message_t *warm = NULL;
  int children = argc > 1 ? atoi(argv[1]) : 2, i, failed = 0;

  CHECK(children >= 1 && children <= 64);
  ctx = eXosip_malloc();
  CHECK(ctx != NULL && eXosip_init(ctx) == 0);
  eXosip_lock(ctx);
  CHECK(eXosip_message_build_request(ctx, &warm, "MESSAGE", "sip:bob@127.0.0.1:5999", "sip:alice@127.0.0.1",
                                     NULL) == 0);
  eXosip_unlock(ctx);
  osip_message_free(warm);
  for (i = 0; i < children; i++) {
    pid_t pid = fork();
    CHECK(pid >= 0);
    if (pid == 0) {
      char who[32];
      snprintf(who, sizeof(who), "child%d", i);
      build_and_print(ctx, who);
      _exit(0); /* the parent owns the context: the child leaves without tearing it down */
    }
  }
  build_and_print(ctx, "parent");
  for (i = 0; i < children; i++) {
    int status = 0;
    if (wait(&status) < 0 || !WIFEXITED(status) || WEXITSTATUS(status) != 0)
      failed = 1;
  }
  eXosip_quit(ctx);
  osip_free(ctx);
  return failed;
}
