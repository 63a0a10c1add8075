/* SPDX-License-Identifier: Apache-2.0 */
/* TCP: the listening socket, connections in both directions, Content-Length framing and limits. */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/tcp.h>
#include <fcntl.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>

#include "exosip_internal.h"

#define MAX_OUT_BYTES (4 * 1024 * 1024)
#define SWEEP_EVERY_US (5ULL * 1000000ULL)

static void addr_key(const struct sockaddr *sa, char *out, size_t size)
{
  char ip[INET6_ADDRSTRLEN] = "";
  int port = 0;
  if (sa->sa_family == AF_INET6) {
    const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *) sa;
    if (IN6_IS_ADDR_V4MAPPED(&sin6->sin6_addr))
      inet_ntop(AF_INET, &sin6->sin6_addr.s6_addr[12], ip, sizeof(ip));
    else
      inet_ntop(AF_INET6, &sin6->sin6_addr, ip, sizeof(ip));
    port = ntohs(sin6->sin6_port);
  } else if (sa->sa_family == AF_INET) {
    const struct sockaddr_in *sin = (const struct sockaddr_in *) sa;
    inet_ntop(AF_INET, &sin->sin_addr, ip, sizeof(ip));
    port = ntohs(sin->sin_port);
  }
  snprintf(out, size, "%s|%d", ip, port);
}

int ex_tcp_open(struct eXosip_t *ctx, const char *addr, int port, int family)
{
  int fd, bound, one = 1, rc;
  if (ctx->tcp_fd >= 0)
    return OSIP_WRONG_STATE;
  fd = socket(family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0)
    return OSIP_NO_NETWORK;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  bound = ex_bind_socket(fd, addr, port, family);
  if (bound < 0) {
    rc = bound;
    goto cleanup;
  }
  if (listen(fd, 512) != 0) {
    rc = OSIP_NO_NETWORK;
    goto cleanup;
  }
  rc = ex_epoll_add(ctx, fd, EPOLLIN, EX_TAG_TCP_LISTEN);
  if (rc != OSIP_SUCCESS)
    goto cleanup;
  {
    struct rlimit rl;
    ctx->max_conns = EX_MAX_TCP_CONNS;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY
        && (rlim_t) ctx->max_conns + 64 > rl.rlim_cur)
      ctx->max_conns = rl.rlim_cur > 128 ? (int) rl.rlim_cur - 64 : 64;
  }
  ctx->reserve_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
  ctx->tcp_fd = fd;
  ctx->tcp_family = family;
  ctx->tcp_port = bound;
  ex_arm(ctx, &ctx->sweep, ex_now_us() + SWEEP_EVERY_US);
  return OSIP_SUCCESS;
cleanup:
  close(fd);
  return rc;
}

static void conn_close(struct eXosip_t *ctx, struct ex_conn *c)
{
  ex_hmap_del_int(&ctx->conns_by_id, c->id);
  if (ex_hmap_get_str(&ctx->conns_by_addr, c->addrkey) == c)
    ex_hmap_del_str(&ctx->conns_by_addr, c->addrkey);
  if (c->prev != NULL)
    c->prev->next = c->next;
  else
    ctx->conns = c->next;
  if (c->next != NULL)
    c->next->prev = c->prev;
  ctx->nconns--;
  close(c->fd);
  free(c->in);
  free(c->out);
  free(c);
}

/* Move c to the front of the list: the list stays ordered by last activity. */
static void touch(struct eXosip_t *ctx, struct ex_conn *c)
{
  c->last_active = ex_now_us();
  if (ctx->conns == c)
    return;
  if (c->prev != NULL)
    c->prev->next = c->next;
  if (c->next != NULL)
    c->next->prev = c->prev;
  c->prev = NULL;
  c->next = ctx->conns;
  if (ctx->conns != NULL)
    ctx->conns->prev = c;
  ctx->conns = c;
}

static struct ex_conn *conn_new(struct eXosip_t *ctx, int fd, const struct sockaddr *peer, socklen_t peerlen)
{
  struct ex_conn *c;
  int one = 1;
  if (ctx->nconns >= (ctx->max_conns > 0 ? ctx->max_conns : EX_MAX_TCP_CONNS))
    return NULL;
  c = calloc(1, sizeof(*c));
  if (c == NULL)
    return NULL;
  c->fd = fd;
  c->id = ctx->next_conn_id++;
  memcpy(&c->peer, peer, peerlen);
  c->peerlen = peerlen;
  addr_key(peer, c->addrkey, sizeof(c->addrkey));
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  if (ex_hmap_put_int(&ctx->conns_by_id, c->id, c) != OSIP_SUCCESS) {
    free(c);
    return NULL;
  }
  ex_hmap_put_str(&ctx->conns_by_addr, c->addrkey, c);
  c->next = ctx->conns;
  if (ctx->conns != NULL)
    ctx->conns->prev = c;
  ctx->conns = c;
  ctx->nconns++;
  c->last_active = ex_now_us();
  return c;
}

void ex_tcp_accept(struct eXosip_t *ctx)
{
  int i;
  for (i = 0; i < 64; i++) {
    struct sockaddr_storage peer;
    socklen_t len = sizeof(peer);
    struct ex_conn *c;
    int fd = accept4(ctx->tcp_fd, (struct sockaddr *) &peer, &len, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) {
      if ((errno == EMFILE || errno == ENFILE) && ctx->reserve_fd >= 0) {
        /* out of descriptors: take the pending connection with the spare one and drop it, or
         * the listening socket would stay readable and the loop would spin */
        close(ctx->reserve_fd);
        fd = accept(ctx->tcp_fd, NULL, NULL);
        if (fd >= 0)
          close(fd);
        ctx->reserve_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
        ctx->conns_closed++;
        continue;
      }
      return;
    }
    if (ctx->nconns >= ctx->max_conns) {
      /* make room: the least recently active connection goes */
      struct ex_conn *old = ctx->conns;
      while (old != NULL && old->next != NULL)
        old = old->next;
      if (old != NULL) {
        conn_close(ctx, old);
        ctx->conns_closed++;
      }
    }
    c = conn_new(ctx, fd, (struct sockaddr *) &peer, len);
    if (c == NULL || ex_epoll_add(ctx, fd, EPOLLIN, (uint64_t) c->id) != OSIP_SUCCESS) {
      if (c != NULL)
        conn_close(ctx, c);
      else
        close(fd);
      ctx->conns_closed++;
    }
  }
}

static int flush_out(struct eXosip_t *ctx, struct ex_conn *c)
{
  while (c->outlen > 0) {
    ssize_t n = send(c->fd, c->out, c->outlen, MSG_DONTWAIT | MSG_NOSIGNAL);
    if (n < 0) {
      if (errno == EAGAIN || errno == EWOULDBLOCK)
        break;
      return -1;
    }
    memmove(c->out, c->out + n, c->outlen - (size_t) n);
    c->outlen -= (size_t) n;
  }
  ex_epoll_mod(ctx, c->fd, c->outlen > 0 ? EPOLLIN | EPOLLOUT : EPOLLIN, (uint64_t) c->id);
  return 0;
}

static int queue_out(struct eXosip_t *ctx, struct ex_conn *c, const char *buf, size_t len)
{
  if (c->outlen + len > MAX_OUT_BYTES)
    return -1;
  if (c->outlen + len > c->outcap) {
    size_t cap = c->outcap ? c->outcap : 4096;
    char *p;
    while (cap < c->outlen + len)
      cap *= 2;
    p = realloc(c->out, cap);
    if (p == NULL)
      return -1;
    c->out = p;
    c->outcap = cap;
  }
  memcpy(c->out + c->outlen, buf, len);
  c->outlen += len;
  if (c->connecting)
    return 0;
  return flush_out(ctx, c);
}

static struct ex_conn *connect_to(struct eXosip_t *ctx, const struct ex_dest *dest)
{
  struct ex_conn *c;
  int fd = socket(dest->sa.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0)
    return NULL;
  if (connect(fd, (const struct sockaddr *) &dest->sa, dest->salen) != 0 && errno != EINPROGRESS) {
    close(fd);
    return NULL;
  }
  c = conn_new(ctx, fd, (const struct sockaddr *) &dest->sa, dest->salen);
  if (c == NULL) {
    close(fd);
    return NULL;
  }
  c->connecting = 1;
  if (ex_epoll_add(ctx, fd, EPOLLIN | EPOLLOUT, (uint64_t) c->id) != OSIP_SUCCESS) {
    conn_close(ctx, c);
    return NULL;
  }
  return c;
}

int ex_tcp_send(struct eXosip_t *ctx, const struct ex_dest *dest, const char *buf, size_t len)
{
  struct ex_conn *c = NULL;
  char key[80];
  if (dest->conn_id > 0)
    c = ex_hmap_get_int(&ctx->conns_by_id, dest->conn_id);
  if (c == NULL) {
    addr_key((const struct sockaddr *) &dest->sa, key, sizeof(key));
    c = ex_hmap_get_str(&ctx->conns_by_addr, key);
  }
  if (c == NULL)
    c = connect_to(ctx, dest);
  if (c == NULL)
    return OSIP_NO_NETWORK;
  if (queue_out(ctx, c, buf, len) != 0) {
    conn_close(ctx, c);
    ctx->conns_closed++;
    return OSIP_NO_NETWORK;
  }
  return OSIP_SUCCESS;
}

/* Length of the header part (through the blank line) or 0 when incomplete. */
static size_t header_end(const char *p, size_t len)
{
  size_t i;
  for (i = 3; i < len; i++)
    if (p[i] == '\n' && p[i - 1] == '\r' && p[i - 2] == '\n' && p[i - 3] == '\r')
      return i + 1;
  return 0;
}

/* Content-Length (or its compact form "l") of a header block; -1 when malformed. */
static long content_length(const char *p, size_t hlen)
{
  size_t i = 0;
  while (i < hlen) {
    size_t eol = i;
    while (eol < hlen && p[eol] != '\n')
      eol++;
    if (eol - i > 15 && strncasecmp(p + i, "content-length", 14) == 0
        && (p[i + 14] == ':' || p[i + 14] == ' ' || p[i + 14] == '\t')) {
      const char *q = p + i + 14;
      char *end;
      long v;
      while (*q == ' ' || *q == '\t' || *q == ':')
        q++;
      v = strtol(q, &end, 10);
      return end == q || v < 0 ? -1 : v;
    }
    if (eol - i > 2 && (p[i] == 'l' || p[i] == 'L') && (p[i + 1] == ':' || p[i + 1] == ' ')) {
      const char *q = p + i + 1;
      char *end;
      long v;
      while (*q == ' ' || *q == '\t' || *q == ':')
        q++;
      v = strtol(q, &end, 10);
      return end == q || v < 0 ? -1 : v;
    }
    i = eol + 1;
  }
  return 0;
}

/* Hand every complete message in the buffer to ex_incoming; -1 when the stream must be closed. */
static int consume(struct eXosip_t *ctx, struct ex_conn *c)
{
  size_t off = 0;
  int rc = 0;
  while (off < c->inlen) {
    char *p = c->in + off;
    size_t avail = c->inlen - off, hlen;
    long blen;
    if (*p == '\r' || *p == '\n') { /* keep-alive CRLFs between messages */
      off++;
      continue;
    }
    hlen = header_end(p, avail < EX_MAX_HEADER_BYTES + 4 ? avail : EX_MAX_HEADER_BYTES + 4);
    if (hlen == 0) {
      if (avail > EX_MAX_HEADER_BYTES)
        rc = -1;
      break;
    }
    blen = content_length(p, hlen);
    if (blen < 0 || blen > EX_MAX_BODY_BYTES) {
      rc = -1;
      break;
    }
    if (avail < hlen + (size_t) blen)
      break;
    ex_incoming(ctx, p, hlen + (size_t) blen, IPPROTO_TCP, (struct sockaddr *) &c->peer, c->peerlen, c->id);
    off += hlen + (size_t) blen;
    if (ex_hmap_get_int(&ctx->conns_by_id, c->id) != c)
      return -2; /* closed meanwhile */
  }
  if (off > 0 && rc == 0) {
    memmove(c->in, c->in + off, c->inlen - off);
    c->inlen -= off;
  }
  return rc;
}

void ex_tcp_event(struct eXosip_t *ctx, long conn_id, uint32_t events)
{
  struct ex_conn *c = ex_hmap_get_int(&ctx->conns_by_id, conn_id);
  if (c == NULL)
    return;
  touch(ctx, c);
  if (c->connecting && (events & (EPOLLOUT | EPOLLERR | EPOLLHUP))) {
    int err = 0;
    socklen_t len = sizeof(err);
    if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0 || err != 0) {
      conn_close(ctx, c);
      return;
    }
    c->connecting = 0;
  }
  if (!c->connecting && (events & EPOLLOUT)) {
    if (flush_out(ctx, c) != 0) {
      conn_close(ctx, c);
      return;
    }
  }
  if (events & EPOLLIN) {
    int rounds;
    for (rounds = 0; rounds < 16; rounds++) {
      ssize_t n;
      int rc;
      if (c->incap - c->inlen < 4096) {
        size_t cap = c->incap ? c->incap * 2 : 8192;
        char *p;
        if (cap > EX_MAX_HEADER_BYTES + EX_MAX_BODY_BYTES + 8192)
          cap = EX_MAX_HEADER_BYTES + EX_MAX_BODY_BYTES + 8192;
        if (cap <= c->incap) {
          ctx->dropped++;
          ctx->conns_closed++;
          conn_close(ctx, c);
          return;
        }
        p = realloc(c->in, cap);
        if (p == NULL) {
          conn_close(ctx, c);
          return;
        }
        c->in = p;
        c->incap = cap;
      }
      n = recv(c->fd, c->in + c->inlen, c->incap - c->inlen, MSG_DONTWAIT);
      if (n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)) {
        conn_close(ctx, c);
        return;
      }
      if (n < 0)
        break;
      c->inlen += (size_t) n;
      rc = consume(ctx, c);
      if (rc == -2)
        return;
      if (rc < 0) {
        ctx->dropped++;
        ctx->conns_closed++;
        conn_close(ctx, c);
        return;
      }
    }
  } else if (events & (EPOLLHUP | EPOLLERR)) {
    conn_close(ctx, c);
  }
}

void ex_tcp_sweep(struct eXosip_t *ctx)
{
  uint64_t now = ex_now_us();
  struct ex_conn *c = ctx->conns, *tail = NULL;
  /* the list is ordered by activity: idle connections are at its end */
  while (c != NULL) {
    tail = c;
    c = c->next;
  }
  while (tail != NULL && now - tail->last_active > (uint64_t) EX_TCP_IDLE_MS * 1000ULL) {
    struct ex_conn *prev = tail->prev;
    conn_close(ctx, tail);
    ctx->conns_closed++;
    tail = prev;
  }
  if (ctx->tcp_fd >= 0 || ctx->conns != NULL)
    ex_arm(ctx, &ctx->sweep, now + SWEEP_EVERY_US);
}

void ex_tcp_close_all(struct eXosip_t *ctx)
{
  while (ctx->conns != NULL)
    conn_close(ctx, ctx->conns);
  if (ctx->reserve_fd >= 0)
    close(ctx->reserve_fd);
  ctx->reserve_fd = -1;
}
