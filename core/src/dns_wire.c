/* SPDX-License-Identifier: Apache-2.0 */
/*
 * DNS queries and answers for server location (see dns_wire.h). Why our own and not libresolv:
 * musl has no res_ninit/res_nquery (a private resolver state per context is what let
 * EXOSIP_CORE_OPT_DNS_SERVER point one context at its own server), and a query of our own is
 * a few lines: a header, the name's labels, the type. The defences against hostile or spoofed
 * answers are ours to see:
 *  - a fresh socket per try, connected to the server: the kernel drops datagrams from any other
 *    address or port, and its ephemeral port is the source port's randomness;
 *  - a random id (getrandom) that the answer must carry, with QR set and our question repeated;
 *    anything else is read and ignored, and the wait goes on to its deadline;
 *  - every wait bounded (poll with the time left); at most EX_DNS_MAX_MSG bytes read;
 *  - the reader checks every offset against the message, follows at most 64 compression
 *    pointers per name, and refuses names over 255 bytes and label types other than 0.
 */
#define _GNU_SOURCE
#include "dns_wire.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "osrandom.h"
#include <time.h>
#include <unistd.h>

static unsigned get16(const unsigned char *p)
{
  return ((unsigned) p[0] << 8) | p[1];
}

static long long now_ms(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (long long) ts.tv_sec * 1000LL + ts.tv_nsec / 1000000L;
}

static int add_server(struct ex_dns_servers *out, const char *ip)
{
  struct sockaddr_in *sin = (struct sockaddr_in *) &out->addr[out->count];
  struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *) &out->addr[out->count];
  if (out->count >= EX_DNS_MAX_SERVERS)
    return 0;
  memset(&out->addr[out->count], 0, sizeof(out->addr[0]));
  if (inet_pton(AF_INET, ip, &sin->sin_addr) == 1) {
    sin->sin_family = AF_INET;
    sin->sin_port = htons(53);
    out->len[out->count++] = sizeof(*sin);
    return 1;
  }
  if (inet_pton(AF_INET6, ip, &sin6->sin6_addr) == 1) {
    sin6->sin6_family = AF_INET6;
    sin6->sin6_port = htons(53);
    out->len[out->count++] = sizeof(*sin6);
    return 1;
  }
  return 0;
}

void ex_dns_servers_from_conf(const char *path, struct ex_dns_servers *out)
{
  FILE *f = fopen(path, "re");
  char line[512];
  out->count = 0;
  if (f != NULL) {
    while (fgets(line, sizeof(line), f) != NULL && out->count < EX_DNS_MAX_SERVERS) {
      char ip[64];
      if (sscanf(line, " nameserver %63s", ip) == 1)
        add_server(out, ip);
    }
    fclose(f);
  }
  if (out->count == 0)
    add_server(out, "127.0.0.1");
}

/* The query: header (RD set, one question), the name's labels, type, class IN. */
static int build_query(const char *name, int type, uint16_t id, unsigned char *q, size_t size)
{
  size_t n = 12, len = strlen(name);
  const char *p = name, *end = name + len;
  if (len > 0 && name[len - 1] == '.')
    end--;
  if (end == name || size < 12 + 255 + 4)
    return EX_DNS_ERR_FORMAT;
  memset(q, 0, 12);
  q[0] = (unsigned char) (id >> 8);
  q[1] = (unsigned char) id;
  q[2] = 0x01; /* RD */
  q[5] = 1;    /* QDCOUNT */
  while (p < end) {
    const char *dot = memchr(p, '.', (size_t) (end - p));
    size_t l = dot != NULL ? (size_t) (dot - p) : (size_t) (end - p);
    if (l == 0 || l > 63 || n + 1 + l + 1 > 12 + 255)
      return EX_DNS_ERR_FORMAT;
    q[n++] = (unsigned char) l;
    memcpy(q + n, p, l);
    n += l;
    p += l + (dot != NULL ? 1 : 0);
  }
  q[n++] = 0;
  q[n++] = (unsigned char) (type >> 8);
  q[n++] = (unsigned char) type;
  q[n++] = 0;
  q[n++] = EX_DNS_C_IN;
  return (int) n;
}

static int lower(int c)
{
  return c >= 'A' && c <= 'Z' ? c + 32 : c;
}

/* An answer to query q: same id, QR set, a standard query, one question, the same question. */
static int answers(const unsigned char *q, size_t qlen, const unsigned char *a, size_t alen)
{
  size_t i;
  if (alen < qlen || a[0] != q[0] || a[1] != q[1] || (a[2] & 0x80) == 0 || (a[2] & 0x78) != 0
      || get16(a + 4) != 1)
    return 0;
  for (i = 12; i < qlen; i++)
    if (lower(a[i]) != lower(q[i])) /* case may differ (0x20 randomisation); label lengths are < 64 */
      return 0;
  return 1;
}

static int wait_fd(int fd, short events, long long deadline)
{
  for (;;) {
    struct pollfd pfd;
    long long left = deadline - now_ms();
    int r;
    if (left <= 0)
      return 0;
    pfd.fd = fd;
    pfd.events = events;
    pfd.revents = 0;
    r = poll(&pfd, 1, left > 60000 ? 60000 : (int) left);
    if (r > 0)
      return 1;
    if (r < 0 && errno != EINTR)
      return -1;
  }
}

/* One try over UDP: the answer's length, or EX_DNS_ERR_TIMEOUT (no answer, or refused). */
static int ask_udp(const struct sockaddr *sa, socklen_t salen, const unsigned char *q, size_t qlen,
                   long long deadline, unsigned char *buf, size_t size)
{
  int fd = socket(sa->sa_family, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0), rc = EX_DNS_ERR_TIMEOUT;
  if (fd < 0)
    return EX_DNS_ERR_TIMEOUT;
  if (connect(fd, sa, salen) != 0 || send(fd, q, qlen, 0) != (ssize_t) qlen)
    goto out;
  while (wait_fd(fd, POLLIN, deadline) > 0) {
    ssize_t n = recv(fd, buf, size, MSG_TRUNC); /* MSG_TRUNC: the datagram's real length */
    if (n < 0) {
      if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
        continue;
      break; /* ECONNREFUSED (ICMP): nobody there, the next server */
    }
    if ((size_t) n > size)
      continue; /* oversized: not read as an answer */
    if (answers(q, qlen, buf, (size_t) n)) {
      rc = (int) n;
      break;
    }
    /* not ours (a wrong id or question): ignored */
  }
out:
  close(fd);
  return rc;
}

static int io_all(int fd, unsigned char *p, size_t len, int writing, long long deadline)
{
  size_t done = 0;
  while (done < len) {
    ssize_t n = writing ? send(fd, p + done, len - done, MSG_NOSIGNAL) : recv(fd, p + done, len - done, 0);
    if (n > 0) {
      done += (size_t) n;
      continue;
    }
    if (n == 0)
      return -1; /* closed early */
    if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
      return -1;
    if (wait_fd(fd, writing ? POLLOUT : POLLIN, deadline) <= 0)
      return -1;
  }
  return 0;
}

/* The same question over TCP (RFC 7766), for a truncated answer. */
static int ask_tcp(const struct sockaddr *sa, socklen_t salen, const unsigned char *q, size_t qlen,
                   long long deadline, unsigned char *buf, size_t size)
{
  unsigned char len2[2];
  unsigned char out[2 + 12 + 255 + 4];
  int fd = socket(sa->sa_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0), rc = EX_DNS_ERR_TIMEOUT, err = 0;
  socklen_t elen = sizeof(err);
  size_t alen;
  if (fd < 0)
    return EX_DNS_ERR_TIMEOUT;
  if (connect(fd, sa, salen) != 0) {
    if (errno != EINPROGRESS || wait_fd(fd, POLLOUT, deadline) <= 0
        || getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &elen) != 0 || err != 0)
      goto out;
  }
  out[0] = (unsigned char) (qlen >> 8);
  out[1] = (unsigned char) qlen;
  memcpy(out + 2, q, qlen);
  if (io_all(fd, out, qlen + 2, 1, deadline) != 0 || io_all(fd, len2, 2, 0, deadline) != 0)
    goto out;
  alen = get16(len2);
  if (alen > size || alen < 12) /* oversized (or not even a header): refused */
    goto out;
  if (io_all(fd, buf, alen, 0, deadline) != 0)
    goto out;
  if (answers(q, qlen, buf, alen))
    rc = (int) alen;
out:
  close(fd);
  return rc;
}

int ex_dns_query(const struct ex_dns_servers *servers, int timeout_ms, int tries, const char *name, int type,
                 unsigned char *buf, size_t size)
{
  unsigned char q[12 + 255 + 4];
  int s, t, qlen;
  uint16_t id = 0;
  if (ex_os_random(&id, sizeof(id)) != (ssize_t) sizeof(id))
    id = (uint16_t) (now_ms() * 40503u);
  qlen = build_query(name, type, id, q, sizeof(q));
  if (qlen < 0)
    return qlen;
  for (t = 0; t < tries; t++) {
    for (s = 0; s < servers->count; s++) {
      const struct sockaddr *sa = (const struct sockaddr *) &servers->addr[s];
      long long deadline = now_ms() + timeout_ms;
      int n = ask_udp(sa, servers->len[s], q, (size_t) qlen, deadline, buf, size), rcode;
      if (n >= 0 && (buf[2] & 0x02) != 0) /* TC: the whole answer over TCP */
        n = ask_tcp(sa, servers->len[s], q, (size_t) qlen, now_ms() + timeout_ms, buf, size);
      if (n < 0)
        continue;
      rcode = buf[3] & 0x0f;
      if (rcode == 3)
        return EX_DNS_ERR_NONAME; /* NXDOMAIN: the name does not exist */
      if (rcode == 0)
        return get16(buf + 6) == 0 ? EX_DNS_ERR_NONAME : n;
      /* SERVFAIL, REFUSED, ...: the next server */
    }
    if (ex_os_random(&id, sizeof(id)) == (ssize_t) sizeof(id)) { /* a new id for the next round */
      q[0] = (unsigned char) (id >> 8);
      q[1] = (unsigned char) id;
    }
  }
  return EX_DNS_ERR_TIMEOUT;
}

int ex_dns_name(const unsigned char *buf, size_t len, size_t off, size_t limit, char *out, size_t size,
                size_t *next)
{
  size_t pos = off, o = 0, end_direct = 0;
  int jumps = 0, jumped = 0;
  if (size < 2)
    return EX_DNS_ERR_FORMAT;
  if (limit > len)
    limit = len;
  for (;;) {
    size_t bound = jumped ? len : limit;
    unsigned c;
    if (pos >= bound)
      return EX_DNS_ERR_FORMAT;
    c = buf[pos];
    if (c == 0) {
      if (!jumped)
        end_direct = pos + 1;
      break;
    }
    if ((c & 0xC0) == 0xC0) {
      size_t ptr;
      if (pos + 1 >= bound)
        return EX_DNS_ERR_FORMAT;
      ptr = ((size_t) (c & 0x3F) << 8) | buf[pos + 1];
      if (!jumped)
        end_direct = pos + 2;
      if (++jumps > 64 || ptr >= len)
        return EX_DNS_ERR_FORMAT;
      jumped = 1;
      pos = ptr;
      continue;
    }
    if ((c & 0xC0) != 0 || pos + 1 + c > bound)
      return EX_DNS_ERR_FORMAT; /* label types 01 and 10, or a label past the end */
    if (o + (o > 0) + c > 253 || o + (o > 0) + c + 1 > size)
      return EX_DNS_ERR_FORMAT;
    if (o > 0)
      out[o++] = '.';
    {
      size_t i;
      for (i = 0; i < c; i++) {
        unsigned char ch = buf[pos + 1 + i];
        if (ch == 0 || ch == '.')
          return EX_DNS_ERR_FORMAT; /* would change the name's meaning as a string */
        out[o++] = (char) ch;
      }
    }
    pos += 1 + c;
  }
  if (o == 0)
    out[o++] = '.';
  out[o] = '\0';
  if (next != NULL)
    *next = end_direct;
  return 0;
}

int ex_dns_msg_init(struct ex_dns_msg *m, const unsigned char *buf, size_t len)
{
  unsigned qd, i;
  char scratch[256];
  memset(m, 0, sizeof(*m));
  if (len < 12)
    return EX_DNS_ERR_FORMAT;
  m->buf = buf;
  m->len = len;
  qd = get16(buf + 4);
  m->left = (int) get16(buf + 6);
  m->pos = 12;
  for (i = 0; i < qd; i++) { /* each question consumes at least 5 bytes: bounded by len */
    size_t next;
    if (ex_dns_name(buf, len, m->pos, len, scratch, sizeof(scratch), &next) != 0 || next + 4 > len)
      return EX_DNS_ERR_FORMAT;
    m->pos = next + 4;
  }
  return 0;
}

int ex_dns_msg_next(struct ex_dns_msg *m, struct ex_dns_rr *rr)
{
  char scratch[256];
  size_t next;
  const unsigned char *p;
  if (m->left <= 0)
    return 0;
  if (ex_dns_name(m->buf, m->len, m->pos, m->len, scratch, sizeof(scratch), &next) != 0 || next + 10 > m->len)
    return EX_DNS_ERR_FORMAT;
  p = m->buf + next;
  rr->type = (int) get16(p);
  rr->rclass = (int) get16(p + 2);
  rr->ttl = ((uint32_t) p[4] << 24) | ((uint32_t) p[5] << 16) | ((uint32_t) p[6] << 8) | p[7];
  if (rr->ttl > 0x7fffffffu)
    rr->ttl = 0; /* RFC 2181 8 */
  rr->rdlen = get16(p + 8);
  rr->rdata = next + 10;
  if (rr->rdata + rr->rdlen > m->len)
    return EX_DNS_ERR_FORMAT;
  m->pos = rr->rdata + rr->rdlen;
  m->left--;
  return 1;
}
