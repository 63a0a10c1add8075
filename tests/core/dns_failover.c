/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A MESSAGE to a host name without a port, through eXosip2 5.3's API: its lookup runs while
 * the program goes on, the first SRV target (a closed port) refuses it with an ICMP error, the
 * second (a UDP socket of this program) answers 200, and the program sees message_answered.
 * Then a MESSAGE to a name that does not exist ends with message_requestfailure.
 *
 * dns_failover SERVER NAME LIVEPORT
 *
 * SERVER is the "127.0.0.1:PORT" of a DNS server whose SRV records for _sip._udp.NAME give a
 * closed port first and LIVEPORT second, both on 127.0.0.1; "nowhere.test" must not exist.
 * Prints "all checks passed" or exits non-zero.
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

/* Answer one request read on fd with 200, copying Via, From, To, Call-ID and CSeq. */
static void answer_one(int fd)
{
  char buf[8192], out[8192];
  struct sockaddr_in from;
  socklen_t flen = sizeof(from);
  struct pollfd p = { fd, POLLIN, 0 };
  ssize_t n;
  size_t o = 0;
  char *line, *save = NULL;
  CHECK(poll(&p, 1, 10000) == 1);
  n = recvfrom(fd, buf, sizeof(buf) - 1, 0, (struct sockaddr *) &from, &flen);
  CHECK(n > 0);
  buf[n] = '\0';
  CHECK(strncmp(buf, "MESSAGE sip:bob@", 16) == 0);
  o += (size_t) snprintf(out + o, sizeof(out) - o, "SIP/2.0 200 OK\r\n");
  for (line = strtok_r(buf, "\r\n", &save); line != NULL; line = strtok_r(NULL, "\r\n", &save)) {
    if (strncasecmp(line, "Via:", 4) == 0 || strncasecmp(line, "From:", 5) == 0
        || strncasecmp(line, "Call-ID:", 8) == 0 || strncasecmp(line, "CSeq:", 5) == 0)
      o += (size_t) snprintf(out + o, sizeof(out) - o, "%s\r\n", line);
    else if (strncasecmp(line, "To:", 3) == 0)
      o += (size_t) snprintf(out + o, sizeof(out) - o, "%s;tag=t1\r\n", line);
  }
  o += (size_t) snprintf(out + o, sizeof(out) - o, "Content-Length: 0\r\n\r\n");
  CHECK(sendto(fd, out, o, 0, (struct sockaddr *) &from, flen) == (ssize_t) o);
}

static eXosip_event_t *wait_event(struct eXosip_t *ctx, int seconds)
{
  time_t end = time(NULL) + seconds;
  while (time(NULL) < end) {
    eXosip_event_t *ev = eXosip_event_wait(ctx, 0, 200);
    if (ev != NULL)
      return ev;
  }
  return NULL;
}

static int send_message(struct eXosip_t *ctx, const char *to)
{
  osip_message_t *msg = NULL;
  int tid;
  eXosip_lock(ctx);
  CHECK(eXosip_message_build_request(ctx, &msg, "MESSAGE", to, "sip:alice@127.0.0.1", NULL) == 0);
  osip_message_set_body(msg, "hello", 5);
  osip_message_set_content_type(msg, "text/plain");
  tid = eXosip_message_send_request(ctx, msg);
  eXosip_unlock(ctx);
  CHECK(tid > 0);
  return tid;
}

int main(int argc, char **argv)
{
  struct eXosip_t *ctx;
  struct sockaddr_in sin;
  eXosip_event_t *ev;
  char to[300];
  int fd, tid;
  CHECK(argc == 4);
  fd = socket(AF_INET, SOCK_DGRAM, 0);
  memset(&sin, 0, sizeof(sin));
  sin.sin_family = AF_INET;
  sin.sin_port = htons((uint16_t) atoi(argv[3]));
  inet_pton(AF_INET, "127.0.0.1", &sin.sin_addr);
  CHECK(fd >= 0 && bind(fd, (struct sockaddr *) &sin, sizeof(sin)) == 0);

  ctx = eXosip_malloc();
  CHECK(ctx != NULL && eXosip_init(ctx) == 0);
  CHECK(eXosip_set_option(ctx, EXOSIP_CORE_OPT_DNS_SERVER, argv[1]) == 0);
  CHECK(eXosip_listen_addr(ctx, IPPROTO_UDP, "127.0.0.1", 0, AF_INET, 0) == 0);

  snprintf(to, sizeof(to), "sip:bob@%s", argv[2]);
  tid = send_message(ctx, to);
  answer_one(fd);
  ev = wait_event(ctx, 10);
  CHECK(ev != NULL && ev->type == EXOSIP_MESSAGE_ANSWERED && ev->tid == tid);
  CHECK(ev->response != NULL && ev->response->status_code == 200);
  eXosip_event_free(ev);

  tid = send_message(ctx, "sip:bob@nowhere.test");
  ev = wait_event(ctx, 10);
  CHECK(ev != NULL && ev->type == EXOSIP_MESSAGE_REQUESTFAILURE && ev->tid == tid);
  eXosip_event_free(ev);

  eXosip_quit(ctx); /* eXosip2 5.3: the caller frees the struct */
  osip_free(ctx);
  close(fd);
  printf("all checks passed\n");
  return 0;
}
