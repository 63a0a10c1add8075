/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Capture of the SIP messages a context sends and receives, for tracing (eX_core.h).
 *
 * The I/O thread never calls into the program: when capture is on, the send and receive paths
 * copy each message, with its direction, transport, addresses and time, into a FIFO bounded by
 * a message count and a byte count, and the program takes them out with
 * eXosip_core_capture_next() whenever it likes. When capture is off the only cost is the test of
 * ctx->capture_on at the two call sites (transport.c).
 *
 * The queue has its own lock, so draining it never waits for the context lock. Switching
 * capture on or off happens under the context lock, which the send and receive paths hold: a
 * path that saw capture_on set finds the queue allocated. The queue is freed only by eXosip_quit.
 *
 * A full queue keeps what it holds (the oldest messages) and counts every message it could not
 * take; the count is reset when capture is switched on again.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "exosip_internal.h"

#define DEFAULT_MAX_BYTES (16u * 1024u * 1024u)

struct ex_cap_rec {
  struct ex_cap_rec *next;
  struct eXosip_core_captured pub; /* last: its text follows */
};

struct ex_capture {
  pthread_mutex_t lock;
  struct ex_cap_rec *head, *tail;
  int count, max_messages;
  size_t bytes, max_bytes;
  unsigned long dropped;
  /* the local address of the UDP socket, read once per socket */
  int udp_fd_seen;
  char udp_ip[64];
  int udp_port;
};

static void addr_text(const struct sockaddr *sa, char *ip, size_t iplen, int *port, int *family)
{
  ip[0] = '\0';
  *port = 0;
  *family = sa->sa_family;
  if (sa->sa_family == AF_INET6) {
    const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *) sa;
    if (IN6_IS_ADDR_V4MAPPED(&sin6->sin6_addr)) {
      inet_ntop(AF_INET, &sin6->sin6_addr.s6_addr[12], ip, (socklen_t) iplen);
      *family = AF_INET;
    } else {
      inet_ntop(AF_INET6, &sin6->sin6_addr, ip, (socklen_t) iplen);
    }
    *port = ntohs(sin6->sin6_port);
  } else if (sa->sa_family == AF_INET) {
    const struct sockaddr_in *sin = (const struct sockaddr_in *) sa;
    inet_ntop(AF_INET, &sin->sin_addr, ip, (socklen_t) iplen);
    *port = ntohs(sin->sin_port);
  }
}

static int is_any(const char *ip)
{
  return ip[0] == '\0' || strcmp(ip, "0.0.0.0") == 0 || strcmp(ip, "::") == 0;
}

/* The local address of a message: the socket's own, or the advertised address where the socket
 * is bound to every interface. */
static void local_addr(struct eXosip_t *ctx, struct ex_capture *cap, int proto, long conn_id, char *ip,
                       size_t iplen, int *port)
{
  struct sockaddr_storage ss;
  socklen_t len = sizeof(ss);
  int family;
  int fd = -1;
  if (proto == IPPROTO_UDP) {
    if (cap->udp_fd_seen != ctx->udp_fd) {
      cap->udp_fd_seen = ctx->udp_fd;
      cap->udp_ip[0] = '\0';
      cap->udp_port = ctx->udp_port;
      if (ctx->udp_fd >= 0 && getsockname(ctx->udp_fd, (struct sockaddr *) &ss, &len) == 0)
        addr_text((struct sockaddr *) &ss, cap->udp_ip, sizeof(cap->udp_ip), &cap->udp_port, &family);
    }
    snprintf(ip, iplen, "%s", cap->udp_ip);
    *port = cap->udp_port;
  } else {
    struct ex_conn *c = conn_id > 0 ? ex_hmap_get_int(&ctx->conns_by_id, conn_id) : NULL;
    fd = c != NULL ? c->fd : -1;
    ip[0] = '\0';
    *port = ctx->tcp_port;
    if (fd >= 0 && getsockname(fd, (struct sockaddr *) &ss, &len) == 0)
      addr_text((struct sockaddr *) &ss, ip, iplen, port, &family);
  }
  if (is_any(ip))
    snprintf(ip, iplen, "%s", ctx->local_ip[0] != '\0' ? ctx->local_ip : "0.0.0.0");
}

void ex_capture_message(struct eXosip_t *ctx, int direction, int proto, const struct sockaddr *remote,
                        long conn_id, const char *buf, size_t len)
{
  struct ex_capture *cap = ctx->capture;
  struct ex_cap_rec *r;
  struct timespec ts;
  if (cap == NULL || buf == NULL)
    return;
  pthread_mutex_lock(&cap->lock);
  if (cap->count >= cap->max_messages || cap->bytes + len > cap->max_bytes) {
    cap->dropped++;
    pthread_mutex_unlock(&cap->lock);
    return;
  }
  pthread_mutex_unlock(&cap->lock);
  r = malloc(sizeof(*r) + len + 1);
  if (r == NULL) {
    pthread_mutex_lock(&cap->lock);
    cap->dropped++;
    pthread_mutex_unlock(&cap->lock);
    return;
  }
  memset(r, 0, sizeof(*r));
  r->pub.direction = direction;
  r->pub.transport = proto;
  addr_text(remote, r->pub.remote_ip, sizeof(r->pub.remote_ip), &r->pub.remote_port, &r->pub.family);
  local_addr(ctx, cap, proto, conn_id, r->pub.local_ip, sizeof(r->pub.local_ip), &r->pub.local_port);
  clock_gettime(CLOCK_REALTIME, &ts);
  r->pub.time_us = (long long) ts.tv_sec * 1000000LL + ts.tv_nsec / 1000;
  r->pub.length = len;
  memcpy(r->pub.text, buf, len);
  r->pub.text[len] = '\0';
  pthread_mutex_lock(&cap->lock);
  if (cap->count >= cap->max_messages || cap->bytes + len > cap->max_bytes) {
    cap->dropped++; /* filled meanwhile (only the I/O thread and API callers add, both locked) */
    pthread_mutex_unlock(&cap->lock);
    free(r);
    return;
  }
  if (cap->tail != NULL)
    cap->tail->next = r;
  else
    cap->head = r;
  cap->tail = r;
  cap->count++;
  cap->bytes += len;
  pthread_mutex_unlock(&cap->lock);
}

static void discard_all(struct ex_capture *cap)
{
  while (cap->head != NULL) {
    struct ex_cap_rec *r = cap->head;
    cap->head = r->next;
    free(r);
  }
  cap->tail = NULL;
  cap->count = 0;
  cap->bytes = 0;
}

EXOSIP_API int eXosip_core_capture(struct eXosip_t *excontext, int max_messages, size_t max_bytes)
{
  struct eXosip_t *ctx = excontext;
  struct ex_capture *cap;
  if (ctx == NULL || !ctx->initialized || max_messages < 0)
    return OSIP_BADPARAMETER;
  ex_ctx_lock(ctx);
  if (ctx->capture == NULL && max_messages > 0) {
    cap = calloc(1, sizeof(*cap));
    if (cap == NULL) {
      ex_ctx_unlock(ctx);
      return OSIP_NOMEM;
    }
    pthread_mutex_init(&cap->lock, NULL);
    cap->udp_fd_seen = -2;
    ctx->capture = cap;
  }
  cap = ctx->capture;
  if (cap != NULL) {
    pthread_mutex_lock(&cap->lock);
    if (max_messages == 0) {
      discard_all(cap);
    } else if (!ctx->capture_on) {
      cap->dropped = 0;
    }
    cap->max_messages = max_messages;
    cap->max_bytes = max_bytes > 0 ? max_bytes : DEFAULT_MAX_BYTES;
    cap->udp_fd_seen = -2;
    pthread_mutex_unlock(&cap->lock);
  }
  ctx->capture_on = max_messages > 0;
  ex_ctx_unlock(ctx);
  return OSIP_SUCCESS;
}

EXOSIP_API struct eXosip_core_captured *eXosip_core_capture_next(struct eXosip_t *excontext)
{
  struct ex_capture *cap = excontext != NULL ? excontext->capture : NULL;
  struct ex_cap_rec *r;
  if (cap == NULL)
    return NULL;
  pthread_mutex_lock(&cap->lock);
  r = cap->head;
  if (r != NULL) {
    cap->head = r->next;
    if (cap->head == NULL)
      cap->tail = NULL;
    cap->count--;
    cap->bytes -= r->pub.length;
  }
  pthread_mutex_unlock(&cap->lock);
  return r != NULL ? &r->pub : NULL;
}

EXOSIP_API void eXosip_core_captured_free(struct eXosip_core_captured *msg)
{
  if (msg != NULL)
    free((char *) msg - offsetof(struct ex_cap_rec, pub));
}

EXOSIP_API int eXosip_core_capture_queued(struct eXosip_t *excontext)
{
  struct ex_capture *cap = excontext != NULL ? excontext->capture : NULL;
  return cap != NULL ? __atomic_load_n(&cap->count, __ATOMIC_RELAXED) : 0;
}

EXOSIP_API unsigned long eXosip_core_capture_dropped(struct eXosip_t *excontext)
{
  struct ex_capture *cap = excontext != NULL ? excontext->capture : NULL;
  unsigned long n;
  if (cap == NULL)
    return 0;
  pthread_mutex_lock(&cap->lock);
  n = cap->dropped;
  pthread_mutex_unlock(&cap->lock);
  return n;
}

EXOSIP_API int eXosip_core_listen_errno(struct eXosip_t *excontext)
{
  return excontext != NULL ? excontext->listen_errno : 0;
}

void ex_capture_free(struct eXosip_t *ctx)
{
  struct ex_capture *cap = ctx->capture;
  if (cap == NULL)
    return;
  ctx->capture_on = 0;
  ctx->capture = NULL;
  discard_all(cap);
  pthread_mutex_destroy(&cap->lock);
  free(cap);
}
