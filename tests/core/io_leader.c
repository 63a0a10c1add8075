/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Who waits on the sockets: a program thread inside eXosip_event_wait/get runs the I/O loop itself,
 * and the I/O thread takes it back while the program is away. Against a raw UDP socket on 127.0.0.1:
 *   busy     the program takes an INVITE, answers 200 and then sleeps without waiting for events:
 *            the 200 is still retransmitted (timers run), and the ACK and an OPTIONS that come
 *            meanwhile are read, so that a zero-timeout poll afterwards finds their events queued;
 *   wakeup   eXosip_wakeup_event ends a 10 s eXosip_event_wait (and an eXosip_event_get) at once;
 *   api      an event emitted by an API call on another thread (486 to an INVITE: the call is
 *            released) ends a 10 s wait of a thread that waits on the sockets;
 *   workers  four threads wait for events together and answer 300 OPTIONS: every one is answered
 *            once, and the answers are sent while the others wait;
 *   quit     eXosip_quit while another thread is inside eXosip_event_get returns, and so does the
 *            wait (NULL);
 *   handback a program thread that spends 300 us on each of 500 OPTIONS (one every 2 ms) between its
 *            waits: the loop passes between it and the I/O thread without ping-pong (the threads
 *            of the process switch at most 4 times per OPTIONS; handing the lead back and forth
 *            at once costs tens).
 * Exit status 0 when every check passes.
 */
#include <dirent.h>
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <eXosip2/eXosip.h>

static int failures;

#define CHECK_COUNTS_FAILURES
#include "check.h"
#include "events.h"

struct raw {
  int fd;
  int port;      /* the raw socket's */
  int uas_port;  /* the context's */
};

static void raw_open(struct raw *r, int uas_port)
{
  struct sockaddr_in sa;
  socklen_t len = sizeof(sa);
  r->fd = socket(AF_INET, SOCK_DGRAM, 0);
  memset(&sa, 0, sizeof(sa));
  sa.sin_family = AF_INET;
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (r->fd < 0 || bind(r->fd, (struct sockaddr *) &sa, sizeof(sa)) != 0
      || getsockname(r->fd, (struct sockaddr *) &sa, &len) != 0) {
    perror("raw socket");
    exit(2);
  }
  r->port = ntohs(sa.sin_port);
  r->uas_port = uas_port;
}

static void raw_send(struct raw *r, const char *fmt, ...)
{
  char buf[2048];
  struct sockaddr_in to;
  va_list ap;
  int n;
  va_start(ap, fmt);
  n = vsnprintf(buf, sizeof(buf), fmt, ap);
  va_end(ap);
  memset(&to, 0, sizeof(to));
  to.sin_family = AF_INET;
  to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  to.sin_port = htons((unsigned short) r->uas_port);
  if (n <= 0 || n >= (int) sizeof(buf)
      || sendto(r->fd, buf, (size_t) n, 0, (struct sockaddr *) &to, sizeof(to)) != n) {
    perror("raw sendto");
    exit(2);
  }
}

/* The next datagram within timeout_s into buf (NUL-terminated); its length, or -1. */
static int raw_recv(struct raw *r, char *buf, size_t size, double timeout_s)
{
  struct pollfd p = {r->fd, POLLIN, 0};
  ssize_t n;
  if (poll(&p, 1, (int) (timeout_s * 1000)) <= 0)
    return -1;
  n = recv(r->fd, buf, size - 1, 0);
  if (n < 0)
    return -1;
  buf[n] = '\0';
  return (int) n;
}

static void send_invite(struct raw *r, const char *id)
{
  raw_send(r,
           "INVITE sip:uas@127.0.0.1:%d SIP/2.0\r\n"
           "Via: SIP/2.0/UDP 127.0.0.1:%d;branch=z9hG4bK-inv-%s;rport\r\n"
           "Max-Forwards: 70\r\n"
           "From: <sip:raw@127.0.0.1:%d>;tag=f-%s\r\n"
           "To: <sip:uas@127.0.0.1:%d>\r\n"
           "Call-ID: %s@raw\r\n"
           "CSeq: 1 INVITE\r\n"
           "Contact: <sip:raw@127.0.0.1:%d>\r\n"
           "Content-Length: 0\r\n\r\n",
           r->uas_port, r->port, id, r->port, id, r->uas_port, id, r->port);
}

static void send_options(struct raw *r, const char *id)
{
  raw_send(r,
           "OPTIONS sip:uas@127.0.0.1:%d SIP/2.0\r\n"
           "Via: SIP/2.0/UDP 127.0.0.1:%d;branch=z9hG4bK-opt-%s;rport\r\n"
           "Max-Forwards: 70\r\n"
           "From: <sip:raw@127.0.0.1:%d>;tag=f-%s\r\n"
           "To: <sip:uas@127.0.0.1:%d>\r\n"
           "Call-ID: %s@raw\r\n"
           "CSeq: 1 OPTIONS\r\n"
           "Content-Length: 0\r\n\r\n",
           r->uas_port, r->port, id, r->port, id, r->uas_port, id);
}

/* The value of the To header of a received message (to build the ACK), or "" */
static void to_header(const char *msg, char *out, size_t size)
{
  const char *p = strstr(msg, "\r\nTo:"), *e;
  out[0] = '\0';
  if (p == NULL)
    return;
  p += 5;
  while (*p == ' ')
    p++;
  e = strstr(p, "\r\n");
  if (e == NULL || (size_t) (e - p) >= size)
    return;
  memcpy(out, p, (size_t) (e - p));
  out[e - p] = '\0';
}

static struct eXosip_t *new_context(int *port)
{
  struct eXosip_t *ctx = eXosip_malloc();
  CHECK(ctx != NULL && eXosip_init(ctx) == 0);
  *port = eXosip_find_free_port(ctx, 0, IPPROTO_UDP);
  CHECK(*port > 0);
  CHECK(eXosip_listen_addr(ctx, IPPROTO_UDP, "127.0.0.1", *port, AF_INET, 0) == 0);
  return ctx;
}

static int answer_invite(struct eXosip_t *ctx, int tid, int code)
{
  osip_message_t *ans = NULL;
  int rc;
  eXosip_lock(ctx);
  rc = eXosip_call_build_answer(ctx, tid, code, &ans);
  if (rc == 0)
    rc = eXosip_call_send_answer(ctx, tid, code, ans);
  eXosip_unlock(ctx);
  return rc;
}

static void test_busy(void)
{
  int port, oks = 0, late_oks = 0, got_ack = 0, got_options = 0, i;
  struct eXosip_t *ctx = new_context(&port);
  struct raw r;
  eXosip_event_t *ev;
  char buf[4096], to[512] = "";
  double t0, end;

  raw_open(&r, port);
  send_invite(&r, "busy");
  ev = wait_event(ctx, EXOSIP_CALL_INVITE, 5);
  CHECK(ev != NULL);
  if (ev == NULL)
    return;
  CHECK(answer_invite(ctx, ev->tid, 200) == 0);
  eXosip_event_free(ev);
  /* from here on the program does not wait for events for 1.7 s */
  t0 = now_s();
  end = t0 + 1.7;
  while (now_s() < end) {
    if (raw_recv(&r, buf, sizeof(buf), end - now_s()) <= 0)
      continue;
    if (strncmp(buf, "SIP/2.0 200", 11) == 0 && strstr(buf, "CSeq: 1 INVITE") != NULL) {
      oks++;
      if (now_s() - t0 > 0.3)
        late_oks++; /* a retransmission: a timer ran while the program was away */
      to_header(buf, to, sizeof(to));
    }
  }
  CHECK(oks >= 2);
  CHECK(late_oks >= 1);
  CHECK(to[0] != '\0');
  /* the ACK and an OPTIONS, still without the program waiting */
  raw_send(&r,
           "ACK sip:uas@127.0.0.1:%d SIP/2.0\r\n"
           "Via: SIP/2.0/UDP 127.0.0.1:%d;branch=z9hG4bK-ack-busy;rport\r\n"
           "Max-Forwards: 70\r\n"
           "From: <sip:raw@127.0.0.1:%d>;tag=f-busy\r\n"
           "To: %s\r\n"
           "Call-ID: busy@raw\r\n"
           "CSeq: 1 ACK\r\n"
           "Content-Length: 0\r\n\r\n",
           port, r.port, r.port, to);
  send_options(&r, "busy-opt");
  usleep(500 * 1000);
  /* a poll does not wait on the sockets: what it finds was read while the program was away */
  for (i = 0; i < 10; i++) {
    ev = eXosip_event_wait(ctx, 0, 0);
    if (ev == NULL)
      break;
    if (ev->type == EXOSIP_CALL_ACK)
      got_ack++;
    if (ev->type == EXOSIP_MESSAGE_NEW && ev->request != NULL && MSG_IS_OPTIONS(ev->request))
      got_options++;
    eXosip_event_free(ev);
  }
  CHECK(got_ack == 1);
  CHECK(got_options == 1);
  /* and no more 200 once the ACK came */
  end = now_s() + 1.2;
  oks = 0;
  while (now_s() < end)
    if (raw_recv(&r, buf, sizeof(buf), end - now_s()) > 0 && strncmp(buf, "SIP/2.0 200", 11) == 0)
      oks++;
  CHECK(oks == 0);
  eXosip_quit(ctx);
  osip_free(ctx);
  close(r.fd);
}

struct waiter {
  struct eXosip_t *ctx;
  int forever; /* eXosip_event_get instead of a 10 s eXosip_event_wait */
  double started, returned;
  eXosip_event_type_t type; /* of the event returned, or -1 */
};

static void *wait_once(void *arg)
{
  struct waiter *w = arg;
  eXosip_event_t *ev;
  w->started = now_s();
  ev = w->forever ? eXosip_event_get(w->ctx) : eXosip_event_wait(w->ctx, 10, 0);
  w->returned = now_s();
  w->type = ev != NULL ? ev->type : (eXosip_event_type_t) -1;
  eXosip_event_free(ev);
  return NULL;
}

static void test_wakeup(int forever)
{
  int port;
  struct eXosip_t *ctx = new_context(&port);
  struct waiter w = {ctx, forever, 0, 0, 0};
  pthread_t th;
  double t;
  CHECK(pthread_create(&th, NULL, wait_once, &w) == 0);
  usleep(300 * 1000); /* the waiter is inside its wait, on the sockets */
  t = now_s();
  eXosip_wakeup_event(ctx);
  pthread_join(th, NULL);
  if (getenv("IO_LEADER_VERBOSE") != NULL)
    fprintf(stderr, "wakeup: the wait returned %.3f s after eXosip_wakeup_event\n", w.returned - t);
  CHECK(w.type == (eXosip_event_type_t) -1);
  CHECK(w.returned - t < 0.5); /* not the next timer or the 1 s bound of a round */
  eXosip_quit(ctx);
  osip_free(ctx);
}

static void test_api_event(void)
{
  int port;
  struct eXosip_t *ctx = new_context(&port);
  struct waiter w = {ctx, 0, 0, 0, 0};
  struct raw r;
  eXosip_event_t *ev;
  pthread_t th;
  double t;

  raw_open(&r, port);
  send_invite(&r, "api");
  ev = wait_event(ctx, EXOSIP_CALL_INVITE, 5);
  CHECK(ev != NULL);
  if (ev == NULL)
    return;
  CHECK(pthread_create(&th, NULL, wait_once, &w) == 0);
  usleep(300 * 1000);
  t = now_s();
  CHECK(answer_invite(ctx, ev->tid, 486) == 0); /* releases the call: an event, from this thread */
  eXosip_event_free(ev);
  pthread_join(th, NULL);
  CHECK(w.type == EXOSIP_CALL_RELEASED);
  CHECK(w.returned - t < 0.5); /* not the next timer or the 1 s bound of a round */
  eXosip_quit(ctx);
  osip_free(ctx);
  close(r.fd);
}

#define WORKERS 4
#define OPTIONS_SENT 300

struct pool {
  struct eXosip_t *ctx;
  volatile int stop;
  pthread_mutex_t lock;
  int events, answered, by_thread[WORKERS];
};

struct worker {
  struct pool *pool;
  int index;
};

static void *work(void *arg)
{
  struct worker *wk = arg;
  struct pool *p = wk->pool;
  while (!p->stop) {
    eXosip_event_t *ev = eXosip_event_wait(p->ctx, 0, 100);
    osip_message_t *ans = NULL;
    int ok = 0;
    if (ev == NULL)
      continue;
    if (ev->type == EXOSIP_MESSAGE_NEW) {
      eXosip_lock(p->ctx);
      if (eXosip_message_build_answer(p->ctx, ev->tid, 200, &ans) == 0
          && eXosip_message_send_answer(p->ctx, ev->tid, 200, ans) == 0)
        ok = 1;
      eXosip_unlock(p->ctx);
      pthread_mutex_lock(&p->lock);
      p->events++;
      p->answered += ok;
      p->by_thread[wk->index]++;
      pthread_mutex_unlock(&p->lock);
    }
    eXosip_event_free(ev);
  }
  return NULL;
}

static void test_workers(void)
{
  int port, i, oks = 0, events;
  struct pool p;
  struct worker wk[WORKERS];
  pthread_t th[WORKERS];
  struct raw r;
  char buf[4096], id[32];
  double end;

  memset(&p, 0, sizeof(p));
  p.ctx = new_context(&port);
  pthread_mutex_init(&p.lock, NULL);
  raw_open(&r, port);
  for (i = 0; i < WORKERS; i++) {
    wk[i].pool = &p;
    wk[i].index = i;
    CHECK(pthread_create(&th[i], NULL, work, &wk[i]) == 0);
  }
  for (i = 0; i < OPTIONS_SENT; i++) {
    snprintf(id, sizeof(id), "w%d", i);
    send_options(&r, id);
    if (i % 30 == 29) { /* in bursts: take the answers as they come */
      while (raw_recv(&r, buf, sizeof(buf), 0.02) > 0)
        oks += strncmp(buf, "SIP/2.0 200", 11) == 0;
    }
  }
  end = now_s() + 10;
  while (oks < OPTIONS_SENT && now_s() < end)
    if (raw_recv(&r, buf, sizeof(buf), end - now_s()) > 0)
      oks += strncmp(buf, "SIP/2.0 200", 11) == 0;
  p.stop = 1;
  for (i = 0; i < WORKERS; i++)
    pthread_join(th[i], NULL);
  pthread_mutex_lock(&p.lock);
  events = p.events;
  pthread_mutex_unlock(&p.lock);
  if (oks != OPTIONS_SENT || events != OPTIONS_SENT)
    fprintf(stderr, "workers: %d answers received, %d events, %d answered\n", oks, events, p.answered);
  CHECK(oks == OPTIONS_SENT);
  CHECK(events == OPTIONS_SENT);
  CHECK(p.answered == OPTIONS_SENT);
  eXosip_quit(p.ctx);
  osip_free(p.ctx);
  pthread_mutex_destroy(&p.lock);
  close(r.fd);
}

/* voluntary context switches of every thread of this process */
static long process_switches(void)
{
  char path[64], line[256];
  long total = 0;
  FILE *f;
  DIR *d = opendir("/proc/self/task");
  struct dirent *e;
  if (d == NULL)
    return -1;
  while ((e = readdir(d)) != NULL) {
    if (e->d_name[0] == '.')
      continue;
    snprintf(path, sizeof(path), "/proc/self/task/%.20s/status", e->d_name);
    f = fopen(path, "r");
    if (f == NULL)
      continue;
    while (fgets(line, sizeof(line), f) != NULL)
      if (strncmp(line, "voluntary_ctxt_switches:", 24) == 0)
        total += atol(line + 24);
    fclose(f);
  }
  closedir(d);
  return total;
}

#define HANDBACK_SENT 500

struct sender {
  struct raw *r;
  int oks;
};

static void *send_options_paced(void *arg)
{
  struct sender *s = arg;
  char id[32], buf[4096];
  int i;
  for (i = 0; i < HANDBACK_SENT; i++) {
    snprintf(id, sizeof(id), "hb%d", i);
    send_options(s->r, id);
    while (raw_recv(s->r, buf, sizeof(buf), 0.002) > 0)
      s->oks += strncmp(buf, "SIP/2.0 200", 11) == 0;
  }
  while (s->oks < HANDBACK_SENT && raw_recv(s->r, buf, sizeof(buf), 5.0) > 0)
    s->oks += strncmp(buf, "SIP/2.0 200", 11) == 0;
  return NULL;
}

static void test_handback(void)
{
  int port, events = 0;
  struct eXosip_t *ctx = new_context(&port);
  struct raw r;
  struct sender s;
  pthread_t th;
  long before, after;
  double end;

  raw_open(&r, port);
  s.r = &r;
  s.oks = 0;
  before = process_switches();
  CHECK(pthread_create(&th, NULL, send_options_paced, &s) == 0);
  end = now_s() + 20;
  while (events < HANDBACK_SENT && now_s() < end) {
    eXosip_event_t *ev = eXosip_event_wait(ctx, 0, 50);
    osip_message_t *ans = NULL;
    double busy;
    if (ev == NULL)
      continue;
    if (ev->type == EXOSIP_MESSAGE_NEW) {
      events++;
      busy = now_s() + 0.0003; /* the program's own work on the event, off the wait */
      while (now_s() < busy) {
      }
      eXosip_lock(ctx);
      if (eXosip_message_build_answer(ctx, ev->tid, 200, &ans) == 0)
        eXosip_message_send_answer(ctx, ev->tid, 200, ans);
      eXosip_unlock(ctx);
    }
    eXosip_event_free(ev);
  }
  pthread_join(th, NULL);
  after = process_switches();
  if (getenv("IO_LEADER_VERBOSE") != NULL || after - before > 4L * HANDBACK_SENT)
    fprintf(stderr, "handback: %d events, %d answers, %ld voluntary switches\n", events, s.oks, after - before);
  CHECK(events == HANDBACK_SENT);
  CHECK(s.oks == HANDBACK_SENT);
  CHECK(before >= 0 && after - before <= 4L * HANDBACK_SENT);
  eXosip_quit(ctx);
  osip_free(ctx);
  close(r.fd);
}

static void test_quit(void)
{
  int port;
  struct eXosip_t *ctx = new_context(&port);
  struct waiter w = {ctx, 1, 0, 0, 0};
  pthread_t th;
  double t;
  CHECK(pthread_create(&th, NULL, wait_once, &w) == 0);
  usleep(300 * 1000);
  t = now_s();
  eXosip_quit(ctx);
  CHECK(now_s() - t < 3.0);
  pthread_join(th, NULL);
  CHECK(w.type == (eXosip_event_type_t) -1);
  CHECK(w.returned - t < 3.0);
  osip_free(ctx);
}

int main(int argc, char **argv)
{
  const char *only = argc > 1 ? argv[1] : NULL;
#define RUN(name, call)                                   \
  if (only == NULL || strcmp(only, name) == 0) {         \
    call;                                                \
    printf("%s: %s\n", name, failures ? "FAILED" : "ok"); \
  }
  RUN("busy", test_busy());
  RUN("wakeup", test_wakeup(0));
  RUN("wakeup-get", test_wakeup(1));
  RUN("api", test_api_event());
  RUN("workers", test_workers());
  RUN("quit", test_quit());
  RUN("handback", test_handback());
  if (failures == 0)
    printf("all checks passed\n");
  return failures == 0 ? 0 : 1;
}
