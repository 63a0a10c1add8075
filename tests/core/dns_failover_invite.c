/* SPDX-License-Identifier: Apache-2.0 */
/*
 * An INVITE to a host name without a port, through eXosip2 5.3's API, across three SRV targets,
 * all UDP sockets of this program on 127.0.0.1:
 *  - the first stays silent: the INVITE must reach the second within the per-target bound;
 *  - the second answers 503: it must get the ACK of its 503, and the INVITE goes to the third;
 *  - the third rings (180); the program cancels, and the CANCEL must come to the third, which
 *    answers it 200 and the INVITE 487, and the program sees the call end.
 * Each target gets the INVITE with a branch of its own (RFC 3263 4.3); the ACK of the 503, the CANCEL
 * and the ACK of the 487 carry the branch of the INVITE they belong to; late answers with the branches
 * of the targets left raise no event (a repeated 503 gets its ACK again); the program's cid and tid
 * stay the same throughout.
 *
 * dns_failover_invite SERVER NAME PORT1 PORT2 PORT3
 *
 * Prints "all checks passed" (and the time the second target took) or exits non-zero.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <eXosip2/eXosip.h>
#include <eXosip2/eX_core.h>

#include "check.h"
#include "events.h"

static int udp_on(int port)
{
  struct sockaddr_in sin;
  int fd = socket(AF_INET, SOCK_DGRAM, 0);
  memset(&sin, 0, sizeof(sin));
  sin.sin_family = AF_INET;
  sin.sin_port = htons((uint16_t) port);
  inet_pton(AF_INET, "127.0.0.1", &sin.sin_addr);
  CHECK(fd >= 0 && bind(fd, (struct sockaddr *) &sin, sizeof(sin)) == 0);
  return fd;
}

struct got {
  char buf[8192];
  struct sockaddr_in from;
  socklen_t flen;
};

/* The next datagram on fd whose first line starts with method (others are skipped); 0 on time out. */
static int recv_method(int fd, const char *method, int ms, struct got *g)
{
  double end = now_s() + ms / 1000.0;
  while (now_s() < end) {
    struct pollfd p = { fd, POLLIN, 0 };
    ssize_t n;
    if (poll(&p, 1, 100) != 1)
      continue;
    g->flen = sizeof(g->from);
    n = recvfrom(fd, g->buf, sizeof(g->buf) - 1, 0, (struct sockaddr *) &g->from, &g->flen);
    if (n <= 0)
      continue;
    g->buf[n] = '\0';
    if (strncmp(g->buf, method, strlen(method)) == 0 && g->buf[strlen(method)] == ' ')
      return 1;
  }
  return 0;
}

/* Answer the request in g with status, copying Via, From, To (with a tag), Call-ID and CSeq. */
static void answer(int fd, const struct got *g, const char *status, const char *tag)
{
  char copy[8192], out[8192];
  size_t o = 0;
  char *line, *save = NULL;
  snprintf(copy, sizeof(copy), "%s", g->buf);
  o += (size_t) snprintf(out + o, sizeof(out) - o, "SIP/2.0 %s\r\n", status);
  for (line = strtok_r(copy, "\r\n", &save); line != NULL; line = strtok_r(NULL, "\r\n", &save)) {
    if (strncasecmp(line, "Via:", 4) == 0 || strncasecmp(line, "From:", 5) == 0
        || strncasecmp(line, "Call-ID:", 8) == 0 || strncasecmp(line, "CSeq:", 5) == 0)
      o += (size_t) snprintf(out + o, sizeof(out) - o, "%s\r\n", line);
    else if (strncasecmp(line, "To:", 3) == 0)
      o += (size_t) snprintf(out + o, sizeof(out) - o, "%s%s%s\r\n", line, tag != NULL ? ";tag=" : "",
                             tag != NULL ? tag : "");
  }
  o += (size_t) snprintf(out + o, sizeof(out) - o, "Contact: <sip:bob@127.0.0.1>\r\nContent-Length: 0\r\n\r\n");
  CHECK(sendto(fd, out, o, 0, (const struct sockaddr *) &g->from, g->flen) == (ssize_t) o);
}

/* The branch of the top Via of the message in buf, into out (empty when none). */
static void branch_of(const char *buf, char *out, size_t size)
{
  const char *via = strstr(buf, "\r\nVia:"), *b;
  size_t n = 0;
  out[0] = '\0';
  if (via == NULL || (b = strstr(via, "branch=")) == NULL || b > strstr(via + 2, "\r\n"))
    return;
  for (b += 7; *b != '\0' && *b != ';' && *b != '\r' && *b != ',' && *b != ' ' && n + 1 < size; b++)
    out[n++] = *b;
  out[n] = '\0';
}

/* No event at all within ms (the late answers of the targets left change nothing). */
static int no_event(struct eXosip_t *ctx, int ms)
{
  eXosip_event_t *ev = eXosip_event_wait(ctx, 0, ms);
  if (ev == NULL)
    return 1;
  fprintf(stderr, "unexpected event %d (tid %d cid %d)\n", ev->type, ev->tid, ev->cid);
  eXosip_event_free(ev);
  return 0;
}

int main(int argc, char **argv)
{
  struct eXosip_t *ctx;
  osip_message_t *inv = NULL;
  eXosip_event_t *ev;
  struct got *g = calloc(1, sizeof(*g)), *inv1 = calloc(1, sizeof(*g)), *inv2 = calloc(1, sizeof(*g));
  char to[300], b1[128], b2[128], b3[128], b[128];
  int fd1, fd2, fd3, cid, tid;
  double t0, took;
  CHECK(argc == 6 && g != NULL && inv1 != NULL && inv2 != NULL);
  fd1 = udp_on(atoi(argv[3]));
  fd2 = udp_on(atoi(argv[4]));
  fd3 = udp_on(atoi(argv[5]));

  ctx = eXosip_malloc();
  CHECK(ctx != NULL && eXosip_init(ctx) == 0);
  CHECK(eXosip_set_option(ctx, EXOSIP_CORE_OPT_DNS_SERVER, argv[1]) == 0);
  CHECK(eXosip_listen_addr(ctx, IPPROTO_UDP, "127.0.0.1", 0, AF_INET, 0) == 0);

  snprintf(to, sizeof(to), "sip:bob@%s", argv[2]);
  eXosip_lock(ctx);
  CHECK(eXosip_call_build_initial_invite(ctx, &inv, to, "sip:alice@127.0.0.1", NULL, "failover") == 0);
  cid = eXosip_call_send_initial_invite(ctx, inv);
  eXosip_unlock(ctx);
  CHECK(cid > 0);

  /* the silent one gets it (and its retransmissions); the second within the bound */
  CHECK(recv_method(fd1, "INVITE", 5000, inv1));
  t0 = now_s();
  CHECK(recv_method(fd2, "INVITE", 9000, inv2));
  took = now_s() - t0;
  CHECK(took > 4.5 && took < 7.5);
  /* RFC 3263 4.3: a new request, the same but for a new Via branch */
  branch_of(inv1->buf, b1, sizeof(b1));
  branch_of(inv2->buf, b2, sizeof(b2));
  CHECK(strncmp(b1, "z9hG4bK", 7) == 0 && strncmp(b2, "z9hG4bK", 7) == 0 && strcmp(b1, b2) != 0);
  answer(fd2, inv2, "503 Service Unavailable", "busy2");
  CHECK(recv_method(fd2, "ACK", 3000, g));
  CHECK(strstr(g->buf, "tag=busy2") != NULL);
  branch_of(g->buf, b, sizeof(b));
  CHECK(strcmp(b, b2) == 0); /* the ACK of the 503: its INVITE's branch */

  /* the third rings; a CANCEL comes to it, not to the others */
  CHECK(recv_method(fd3, "INVITE", 3000, g));
  {
    struct got *inv3 = calloc(1, sizeof(*inv3));
    int did;
    CHECK(inv3 != NULL);
    *inv3 = *g;
    branch_of(inv3->buf, b3, sizeof(b3));
    CHECK(strncmp(b3, "z9hG4bK", 7) == 0 && strcmp(b3, b1) != 0 && strcmp(b3, b2) != 0);
    answer(fd3, inv3, "180 Ringing", "ring3");
    ev = wait_event(ctx, EXOSIP_CALL_RINGING, 5);
    CHECK(ev != NULL && ev->cid == cid && ev->tid > 0);
    tid = ev->tid;
    did = ev->did;
    eXosip_event_free(ev);
    /* late answers with the branches of the targets left: ignored, the 503 acknowledged again */
    answer(fd1, inv1, "180 Ringing", "late1");
    answer(fd1, inv1, "486 Busy Here", "late1");
    answer(fd2, inv2, "183 Session Progress", "late2");
    answer(fd2, inv2, "503 Service Unavailable", "busy2");
    CHECK(recv_method(fd2, "ACK", 3000, g));
    branch_of(g->buf, b, sizeof(b));
    CHECK(strcmp(b, b2) == 0 && strstr(g->buf, "tag=busy2") != NULL);
    answer(fd2, inv2, "480 Late", "late2");
    CHECK(no_event(ctx, 600));
    eXosip_lock(ctx);
    CHECK(eXosip_call_terminate(ctx, cid, did) == 0);
    eXosip_unlock(ctx);
    CHECK(recv_method(fd3, "CANCEL", 3000, g));
    branch_of(g->buf, b, sizeof(b));
    CHECK(strcmp(b, b3) == 0); /* RFC 3261 9.1: the branch of the INVITE it cancels, as sent there */
    answer(fd3, g, "200 OK", "ring3");
    answer(fd3, inv3, "487 Request Terminated", "ring3");
    CHECK(recv_method(fd3, "ACK", 3000, g));
    branch_of(g->buf, b, sizeof(b));
    CHECK(strcmp(b, b3) == 0); /* RFC 3261 17.1.1.3 */
    ev = wait_event(ctx, EXOSIP_CALL_REQUESTFAILURE, 5);
    CHECK(ev != NULL && ev->cid == cid && ev->tid == tid && ev->response != NULL
          && ev->response->status_code == 487);
    eXosip_event_free(ev);
    free(inv3);
  }
  /* nothing for the first two: no CANCEL went there */
  CHECK(!recv_method(fd1, "CANCEL", 300, g) && !recv_method(fd2, "CANCEL", 300, g));

  eXosip_quit(ctx); /* eXosip2 5.3: the caller frees the struct */
  osip_free(ctx);
  close(fd1);
  close(fd2);
  close(fd3);
  free(g);
  free(inv1);
  free(inv2);
  printf("second target after %.2f s\nall checks passed\n", took);
  return 0;
}
