/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libFuzzer harness: core/'s receive path, bytes -> ex_incoming(), on an initialised context that
 * has no socket of its own and no I/O thread.
 *
 * Input layout: when the first byte has its top bit set, its low bits are flags and the rest is the
 * payload; any other input (a plain SIP message, e.g. an RFC 4475 torture message) is all payload
 * with flags F_APP | F_AUTO. The payload is split at every "\n--next--\n" into pieces.
 *   bit 0  TCP: the pieces are successive writes of a peer into one TCP connection, read and framed
 *          by tcp.c exactly as a live connection is (ex_tcp_event() on one end of a socketpair);
 *          otherwise each piece is one UDP datagram handed to ex_incoming().
 *   bit 1  TCP only: the peer writes every piece at once and closes its end before the core reads,
 *          so every answer sent on the connection fails (a client that pipelines and closes).
 *   bit 2  act as an application: answer INVITE (180, then 200 with SDP), re-INVITE, MESSAGE,
 *          in-call requests; hang up on ACK; read the remote SDP of each dialog.
 *   bit 3  the source address is IPv6.
 *   bit 4  run eXosip_automatic_action() after each piece.
 *
 * With FUZZ_INCOMING_NO_TCP=1 in the environment bit 0 is ignored (UDP only): a way to keep
 * exploring the datagram path while a known TCP crash is unfixed.
 *
 * Nothing reaches a network: the context never opens its UDP socket (sends fail with
 * OSIP_NO_NETWORK), and connect(), getaddrinfo() and sendto() are replaced at link time
 * (-Wl,--wrap) by versions that fail at once, so an answer or request to any address goes nowhere.
 *
 * tcp.c is included rather than linked so the harness can create a connection the way
 * ex_tcp_accept() does (conn_new() is private to that file).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <netdb.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "../core/src/tcp.c"

#include <eXosip2/eXosip.h>

/* ---- no network, ever ---- */
int __wrap_connect(int fd, const struct sockaddr *sa, socklen_t len);
int __wrap_getaddrinfo(const char *node, const char *service, const struct addrinfo *hints,
                       struct addrinfo **res);
ssize_t __wrap_sendto(int fd, const void *buf, size_t len, int flags, const struct sockaddr *sa,
                      socklen_t salen);

int __wrap_connect(int fd, const struct sockaddr *sa, socklen_t len)
{
  (void) fd;
  (void) sa;
  (void) len;
  errno = ENETUNREACH;
  return -1;
}

int __wrap_getaddrinfo(const char *node, const char *service, const struct addrinfo *hints,
                       struct addrinfo **res)
{
  (void) node;
  (void) service;
  (void) hints;
  *res = NULL;
  return EAI_NONAME;
}

ssize_t __wrap_sendto(int fd, const void *buf, size_t len, int flags, const struct sockaddr *sa,
                      socklen_t salen)
{
  (void) fd;
  (void) buf;
  (void) flags;
  (void) sa;
  (void) salen;
  errno = ENETUNREACH;
  return len > 0 ? -1 : 0;
}

#define F_TCP 0x01
#define F_PEER_GONE 0x02
#define F_APP 0x04
#define F_IPV6 0x08
#define F_AUTO 0x10

static const char SEP[] = "\n--next--\n";

static const char ANSWER_SDP[] = "v=0\r\no=fuzz 1 1 IN IP4 192.0.2.9\r\ns=-\r\nc=IN IP4 192.0.2.9\r\n"
                                 "t=0 0\r\nm=audio 40000 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n";

static void answer_200_sdp(struct eXosip_t *ctx, int tid)
{
  osip_message_t *ans = NULL;
  if (eXosip_call_build_answer(ctx, tid, 200, &ans) != 0 || ans == NULL)
    return;
  osip_message_set_body(ans, ANSWER_SDP, sizeof(ANSWER_SDP) - 1);
  osip_message_set_content_type(ans, "application/sdp");
  eXosip_call_send_answer(ctx, tid, 200, ans);
}

static void look_at_sdp(struct eXosip_t *ctx, eXosip_event_t *ev)
{
  sdp_message_t *sdp;
  if (ev->did > 0) {
    sdp = eXosip_get_remote_sdp(ctx, ev->did);
    if (sdp != NULL) {
      eXosip_get_audio_media(sdp);
      eXosip_get_video_media(sdp);
      eXosip_get_connection(sdp, "audio");
      sdp_message_free(sdp);
    }
    sdp = eXosip_get_local_sdp(ctx, ev->did);
    if (sdp != NULL)
      sdp_message_free(sdp);
  }
  if (ev->request != NULL) {
    sdp = eXosip_get_sdp_info(ev->request);
    if (sdp != NULL) {
      eXosip_get_media(sdp, "video");
      sdp_message_free(sdp);
    }
  }
}

/* What a typical UAS does with each event (examples/c/uas.c). */
static void act(struct eXosip_t *ctx, eXosip_event_t *ev)
{
  look_at_sdp(ctx, ev);
  switch (ev->type) {
  case EXOSIP_CALL_INVITE:
    eXosip_call_send_answer(ctx, ev->tid, 180, NULL);
    answer_200_sdp(ctx, ev->tid);
    break;
  case EXOSIP_CALL_REINVITE:
    answer_200_sdp(ctx, ev->tid);
    break;
  case EXOSIP_CALL_ACK:
    eXosip_call_terminate(ctx, ev->cid, ev->did);
    break;
  case EXOSIP_CALL_MESSAGE_NEW:
    if (ev->request != NULL && !MSG_IS_BYE(ev->request)) { /* a BYE is answered already */
      osip_message_t *ok = NULL;
      if (eXosip_call_build_answer(ctx, ev->tid, 200, &ok) == 0)
        eXosip_call_send_answer(ctx, ev->tid, 200, ok);
    }
    break;
  case EXOSIP_MESSAGE_NEW:
    eXosip_message_send_answer(ctx, ev->tid, 200, NULL);
    break;
  default:
    break;
  }
}

static void drain_events(struct eXosip_t *ctx, int as_app)
{
  eXosip_event_t *ev;
  int n = 0;
  while (n++ < 256 && (ev = eXosip_event_wait(ctx, 0, 0)) != NULL) {
    if (as_app) {
      eXosip_lock(ctx);
      act(ctx, ev);
      eXosip_unlock(ctx);
    }
    eXosip_event_free(ev);
  }
}

static void fill_source(struct sockaddr_storage *ss, socklen_t *len, int v6)
{
  memset(ss, 0, sizeof(*ss));
  if (v6) {
    struct sockaddr_in6 *s6 = (struct sockaddr_in6 *) ss;
    s6->sin6_family = AF_INET6;
    s6->sin6_port = htons(5062);
    inet_pton(AF_INET6, "2001:db8::7", &s6->sin6_addr);
    *len = sizeof(*s6);
  } else {
    struct sockaddr_in *s4 = (struct sockaddr_in *) ss;
    s4->sin_family = AF_INET;
    s4->sin_port = htons(5062);
    inet_pton(AF_INET, "192.0.2.7", &s4->sin_addr);
    *len = sizeof(*s4);
  }
}

/* The next piece of [*p, end); advances *p past it and its separator. */
static size_t next_piece(const uint8_t **p, const uint8_t *end, const uint8_t **piece)
{
  const uint8_t *s = memmem(*p, (size_t) (end - *p), SEP, sizeof(SEP) - 1);
  size_t n = s != NULL ? (size_t) (s - *p) : (size_t) (end - *p);
  *piece = *p;
  *p = s != NULL ? s + sizeof(SEP) - 1 : end;
  return n;
}

static void drain_socket(int fd)
{
  char sink[65536];
  while (fd >= 0 && recv(fd, sink, sizeof(sink), MSG_DONTWAIT) > 0)
    ;
}

static int tcp_alive(struct eXosip_t *ctx, long conn_id)
{
  int alive;
  ex_ctx_lock(ctx);
  alive = ex_hmap_get_int(&ctx->conns_by_id, conn_id) != NULL;
  ex_ctx_unlock(ctx);
  return alive;
}

/* Write one piece into the peer's end; when the socket buffer is full, let the core read. */
static int write_all(struct eXosip_t *ctx, int fd, long conn_id, const uint8_t *buf, size_t len)
{
  int stuck = 0;
  while (len > 0) {
    ssize_t n = send(fd, buf, len, MSG_DONTWAIT | MSG_NOSIGNAL);
    if (n > 0) {
      buf += n;
      len -= (size_t) n;
      continue;
    }
    if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK)
      return -1;
    if (!tcp_alive(ctx, conn_id) || ++stuck > 64)
      return -1;
    ex_ctx_lock(ctx);
    ex_tcp_event(ctx, conn_id, EPOLLIN);
    ex_ctx_unlock(ctx);
  }
  return 0;
}

static void after_piece(struct eXosip_t *ctx, int flags, int peer_fd)
{
  drain_events(ctx, flags & F_APP);
  if (flags & F_AUTO) {
    eXosip_lock(ctx);
    eXosip_automatic_action(ctx);
    eXosip_unlock(ctx);
  }
  drain_socket(peer_fd);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  struct eXosip_t *ctx;
  struct sockaddr_storage src;
  socklen_t srclen;
  const uint8_t *p, *end;
  uint8_t flags;
  int pieces = 0, sv[2] = {-1, -1};
  long conn_id = 0;
  static int no_tcp = -1;

  if (size < 1 || size > 256 * 1024)
    return 0;
  if (no_tcp < 0)
    no_tcp = getenv("FUZZ_INCOMING_NO_TCP") != NULL && strcmp(getenv("FUZZ_INCOMING_NO_TCP"), "1") == 0;
  if (data[0] & 0x80) {
    flags = data[0] & 0x7f;
    if (no_tcp)
      flags &= (uint8_t) ~F_TCP;
    p = data + 1;
  } else {
    flags = F_APP | F_AUTO;
    p = data;
  }
  end = data + size;
  fill_source(&src, &srclen, flags & F_IPV6);

  ctx = eXosip_malloc();
  if (ctx == NULL || eXosip_init(ctx) != 0) {
    eXosip_quit(ctx);
    osip_free(ctx);
    return 0;
  }

  if (flags & F_TCP) {
    struct ex_conn *c;
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv) != 0)
      goto done;
    ex_ctx_lock(ctx);
    ctx->max_conns = EX_MAX_TCP_CONNS;
    c = conn_new(ctx, sv[0], (struct sockaddr *) &src, srclen, 0);
    if (c == NULL) {
      ex_ctx_unlock(ctx);
      close(sv[0]);
      sv[0] = -1;
      goto done;
    }
    sv[0] = -1; /* the connection owns it now */
    conn_id = c->id;
    ex_ctx_unlock(ctx);
  }

  if ((flags & F_TCP) && (flags & F_PEER_GONE)) {
    /* everything arrives in one go, then the peer is gone before any answer can reach it */
    while (p < end && pieces++ < 64) {
      const uint8_t *piece;
      size_t n = next_piece(&p, end, &piece);
      if (write_all(ctx, sv[1], conn_id, piece, n) != 0)
        break;
    }
    close(sv[1]);
    sv[1] = -1;
    for (pieces = 0; pieces < 64 && tcp_alive(ctx, conn_id); pieces++) {
      ex_ctx_lock(ctx);
      ex_tcp_event(ctx, conn_id, EPOLLIN);
      ex_ctx_unlock(ctx);
      after_piece(ctx, flags, -1);
    }
    goto done;
  }

  while (p < end && pieces++ < 64) {
    const uint8_t *piece;
    size_t n = next_piece(&p, end, &piece);
    if (flags & F_TCP) {
      if (!tcp_alive(ctx, conn_id) || write_all(ctx, sv[1], conn_id, piece, n) != 0)
        break; /* the core closed the connection */
      ex_ctx_lock(ctx);
      ex_tcp_event(ctx, conn_id, EPOLLIN);
      ex_ctx_unlock(ctx);
    } else {
      ex_ctx_lock(ctx);
      ex_incoming(ctx, (const char *) piece, n, IPPROTO_UDP, (struct sockaddr *) &src, srclen, 0);
      ex_ctx_unlock(ctx);
    }
    after_piece(ctx, flags, sv[1]);
  }

done:
  drain_events(ctx, 0);
  eXosip_quit(ctx);
  osip_free(ctx);
  if (sv[1] >= 0)
    close(sv[1]);
  return 0;
}
