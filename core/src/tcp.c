/* SPDX-License-Identifier: Apache-2.0 */
/* TCP and TLS: the listening sockets, connections in both directions, Content-Length framing and
 * limits. A TLS connection is a TCP one with an OpenSSL session attached (tls.c): the same
 * lifetime, buffers, framing and bounds, with its bytes moved through the session. */
#define _GNU_SOURCE
#include <errno.h>
#include <limits.h>
#include <stdint.h>
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

/* Bytes queued for a peer that does not read; SIP answers are small, so a peer this far behind
 * is gone or hostile. */
#define MAX_OUT_BYTES (512 * 1024)
/* An empty buffer larger than this is given back: idle connections hold little. */
#define KEEP_BUF_BYTES (16 * 1024)
/* How long a half-closed connection (the peer shut its sending side) is kept for our answers:
 * the lifetime of a non-INVITE transaction, 64*T1. */
#define EOF_LINGER_US (64ULL * EX_T1 * 1000ULL)
#define SWEEP_MAX_US (5ULL * 1000000ULL)
#define SWEEP_MIN_US (50ULL * 1000ULL)
#define READ_ROUNDS 8

static void addr_ip(const struct sockaddr *sa, char *ip, size_t size, int *port)
{
  ip[0] = '\0';
  *port = 0;
  if (sa->sa_family == AF_INET6) {
    const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *) sa;
    if (IN6_IS_ADDR_V4MAPPED(&sin6->sin6_addr))
      inet_ntop(AF_INET, &sin6->sin6_addr.s6_addr[12], ip, (socklen_t) size);
    else
      inet_ntop(AF_INET6, &sin6->sin6_addr, ip, (socklen_t) size);
    *port = ntohs(sin6->sin6_port);
  } else if (sa->sa_family == AF_INET) {
    const struct sockaddr_in *sin = (const struct sockaddr_in *) sa;
    inet_ntop(AF_INET, &sin->sin_addr, ip, (socklen_t) size);
    *port = ntohs(sin->sin_port);
  }
}

/* TLS and plain connections to one address are kept apart: a request for one never takes the other. */
static void addr_key(const struct sockaddr *sa, int secure, char *out, size_t size)
{
  char ip[INET6_ADDRSTRLEN];
  int port;
  addr_ip(sa, ip, sizeof(ip), &port);
  snprintf(out, size, "%s|%d%s", ip, port, secure ? "|tls" : "");
}

/* The effective bound on open connections: the option, never above what descriptors allow. */
static int conn_limit(const struct eXosip_t *ctx)
{
  int lim = ctx->limits.max_tcp_conns;
  if (ctx->max_conns > 0 && ctx->max_conns < lim)
    lim = ctx->max_conns;
  return lim > 0 ? lim : 1;
}

/* The sweep runs often enough for the shortest of the two timeouts. */
static uint64_t sweep_interval_us(const struct eXosip_t *ctx)
{
  uint64_t a = (uint64_t) ctx->limits.tcp_message_timeout_ms * 1000ULL / 2;
  uint64_t b = (uint64_t) ctx->limits.tcp_idle_timeout_ms * 1000ULL / 2;
  uint64_t v = a < b ? a : b;
  if (v > SWEEP_MAX_US)
    v = SWEEP_MAX_US;
  return v < SWEEP_MIN_US ? SWEEP_MIN_US : v;
}

static int source_count(struct eXosip_t *ctx, const char *src)
{
  if (ctx->conns_by_source.buckets == NULL)
    return 0;
  return (int) (intptr_t) ex_hmap_get_str(&ctx->conns_by_source, src);
}

static int source_add(struct eXosip_t *ctx, const char *src, int delta)
{
  int n;
  if (ctx->conns_by_source.buckets == NULL && ex_hmap_init(&ctx->conns_by_source, 64) != OSIP_SUCCESS)
    return OSIP_NOMEM;
  n = source_count(ctx, src) + delta;
  if (n <= 0) {
    ex_hmap_del_str(&ctx->conns_by_source, src);
    return OSIP_SUCCESS;
  }
  return ex_hmap_put_str(&ctx->conns_by_source, src, (void *) (intptr_t) n);
}

static int open_listener(struct eXosip_t *ctx, const char *addr, int port, int family, uint64_t tag,
                         int *bound_out)
{
  int fd, bound, one = 1, rc;
  ctx->listen_errno = 0;
  fd = socket(family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    ctx->listen_errno = errno;
    return OSIP_NO_NETWORK;
  }
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  ex_netopt_listen_socket(ctx, fd); /* netopts.c: EXOSIP_OPT_ENABLE_REUSE_TCP_PORT */
  bound = ex_bind_socket(fd, addr, port, family);
  if (bound < 0) {
    rc = bound;
    goto cleanup;
  }
  if (listen(fd, 512) != 0) {
    rc = OSIP_NO_NETWORK;
    goto cleanup;
  }
  rc = ex_epoll_add(ctx, fd, EPOLLIN, tag);
  if (rc != OSIP_SUCCESS)
    goto cleanup;
  ex_netopt_socket(ctx, fd, family); /* EXOSIP_OPT_SET_DSCP, inherited by accepted sockets */
  if (ctx->reserve_fd < 0) {
    /* each connection is a descriptor: keep 64 for everything else the process opens */
    struct rlimit rl;
    ctx->max_conns = 0;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY)
      ctx->max_conns = rl.rlim_cur > 128 ? (int) (rl.rlim_cur > (rlim_t) INT_MAX ? INT_MAX : rl.rlim_cur) - 64 : 64;
    ctx->reserve_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
  }
  ex_arm(ctx, &ctx->sweep, ex_now_us() + sweep_interval_us(ctx));
  *bound_out = bound;
  return fd;
cleanup:
  if (rc == OSIP_NO_NETWORK)
    ctx->listen_errno = errno; /* eXosip_core_listen_errno */
  close(fd);
  return rc;
}

int ex_tcp_open(struct eXosip_t *ctx, const char *addr, int port, int family)
{
  int bound = 0, fd;
  if (ctx->tcp_fd >= 0)
    return OSIP_WRONG_STATE;
  fd = open_listener(ctx, addr, port, family, EX_TAG_TCP_LISTEN, &bound);
  if (fd < 0)
    return fd;
  ctx->tcp_fd = fd;
  ctx->tcp_family = family;
  ctx->tcp_port = bound;
  return OSIP_SUCCESS;
}

int ex_tls_open(struct eXosip_t *ctx, const char *addr, int port, int family)
{
  int bound = 0, fd;
  if (ctx->tls_fd >= 0)
    return OSIP_WRONG_STATE;
  if (!ctx->tls_has_cert) /* a TLS server has to present a certificate */
    return OSIP_BADPARAMETER;
  fd = open_listener(ctx, addr, port, family, EX_TAG_TLS_LISTEN, &bound);
  if (fd < 0)
    return fd;
  ctx->tls_fd = fd;
  ctx->tls_family = family;
  ctx->tls_port = bound;
  return OSIP_SUCCESS;
}

static void conn_free(struct ex_conn *c)
{
  ex_tls_detach(c);
  free(c->in);
  free(c->out);
  free(c);
}

/* Free the connections closed while tcp.c's receive or sweep path ran, once none of it runs. */
static void reap(struct eXosip_t *ctx)
{
  if (ctx->tcp_depth > 0)
    return;
  while (ctx->conns_dead != NULL) {
    struct ex_conn *c = ctx->conns_dead;
    ctx->conns_dead = c->dead_next;
    conn_free(c);
  }
}

/*
 * Close a connection. It leaves every index and its descriptor is closed at once, so nothing
 * can find or use it again; the struct itself is freed only when no code that may still hold
 * it runs: a message handed to ex_incoming from consume() can be answered, and that answer can
 * fail and close the very connection consume() is walking.
 */
static void conn_close(struct eXosip_t *ctx, struct ex_conn *c)
{
  if (c->closing)
    return;
  c->closing = 1;
  ex_hmap_del_int(&ctx->conns_by_id, c->id);
  if (ex_hmap_get_str(&ctx->conns_by_addr, c->addrkey) == c)
    ex_hmap_del_str(&ctx->conns_by_addr, c->addrkey);
  if (c->inbound)
    source_add(ctx, c->srckey, -1);
  if (c->prev != NULL)
    c->prev->next = c->next;
  else
    ctx->conns = c->next;
  if (c->next != NULL)
    c->next->prev = c->prev;
  c->prev = c->next = NULL;
  ctx->nconns--;
  ex_tls_shutdown(c);
  close(c->fd);
  c->fd = -1;
  c->dead_next = ctx->conns_dead;
  ctx->conns_dead = c;
  reap(ctx);
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

/*
 * Make room for one more connection when the table is full. Connections that never delivered a
 * complete message go first (a peer that opens connections and sends nothing, or drips, is the
 * cheap attack), the least recently active of them first; only then the least recently active
 * of the others.
 */
static void make_room(struct eXosip_t *ctx)
{
  while (ctx->nconns >= conn_limit(ctx) && ctx->conns != NULL) {
    struct ex_conn *tail = ctx->conns, *victim = NULL, *c;
    while (tail->next != NULL)
      tail = tail->next;
    for (c = tail; c != NULL && victim == NULL; c = c->prev)
      if (c->inbound && c->completed == 0)
        victim = c;
    conn_close(ctx, victim != NULL ? victim : tail);
    ctx->conns_closed++;
  }
}

static struct ex_conn *conn_new(struct eXosip_t *ctx, int fd, const struct sockaddr *peer, socklen_t peerlen,
                                int secure)
{
  struct ex_conn *c;
  int one = 1, port;
  make_room(ctx);
  c = calloc(1, sizeof(*c));
  if (c == NULL)
    return NULL;
  c->fd = fd;
  c->id = ctx->next_conn_id++;
  memcpy(&c->peer, peer, peerlen);
  c->peerlen = peerlen;
  addr_key(peer, secure, c->addrkey, sizeof(c->addrkey));
  addr_ip(peer, c->srckey, sizeof(c->srckey), &port);
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

/* The epoll interest of c: reads until the peer's EOF, writes while something waits. */
static void conn_watch(struct eXosip_t *ctx, struct ex_conn *c)
{
  uint32_t ev = c->peer_eof ? 0 : EPOLLIN;
  if (c->connecting || c->want_write || (c->outlen > 0 && !c->handshaking))
    ev |= EPOLLOUT;
  ex_epoll_mod(ctx, c->fd, ev, (uint64_t) c->id);
}

static void accept_on(struct eXosip_t *ctx, int lfd, int secure)
{
  int i;
  ctx->tcp_depth++;
  for (i = 0; i < 64; i++) {
    struct sockaddr_storage peer;
    socklen_t len = sizeof(peer);
    struct ex_conn *c;
    char src[INET6_ADDRSTRLEN];
    int port;
    int fd = accept4(lfd, (struct sockaddr *) &peer, &len, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) {
      if ((errno == EMFILE || errno == ENFILE) && ctx->reserve_fd >= 0) {
        /* out of descriptors: take the pending connection with the spare one and drop it, or
         * the listening socket would stay readable and the loop would spin */
        close(ctx->reserve_fd);
        fd = accept(lfd, NULL, NULL);
        if (fd >= 0)
          close(fd);
        ctx->reserve_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
        ctx->conns_closed++;
        continue;
      }
      break;
    }
    addr_ip((struct sockaddr *) &peer, src, sizeof(src), &port);
    if (source_count(ctx, src) >= ctx->limits.max_tcp_conns_per_source) {
      /* refused before it costs anything; it cannot push out other sources' connections */
      close(fd);
      ctx->conns_closed++;
      continue;
    }
    c = conn_new(ctx, fd, (struct sockaddr *) &peer, len, secure);
    if (c == NULL) {
      close(fd);
      ctx->conns_closed++;
      continue;
    }
    c->inbound = 1;
    if (secure && ex_tls_attach(ctx, c, 1, NULL) != 0) {
      c->inbound = 0;
      conn_close(ctx, c);
      ctx->conns_closed++;
      continue;
    }
    if (source_add(ctx, c->srckey, 1) != OSIP_SUCCESS) {
      c->inbound = 0;
      conn_close(ctx, c);
      ctx->conns_closed++;
      continue;
    }
    if (ex_epoll_add(ctx, fd, EPOLLIN, (uint64_t) c->id) != OSIP_SUCCESS) {
      conn_close(ctx, c);
      ctx->conns_closed++;
    }
  }
  ctx->tcp_depth--;
  reap(ctx);
}

void ex_tcp_accept(struct eXosip_t *ctx)
{
  accept_on(ctx, ctx->tcp_fd, 0);
}

void ex_tls_accept(struct eXosip_t *ctx)
{
  accept_on(ctx, ctx->tls_fd, 1);
}

/* Bytes written to the peer (through TLS when c has a session), 0 when the socket is full, -1 on error. */
static long conn_send(struct ex_conn *c, const char *buf, size_t len)
{
  for (;;) {
    ssize_t n;
    if (c->ssl != NULL)
      return ex_tls_write(c, buf, len);
    n = send(c->fd, buf, len, MSG_DONTWAIT | MSG_NOSIGNAL);
    if (n >= 0)
      return (long) n;
    if (errno == EAGAIN || errno == EWOULDBLOCK)
      return 0;
    if (errno != EINTR)
      return -1;
  }
}

/* 1 when a request starts at p (an answer to it is owed: not a response, not an ACK). */
static int owes_answer(const char *p, size_t len)
{
  if (len >= 4 && memcmp(p, "SIP/", 4) == 0)
    return 0;
  return !(len >= 4 && memcmp(p, "ACK ", 4) == 0);
}

/* 1 when buf is a final response (status 200..699). */
static int is_final_answer(const char *buf, size_t len)
{
  return len > 8 && memcmp(buf, "SIP/2.0 ", 8) == 0 && buf[8] >= '2' && buf[8] <= '6';
}

/*
 * After the peer's EOF nothing more can arrive on a connection: it is kept only while a request
 * it carried waits for its final answer and while our output drains, then closed (it stayed in
 * CLOSE-WAIT for 64*T1 otherwise, holding a slot of the per-source limit). Returns 1 when closed.
 */
static int close_if_done(struct eXosip_t *ctx, struct ex_conn *c)
{
  if (c->closing || !c->peer_eof || c->awaiting > 0 || c->outlen > 0)
    return 0;
  conn_close(ctx, c);
  return 1;
}

static int flush_out(struct eXosip_t *ctx, struct ex_conn *c)
{
  size_t sent = 0;
  if (c->handshaking) /* nothing goes out before the peer is known: it waits in `out` */
    return 0;
  while (sent < c->outlen) {
    long n = conn_send(c, c->out + sent, c->outlen - sent);
    if (n < 0)
      return -1;
    if (n == 0)
      break;
    sent += (size_t) n;
  }
  if (sent > 0) {
    memmove(c->out, c->out + sent, c->outlen - sent);
    c->outlen -= sent;
  }
  if (c->outlen == 0 && c->outcap > KEEP_BUF_BYTES) { /* a burst is over: give its buffer back */
    free(c->out);
    c->out = NULL;
    c->outcap = 0;
  }
  conn_watch(ctx, c);
  close_if_done(ctx, c);
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
  if (c->connecting || c->handshaking)
    return 0;
  return flush_out(ctx, c);
}

static struct ex_conn *connect_to(struct eXosip_t *ctx, const struct ex_dest *dest)
{
  struct ex_conn *c;
  int fd = socket(dest->sa.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd >= 0)
    ex_netopt_socket(ctx, fd, dest->sa.ss_family); /* EXOSIP_OPT_SET_DSCP */
  if (fd < 0)
    return NULL;
  if (ex_netopt_bind_outgoing(ctx, fd, dest->sa.ss_family) != 0) { /* netopts.c: OC_*, REUSE_TCP_PORT */
    close(fd);
    return NULL;
  }
  if (connect(fd, (const struct sockaddr *) &dest->sa, dest->salen) != 0 && errno != EINPROGRESS) {
    close(fd);
    return NULL;
  }
  c = conn_new(ctx, fd, (const struct sockaddr *) &dest->sa, dest->salen, dest->secure);
  if (c == NULL) {
    close(fd);
    return NULL;
  }
  if (dest->secure) {
    char ip[INET6_ADDRSTRLEN];
    int port;
    addr_ip((const struct sockaddr *) &dest->sa, ip, sizeof(ip), &port);
    if (ex_tls_attach(ctx, c, 0, dest->host[0] != '\0' ? dest->host : ip) != 0) {
      conn_close(ctx, c);
      return NULL;
    }
  }
  c->connecting = 1;
  if (ex_epoll_add(ctx, fd, EPOLLIN | EPOLLOUT, (uint64_t) c->id) != OSIP_SUCCESS) {
    conn_close(ctx, c);
    return NULL;
  }
  return c;
}

/*
 * Safe from anywhere, the receive path included: a failing send closes the connection, and
 * conn_close() defers the free while tcp.c's receive path holds it.
 */
int ex_tcp_send(struct eXosip_t *ctx, const struct ex_dest *dest, const char *buf, size_t len)
{
  struct ex_conn *c = NULL;
  char key[80];
  if (dest->conn_id > 0)
    c = ex_hmap_get_int(&ctx->conns_by_id, dest->conn_id);
  if (c == NULL) {
    addr_key((const struct sockaddr *) &dest->sa, dest->secure, key, sizeof(key));
    c = ex_hmap_get_str(&ctx->conns_by_addr, key);
  }
  if (c == NULL && ctx->force_reuse) {
    /* EXOSIP_OPT_FORCE_CONNECTIONREUSE: any open connection with the peer's address, the most
     * recently active first (the list order), whatever its port; one the peer opened to us
     * (its Contact names its listening port, not the port of that connection) is preferred */
    char ip[INET6_ADDRSTRLEN];
    int port;
    struct ex_conn *any = NULL, *it;
    addr_ip((const struct sockaddr *) &dest->sa, ip, sizeof(ip), &port);
    for (it = ctx->conns; it != NULL && c == NULL; it = it->next) {
      if (it->closing || it->peer_eof || strcmp(it->srckey, ip) != 0 || (it->ssl != NULL) != (dest->secure != 0))
        continue; /* never a TLS request on a plain connection, nor the other way round */
      if (it->inbound)
        c = it;
      else if (any == NULL)
        any = it;
    }
    if (c == NULL)
      c = any;
  }
  if (c == NULL)
    c = connect_to(ctx, dest);
  if (c == NULL)
    return OSIP_NO_NETWORK;
  if (c->awaiting > 0 && is_final_answer(buf, len))
    c->awaiting--;
  if (queue_out(ctx, c, buf, len) != 0) {
    conn_close(ctx, c);
    ctx->conns_closed++;
    return OSIP_NO_NETWORK;
  }
  return OSIP_SUCCESS;
}

/*
 * Length of the header part (through the blank line) or 0 when incomplete. The search resumes
 * where the previous one stopped (*scanned), so a peer that drips a header a byte at a time
 * costs one byte of scanning per byte, not the whole header again.
 */
static size_t header_end(const char *p, size_t len, size_t *scanned)
{
  size_t i = *scanned > 3 ? *scanned : 3;
  for (; i < len; i++)
    if (p[i] == '\n' && p[i - 1] == '\r' && p[i - 2] == '\n' && p[i - 3] == '\r')
      return i + 1;
  *scanned = len;
  return 0;
}

/*
 * The value of a Content-Length line, from q up to eol: optional white space, then 1*DIGIT, then
 * only white space. Read within the line: strtol would take the line break for white space and
 * run on through the next lines, and past the end of the buffer. -1 when malformed or too large.
 */
static long length_value(const char *q, const char *eol)
{
  long v = 0;
  int digits = 0;
  while (q < eol && (*q == ' ' || *q == '\t' || *q == ':'))
    q++;
  for (; q < eol && *q >= '0' && *q <= '9'; q++, digits++) {
    if (v > (long) (EX_MAX_BODY_BYTES + 1) * 10)
      return -1;
    v = v * 10 + (*q - '0');
  }
  while (q < eol && (*q == ' ' || *q == '\t' || *q == '\r'))
    q++;
  return digits > 0 && q == eol ? v : -1;
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
        && (p[i + 14] == ':' || p[i + 14] == ' ' || p[i + 14] == '\t'))
      return length_value(p + i + 14, p + eol);
    if (eol - i > 2 && (p[i] == 'l' || p[i] == 'L') && (p[i + 1] == ':' || p[i + 1] == ' '))
      return length_value(p + i + 1, p + eol);
    i = eol + 1;
  }
  return 0;
}

/*
 * Hand every complete message in the buffer to ex_incoming; -1 when the stream must be closed
 * (bad framing), -2 when it was closed meanwhile (c is then only valid until the next reap).
 */
static int consume(struct eXosip_t *ctx, struct ex_conn *c)
{
  size_t off = 0;
  int rc = 0;
  while (off < c->inlen) {
    char *p = c->in + off;
    size_t avail = c->inlen - off, limit;
    if (c->hlen == 0) {
      if (*p == '\r' || *p == '\n') { /* keep-alive CRLFs between messages */
        off++;
        continue;
      }
      limit = avail < EX_MAX_HEADER_BYTES + 4 ? avail : EX_MAX_HEADER_BYTES + 4;
      c->hlen = header_end(p, limit, &c->scanned);
      if (c->hlen == 0) {
        if (avail > EX_MAX_HEADER_BYTES)
          rc = -1;
        break;
      }
      {
        long blen = content_length(p, c->hlen);
        if (blen < 0 || blen > EX_MAX_BODY_BYTES) {
          rc = -1;
          break;
        }
        c->blen = (size_t) blen;
      }
    }
    if (avail < c->hlen + c->blen)
      break;
    {
      size_t mlen = c->hlen + c->blen;
      c->hlen = c->blen = c->scanned = 0;
      c->msg_started = 0;
      c->completed++;
      if (owes_answer(p, mlen)) {
        /* counted until its final answer is sent on c; one dropped unanswered owes nothing */
        unsigned long dropped = ctx->dropped;
        int owed = ++c->awaiting;
        ex_incoming(ctx, p, mlen, IPPROTO_TCP, (struct sockaddr *) &c->peer, c->peerlen, c->id);
        if (ctx->dropped != dropped && c->awaiting == owed)
          c->awaiting--;
      } else {
        ex_incoming(ctx, p, mlen, IPPROTO_TCP, (struct sockaddr *) &c->peer, c->peerlen, c->id);
      }
      off += mlen;
    }
    if (c->closing)
      return -2;
  }
  if (rc != 0)
    return rc;
  if (off > 0) {
    memmove(c->in, c->in + off, c->inlen - off);
    c->inlen -= off;
  }
  if (c->inlen > 0) {
    if (c->msg_started == 0)
      c->msg_started = ex_now_us();
  } else if (c->incap > KEEP_BUF_BYTES) {
    free(c->in);
    c->in = NULL;
    c->incap = 0;
  }
  return 0;
}

/* The peer shut its sending side: what it sent is handled; the connection is kept while answers
 * are owed (close_if_done). */
static void peer_finished(struct eXosip_t *ctx, struct ex_conn *c)
{
  c->peer_eof = 1;
  c->eof_at = ex_now_us();
  c->inlen = 0; /* an unfinished message can never complete now */
  c->hlen = c->blen = c->scanned = 0;
  c->msg_started = 0;
  conn_watch(ctx, c);
  close_if_done(ctx, c);
}

/* The connection never came up (refused, unreachable): every request waiting in it fails now. */
static void fail_queued(struct eXosip_t *ctx, struct ex_conn *c)
{
  size_t off = 0;
  while (off < c->outlen) {
    size_t scanned = 0, hlen = header_end(c->out + off, c->outlen - off, &scanned);
    long blen = hlen > 0 ? content_length(c->out + off, hlen) : -1;
    if (blen < 0 || hlen + (size_t) blen > c->outlen - off)
      break;
    ex_transport_failed(ctx, c->out + off, hlen + (size_t) blen);
    off += hlen + (size_t) blen;
  }
}

static void conn_event(struct eXosip_t *ctx, struct ex_conn *c, uint32_t events)
{
  touch(ctx, c);
  if (c->connecting && (events & (EPOLLOUT | EPOLLERR | EPOLLHUP))) {
    int err = 0;
    socklen_t len = sizeof(err);
    if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0 || err != 0) {
      fail_queued(ctx, c);
      conn_close(ctx, c);
      return;
    }
    c->connecting = 0;
  }
  if (c->ssl != NULL && c->handshaking && !c->connecting) {
    int h = ex_tls_handshake(ctx, c);
    if (h < 0) { /* refused, not TLS, or a certificate that does not verify: nothing was sent */
      fail_queued(ctx, c);
      ctx->conns_closed++;
      conn_close(ctx, c);
      return;
    }
    if (h == 0) {
      conn_watch(ctx, c);
      return;
    }
    events |= EPOLLOUT | EPOLLIN; /* what waited goes out now; data may follow the handshake */
  }
  if (c->want_write && (events & EPOLLOUT)) {
    c->want_write = 0; /* OpenSSL's read waited for the socket to take data */
    events |= EPOLLIN;
  }
  if (!c->connecting && (events & EPOLLOUT)) {
    if (flush_out(ctx, c) != 0) {
      conn_close(ctx, c);
      return;
    }
  }
  if ((events & EPOLLIN) && !c->peer_eof) {
    int rounds;
    /* a TLS session may hold decrypted bytes that epoll cannot see: read them all now */
    for (rounds = 0; rounds < READ_ROUNDS || ex_tls_pending(c); rounds++) {
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
      if (c->ssl != NULL) {
        int eof = 0;
        n = ex_tls_read(c, c->in + c->inlen, c->incap - c->inlen, &eof);
        if (n == 0 && !eof) {
          if (c->want_write)
            conn_watch(ctx, c);
          break;
        }
      } else {
        n = recv(c->fd, c->in + c->inlen, c->incap - c->inlen, MSG_DONTWAIT);
        if (n < 0 && errno == EINTR)
          continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
          break;
      }
      if (n < 0) {
        conn_close(ctx, c);
        return;
      }
      if (n == 0) {
        /* everything complete was handed over by the previous rounds; answers still go out
         * (a client may shut its sending side right after its request) unless none can */
        if (events & (EPOLLERR | EPOLLHUP))
          conn_close(ctx, c);
        else
          peer_finished(ctx, c);
        return;
      }
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

void ex_tcp_event(struct eXosip_t *ctx, long conn_id, uint32_t events)
{
  struct ex_conn *c = ex_hmap_get_int(&ctx->conns_by_id, conn_id);
  if (c == NULL)
    return;
  ctx->tcp_depth++;
  conn_event(ctx, c, events);
  ctx->tcp_depth--;
  reap(ctx);
}

/* What a connection may no longer hold: 1 when it must be closed now. */
static int expired(const struct eXosip_t *ctx, const struct ex_conn *c, uint64_t now)
{
  if (c->msg_started != 0 && now - c->msg_started > (uint64_t) ctx->limits.tcp_message_timeout_ms * 1000ULL)
    return 1; /* started a message and did not finish it in time (slowloris) */
  if (c->peer_eof && now - c->eof_at > EOF_LINGER_US)
    return 1;
  if (c->handshaking && now - c->hs_started > (uint64_t) ctx->limits.tcp_message_timeout_ms * 1000ULL)
    return 1; /* a TLS handshake that does not finish in the time a message may take */
  return now - c->last_active > (uint64_t) ctx->limits.tcp_idle_timeout_ms * 1000ULL;
}

void ex_tcp_sweep(struct eXosip_t *ctx)
{
  uint64_t now = ex_now_us();
  struct ex_conn *c = ctx->conns;
  ctx->tcp_depth++;
  while (c != NULL) {
    struct ex_conn *next = c->next;
    if (expired(ctx, c, now)) {
      conn_close(ctx, c);
      ctx->conns_closed++;
    }
    c = next;
  }
  ctx->tcp_depth--;
  reap(ctx);
  if (ctx->tcp_fd >= 0 || ctx->tls_fd >= 0 || ctx->conns != NULL)
    ex_arm(ctx, &ctx->sweep, now + sweep_interval_us(ctx));
}

void ex_tcp_close_all(struct eXosip_t *ctx)
{
  while (ctx->conns != NULL)
    conn_close(ctx, ctx->conns);
  ctx->tcp_depth = 0;
  reap(ctx);
  ex_hmap_destroy(&ctx->conns_by_source);
  if (ctx->reserve_fd >= 0)
    close(ctx->reserve_fd);
  ctx->reserve_fd = -1;
}

/* eXosip_reset_transports: every connection closed; the listening socket and the limits stay. */
void ex_tcp_reset(struct eXosip_t *ctx)
{
  while (ctx->conns != NULL)
    conn_close(ctx, ctx->conns);
  reap(ctx);
}
