/* SPDX-License-Identifier: Apache-2.0 */
/* Transport-independent part: resolving destinations, sending, and the entry point of received messages. */
#define _GNU_SOURCE
#include <errno.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <arpa/inet.h>

#include "exosip_internal.h"
#include "arena.h"

int ex_proto_of_message(const osip_message_t *msg)
{
  osip_via_t *via = osip_list_get(&msg->vias, 0);
  if (via != NULL && via->protocol != NULL
      && (osip_strcasecmp(via->protocol, "TCP") == 0 || osip_strcasecmp(via->protocol, "TLS") == 0))
    return IPPROTO_TCP; /* TLS is TCP to everything above the connections */
  return IPPROTO_UDP;
}

/* The transport to name in a Contact of ours for msg (a request we send, or one we answer). */
int ex_contact_proto(const osip_message_t *msg)
{
  osip_via_t *via = osip_list_get(&msg->vias, 0);
  if (via != NULL && via->protocol != NULL && osip_strcasecmp(via->protocol, "TLS") == 0)
    return EX_PROTO_TLS;
  return ex_proto_of_message(msg);
}

int ex_uri_wants_tls(const osip_uri_t *uri)
{
  osip_uri_param_t *tp = NULL;
  if (uri == NULL)
    return 0;
  if (uri->scheme != NULL && osip_strcasecmp(uri->scheme, "sips") == 0)
    return 1;
  osip_uri_uparam_get_byname((osip_uri_t *) uri, "transport", &tp);
  return tp != NULL && tp->gvalue != NULL && osip_strcasecmp(tp->gvalue, "tls") == 0;
}

/* EX_PROTO_TLS when the next hop of request m (its first Route, else its Request-URI) asks for
 * TLS, dflt otherwise. */
int ex_target_proto(const osip_message_t *m, int dflt)
{
  osip_route_t *route = osip_list_get(&m->routes, 0);
  if (route != NULL && route->url != NULL)
    return ex_uri_wants_tls(route->url) ? EX_PROTO_TLS : dflt;
  return ex_uri_wants_tls(m->req_uri) ? EX_PROTO_TLS : dflt;
}

/*
 * 1 when the first Via of a serialized message says SIP/2.0/TLS. Sending looks only at the bytes
 * (2xx and ACK retransmissions are kept serialized): a request over TLS carries our Via with TLS,
 * an answer the Via of the peer that reached us over TLS.
 */
int ex_buf_via_tls(const char *buf, size_t len)
{
  size_t i = 0;
  while (i < len) {
    const char *line = buf + i, *end = memchr(line, '\n', len - i), *p;
    size_t n = end != NULL ? (size_t) (end - line) : len - i;
    if (n <= 2)
      return 0; /* the end of the headers */
    if ((n > 4 && strncasecmp(line, "via", 3) == 0 && (line[3] == ':' || line[3] == ' ' || line[3] == '\t'))
        || ((line[0] == 'v' || line[0] == 'V') && (line[1] == ':' || line[1] == ' ' || line[1] == '\t'))) {
      p = memchr(line, '/', n);
      if (p != NULL)
        p = memchr(p + 1, '/', n - (size_t) (p + 1 - line));
      if (p == NULL)
        return 0;
      for (p++; p < line + n && (*p == ' ' || *p == '\t'); p++)
        ;
      return line + n - p >= 3 && strncasecmp(p, "TLS", 3) == 0;
    }
    if (end == NULL)
      return 0;
    i += n + 1;
  }
  return 0;
}

static int resolve_name(struct eXosip_t *ctx, const char *name, int port, int proto, struct ex_dest *out);

int ex_dest_resolve(struct eXosip_t *ctx, const char *host, int port, int proto, struct ex_dest *out)
{
  char buf[256];
  size_t n;
  memset(out, 0, sizeof(*out));
  out->proto = proto;
  if (host == NULL || host[0] == '\0')
    return OSIP_BADPARAMETER;
  if (port <= 0 || port > 65535)
    port = 5060;
  /* for TLS: out->host is the name the certificate must carry; copied, not formatted (this runs
   * for every message sent) */
  n = strlen(host);
  if (host[0] == '[' && n > 2 && host[n - 1] == ']') { /* bracketed IPv6 reference */
    ex_put(buf, sizeof(buf), 0, host + 1, n - 2);
    ex_puts(out->host, sizeof(out->host), 0, buf);
  } else {
    ex_put(out->host, sizeof(out->host), 0, host, n);
    ex_put(buf, sizeof(buf), 0, host, n);
  }
  {
    struct sockaddr_in *sin = (struct sockaddr_in *) &out->sa;
    struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *) &out->sa;
    if (inet_pton(AF_INET, buf, &sin->sin_addr) == 1) {
      sin->sin_family = AF_INET;
      sin->sin_port = htons((uint16_t) port);
      out->salen = sizeof(*sin);
      return OSIP_SUCCESS;
    }
    if (inet_pton(AF_INET6, buf, &sin6->sin6_addr) == 1) {
      sin6->sin6_family = AF_INET6;
      sin6->sin6_port = htons((uint16_t) port);
      out->salen = sizeof(*sin6);
      return OSIP_SUCCESS;
    }
  }
  return resolve_name(ctx, buf, port, proto, out);
}

struct dns_entry {
  int ok;
  uint64_t expires;
  struct sockaddr_storage sa;
  socklen_t salen;
};

static void free_entry(void *val, void *arg)
{
  (void) arg;
  free(val);
}

void ex_dns_cache_clear(struct eXosip_t *ctx)
{
  ex_hmap_foreach(&ctx->dns_cache, free_entry, NULL);
  ex_hmap_destroy(&ctx->dns_cache);
  ex_hmap_init(&ctx->dns_cache, 16);
}

/*
 * Host names: a lookup can block for seconds, so it is done only on the threads of the
 * program (eXosip_call_send_initial_invite, ...), never in the I/O loop, where a name
 * that is not in the cache simply fails. Answers, good or bad, are kept for a minute:
 * the retransmissions that follow in the I/O loop find them there.
 */
static int resolve_name(struct eXosip_t *ctx, const char *name, int port, int proto, struct ex_dest *out)
{
  struct dns_entry *e = ex_hmap_get_str(&ctx->dns_cache, name);
  uint64_t now = ex_now_us();
  if (e == NULL || e->expires < now) {
    struct addrinfo hints, *res = NULL;
    if (ctx->io_path)
      return OSIP_UNKNOWN_HOST; /* a round of the I/O loop, on whichever thread runs it (the I/O
                                 * thread runs nothing else) */
    if (e == NULL) {
      if (ctx->dns_cache.count >= 1024)
        ex_dns_cache_clear(ctx);
      e = calloc(1, sizeof(*e));
      if (e == NULL || ex_hmap_put_str(&ctx->dns_cache, name, e) != OSIP_SUCCESS) {
        free(e);
        return OSIP_NOMEM;
      }
    }
    memset(&hints, 0, sizeof(hints));
    hints.ai_family = ctx->ipv6 ? AF_INET6 : AF_INET;
    hints.ai_socktype = proto == IPPROTO_TCP ? SOCK_STREAM : SOCK_DGRAM;
    e->ok = 0;
    if (getaddrinfo(name, NULL, &hints, &res) != 0 || res == NULL) {
      hints.ai_family = AF_UNSPEC;
      if (getaddrinfo(name, NULL, &hints, &res) != 0)
        res = NULL;
    }
    if (res != NULL && res->ai_addrlen <= sizeof(e->sa)) {
      memcpy(&e->sa, res->ai_addr, res->ai_addrlen);
      e->salen = res->ai_addrlen;
      e->ok = 1;
    }
    if (res != NULL)
      freeaddrinfo(res);
    e->expires = now + 60ULL * 1000000ULL;
  }
  if (!e->ok)
    return OSIP_UNKNOWN_HOST;
  memcpy(&out->sa, &e->sa, e->salen);
  out->salen = e->salen;
  if (out->sa.ss_family == AF_INET6)
    ((struct sockaddr_in6 *) &out->sa)->sin6_port = htons((uint16_t) port);
  else
    ((struct sockaddr_in *) &out->sa)->sin_port = htons((uint16_t) port);
  return OSIP_SUCCESS;
}

static int udp_send(struct eXosip_t *ctx, const struct ex_dest *dest, const char *buf, size_t len)
{
  struct sockaddr_storage mapped;
  const struct sockaddr *sa = (const struct sockaddr *) &dest->sa;
  socklen_t salen = dest->salen;
  if (ctx->udp_fd < 0)
    return OSIP_NO_NETWORK;
  if (ctx->udp_family == AF_INET6 && dest->sa.ss_family == AF_INET) {
    /* an IPv6 socket reaches IPv4 peers through mapped addresses */
    const struct sockaddr_in *sin = (const struct sockaddr_in *) &dest->sa;
    struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *) &mapped;
    memset(&mapped, 0, sizeof(mapped));
    sin6->sin6_family = AF_INET6;
    sin6->sin6_port = sin->sin_port;
    sin6->sin6_addr.s6_addr[10] = 0xff;
    sin6->sin6_addr.s6_addr[11] = 0xff;
    memcpy(&sin6->sin6_addr.s6_addr[12], &sin->sin_addr, 4);
    sa = (const struct sockaddr *) &mapped;
    salen = sizeof(*sin6);
  }
  if (sendto(ctx->udp_fd, buf, len, MSG_DONTWAIT | MSG_NOSIGNAL, sa, salen) < 0) {
    /* the socket reports an ICMP error of an earlier datagram (IP_RECVERR, udp.c) once, on
     * whatever call comes next: that error is not this send's */
    if ((errno != ECONNREFUSED && errno != EHOSTUNREACH && errno != ENETUNREACH && errno != EHOSTDOWN)
        || sendto(ctx->udp_fd, buf, len, MSG_DONTWAIT | MSG_NOSIGNAL, sa, salen) < 0)
      return OSIP_NO_NETWORK;
  }
  return OSIP_SUCCESS;
}

/*
 * A request we sent could not reach its peer: an ICMP error quoted it (udp.c), or the TCP
 * connection it waited for was refused (tcp.c). buf holds the start of the request (an ICMP
 * error quotes only the first few hundred bytes): its method and the branch of its first Via
 * name our client transaction, which then ends as if its timer B/F had fired, so the program
 * gets its failure event now instead of after 32 seconds. Anything else is ignored.
 */
void ex_transport_failed(struct eXosip_t *ctx, const char *buf, size_t len)
{
  char key[160], method[32], branch[96];
  size_t i = 0, m = 0, b = 0;
  struct ex_tx *w;
  osip_event_t *evt;
  while (i < len && m + 1 < sizeof(method) && buf[i] >= 'A' && buf[i] <= 'Z')
    method[m++] = buf[i++];
  method[m] = '\0';
  if (m == 0 || i >= len || buf[i] != ' ' || strcmp(method, "ACK") == 0)
    return;
  while (i < len) { /* each header line: the first Via's branch */
    const char *line, *end, *p;
    while (i < len && buf[i] != '\n')
      i++;
    if (++i >= len)
      return;
    line = buf + i;
    end = memchr(line, '\n', len - i);
    if (end == NULL)
      end = buf + len;
    if ((end - line > 4 && strncasecmp(line, "via", 3) == 0 && (line[3] == ':' || line[3] == ' '))
        || (end - line > 2 && (line[0] == 'v' || line[0] == 'V') && (line[1] == ':' || line[1] == ' '))) {
      p = memmem(line, (size_t) (end - line), "branch=", 7);
      if (p == NULL)
        return;
      for (p += 7; p < end && b + 1 < sizeof(branch) && *p != ';' && *p != ',' && *p != ' ' && *p != '\r'; p++)
        branch[b++] = *p;
      branch[b] = '\0';
      break;
    }
  }
  if (b == 0)
    return;
  snprintf(key, sizeof(key), "C|%s|%s", branch, method);
  w = ex_hmap_get_str(&ctx->tx_by_key, key);
  if (w == NULL || ex_dns_stale(ctx, w, key, NULL) || w->tr == NULL || w->executing || w->killed)
    return; /* (an error about a branch of a target failover has left: that target is behind us) */
  if (!((w->kind == ICT && w->tr->state == ICT_CALLING)
        || (w->kind == NICT && (w->tr->state == NICT_TRYING || w->tr->state == NICT_PROCEEDING))))
    return;
  if (ex_dns_failover(ctx, w))
    return; /* RFC 3263: sent to the next server of the name instead (dns.c) */
  evt = osip_malloc(sizeof(*evt));
  if (evt == NULL)
    return;
  memset(evt, 0, sizeof(*evt));
  evt->type = w->kind == ICT ? TIMEOUT_B : TIMEOUT_F;
  ex_tx_execute(ctx, w, evt);
}

int ex_send_raw(struct eXosip_t *ctx, const struct ex_dest *dest, const char *buf, size_t len)
{
  /* tracing (capture.c): captured as it is handed to the transport, before the send, so that a
   * fast peer's answer (another context of this process, over loopback) is never stamped first */
  if (ctx->capture_on)
    ex_capture_message(ctx, EXOSIP_CORE_CAPTURE_SENT, dest->proto, (const struct sockaddr *) &dest->sa,
                       dest->conn_id, buf, len);
  if (dest->proto == IPPROTO_TCP && !dest->secure && ex_buf_via_tls(buf, len)) {
    struct ex_dest tls = *dest;
    tls.secure = 1;
    return ex_tcp_send(ctx, &tls, buf, len);
  }
  return dest->proto == IPPROTO_TCP ? ex_tcp_send(ctx, dest, buf, len) : udp_send(ctx, dest, buf, len);
}

int ex_send_message(struct eXosip_t *ctx, osip_message_t *msg, const struct ex_dest *dest)
{
  char *buf = NULL;
  size_t len = 0;
  int rc;
  ex_arena_begin(); /* the serialiser's pieces, freed before it returns */
  rc = osip_message_to_str(msg, &buf, &len);
  ex_arena_end();
  if (rc != 0 || buf == NULL)
    return OSIP_SYNTAXERROR;
  if (ctx->cbsip != NULL)
    ctx->cbsip(msg, 0);
  rc = ex_send_raw(ctx, dest, buf, len);
  osip_free(buf);
  return rc;
}

static void addr_to_string(const struct sockaddr *sa, char *ip, size_t iplen, int *port)
{
  if (sa->sa_family == AF_INET6) {
    const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *) sa;
    if (IN6_IS_ADDR_V4MAPPED(&sin6->sin6_addr))
      inet_ntop(AF_INET, &sin6->sin6_addr.s6_addr[12], ip, (socklen_t) iplen);
    else
      inet_ntop(AF_INET6, &sin6->sin6_addr, ip, (socklen_t) iplen);
    *port = ntohs(sin6->sin6_port);
  } else {
    const struct sockaddr_in *sin = (const struct sockaddr_in *) sa;
    inet_ntop(AF_INET, &sin->sin_addr, ip, (socklen_t) iplen);
    *port = ntohs(sin->sin_port);
  }
}

/* The headers every SIP message needs before we can look at it. */
static int well_formed(const osip_message_t *sip)
{
  if (sip->call_id == NULL || sip->call_id->number == NULL || sip->from == NULL || sip->to == NULL
      || sip->cseq == NULL || sip->cseq->method == NULL || sip->cseq->number == NULL
      || osip_list_size(&sip->vias) < 1)
    return 0;
  if (MSG_IS_REQUEST(sip)) {
    if (sip->sip_method == NULL || sip->req_uri == NULL)
      return 0;
  } else if (sip->status_code < 100 || sip->status_code > 699) {
    return 0;
  }
  return 1;
}

void ex_dest_of_source(struct ex_dest *dest, int proto, const struct sockaddr *src, socklen_t srclen,
                       long conn_id)
{
  memset(dest, 0, sizeof(*dest));
  dest->proto = proto;
  if (srclen > sizeof(dest->sa))
    srclen = 0;
  memcpy(&dest->sa, src, srclen);
  dest->salen = srclen;
  dest->conn_id = conn_id;
}

/* The first CRLF CRLF in buf[0..len), as memmem would find it, by going from CR to CR: the
 * header lines of a message hold a few dozen, so this looks at far fewer bytes. */
static const char *blank_line(const char *buf, size_t len)
{
  const char *p = buf, *end = buf + len;
  while (end - p >= 4) {
    p = memchr(p, '\r', (size_t) (end - p) - 3);
    if (p == NULL)
      return NULL;
    if (p[1] == '\n' && p[2] == '\r' && p[3] == '\n')
      return p;
    p++;
  }
  return NULL;
}

void ex_incoming(struct eXosip_t *ctx, const char *buf, size_t len, int proto, const struct sockaddr *src,
                 socklen_t srclen, long conn_id)
{
  osip_event_t *evt;
  osip_message_t *sip;
  char ip[INET6_ADDRSTRLEN];
  int port = 0;
  size_t i;

  for (i = 0; i < len && (buf[i] == '\r' || buf[i] == '\n' || buf[i] == ' ' || buf[i] == '\0'); i++)
    ;
  if (i == len)
    return; /* keep-alive */
  if (ctx->capture_on) /* tracing (capture.c): everything that arrives, before any check */
    ex_capture_message(ctx, EXOSIP_CORE_CAPTURE_RECEIVED, proto, src, conn_id, buf, len);
  if (len < 16 || len > EX_MAX_DATAGRAM) {
    ctx->dropped++;
    return;
  }
  /*
   * One linear pass first: what is not SIP, and what would cost oSIP2 quadratic time (too many
   * headers, parameters or values), is dropped here, before osip_parse builds anything. No 400
   * goes back: the source of a UDP datagram is whatever its sender wrote, so an answer would make
   * us reflect traffic at a third party, and a 400 that copies the offending headers would be
   * as large as the attack; building it would also need the parse we are avoiding. Over TCP the
   * stream stays usable (its framing is known), so only this message is dropped there too.
   */
  switch (ex_sip_precheck(buf + i, len - i, &ctx->limits, NULL, 0)) {
  case EX_CHECK_OK:
    break;
  case EX_CHECK_BAD_START_LINE: /* small enough to answer: 400 when it has a Via and a CSeq */
  case EX_CHECK_BODY_PART:
    ctx->dropped++;
    ex_strict_unparsed(ctx, buf + i, len - i, proto, src, srclen, conn_id);
    return;
  default:
    ctx->dropped++;
    return;
  }
  ex_arena_begin(); /* the message lives as long as its transaction: its blocks, a chunk of its own */
  evt = osip_parse(buf, len);
  ex_arena_end();
  if (evt == NULL || evt->sip == NULL) {
    ctx->dropped++;
    if (evt != NULL)
      osip_event_free(evt);
    ex_strict_unparsed(ctx, buf, len, proto, src, srclen, conn_id); /* 400 when it can be answered */
    return;
  }
  sip = evt->sip;
  if (proto == IPPROTO_UDP && sip->content_length != NULL && sip->content_length->value != NULL) {
    /* RFC 3261 18.3: a datagram shorter than its Content-Length is discarded */
    const char *end = blank_line(buf, len);
    long declared = strtol(sip->content_length->value, NULL, 10);
    if (end == NULL || declared < 0 || (size_t) declared > len - (size_t) (end + 4 - buf)) {
      ctx->dropped++;
      osip_event_free(evt);
      return;
    }
  }
  /* strict.c answers (400, 505) or drops what breaks RFC 3261; well_formed is what the rest needs */
  if (ex_strict_check(ctx, sip, proto, src, srclen, conn_id) != 0 || !well_formed(sip)) {
    ctx->dropped++;
    osip_event_free(evt);
    return;
  }
  if (MSG_IS_REQUEST(sip) && !MSG_IS_ACK(sip) && osip_strcasecmp(sip->sip_method, sip->cseq->method) != 0) {
    ctx->dropped++;
    ex_reply_stateless(ctx, sip, 400, 0, proto, src, srclen, conn_id);
    osip_event_free(evt);
    return;
  }
  addr_to_string(src, ip, sizeof(ip), &port);
  if (MSG_IS_REQUEST(sip))
    osip_message_fix_last_via_header(sip, ip, port);
  if (ctx->cbsip != NULL)
    ctx->cbsip(sip, 1);
  if (MSG_IS_REQUEST(sip))
    ex_handle_request(ctx, evt, proto, src, srclen, conn_id);
  else
    ex_handle_response(ctx, evt);
}
