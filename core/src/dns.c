/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Server location (RFC 3263): NAPTR -> SRV -> A/AAAA for a host name without a port, and the
 * eXosip2 5.3 DNS API (eXosip_dnsutils_*, EXOSIP_OPT_*DNS*) over it.
 *
 * Queries go through dns_wire.c, our own: a query built here, sent over a UDP socket of ours to
 * the context's server (EXOSIP_CORE_OPT_DNS_SERVER) or to those of /etc/resolv.conf, over TCP
 * when the answer is truncated, read by a bounded parser of ours. Not c-ares (one more library
 * to ship in wheels) and not libresolv's res_nquery, which musl does not have; what it needs
 * from the C library is sockets and poll, the same on glibc and musl. Addresses without a
 * server of our own come from getaddrinfo (/etc/hosts first, as before).
 * Queries block, so every lookup runs on a thread of its own, started for it and
 * detached; no query runs on the I/O thread or under the context lock, and nobody waits:
 *  - a request to a name found in the cache is sent at once to its first target;
 *  - otherwise its transaction starts as usual but its first send is held (cb_send reports it
 *    sent, as a datagram lost on the way would be); the lookup's thread wakes the I/O thread
 *    when it ends, and ex_dns_poll sends the request to the first target, or ends the
 *    transaction as unanswered when the name has no usable target. Every query is bounded
 *    (EXOSIP_CORE_OPT_DNS_TIMEOUT_MS, two tries);
 *  - eXosip_dnsutils_naptr starts a lookup and returns at once; eXosip_dnsutils_dns_process
 *    collects it (waiting, bounded, only when asked to with force > 0).
 * At most EX_DNS_MAX_LOOKUPS lookups run at a time per context; more fail at once.
 * A lookup thread never touches the context: it holds a reference on the context's struct
 * ex_dns (configuration, cache, static entries), which outlives the context while lookups run.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <netdb.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <fcntl.h>
#include <unistd.h>

#include "dns_wire.h"
#include "exosip_internal.h"
#include <eXosip2/eX_core.h>

#define EX_DNS_MAX_LOOKUPS 8
#define EX_DNS_MAX_CACHE 256
#define EX_DNS_MAX_STATIC 64
#define EX_DNS_NEGATIVE_TTL 30 /* seconds a failed name is remembered */
#define EX_DNS_MIN_TTL 1
#define EX_DNS_MAX_PENDING 256 /* requests waiting for a lookup, per context */
#define EX_DNS_MAX_RESTING 32  /* targets remembered as asking for a rest (503 with Retry-After) */
#define EX_DNS_MAX_REST_S 3600 /* the longest rest kept */

struct ex_dns_static {
  char host[256];
  char ip[64];
};

struct ex_dns_cached {
  struct ex_dns_cached *next;
  char name[256];
  uint64_t expires_us;
  struct ex_dns_result res;
};

struct ex_dns_job;

/* A request whose first send waits for its lookup (touched under the context lock only). */
struct ex_dns_pending {
  int tid, proto, secure;
  char domain[256];
  struct ex_dns_job *job;
};

struct ex_dns {
  pthread_mutex_t mu;
  pthread_cond_t cond; /* a lookup finished */
  int refs;            /* the context, and each lookup thread */
  int running;
  int capabilities; /* EXOSIP_OPT_DNS_CAPABILITIES: 0 A only, 1 SRV, 2 NAPTR and SRV */
  int cache_enabled;
  int timeout_ms;
  int have_server;
  struct sockaddr_in server;
  struct ex_dns_cached *cache;
  int cached;
  struct ex_dns_static statics[EX_DNS_MAX_STATIC];
  int wake_fd; /* a duplicate of the context's: a finished lookup wakes the I/O thread */
  struct ex_dns_pending pending[EX_DNS_MAX_PENDING];
  int npending;
  /* targets that answered 503 with Retry-After (RFC 3261 21.5.4): tried last until then */
  struct ex_dns_resting {
    char ip[64];
    int port, proto, secure;
    uint64_t until_us;
  } resting[EX_DNS_MAX_RESTING];
};

struct ex_dns_job {
  struct ex_dns *dns;
  int refs; /* the thread, and the waiter or the osip_naptr_t */
  int done;
  char name[256];
  struct ex_dns_result res;
};

/* ---- the lookup itself (blocking; runs on a lookup thread or in eXosip_core_dns_lookup) ---- */

struct lookup_cfg {
  int capabilities;
  int timeout_ms;
  int have_server;
  struct sockaddr_in server;
};

static uint32_t rnd_next(uint32_t *s)
{
  /* xorshift32: only spreads load between SRV targets of equal priority (RFC 2782) */
  uint32_t x = *s;
  x ^= x << 13;
  x ^= x >> 17;
  x ^= x << 5;
  *s = x != 0 ? x : 0x9e3779b9u;
  return *s;
}

/* What a lookup asks through (dns_wire.c): the servers, the bound of each try. */
struct wire {
  struct ex_dns_servers servers;
  int timeout_ms;
};

/* One query; the answer's length, or a negative code: OSIP_UNKNOWN_HOST for NXDOMAIN or no data,
 * OSIP_TIMEOUT when no server answered. */
static int query(const struct wire *st, const char *name, int type, unsigned char *buf, int size)
{
  int n = ex_dns_query(&st->servers, st->timeout_ms, 2, name, type, buf, (size_t) size);
  if (n >= 0)
    return n;
  if (n == EX_DNS_ERR_NONAME)
    return OSIP_UNKNOWN_HOST;
  if (n == EX_DNS_ERR_FORMAT)
    return OSIP_SYNTAXERROR;
  return OSIP_TIMEOUT;
}

struct srv_rr {
  int priority, weight, port;
  uint32_t ttl;
  char target[256];
  uint32_t order_key;
};

static void ttl_min(uint32_t *acc, uint32_t ttl)
{
  if (ttl < *acc)
    *acc = ttl;
}

static struct ex_dns_target *add_target(struct ex_dns_result *out, int proto, int secure, int port,
                                        const char *host, int priority, int weight)
{
  struct ex_dns_target *tg;
  if (out->count >= EX_DNS_MAX_TARGETS)
    return NULL;
  tg = &out->t[out->count++];
  memset(tg, 0, sizeof(*tg));
  tg->proto = proto;
  tg->secure = secure;
  tg->port = port;
  tg->priority = priority;
  tg->weight = weight;
  snprintf(tg->host, sizeof(tg->host), "%s", host);
  return tg;
}

/* Without a DNS server of our own, addresses come from the system (getaddrinfo: /etc/hosts, then
 * DNS), as they did before server location; their TTL is not known: a minute. */
static int add_system_addresses(const char *name, int proto, int secure, int port, const char *srvname,
                                int priority, int weight, struct ex_dns_result *out, uint32_t *ttl)
{
  struct addrinfo hints, *res = NULL, *ai;
  int found = 0;
  memset(&hints, 0, sizeof(hints));
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_DGRAM;
  if (getaddrinfo(name, NULL, &hints, &res) != 0)
    return OSIP_UNKNOWN_HOST;
  for (ai = res; ai != NULL; ai = ai->ai_next) {
    char ip[64];
    struct ex_dns_target *tg;
    if (ai->ai_family == AF_INET)
      inet_ntop(AF_INET, &((struct sockaddr_in *) ai->ai_addr)->sin_addr, ip, sizeof(ip));
    else if (ai->ai_family == AF_INET6)
      inet_ntop(AF_INET6, &((struct sockaddr_in6 *) ai->ai_addr)->sin6_addr, ip, sizeof(ip));
    else
      continue;
    tg = add_target(out, proto, secure, port, srvname != NULL ? srvname : name, priority, weight);
    if (tg == NULL)
      break;
    snprintf(tg->ip, sizeof(tg->ip), "%s", ip);
    found = 1;
  }
  freeaddrinfo(res);
  if (found)
    ttl_min(ttl, 60);
  return found ? OSIP_SUCCESS : OSIP_UNKNOWN_HOST;
}

/* A and AAAA records of name, appended as targets (proto, port, from srv). */
static int add_addresses(const struct wire *st, int system, const char *name, int proto, int secure, int port,
                         const char *srvname, int priority, int weight, struct ex_dns_result *out, uint32_t *ttl)
{
  static const int types[2] = { EX_DNS_T_A, EX_DNS_T_AAAA };
  unsigned char buf[EX_DNS_MAX_MSG];
  int t, found = 0, rc = OSIP_UNKNOWN_HOST;
  if (system)
    return add_system_addresses(name, proto, secure, port, srvname, priority, weight, out, ttl);
  for (t = 0; t < 2; t++) {
    struct ex_dns_msg msg;
    struct ex_dns_rr rr;
    int n = query(st, name, types[t], buf, sizeof(buf));
    if (n < 0) {
      if (n == OSIP_TIMEOUT)
        rc = OSIP_TIMEOUT;
      continue;
    }
    if (ex_dns_msg_init(&msg, buf, (size_t) n) != 0)
      continue;
    while (ex_dns_msg_next(&msg, &rr) == 1) {
      struct ex_dns_target *tg;
      if (rr.type != types[t] || rr.rclass != EX_DNS_C_IN)
        continue; /* a CNAME on the way, or anything else */
      if ((types[t] == EX_DNS_T_A && rr.rdlen != 4) || (types[t] == EX_DNS_T_AAAA && rr.rdlen != 16))
        continue;
      tg = add_target(out, proto, secure, port, srvname != NULL ? srvname : name, priority, weight);
      if (tg == NULL)
        return OSIP_SUCCESS;
      inet_ntop(types[t] == EX_DNS_T_A ? AF_INET : AF_INET6, buf + rr.rdata, tg->ip, sizeof(tg->ip));
      ttl_min(ttl, rr.ttl);
      found = 1;
    }
  }
  return found ? OSIP_SUCCESS : rc;
}

static int cmp_srv(const void *a, const void *b)
{
  const struct srv_rr *x = a, *y = b;
  if (x->priority != y->priority)
    return x->priority < y->priority ? -1 : 1;
  return x->order_key < y->order_key ? -1 : x->order_key > y->order_key;
}

/* SRV records of name, ordered by priority then by RFC 2782's weighted random choice, each
 * expanded into its addresses. */
static int add_srv(const struct wire *st, int system, const char *name, int proto, int secure,
                   struct ex_dns_result *out, uint32_t *ttl, uint32_t *seed)
{
  unsigned char *buf = malloc(EX_DNS_MAX_MSG);
  struct srv_rr rrs[EX_DNS_MAX_TARGETS];
  struct ex_dns_msg msg;
  struct ex_dns_rr rr;
  int n, count = 0, i, start, found = 0, rc = OSIP_UNKNOWN_HOST;
  if (buf == NULL)
    return OSIP_NOMEM;
  n = query(st, name, EX_DNS_T_SRV, buf, EX_DNS_MAX_MSG);
  if (n < 0 || ex_dns_msg_init(&msg, buf, (size_t) n) != 0) {
    free(buf);
    return n < 0 ? n : OSIP_SYNTAXERROR;
  }
  while (count < EX_DNS_MAX_TARGETS && ex_dns_msg_next(&msg, &rr) == 1) {
    const unsigned char *p;
    if (rr.type != EX_DNS_T_SRV || rr.rclass != EX_DNS_C_IN || rr.rdlen < 7)
      continue;
    p = buf + rr.rdata;
    rrs[count].priority = (p[0] << 8) | p[1];
    rrs[count].weight = (p[2] << 8) | p[3];
    rrs[count].port = (p[4] << 8) | p[5];
    rrs[count].ttl = rr.ttl;
    if (ex_dns_name(buf, (size_t) n, rr.rdata + 6, rr.rdata + rr.rdlen, rrs[count].target,
                    sizeof(rrs[count].target), NULL) != 0)
      continue;
    if (strcmp(rrs[count].target, ".") == 0 || rrs[count].target[0] == '\0' || rrs[count].port == 0)
      continue; /* "." : the service is decidedly not available here */
    count++;
  }
  /* RFC 2782: within one priority, pick at random with probability proportional to weight
   * (weight 0 has a small chance), one at a time; order_key records the pick order. */
  for (i = 0; i < count; i++)
    rrs[i].order_key = 0;
  qsort(rrs, (size_t) count, sizeof(rrs[0]), cmp_srv); /* by priority first */
  for (start = 0; start < count;) {
    int end = start, pick = 0, k;
    uint32_t used[EX_DNS_MAX_TARGETS] = { 0 };
    while (end < count && rrs[end].priority == rrs[start].priority)
      end++;
    for (pick = 0; pick < end - start; pick++) {
      uint32_t total = 0, r, run = 0;
      for (k = start; k < end; k++)
        if (!used[k - start])
          total += (uint32_t) rrs[k].weight + 1; /* +1: weight 0 keeps a small chance */
      r = rnd_next(seed) % total;
      for (k = start; k < end; k++) {
        if (used[k - start])
          continue;
        run += (uint32_t) rrs[k].weight + 1;
        if (run > r)
          break;
      }
      used[k - start] = 1;
      rrs[k].order_key = (uint32_t) pick;
    }
    start = end;
  }
  qsort(rrs, (size_t) count, sizeof(rrs[0]), cmp_srv);
  free(buf);
  for (i = 0; i < count; i++) {
    int r = add_addresses(st, system, rrs[i].target, proto, secure, rrs[i].port, rrs[i].target, rrs[i].priority,
                          rrs[i].weight, out, ttl);
    if (r == OSIP_SUCCESS) {
      found = 1;
      ttl_min(ttl, rrs[i].ttl);
    } else if (r == OSIP_TIMEOUT) {
      rc = OSIP_TIMEOUT;
    }
  }
  return found ? OSIP_SUCCESS : rc;
}

/* A character-string of a NAPTR record: its length byte, then that many bytes. */
static const unsigned char *char_string(const unsigned char *p, const unsigned char *end, char *dst, size_t size)
{
  size_t len;
  if (p >= end)
    return NULL;
  len = *p++;
  if ((size_t) (end - p) < len)
    return NULL;
  snprintf(dst, size, "%.*s", (int) (len < size ? len : size - 1), (const char *) p);
  return p + len;
}

struct naptr_rr {
  int order, pref, proto, secure;
  char replacement[256];
};

static int cmp_naptr(const void *a, const void *b)
{
  const struct naptr_rr *x = a, *y = b;
  if (x->order != y->order)
    return x->order < y->order ? -1 : 1;
  return (x->pref > y->pref) - (x->pref < y->pref);
}

/* NAPTR records of domain for SIP (RFC 3263 4.1): only flag "s" with SIP+D2U, SIP+D2T, SIPS+D2T. */
static int naptr_lookup(const struct wire *st, const char *domain, struct naptr_rr *out, int max, uint32_t *ttl)
{
  unsigned char *buf = malloc(EX_DNS_MAX_MSG);
  struct ex_dns_msg msg;
  struct ex_dns_rr rr;
  int n, count = 0;
  if (buf == NULL)
    return OSIP_NOMEM;
  n = query(st, domain, EX_DNS_T_NAPTR, buf, EX_DNS_MAX_MSG);
  if (n < 0 || ex_dns_msg_init(&msg, buf, (size_t) n) != 0) {
    free(buf);
    return n < 0 ? n : OSIP_SYNTAXERROR;
  }
  while (count < max && ex_dns_msg_next(&msg, &rr) == 1) {
    const unsigned char *p, *end;
    char flags[64], services[64], regexp[256];
    if (rr.type != EX_DNS_T_NAPTR || rr.rclass != EX_DNS_C_IN || rr.rdlen < 7)
      continue;
    p = buf + rr.rdata;
    end = p + rr.rdlen;
    out[count].order = (p[0] << 8) | p[1];
    out[count].pref = (p[2] << 8) | p[3];
    p += 4;
    if ((p = char_string(p, end, flags, sizeof(flags))) == NULL
        || (p = char_string(p, end, services, sizeof(services))) == NULL
        || (p = char_string(p, end, regexp, sizeof(regexp))) == NULL)
      continue;
    if (ex_dns_name(buf, (size_t) n, (size_t) (p - buf), rr.rdata + rr.rdlen, out[count].replacement,
                    sizeof(out[count].replacement), NULL) != 0)
      continue;
    if (strcasecmp(flags, "s") != 0 || out[count].replacement[0] == '\0'
        || strcmp(out[count].replacement, ".") == 0)
      continue;
    if (strcasecmp(services, "SIP+D2U") == 0) {
      out[count].proto = IPPROTO_UDP;
      out[count].secure = 0;
    } else if (strcasecmp(services, "SIP+D2T") == 0) {
      out[count].proto = IPPROTO_TCP;
      out[count].secure = 0;
    } else if (strcasecmp(services, "SIPS+D2T") == 0) {
      out[count].proto = IPPROTO_TCP;
      out[count].secure = 1;
    } else {
      continue;
    }
    ttl_min(ttl, rr.ttl);
    count++;
  }
  free(buf);
  qsort(out, (size_t) count, sizeof(out[0]), cmp_naptr);
  return count;
}

static int lookup(const struct lookup_cfg *cfg, const char *name, struct ex_dns_result *out)
{
  struct wire st;
  struct naptr_rr naptr[16];
  uint32_t ttl = 86400, seed;
  int n, i, rc = OSIP_UNKNOWN_HOST;
  struct timespec ts;

  memset(out, 0, sizeof(*out));
  memset(&st, 0, sizeof(st));
  if (cfg->have_server) { /* EXOSIP_CORE_OPT_DNS_SERVER */
    st.servers.count = 1;
    memcpy(&st.servers.addr[0], &cfg->server, sizeof(cfg->server));
    st.servers.len[0] = sizeof(cfg->server);
  } else {
    ex_dns_servers_from_conf("/etc/resolv.conf", &st.servers);
  }
  st.timeout_ms = cfg->timeout_ms > 0 ? cfg->timeout_ms : 2000;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  seed = (uint32_t) ts.tv_nsec ^ (uint32_t) ts.tv_sec ^ (uint32_t) (uintptr_t) out;
  if (seed == 0)
    seed = 1;

  n = cfg->capabilities >= 2 ? naptr_lookup(&st, name, naptr, 16, &ttl) : 0;
  if (n == OSIP_TIMEOUT)
    rc = OSIP_TIMEOUT;
  if (n > 0) {
    for (i = 0; i < n; i++) {
      int r = add_srv(&st, !cfg->have_server, naptr[i].replacement, naptr[i].proto, naptr[i].secure, out, &ttl, &seed);
      if (r == OSIP_TIMEOUT)
        rc = OSIP_TIMEOUT;
    }
  }
  if (out->count == 0 && cfg->capabilities >= 1) { /* no usable NAPTR: the SRV names of RFC 3263 4.1 */
    static const struct { const char *prefix; int proto, secure; } srvs[3] = {
      { "_sip._udp.", IPPROTO_UDP, 0 }, { "_sip._tcp.", IPPROTO_TCP, 0 }, { "_sips._tcp.", IPPROTO_TCP, 1 } };
    for (i = 0; i < 3; i++) {
      char srvname[300];
      int r;
      snprintf(srvname, sizeof(srvname), "%s%s", srvs[i].prefix, name);
      r = add_srv(&st, !cfg->have_server, srvname, srvs[i].proto, srvs[i].secure, out, &ttl, &seed);
      if (r == OSIP_TIMEOUT)
        rc = OSIP_TIMEOUT;
    }
  }
  if (out->count == 0) { /* RFC 3263 4.2: the name's own addresses, 5060 (5061 for TLS) */
    int r = add_addresses(&st, !cfg->have_server, name, IPPROTO_UDP, 0, 5060, NULL, 0, 0, out, &ttl);
    if (r == OSIP_SUCCESS) {
      int base = out->count;
      for (i = 0; i < base && out->count < EX_DNS_MAX_TARGETS; i++) {
        out->t[out->count] = out->t[i];
        out->t[out->count++].proto = IPPROTO_TCP;
      }
      for (i = 0; i < base && out->count < EX_DNS_MAX_TARGETS; i++) {
        out->t[out->count] = out->t[i];
        out->t[out->count].proto = IPPROTO_TCP;
        out->t[out->count].secure = 1;
        out->t[out->count++].port = 5061;
      }
    } else if (r == OSIP_TIMEOUT) {
      rc = OSIP_TIMEOUT;
    }
  }
  out->ttl = out->count > 0 ? (ttl < EX_DNS_MIN_TTL ? EX_DNS_MIN_TTL : (int) ttl) : EX_DNS_NEGATIVE_TTL;
  out->rc = out->count > 0 ? OSIP_SUCCESS : rc;
  return out->rc;
}

/* ---- configuration, cache, lookup threads ---- */

static struct ex_dns *dns_of(struct eXosip_t *ctx)
{
  struct ex_dns *d = ctx->dns;
  pthread_condattr_t ca;
  if (d != NULL)
    return d;
  d = calloc(1, sizeof(*d));
  if (d == NULL)
    return NULL;
  pthread_mutex_init(&d->mu, NULL);
  pthread_condattr_init(&ca);
  pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
  pthread_cond_init(&d->cond, &ca);
  pthread_condattr_destroy(&ca);
  d->refs = 1;
  d->capabilities = 2;
  d->cache_enabled = 1;
  d->timeout_ms = 2000;
  d->wake_fd = ctx->wake_fd >= 0 ? fcntl(ctx->wake_fd, F_DUPFD_CLOEXEC, 0) : -1;
  ctx->dns = d;
  return d;
}

static void cache_clear(struct ex_dns *d)
{
  while (d->cache != NULL) {
    struct ex_dns_cached *c = d->cache;
    d->cache = c->next;
    free(c);
  }
  d->cached = 0;
}

static void dns_unref(struct ex_dns *d)
{
  int last;
  pthread_mutex_lock(&d->mu);
  last = --d->refs == 0;
  pthread_mutex_unlock(&d->mu);
  if (!last)
    return;
  cache_clear(d);
  if (d->wake_fd >= 0)
    close(d->wake_fd);
  pthread_cond_destroy(&d->cond);
  pthread_mutex_destroy(&d->mu);
  free(d);
}

static void job_unref(struct ex_dns_job *job);

void ex_dns_free(struct eXosip_t *ctx)
{
  struct ex_dns *d = ctx->dns;
  if (d == NULL)
    return;
  while (d->npending > 0)
    job_unref(d->pending[--d->npending].job);
  ctx->dns = NULL;
  { /* lookups still running finish on their own; give them a moment, so that a program that
     * exits right after eXosip_quit does not cut them short (bounded: a silent server is not
     * waited for) */
    struct timespec until;
    clock_gettime(CLOCK_MONOTONIC, &until);
    until.tv_sec += 2;
    pthread_mutex_lock(&d->mu);
    while (d->running > 0)
      if (pthread_cond_timedwait(&d->cond, &d->mu, &until) == ETIMEDOUT)
        break;
    pthread_mutex_unlock(&d->mu);
  }
  dns_unref(d);
}

static void cfg_of(struct ex_dns *d, struct lookup_cfg *cfg)
{
  cfg->capabilities = d->capabilities;
  cfg->timeout_ms = d->timeout_ms;
  cfg->have_server = d->have_server;
  cfg->server = d->server;
}

/* (d->mu held) the cached answer for name, or NULL */
static struct ex_dns_cached *cache_find(struct ex_dns *d, const char *name)
{
  struct ex_dns_cached **pp = &d->cache;
  uint64_t now = ex_now_us();
  while (*pp != NULL) {
    struct ex_dns_cached *c = *pp;
    if (c->expires_us <= now) { /* expired: dropped as met */
      *pp = c->next;
      free(c);
      d->cached--;
      continue;
    }
    if (strcasecmp(c->name, name) == 0)
      return c;
    pp = &c->next;
  }
  return NULL;
}

static void cache_put(struct ex_dns *d, const char *name, const struct ex_dns_result *res)
{
  struct ex_dns_cached *c;
  if (!d->cache_enabled || res->rc == OSIP_TIMEOUT || res->rc == OSIP_UNDEFINED_ERROR)
    return; /* a server that did not answer is asked again next time */
  c = cache_find(d, name);
  if (c == NULL) {
    if (d->cached >= EX_DNS_MAX_CACHE)
      cache_clear(d);
    c = calloc(1, sizeof(*c));
    if (c == NULL)
      return;
    snprintf(c->name, sizeof(c->name), "%s", name);
    c->next = d->cache;
    d->cache = c;
    d->cached++;
  }
  c->res = *res;
  c->expires_us = ex_now_us() + (uint64_t) res->ttl * 1000000ULL;
}

static void job_unref(struct ex_dns_job *job)
{
  struct ex_dns *d = job->dns;
  int last;
  pthread_mutex_lock(&d->mu);
  last = --job->refs == 0;
  pthread_mutex_unlock(&d->mu);
  if (last) {
    free(job);
    dns_unref(d);
  }
}

static void *job_thread(void *arg)
{
  struct ex_dns_job *job = arg;
  struct ex_dns *d = job->dns;
  struct lookup_cfg cfg;
  struct ex_dns_result res;
  pthread_mutex_lock(&d->mu);
  cfg_of(d, &cfg);
  pthread_mutex_unlock(&d->mu);
  lookup(&cfg, job->name, &res);
  pthread_mutex_lock(&d->mu);
  job->res = res;
  job->done = 1;
  cache_put(d, job->name, &res);
  d->running--;
  pthread_cond_broadcast(&d->cond);
  if (d->wake_fd >= 0) {
    uint64_t one = 1;
    if (write(d->wake_fd, &one, sizeof(one)) < 0) {
      /* saturated: the I/O thread is being woken anyway */
    }
  }
  pthread_mutex_unlock(&d->mu);
  job_unref(job);
  return NULL;
}

/* A static entry (EXOSIP_OPT_ADD_DNS_CACHE) for name as a one-address answer (d->mu held). */
static int static_answer(struct ex_dns *d, const char *name, struct ex_dns_result *out)
{
  int i;
  for (i = 0; i < EX_DNS_MAX_STATIC; i++) {
    if (d->statics[i].host[0] != '\0' && strcasecmp(d->statics[i].host, name) == 0) {
      static const int protos[3] = { IPPROTO_UDP, IPPROTO_TCP, IPPROTO_TCP };
      int k;
      memset(out, 0, sizeof(*out));
      for (k = 0; k < 3; k++) {
        struct ex_dns_target *t = &out->t[k];
        t->proto = protos[k];
        t->secure = k == 2;
        t->port = k == 2 ? 5061 : 5060;
        snprintf(t->host, sizeof(t->host), "%s", name);
        snprintf(t->ip, sizeof(t->ip), "%s", d->statics[i].ip);
      }
      out->count = 3;
      out->ttl = EX_DNS_NEGATIVE_TTL;
      return 1;
    }
  }
  return 0;
}

/* Starts a lookup of name; *jobp gets a job the caller holds a reference on. */
static int job_start(struct ex_dns *d, const char *name, struct ex_dns_job **jobp)
{
  struct ex_dns_job *job;
  pthread_t th;
  pthread_attr_t attr;
  *jobp = NULL;
  job = calloc(1, sizeof(*job));
  if (job == NULL)
    return OSIP_NOMEM;
  snprintf(job->name, sizeof(job->name), "%s", name);
  job->dns = d;
  job->refs = 2;
  pthread_mutex_lock(&d->mu);
  if (d->running >= EX_DNS_MAX_LOOKUPS) {
    pthread_mutex_unlock(&d->mu);
    free(job);
    return OSIP_TOOMUCHCALL;
  }
  d->running++;
  d->refs++;
  pthread_mutex_unlock(&d->mu);
  pthread_attr_init(&attr);
  pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
  pthread_attr_setstacksize(&attr, 256 * 1024);
  if (pthread_create(&th, &attr, job_thread, job) != 0) {
    pthread_attr_destroy(&attr);
    pthread_mutex_lock(&d->mu);
    d->running--;
    d->refs--;
    pthread_mutex_unlock(&d->mu);
    free(job);
    return OSIP_UNDEFINED_ERROR;
  }
  pthread_attr_destroy(&attr);
  *jobp = job;
  return OSIP_SUCCESS;
}

/* Waits (bounded) for job; 1 when it is done. */
static int job_wait(struct ex_dns_job *job, int ms)
{
  struct ex_dns *d = job->dns;
  struct timespec until;
  int done;
  clock_gettime(CLOCK_MONOTONIC, &until);
  until.tv_sec += ms / 1000;
  until.tv_nsec += (long) (ms % 1000) * 1000000L;
  if (until.tv_nsec >= 1000000000L) {
    until.tv_sec++;
    until.tv_nsec -= 1000000000L;
  }
  pthread_mutex_lock(&d->mu);
  while (!job->done)
    if (pthread_cond_timedwait(&d->cond, &d->mu, &until) == ETIMEDOUT)
      break;
  done = job->done;
  pthread_mutex_unlock(&d->mu);
  return done;
}

/* The longest a lookup may take: NAPTR, three SRV and the address queries, each up to two tries. */
static int lookup_bound_ms(const struct ex_dns *d)
{
  return d->timeout_ms * 2 * EX_DNS_MAX_SERVERS * 12 + 1000;
}

static int is_address(const char *host)
{
  struct in6_addr a6;
  struct in_addr a4;
  return inet_pton(AF_INET, host, &a4) == 1 || inet_pton(AF_INET6, host, &a6) == 1 || host[0] == '[';
}

/* ---- the send path (osip_glue.c cb_send) and failover ---- */

/*
 * Failover (RFC 3263 4.3, RFC 3261 8.1.3.1): the request is sent again to the next target, as a new
 * request identical to the previous one but for a new Via branch (so a new transaction on the
 * wire), when the one in use
 *  - refuses it at the transport (ICMP error, refused TCP connection: transport.c),
 *  - answers 503 (ex_dns_on_503; an INVITE's 503 is acknowledged first, as its transaction would;
 *    with Retry-After, that target is put last for the requests located until then),
 *  - or stays silent for EX_DNS_TARGET_BOUND_MS: no answer at all, not even a 100, while the
 *    transaction is still Calling/Trying. That bound is 10*T1 (5 s) for INVITE and non-INVITE,
 *    UDP and TCP alike, because:
 *      - a live server answers an INVITE with 100 within 200 ms (RFC 3261 16.2/17.2.1);
 *      - a non-INVITE gets no 100 over UDP before Timer E has reached T2, 7*T1 = 3.5 s after the
 *        first send (RFC 4320 4.1), so a bound below that would leave servers that are only slow
 *        to answer; 10*T1 leaves 1.5 s for the 100 to arrive;
 *      - over UDP the target has been sent the request four times (0, T1, 3*T1, 7*T1);
 *      - six targets fit in the transaction's own 64*T1 (Timer B/F), which still ends it.
 *    The last target keeps whatever is left of 64*T1. Each new target restarts the
 *    retransmission interval at T1 (Timer A/E), as a fresh transaction would.
 * Any answer (a provisional one included) ends the search: the server is alive.
 * The program keeps its tid and cid: core/'s transaction (and oSIP2's under it) carries on, with
 * the new branch in its request, its top Via and its key in ctx->tx_by_key (rebranch). The keys
 * of the earlier branches stay in the index, pointing at the same transaction, so that their late
 * answers are recognised as such (ex_dns_stale) and never taken for the current target's: a 503
 * repeated by a server left is acknowledged again, anything else of theirs is dropped, except a
 * 2xx to an INVITE, which goes where 2xx outside a transaction go (fork.c: acknowledged and ended
 * with BYE once the call has its answer). ICMP errors about an earlier branch move nothing.
 * A CANCEL (RFC 3261 9.1) carries the branch of its INVITE as sent to the current target (it is
 * built from the transaction's request) and goes to that target, never through the list again;
 * so does oSIP2's ACK of a non-2xx final answer (RFC 3261 17.1.1.3).
 * A request over TLS keeps the domain of its URI as the name its server's certificate must carry
 * (RFC 5922 4), not the SRV target's name.
 */
#define EX_DNS_TARGET_BOUND_MS (10 * EX_T1)

/* What w->dns points at: the targets, then the state of the search (freed with free(w->dns)). */
struct ex_dns_route {
  struct ex_dns_result res; /* first: w->dns is &route->res */
  uint64_t due;             /* us: when the target in use counts as silent; 0 none */
  int secure;
  char host[256];           /* the URI's domain: TLS host check and SNI */
  int nold;                 /* index keys of the branches of the targets left (rebranch) */
  char *old_keys[EX_DNS_MAX_TARGETS];
  int acked;                /* an INVITE's 503 acknowledged: its To tag, and that ACK */
  char ack_tag[128];
  struct ex_dest ack_dest;
  size_t ack_len;
  char ack[];
};

static struct ex_dns_route *route_of(const struct ex_tx *w)
{
  return (struct ex_dns_route *) (void *) w->dns;
}

static int dest_of_target(const struct ex_dns_target *t, struct ex_dest *dest);

/* dest of w's target in use. */
static int current_dest(const struct ex_tx *w, int proto, struct ex_dest *dest)
{
  const struct ex_dns_route *r = route_of(w);
  dest->proto = proto;
  if (dest_of_target(&r->res.t[w->dns_index], dest) != OSIP_SUCCESS)
    return OSIP_UNKNOWN_HOST;
  dest->secure = r->secure;
  if (r->secure)
    snprintf(dest->host, sizeof(dest->host), "%s", r->host);
  return OSIP_SUCCESS;
}

/* The target in use has just been given the request: when it counts as silent. */
static void target_started(struct eXosip_t *ctx, struct ex_tx *w)
{
  struct ex_dns_route *r = route_of(w);
  if (w->dns_index + 1 >= r->res.count) {
    r->due = 0; /* the last one: the transaction's own timeout */
    return;
  }
  r->due = ex_now_us() + (uint64_t) EX_DNS_TARGET_BOUND_MS * 1000ULL;
  if (!w->executing && (w->timer.idx < 0 || r->due < w->timer.due))
    ex_arm(ctx, &w->timer, r->due); /* within an execute, osip_glue.c rearms from ex_dns_deadline */
}

static int searching(const struct ex_tx *w)
{
  return w->dns != NULL && w->tr != NULL && !w->killed
         && ((w->kind == ICT && w->tr->state == ICT_CALLING) || (w->kind == NICT && w->tr->state == NICT_TRYING));
}

uint64_t ex_dns_deadline(const struct ex_tx *w)
{
  return searching(w) ? route_of(w)->due : 0;
}

/* A new target: retransmissions start again at T1 (Timer A/E), where the transport retransmits. */
static void restart_retransmissions(struct ex_tx *w)
{
  struct timeval *at = NULL;
  int *len = NULL;
  uint64_t due;
  if (w->kind == ICT && w->tr->ict_context != NULL) {
    at = &w->tr->ict_context->timer_a_start;
    len = &w->tr->ict_context->timer_a_length;
  } else if (w->kind == NICT && w->tr->nict_context != NULL) {
    at = &w->tr->nict_context->timer_e_start;
    len = &w->tr->nict_context->timer_e_length;
  }
  if (at == NULL || *len <= 0 || ex_proto_of_message(w->tr->orig_request) != IPPROTO_UDP)
    return; /* a reliable transport: no retransmissions */
  *len = EX_T1;
  due = ex_now_us() + (uint64_t) EX_T1 * 1000ULL;
  at->tv_sec = (time_t) (due / 1000000ULL);
  at->tv_usec = (suseconds_t) (due % 1000000ULL);
}

int ex_dns_silent(struct eXosip_t *ctx, struct ex_tx *w, uint64_t now)
{
  struct ex_dns_route *r;
  if (!searching(w))
    return 0;
  r = route_of(w);
  if (r->due == 0 || now < r->due)
    return 0;
  r->due = 0;
  return ex_dns_failover(ctx, w);
}


static int dest_of_target(const struct ex_dns_target *t, struct ex_dest *dest)
{
  struct sockaddr_in *sin = (struct sockaddr_in *) &dest->sa;
  struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *) &dest->sa;
  int proto = dest->proto;
  memset(dest, 0, sizeof(*dest));
  dest->proto = proto;
  if (inet_pton(AF_INET, t->ip, &sin->sin_addr) == 1) {
    sin->sin_family = AF_INET;
    sin->sin_port = htons((uint16_t) t->port);
    dest->salen = sizeof(*sin);
    return OSIP_SUCCESS;
  }
  if (inet_pton(AF_INET6, t->ip, &sin6->sin6_addr) == 1) {
    sin6->sin6_family = AF_INET6;
    sin6->sin6_port = htons((uint16_t) t->port);
    dest->salen = sizeof(*sin6);
    return OSIP_SUCCESS;
  }
  return OSIP_UNKNOWN_HOST;
}

/* Free w's route, and take the keys of its earlier branches out of the index. */
void ex_dns_tx_free(struct eXosip_t *ctx, struct ex_tx *w)
{
  struct ex_dns_route *r = route_of(w);
  int i;
  if (r == NULL)
    return;
  for (i = 0; i < r->nold; i++) {
    if (ctx->tx_by_key.buckets != NULL && ex_hmap_get_str(&ctx->tx_by_key, r->old_keys[i]) == w)
      ex_hmap_del_str(&ctx->tx_by_key, r->old_keys[i]);
    free(r->old_keys[i]);
  }
  free(r);
  w->dns = NULL;
}

/* w's targets: those of res this request can use, the transport of its Via (the program chose it
 * with eXosip_listen_addr), as RFC 3263 4.1 lets a client drop what it does not support. */
static int set_targets(struct eXosip_t *ctx, struct ex_tx *w, int proto, int secure, const char *domain,
                       const struct ex_dns_result *res)
{
  struct ex_dns_route *r;
  int i;
  ex_dns_tx_free(ctx, w);
  r = calloc(1, sizeof(*r));
  w->dns = r != NULL ? &r->res : NULL;
  if (w->dns == NULL)
    return OSIP_NOMEM;
  r->secure = secure;
  snprintf(r->host, sizeof(r->host), "%s", domain);
  for (i = 0; i < res->count; i++) {
    if (res->t[i].proto != proto || res->t[i].secure != secure)
      continue;
    if (proto == IPPROTO_UDP && ctx->udp_family == AF_INET && strchr(res->t[i].ip, ':') != NULL)
      continue; /* an IPv4 socket cannot reach an IPv6 address */
    w->dns->t[w->dns->count++] = res->t[i];
  }
  w->dns->ttl = res->ttl;
  w->dns_index = 0;
  if (ctx->dns != NULL && w->dns->count > 1) { /* resting targets go last, in their order */
    struct ex_dns_target keep[EX_DNS_MAX_TARGETS];
    int k, n = 0, rest[EX_DNS_MAX_TARGETS] = { 0 };
    uint64_t now = ex_now_us();
    struct ex_dns *d = ctx->dns;
    pthread_mutex_lock(&d->mu);
    for (i = 0; i < w->dns->count; i++)
      for (k = 0; k < EX_DNS_MAX_RESTING; k++) {
        const struct ex_dns_resting *z = &d->resting[k];
        const struct ex_dns_target *t = &w->dns->t[i];
        if (z->until_us > now && z->port == t->port && z->proto == t->proto && z->secure == t->secure
            && strcmp(z->ip, t->ip) == 0)
          rest[i] = 1;
      }
    pthread_mutex_unlock(&d->mu);
    for (i = 0; i < w->dns->count; i++)
      if (!rest[i])
        keep[n++] = w->dns->t[i];
    for (i = 0; i < w->dns->count; i++)
      if (rest[i])
        keep[n++] = w->dns->t[i];
    memcpy(w->dns->t, keep, sizeof(keep[0]) * (size_t) n);
  }
  if (w->dns->count == 0) {
    free(w->dns);
    w->dns = NULL;
    return OSIP_UNKNOWN_HOST;
  }
  return OSIP_SUCCESS;
}

static int cancel_dest(struct eXosip_t *ctx, struct ex_tx *w, const osip_message_t *req, int proto,
                       struct ex_dest *dest);

int ex_dns_request_dest(struct eXosip_t *ctx, struct ex_tx *w, const osip_message_t *req, struct ex_dest *dest)
{
  osip_route_t *route = osip_list_get(&req->routes, 0);
  const osip_uri_t *uri = req->req_uri;
  osip_uri_param_t *lr = NULL, *maddr = NULL;
  struct ex_dns_result res;
  struct ex_dns *d;
  struct ex_dns_cached *c;
  struct ex_dns_job *job = NULL;
  int proto = ex_proto_of_message(req), rc, hit = 0;
  int secure = 0;

  if (w->dns_pending)
    return 2; /* its lookup is under way: the send happens when it ends (ex_dns_poll) */
  if (w->dns != NULL) /* already resolved for this transaction: the current target */
    return current_dest(w, proto, dest) == OSIP_SUCCESS ? 1 : OSIP_UNKNOWN_HOST;
  if (req->sip_method != NULL && osip_strcasecmp(req->sip_method, "CANCEL") == 0)
    return cancel_dest(ctx, w, req, proto, dest);
  if (route != NULL && route->url != NULL) {
    osip_uri_uparam_get_byname(route->url, "lr", &lr);
    if (lr != NULL)
      uri = route->url;
  }
  if (uri == NULL || uri->host == NULL || is_address(uri->host))
    return 0;
  if (uri->port != NULL) { /* RFC 3263 4.2: a port means no NAPTR/SRV; a fixed address still counts */
    struct ex_dns_target t;
    int port = atoi(uri->port), found;
    d = ctx->dns;
    if (d == NULL || port <= 0 || port > 65535)
      return 0;
    pthread_mutex_lock(&d->mu);
    found = static_answer(d, uri->host, &res);
    pthread_mutex_unlock(&d->mu);
    if (!found)
      return 0;
    t = res.t[0];
    t.port = port;
    dest->proto = proto;
    return dest_of_target(&t, dest) == OSIP_SUCCESS ? 1 : OSIP_UNKNOWN_HOST;
  }
  osip_uri_uparam_get_byname((osip_uri_t *) uri, "maddr", &maddr);
  if (maddr != NULL)
    return 0;
  /* TLS when the request goes over TLS (its Via: a sips: URI or ;transport=tls over a TLS
   * listener): NAPTR SIPS+D2T, SRV _sips._tcp, or the addresses with 5061 */
  secure = ex_contact_proto(req) == EX_PROTO_TLS;
  d = dns_of(ctx);
  if (d == NULL)
    return OSIP_NOMEM;
  pthread_mutex_lock(&d->mu);
  if (static_answer(d, uri->host, &res)) {
    hit = 1;
  } else if ((c = cache_find(d, uri->host)) != NULL) {
    res = c->res;
    hit = 1;
  }
  pthread_mutex_unlock(&d->mu);
  if (hit) {
    if (res.rc != OSIP_SUCCESS)
      return res.rc;
    rc = set_targets(ctx, w, proto, secure, uri->host, &res);
    if (rc != OSIP_SUCCESS)
      return rc;
    target_started(ctx, w);
    return current_dest(w, proto, dest) == OSIP_SUCCESS ? 1 : OSIP_UNKNOWN_HOST;
  }
  /* not known yet: the lookup runs on its own thread, and nobody waits for it; the request is
   * sent when it ends (ex_dns_poll, on the I/O thread), or fails then */
  if (d->npending >= EX_DNS_MAX_PENDING)
    return OSIP_TOOMUCHCALL;
  rc = job_start(d, uri->host, &job);
  if (rc != OSIP_SUCCESS)
    return rc;
  d->pending[d->npending].tid = w->tid;
  d->pending[d->npending].proto = proto;
  d->pending[d->npending].secure = secure;
  snprintf(d->pending[d->npending].domain, sizeof(d->pending[d->npending].domain), "%s", uri->host);
  d->pending[d->npending].job = job;
  d->npending++;
  w->dns_pending = 1;
  return 2;
}

/* End client transaction w as if nobody had answered (its failure event follows). */
static void fail_tx(struct eXosip_t *ctx, struct ex_tx *w)
{
  osip_event_t *evt;
  if (w->tr == NULL || w->executing || w->killed)
    return;
  if (!((w->kind == ICT && w->tr->state == ICT_CALLING)
        || (w->kind == NICT && (w->tr->state == NICT_TRYING || w->tr->state == NICT_PROCEEDING))))
    return;
  evt = osip_malloc(sizeof(*evt));
  if (evt == NULL)
    return;
  memset(evt, 0, sizeof(*evt));
  evt->type = w->kind == ICT ? TIMEOUT_B : TIMEOUT_F;
  ex_tx_execute(ctx, w, evt);
}

void ex_dns_poll(struct eXosip_t *ctx)
{
  struct ex_dns *d = ctx->dns;
  int i;
  if (d == NULL || d->npending == 0)
    return;
  for (i = 0; i < d->npending; i++) {
    struct ex_dns_pending p = d->pending[i];
    struct ex_dns_result res;
    struct ex_dest dest;
    struct ex_tx *w;
    int done;
    pthread_mutex_lock(&d->mu);
    done = p.job->done;
    if (done)
      res = p.job->res;
    pthread_mutex_unlock(&d->mu);
    if (!done)
      continue;
    d->pending[i--] = d->pending[--d->npending];
    job_unref(p.job);
    w = ex_tx_by_tid(ctx, p.tid);
    if (w == NULL || !w->dns_pending)
      continue;
    w->dns_pending = 0;
    if (w->tr == NULL || w->tr->orig_request == NULL)
      continue;
    if (res.rc != OSIP_SUCCESS || set_targets(ctx, w, p.proto, p.secure, p.domain, &res) != OSIP_SUCCESS) {
      fail_tx(ctx, w);
      continue;
    }
    if (current_dest(w, p.proto, &dest) != OSIP_SUCCESS
        || ex_send_message(ctx, w->tr->orig_request, &dest) != OSIP_SUCCESS) {
      if (!ex_dns_failover(ctx, w))
        fail_tx(ctx, w);
    } else {
      target_started(ctx, w);
    }
  }
}

static int set_branch(osip_via_t *via, const char *value)
{
  osip_generic_param_t *b = NULL;
  char *copy = osip_strdup(value);
  if (copy == NULL)
    return OSIP_NOMEM;
  osip_via_param_get_byname(via, "branch", &b);
  if (b != NULL) {
    osip_free(b->gvalue);
    b->gvalue = copy;
  } else if (osip_via_set_branch(via, copy) != 0) {
    osip_free(copy);
    return OSIP_NOMEM;
  }
  return OSIP_SUCCESS;
}

/* RFC 3263 4.3: w's request gets a new Via branch (from the context's CSPRNG tokens) before it
 * goes to another target; w is indexed under the new key, and its old key stays, pointing at w,
 * so that the late answers of the target left are known for what they are (ex_dns_stale). On
 * failure nothing has changed (the request then goes with the branch it had). */
static int rebranch(struct eXosip_t *ctx, struct ex_tx *w)
{
  struct ex_dns_route *r = route_of(w);
  osip_message_t *req = w->tr->orig_request;
  osip_via_t *via = osip_list_get(&req->vias, 0);
  char token[24], value[40], *key = NULL;
  size_t n;
  if (via == NULL || req->cseq == NULL || req->cseq->method == NULL || r->nold >= EX_DNS_MAX_TARGETS)
    return OSIP_SYNTAXERROR;
  ex_random_token(ctx, token, sizeof(token));
  snprintf(value, sizeof(value), "z9hG4bK%s", token);
  n = strlen(value) + strlen(req->cseq->method) + 4;
  key = malloc(n);
  if (key == NULL)
    return OSIP_NOMEM;
  snprintf(key, n, "C|%s|%s", value, req->cseq->method); /* as ex_client_key builds it */
  if (ex_hmap_get_str(&ctx->tx_by_key, key) != NULL || ex_hmap_put_str(&ctx->tx_by_key, key, w) != OSIP_SUCCESS) {
    free(key);
    return OSIP_NOMEM;
  }
  if (set_branch(via, value) != OSIP_SUCCESS) {
    ex_hmap_del_str(&ctx->tx_by_key, key);
    free(key);
    return OSIP_NOMEM;
  }
  if (w->tr->topvia != NULL)
    set_branch(w->tr->topvia, value); /* oSIP2's copy of the top Via */
  osip_message_force_update(req);
  r->old_keys[r->nold++] = w->key;
  w->key = key;
  return OSIP_SUCCESS;
}

int ex_dns_stale(struct eXosip_t *ctx, struct ex_tx *w, const char *key, const osip_message_t *resp)
{
  struct ex_dns_route *r;
  const char *tag;
  if (w == NULL || key == NULL || w->key == NULL || strcmp(w->key, key) == 0)
    return 0;
  r = route_of(w);
  if (r == NULL || resp == NULL || resp->status_code != 503 || !r->acked || r->ack_len == 0)
    return 1;
  tag = ex_to_tag(resp);
  if (strcmp(tag != NULL ? tag : "", r->ack_tag) == 0) /* the 503 of the server left again: our ACK was lost */
    ex_send_raw(ctx, &r->ack_dest, r->ack, r->ack_len);
  return 1;
}

int ex_dns_failover(struct eXosip_t *ctx, struct ex_tx *w)
{
  struct ex_dest dest;
  if (w == NULL || w->dns == NULL || w->tr == NULL || w->tr->orig_request == NULL || w->cancelled)
    return 0; /* a cancelled INVITE ends where it is: a new target would start a call nobody cancels */
  while (w->dns_index + 1 < w->dns->count) {
    w->dns_index++;
    if (current_dest(w, ex_proto_of_message(w->tr->orig_request), &dest) != OSIP_SUCCESS)
      continue;
    rebranch(ctx, w);
    if (ex_send_message(ctx, w->tr->orig_request, &dest) == OSIP_SUCCESS) {
      restart_retransmissions(w);
      target_started(ctx, w);
      if (!w->executing) { /* the retransmission timer moved: rearm on the earlier deadline */
        uint64_t due = route_of(w)->due, a = 0;
        if (w->kind == ICT && w->tr->ict_context != NULL && w->tr->ict_context->timer_a_start.tv_sec != -1)
          a = (uint64_t) w->tr->ict_context->timer_a_start.tv_sec * 1000000ULL
              + (uint64_t) w->tr->ict_context->timer_a_start.tv_usec;
        else if (w->kind == NICT && w->tr->nict_context != NULL && w->tr->nict_context->timer_e_start.tv_sec != -1)
          a = (uint64_t) w->tr->nict_context->timer_e_start.tv_sec * 1000000ULL
              + (uint64_t) w->tr->nict_context->timer_e_start.tv_usec;
        if (a > 0 && (due == 0 || a < due))
          due = a;
        if (due > 0 && (w->timer.idx < 0 || due < w->timer.due))
          ex_arm(ctx, &w->timer, due);
      }
      return 1;
    }
  }
  return 0;
}

/* RFC 3261 9.1: a CANCEL goes where its INVITE went (the INVITE's target in use), so that it
 * meets the INVITE's server transaction; never through the list again. */
static int cancel_dest(struct eXosip_t *ctx, struct ex_tx *w, const osip_message_t *req, int proto,
                       struct ex_dest *dest)
{
  osip_via_t *via = osip_list_get(&req->vias, 0);
  osip_generic_param_t *b = NULL;
  struct ex_dns_route *r;
  struct ex_tx *inv;
  char key[300];
  if (via == NULL)
    return 0;
  osip_via_param_get_byname(via, "branch", &b);
  if (b == NULL || b->gvalue == NULL)
    return 0;
  snprintf(key, sizeof(key), "C|%s|INVITE", b->gvalue);
  inv = ex_hmap_get_str(&ctx->tx_by_key, key);
  if (inv == NULL || inv->kind != ICT || inv->dns == NULL)
    return 0; /* the INVITE was not located by RFC 3263: the CANCEL resolves as it did */
  r = calloc(1, sizeof(*r));
  if (r == NULL)
    return OSIP_NOMEM;
  *r = *route_of(inv);
  r->nold = 0; /* the INVITE's earlier keys are its own */
  r->ack_tag[0] = '\0';
  r->acked = 0;
  r->ack_len = 0;
  r->due = 0;
  r->res.t[0] = inv->dns->t[inv->dns_index];
  r->res.count = 1; /* nothing to fail over to */
  w->dns = &r->res;
  w->dns_index = 0;
  return current_dest(w, proto, dest) == OSIP_SUCCESS ? 1 : OSIP_UNKNOWN_HOST;
}

/* The ACK of a non-2xx final answer to our INVITE (RFC 3261 17.1.1.3), as text. */
static int ack_of_503(const osip_message_t *inv, const osip_message_t *resp, char **buf, size_t *len)
{
  osip_message_t *ack = NULL;
  osip_via_t *via = NULL;
  int i, rc = OSIP_NOMEM;
  char cseq[64];
  *buf = NULL;
  if (inv->cseq == NULL || inv->cseq->number == NULL || resp->to == NULL || osip_message_init(&ack) != 0)
    return OSIP_NOMEM;
  osip_message_set_method(ack, osip_strdup("ACK"));
  osip_message_set_version(ack, osip_strdup("SIP/2.0"));
  osip_message_set_status_code(ack, 0);
  if (osip_uri_clone(inv->req_uri, &ack->req_uri) != 0)
    goto out;
  via = osip_list_get(&inv->vias, 0);
  if (via == NULL || osip_via_clone(via, &via) != 0)
    goto out;
  osip_list_add(&ack->vias, via, 0);
  for (i = 0; i < osip_list_size(&inv->routes); i++) {
    osip_route_t *rt = osip_list_get(&inv->routes, i), *copy = NULL;
    if (osip_route_clone(rt, &copy) != 0)
      goto out;
    osip_list_add(&ack->routes, copy, -1);
  }
  if (osip_from_clone(inv->from, &ack->from) != 0 || osip_to_clone(resp->to, &ack->to) != 0
      || osip_call_id_clone(inv->call_id, &ack->call_id) != 0)
    goto out;
  snprintf(cseq, sizeof(cseq), "%s ACK", inv->cseq->number);
  osip_message_set_cseq(ack, cseq);
  osip_message_set_max_forwards(ack, "70");
  osip_message_set_content_length(ack, "0");
  rc = osip_message_to_str(ack, buf, len) == 0 ? OSIP_SUCCESS : OSIP_NOMEM;
out:
  osip_message_free(ack);
  return rc;
}

/* A 503 with Retry-After: its target is tried last by the requests located until then. */
static void rest_target(struct eXosip_t *ctx, const struct ex_dns_target *t, const osip_message_t *resp)
{
  osip_header_t *h = NULL;
  struct ex_dns *d = ctx->dns;
  uint64_t now = ex_now_us();
  long secs = 0;
  int k, slot = 0;
  const char *v;
  if (d == NULL || osip_message_header_get_byname(resp, "retry-after", 0, &h) < 0 || h == NULL
      || h->hvalue == NULL)
    return;
  for (v = h->hvalue; *v == ' ' || *v == '\t'; v++)
    ;
  for (; *v >= '0' && *v <= '9' && secs <= EX_DNS_MAX_REST_S; v++) /* delta-seconds (RFC 3261 20.33) */
    secs = secs * 10 + (*v - '0');
  if (secs <= 0)
    return;
  if (secs > EX_DNS_MAX_REST_S)
    secs = EX_DNS_MAX_REST_S;
  pthread_mutex_lock(&d->mu);
  for (k = 0; k < EX_DNS_MAX_RESTING; k++) { /* its own entry, else a free or the oldest one */
    struct ex_dns_resting *z = &d->resting[k];
    if (z->port == t->port && z->proto == t->proto && z->secure == t->secure && strcmp(z->ip, t->ip) == 0) {
      slot = k;
      break;
    }
    if (d->resting[k].until_us < d->resting[slot].until_us)
      slot = k;
  }
  snprintf(d->resting[slot].ip, sizeof(d->resting[slot].ip), "%s", t->ip);
  d->resting[slot].port = t->port;
  d->resting[slot].proto = t->proto;
  d->resting[slot].secure = t->secure;
  d->resting[slot].until_us = now + (uint64_t) secs * 1000000ULL;
  pthread_mutex_unlock(&d->mu);
}

int ex_dns_on_503(struct eXosip_t *ctx, struct ex_tx *w, const osip_message_t *resp)
{
  struct ex_dns_route *r;
  const char *tag = ex_to_tag(resp);
  if (w == NULL || resp->status_code != 503 || w->dns == NULL || w->tr == NULL || w->killed || w->executing)
    return 0;
  if (!((w->kind == ICT && (w->tr->state == ICT_CALLING || w->tr->state == ICT_PROCEEDING))
        || (w->kind == NICT && (w->tr->state == NICT_TRYING || w->tr->state == NICT_PROCEEDING))))
    return 0;
  r = route_of(w);
  rest_target(ctx, &w->dns->t[w->dns_index], resp);
  if (w->kind == ICT) {
    struct ex_dest dest;
    char *buf = NULL;
    size_t len = 0;
    if (r->acked && strcmp(tag != NULL ? tag : "", r->ack_tag) == 0) {
      if (r->ack_len > 0) /* the earlier server's 503 again: our ACK was lost */
        ex_send_raw(ctx, &r->ack_dest, r->ack, r->ack_len);
      return 1;
    }
    if (w->dns_index + 1 >= w->dns->count || w->tr->orig_request == NULL || w->cancelled)
      return 0; /* the last target, or a cancelled INVITE: the 503 is the answer */
    if (current_dest(w, ex_proto_of_message(w->tr->orig_request), &dest) != OSIP_SUCCESS
        || ack_of_503(w->tr->orig_request, resp, &buf, &len) != OSIP_SUCCESS)
      return 0;
    ex_send_raw(ctx, &dest, buf, len);
    {
      struct ex_dns_route *grown = realloc(r, sizeof(*r) + len);
      if (grown != NULL) {
        r = grown;
        w->dns = &r->res;
        memcpy(r->ack, buf, len);
        r->ack_len = len;
        r->ack_dest = dest;
      }
    }
    snprintf(r->ack_tag, sizeof(r->ack_tag), "%s", tag != NULL ? tag : "");
    r->acked = 1; /* (a 503 without a To tag, against RFC 3261 8.2.6.2, matches "") */
    osip_free(buf);
  } else if (w->dns_index + 1 >= w->dns->count) {
    return 0;
  }
  /* a 100 from the server that then refused: the next one starts from Calling/Trying again, with
   * what is left of 64*T1 (oSIP2's Proceeding has no Timer B) */
  if (w->kind == ICT && w->tr->state == ICT_PROCEEDING && w->tr->ict_context != NULL) {
    uint64_t end = w->created + 64ULL * EX_T1 * 1000ULL, now = ex_now_us();
    if (end < now + 4ULL * EX_T1 * 1000ULL)
      end = now + 4ULL * EX_T1 * 1000ULL;
    w->tr->ict_context->timer_b_start.tv_sec = (time_t) (end / 1000000ULL);
    w->tr->ict_context->timer_b_start.tv_usec = (suseconds_t) (end % 1000000ULL);
    w->tr->state = ICT_CALLING;
  } else if (w->kind == NICT && w->tr->state == NICT_PROCEEDING) {
    w->tr->state = NICT_TRYING;
  }
  return ex_dns_failover(ctx, w);
}

/* ---- options ---- */

static int parse_server(const char *s, struct sockaddr_in *out)
{
  char host[64];
  const char *colon = strrchr(s, ':');
  long port = 53;
  memset(out, 0, sizeof(*out));
  if (colon != NULL) {
    char *end = NULL;
    if ((size_t) (colon - s) >= sizeof(host))
      return OSIP_BADPARAMETER;
    snprintf(host, sizeof(host), "%.*s", (int) (colon - s), s);
    port = strtol(colon + 1, &end, 10);
    if (end == colon + 1 || *end != '\0' || port <= 0 || port > 65535)
      return OSIP_BADPARAMETER;
  } else {
    snprintf(host, sizeof(host), "%s", s);
  }
  if (inet_pton(AF_INET, host, &out->sin_addr) != 1)
    return OSIP_BADPARAMETER;
  out->sin_family = AF_INET;
  out->sin_port = htons((uint16_t) port);
  return OSIP_SUCCESS;
}

int ex_dns_set_option(struct eXosip_t *ctx, int opt, const void *value)
{
  struct ex_dns *d = dns_of(ctx);
  int rc = OSIP_SUCCESS, i;
  if (d == NULL)
    return OSIP_NOMEM;
  pthread_mutex_lock(&d->mu);
  switch (opt) {
  case EXOSIP_OPT_DNS_CAPABILITIES:
    if (value == NULL || *(const int *) value < 0 || *(const int *) value > 2)
      rc = OSIP_BADPARAMETER;
    else
      d->capabilities = *(const int *) value;
    cache_clear(d);
    break;
  case EXOSIP_OPT_ENABLE_DNS_CACHE:
    if (value == NULL)
      rc = OSIP_BADPARAMETER;
    else if ((d->cache_enabled = *(const int *) value != 0) == 0)
      cache_clear(d);
    break;
  case EXOSIP_OPT_ADD_DNS_CACHE: {
    struct eXosip_dns_cache *e = (struct eXosip_dns_cache *) (uintptr_t) value;
    int free_slot = -1;
    if (e == NULL || e->host[0] == '\0' || strnlen(e->ip, sizeof(e->ip)) >= sizeof(d->statics[0].ip)
        || strnlen(e->host, sizeof(e->host)) >= sizeof(d->statics[0].host)) {
      rc = OSIP_BADPARAMETER;
      break;
    }
    for (i = 0; i < EX_DNS_MAX_STATIC; i++) {
      if (d->statics[i].host[0] == '\0') {
        if (free_slot < 0)
          free_slot = i;
      } else if (strcasecmp(d->statics[i].host, e->host) == 0) {
        if (e->ip[0] == '\0') /* an empty ip asks for the entry */
          snprintf(e->ip, sizeof(e->ip), "%s", d->statics[i].ip);
        else
          snprintf(d->statics[i].ip, sizeof(d->statics[i].ip), "%.63s", e->ip);
        goto out;
      }
    }
    {
      struct in6_addr a;
      if (e->ip[0] == '\0' || strlen(e->host) >= sizeof(d->statics[0].host)
          || (inet_pton(AF_INET, e->ip, &a) != 1 && inet_pton(AF_INET6, e->ip, &a) != 1)) {
        rc = e->ip[0] == '\0' ? OSIP_NOTFOUND : OSIP_BADPARAMETER;
        break;
      }
    }
    if (free_slot < 0) {
      rc = OSIP_TOOMUCHCALL;
      break;
    }
    snprintf(d->statics[free_slot].host, sizeof(d->statics[free_slot].host), "%s", e->host);
    snprintf(d->statics[free_slot].ip, sizeof(d->statics[free_slot].ip), "%.63s", e->ip);
    break;
  }
  case EXOSIP_OPT_DELETE_DNS_CACHE: {
    const struct eXosip_dns_cache *e = value;
    if (e == NULL || e->host[0] == '\0') {
      rc = OSIP_BADPARAMETER;
      break;
    }
    rc = OSIP_NOTFOUND;
    for (i = 0; i < EX_DNS_MAX_STATIC; i++)
      if (d->statics[i].host[0] != '\0' && strcasecmp(d->statics[i].host, e->host) == 0) {
        memset(&d->statics[i], 0, sizeof(d->statics[i]));
        rc = OSIP_SUCCESS;
      }
    {
      struct ex_dns_cached **pp = &d->cache;
      while (*pp != NULL) {
        if (strcasecmp((*pp)->name, e->host) == 0) {
          struct ex_dns_cached *c = *pp;
          *pp = c->next;
          free(c);
          d->cached--;
          rc = OSIP_SUCCESS;
        } else {
          pp = &(*pp)->next;
        }
      }
    }
    break;
  }
  case EXOSIP_CORE_OPT_DNS_SERVER:
    if (value == NULL || ((const char *) value)[0] == '\0') {
      d->have_server = 0;
    } else if (parse_server(value, &d->server) == OSIP_SUCCESS) {
      d->have_server = 1;
    } else {
      rc = OSIP_BADPARAMETER;
      break;
    }
    cache_clear(d);
    break;
  case EXOSIP_CORE_OPT_DNS_TIMEOUT_MS:
    if (value == NULL || *(const int *) value < 100 || *(const int *) value > 30000)
      rc = OSIP_BADPARAMETER;
    else
      d->timeout_ms = *(const int *) value;
    break;
  default:
    rc = OSIP_UNDEFINED_ERROR;
    break;
  }
out:
  pthread_mutex_unlock(&d->mu);
  return rc;
}

int ex_dns_get_option(struct eXosip_t *ctx, int opt)
{
  struct ex_dns *d = dns_of(ctx);
  int v;
  if (d == NULL)
    return OSIP_NOMEM;
  pthread_mutex_lock(&d->mu);
  v = opt == EXOSIP_CORE_OPT_DNS_TIMEOUT_MS ? d->timeout_ms
      : opt == EXOSIP_OPT_DNS_CAPABILITIES  ? d->capabilities
                                            : d->cache_enabled;
  pthread_mutex_unlock(&d->mu);
  return v;
}

/* ---- eXosip2 5.3's API ---- */

static void fill_record(osip_srv_record_t *rec, const struct ex_dns_result *res, int proto, int secure,
                        const char *domain)
{
  int i, n = 0;
  static const char *prefix[3] = { "_sip._udp.", "_sip._tcp.", "_sips._tcp." };
  int which = secure ? 2 : proto == IPPROTO_TCP ? 1 : 0;
  memset(rec, 0, sizeof(*rec));
  snprintf(rec->name, sizeof(rec->name), "%s%s", prefix[which], domain);
  snprintf(rec->protocol, sizeof(rec->protocol), "%s", secure ? "TLS" : proto == IPPROTO_TCP ? "TCP" : "UDP");
  for (i = 0; i < res->count && n < 10; i++) {
    const struct ex_dns_target *t = &res->t[i];
    osip_srv_entry_t *e;
    if (t->proto != proto || t->secure != secure)
      continue;
    e = &rec->srventry[n++];
    snprintf(e->srv, sizeof(e->srv), "%s", t->host);
    snprintf(e->ipaddress, sizeof(e->ipaddress), "%s", t->ip);
    e->priority = t->priority;
    e->weight = t->weight;
    e->rweight = t->weight;
    e->port = t->port;
  }
  if (n > 0) {
    snprintf(rec->flag, sizeof(rec->flag), "S");
    rec->srv_state = OSIP_SRV_STATE_COMPLETED;
  } else {
    rec->srv_state = OSIP_SRV_STATE_NOTSUPPORTED;
  }
}

static void fill_naptr(osip_naptr_t *rec, const struct ex_dns_result *res)
{
  if (res->rc == OSIP_SUCCESS) {
    fill_record(&rec->sipudp_record, res, IPPROTO_UDP, 0, rec->domain);
    fill_record(&rec->siptcp_record, res, IPPROTO_TCP, 0, rec->domain);
    fill_record(&rec->siptls_record, res, IPPROTO_TCP, 1, rec->domain);
    rec->naptr_state = OSIP_NAPTR_STATE_SRVDONE;
  } else {
    rec->naptr_state = res->rc == OSIP_UNKNOWN_HOST ? OSIP_NAPTR_STATE_NOTSUPPORTED : OSIP_NAPTR_STATE_RETRYLATER;
  }
}

EXOSIP_API struct osip_naptr *eXosip_dnsutils_naptr(struct eXosip_t *excontext, const char *domain,
                                                    const char *protocol, const char *transport,
                                                    int keep_in_cache)
{
  struct ex_dns *d;
  struct ex_dns_result res;
  struct ex_dns_job *job = NULL;
  osip_naptr_t *rec;
  int hit = 0;
  (void) transport;
  if (excontext == NULL || !excontext->initialized || domain == NULL || domain[0] == '\0'
      || strlen(domain) >= 256 || (protocol != NULL && osip_strcasecmp(protocol, "sip") != 0
                                   && osip_strcasecmp(protocol, "sips") != 0))
    return NULL;
  d = dns_of(excontext);
  if (d == NULL)
    return NULL;
  pthread_mutex_lock(&d->mu);
  if (static_answer(d, domain, &res)) {
    hit = 1;
  } else {
    struct ex_dns_cached *c = cache_find(d, domain);
    if (c != NULL) {
      res = c->res;
      hit = 1;
    }
  }
  pthread_mutex_unlock(&d->mu);
  if (!hit && keep_in_cache < 0)
    return NULL; /* -1: the cache only */
  rec = osip_malloc(sizeof(*rec));
  if (rec == NULL)
    return NULL;
  memset(rec, 0, sizeof(*rec));
  snprintf(rec->domain, sizeof(rec->domain), "%s", domain);
  rec->keep_in_cache = keep_in_cache;
  if (hit) {
    fill_naptr(rec, &res);
    return rec;
  }
  if (job_start(d, domain, &job) != OSIP_SUCCESS) {
    rec->naptr_state = OSIP_NAPTR_STATE_RETRYLATER;
    return rec;
  }
  rec->arg = job;
  rec->naptr_state = OSIP_NAPTR_STATE_INPROGRESS;
  return rec;
}

EXOSIP_API int eXosip_dnsutils_dns_process(struct osip_naptr *output_record, int force)
{
  struct ex_dns_job *job;
  struct ex_dns *d;
  int done;
  if (output_record == NULL)
    return OSIP_BADPARAMETER;
  job = output_record->arg;
  if (job == NULL)
    return OSIP_SUCCESS; /* nothing under way */
  d = job->dns;
  if (force > 0) {
    done = job_wait(job, lookup_bound_ms(d));
  } else {
    pthread_mutex_lock(&d->mu);
    done = job->done;
    pthread_mutex_unlock(&d->mu);
  }
  if (!done)
    return force > 0 ? OSIP_TIMEOUT : OSIP_SUCCESS;
  fill_naptr(output_record, &job->res);
  output_record->arg = NULL;
  job_unref(job);
  return OSIP_SUCCESS;
}

EXOSIP_API int eXosip_dnsutils_rotate_srv(struct osip_srv_record *output_record)
{
  int n;
  if (output_record == NULL || output_record->srventry[0].srv[0] == '\0')
    return -1;
  for (n = 1; n < 10 && output_record->srventry[n].srv[0] != '\0'; n++)
    ;
  output_record->index = (output_record->index + 1) % n;
  return n - 1; /* the entries left to try after the current one */
}

EXOSIP_API void eXosip_dnsutils_release(struct osip_naptr *naptr_record)
{
  if (naptr_record == NULL)
    return;
  if (naptr_record->arg != NULL)
    job_unref(naptr_record->arg); /* a lookup still under way finishes on its own */
  osip_free(naptr_record);
}

/* ---- core-only: one lookup without a context ---- */

EXOSIP_API int eXosip_core_dns_lookup(const char *server, int timeout_ms, int capabilities, const char *name,
                                      struct eXosip_core_dns_target *targets, int max)
{
  struct lookup_cfg cfg;
  struct ex_dns_result *res;
  int i, rc;
  if (name == NULL || name[0] == '\0' || strlen(name) >= 256 || targets == NULL || max < 0 || capabilities < 0
      || capabilities > 2)
    return OSIP_BADPARAMETER;
  memset(&cfg, 0, sizeof(cfg));
  cfg.capabilities = capabilities;
  cfg.timeout_ms = timeout_ms >= 100 ? timeout_ms : 2000;
  if (server != NULL && server[0] != '\0') {
    if (parse_server(server, &cfg.server) != OSIP_SUCCESS)
      return OSIP_BADPARAMETER;
    cfg.have_server = 1;
  }
  res = malloc(sizeof(*res));
  if (res == NULL)
    return OSIP_NOMEM;
  rc = lookup(&cfg, name, res);
  if (rc == OSIP_SUCCESS) {
    for (i = 0; i < res->count && i < max; i++) {
      struct eXosip_core_dns_target *t = &targets[i];
      memset(t, 0, sizeof(*t));
      snprintf(t->transport, sizeof(t->transport), "%s",
               res->t[i].secure ? "TLS" : res->t[i].proto == IPPROTO_TCP ? "TCP" : "UDP");
      snprintf(t->host, sizeof(t->host), "%s", res->t[i].host);
      snprintf(t->ip, sizeof(t->ip), "%s", res->t[i].ip);
      t->port = res->t[i].port;
      t->priority = res->t[i].priority;
      t->weight = res->t[i].weight;
      t->ttl = res->ttl;
    }
    rc = res->count < max ? res->count : max;
  }
  free(res);
  return rc;
}
