/* SPDX-License-Identifier: Apache-2.0 */
/* Context life cycle, options, listening sockets and the I/O thread. */
#include <errno.h>
#include <stdarg.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/epoll.h>
#include <sys/mman.h>
#include "osrandom.h"
#include <sys/eventfd.h>
#include <sys/socket.h>

/* Linux 4.14; glibc 2.17's headers (the manylinux2014 wheels) lack the name, and an older kernel refuses
 * the advice, which random_pool_open handles */
#ifndef MADV_WIPEONFORK
#define MADV_WIPEONFORK 18
#endif

#include "exosip_internal.h"
#include "regauth.h" /* hooks: registrations and authentication */
#include "usage.h"

static void limits_defaults(struct ex_limits *l);

#define TAG_WAKE 1
#define TAG_UDP 2
#define TAG_TCP_LISTEN 3

void ex_ctx_lock(struct eXosip_t *ctx)
{
  pthread_mutex_lock(&ctx->lock);
  ctx->lock_depth++;
}

void ex_ctx_unlock(struct eXosip_t *ctx)
{
  if (--ctx->lock_depth == 0 && ctx->reap_head != NULL)
    ex_tx_reap(ctx);
  pthread_mutex_unlock(&ctx->lock);
}

void ex_wake_io(struct eXosip_t *ctx, uint64_t due)
{
  if (ctx->sleep_until != 0 && due < ctx->sleep_until) {
    ctx->sleep_until = 0; /* one wake-up is enough until the poller sleeps again */
    ex_io_kick(ctx);
  }
}

int ex_arm(struct eXosip_t *ctx, struct ex_timer *t, uint64_t due)
{
  int rc = ex_heap_set(&ctx->heap, t, due);
  if (rc == OSIP_SUCCESS)
    ex_wake_io(ctx, due);
  return rc;
}

/*
 * Tokens (Call-ID, tags, Via branches, cnonces) are drawn from the kernel's CSPRNG, getrandom(2) (osrandom.h),
 * through a per-context pool of random bytes kept in its own page. The page is marked
 * MADV_WIPEONFORK: a forked child sees it zeroed (an empty pool) and refills it with fresh bytes,
 * so parent and child never hand out the same tokens. Where the kernel refuses that advice the pool
 * remembers the pid that filled it and is discarded when getpid() differs. Callers hold the context
 * lock. Measured on the development machine: about 0.06 us per 15-character token from the pool,
 * against about 0.5 us with one getrandom call per token (the syscall dominates).
 */
#define EX_RANDOM_POOL_BYTES 2048
struct ex_random_pool {
  size_t left; /* unread bytes at the end of bytes[]; 0 (also after a fork wiped the page) = empty */
  pid_t pid;   /* who filled it: checked only when the page could not be marked wipe-on-fork */
  unsigned char bytes[EX_RANDOM_POOL_BYTES];
};

static void random_fill(unsigned char *p, size_t n)
{
  while (n > 0) {
    ssize_t got = ex_os_random(p, n);
    if (got < 0) {
      if (errno == EINTR)
        continue;
      /* no kernel randomness at all (never seen on Linux >= 3.17): predictable tokens would let an
       * off-path attacker forge requests, so the process stops rather than send them */
      fprintf(stderr, "exosip2: getrandom failed (%s): cannot make unpredictable tokens\n", strerror(errno));
      abort();
    }
    p += got;
    n -= (size_t) got;
  }
}

static int random_pool_open(struct eXosip_t *ctx)
{
  void *page = mmap(NULL, sizeof(struct ex_random_pool), PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
                    -1, 0);
  if (page == MAP_FAILED)
    return OSIP_NOMEM;
  ctx->rnd = page;
  ctx->rnd_check_pid = madvise(page, sizeof(struct ex_random_pool), MADV_WIPEONFORK) != 0;
  return OSIP_SUCCESS;
}

static void random_pool_close(struct eXosip_t *ctx)
{
  if (ctx->rnd != NULL) {
    memset(ctx->rnd, 0, sizeof(*ctx->rnd));
    munmap(ctx->rnd, sizeof(struct ex_random_pool));
    ctx->rnd = NULL;
  }
}

static unsigned char random_byte(struct eXosip_t *ctx)
{
  struct ex_random_pool *pool = ctx->rnd;
  if (pool->left > 0 && ctx->rnd_check_pid && pool->pid != getpid())
    pool->left = 0; /* filled by the parent before a fork */
  if (pool->left == 0) {
    random_fill(pool->bytes, sizeof(pool->bytes));
    pool->pid = getpid();
    pool->left = sizeof(pool->bytes);
  }
  pool->left--;
  {
    unsigned char b = pool->bytes[pool->left];
    pool->bytes[pool->left] = 0; /* a byte handed out is not kept */
    return b;
  }
}

/* size - 1 characters of [0-9a-z] (5.17 bits each, unbiased: bytes >= 252 are drawn again), then NUL. */
void ex_random_token(struct eXosip_t *ctx, char *buf, size_t size)
{
  static const char alphabet[] = "0123456789abcdefghijklmnopqrstuvwxyz";
  const unsigned int n = sizeof(alphabet) - 1, limit = 256 - 256 % n;
  size_t i;
  if (size == 0)
    return;
  for (i = 0; i + 1 < size; i++) {
    unsigned int b;
    do {
      b = random_byte(ctx);
    } while (b >= limit);
    buf[i] = alphabet[b % n];
  }
  buf[size - 1] = '\0';
}

void ex_local_contact(struct eXosip_t *ctx, int proto, const char **host, int *port)
{
  int p = proto == EX_PROTO_TLS ? ctx->tls_port : proto == IPPROTO_TCP ? ctx->tcp_port : ctx->udp_port;
  if (p <= 0)
    p = ctx->udp_port > 0 ? ctx->udp_port : ctx->tcp_port;
  *host = ctx->masq_ip[0] ? ctx->masq_ip : ctx->local_ip;
  *port = ctx->masq_ip[0] && ctx->masq_port > 0 ? ctx->masq_port : p;
}

/* oSIP2's parser reports every malformed packet on stdout: a flood of garbage would become a
 * flood of log lines. Its trace settings are process-wide; they are pointed once at a sink with
 * every level off (disabling levels alone does not stop the default output of this build). A
 * program that wants the traces calls osip_trace_initialize* itself after eXosip_init. */
static pthread_once_t quiet_once = PTHREAD_ONCE_INIT;

static void trace_sink(const char *fi, int li, osip_trace_level_t level, const char *chfr, va_list ap)
{
  (void) fi;
  (void) li;
  (void) level;
  (void) chfr;
  (void) ap;
}

static void quiet_osip_trace(void)
{
  osip_trace_initialize_func(OSIP_FATAL, trace_sink);
}

EXOSIP_API struct eXosip_t *eXosip_malloc(void)
{
  /* osip_malloc, so that the osip_free() the caller does after eXosip_quit
   * matches even when oSIP2's allocator hooks are set */
  struct eXosip_t *ctx = osip_malloc(sizeof(*ctx));
  if (ctx == NULL)
    return NULL;
  memset(ctx, 0, sizeof(*ctx));
  ctx->epfd = ctx->wake_fd = ctx->ev_fd = -1;
  ctx->udp_fd = ctx->tcp_fd = ctx->tls_fd = -1;
  ctx->reserve_fd = -1;
  return ctx;
}

EXOSIP_API int eXosip_init(struct eXosip_t *excontext)
{
  struct eXosip_t *ctx = excontext;
  pthread_mutexattr_t ma;
  pthread_condattr_t ca;
  int rc = OSIP_NOMEM;

  if (ctx == NULL)
    return OSIP_BADPARAMETER;
  if (ctx->initialized)
    return OSIP_WRONG_STATE;

  pthread_mutexattr_init(&ma);
  pthread_mutexattr_settype(&ma, PTHREAD_MUTEX_RECURSIVE);
  pthread_mutex_init(&ctx->lock, &ma);
  pthread_mutexattr_destroy(&ma);
  pthread_mutex_init(&ctx->evlock, NULL);
  pthread_condattr_init(&ca);
  pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
  pthread_cond_init(&ctx->evcond, &ca);
  pthread_cond_init(&ctx->io_cond, &ca);
  pthread_condattr_destroy(&ca);

  limits_defaults(&ctx->limits);
  ctx->use_rport = 1;
  ctx->autoanswer_bye = 1;
  ctx->dscp = -1; /* netopts.c: the system's default until EXOSIP_OPT_SET_DSCP */
  ctx->default_proto = IPPROTO_UDP;
  ctx->next_cid = 1;
  ctx->next_did = 1;
  ctx->next_conn_id = 16; /* below are the fixed epoll tags */
  ctx->sweep.idx = -1;
  ctx->sweep.kind = EX_TIMER_SWEEP;
  ctx->sweep.owner = ctx;
  ctx->start_us = ex_now_us();
  snprintf(ctx->local_ip, sizeof(ctx->local_ip), "127.0.0.1");
  ctx->user_agent = strdup("exosip2/" EXOSIP_CORE_API_VERSION);

  if (random_pool_open(ctx) != OSIP_SUCCESS)
    goto cleanup;
  if (ex_hmap_init(&ctx->tx_by_key, 1024) || ex_hmap_init(&ctx->tx_by_tid, 1024)
      || ex_hmap_init(&ctx->calls_by_cid, 1024) || ex_hmap_init(&ctx->calls_by_srvkey, 1024)
      || ex_hmap_init(&ctx->dialogs_by_did, 1024) || ex_hmap_init(&ctx->dialogs_by_key, 1024)
      || ex_hmap_init(&ctx->dialogs_by_invtid, 1024) || ex_hmap_init(&ctx->dns_cache, 16)
      || ex_hmap_init(&ctx->calls_by_uackey, 1024) || ex_hmap_init(&ctx->dialogs_by_srvtid, 1024)
      || ex_hmap_init(&ctx->conns_by_id, 64) || ex_hmap_init(&ctx->conns_by_addr, 64))
    goto cleanup;

  ctx->epfd = epoll_create1(EPOLL_CLOEXEC);
  ctx->wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  ctx->ev_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (ctx->epfd < 0 || ctx->wake_fd < 0 || ctx->ev_fd < 0) {
    rc = OSIP_UNDEFINED_ERROR;
    goto cleanup;
  }
  {
    struct epoll_event ev;
    memset(&ev, 0, sizeof(ev));
    ev.events = EPOLLIN;
    ev.data.u64 = TAG_WAKE;
    if (epoll_ctl(ctx->epfd, EPOLL_CTL_ADD, ctx->wake_fd, &ev) != 0) {
      rc = OSIP_UNDEFINED_ERROR;
      goto cleanup;
    }
  }
  pthread_once(&quiet_once, quiet_osip_trace);
  rc = ex_osip_setup(ctx);
  if (rc != OSIP_SUCCESS)
    goto cleanup;
  ctx->initialized = 1;
  return OSIP_SUCCESS;

cleanup:
  if (ctx->epfd >= 0)
    close(ctx->epfd);
  if (ctx->wake_fd >= 0)
    close(ctx->wake_fd);
  if (ctx->ev_fd >= 0)
    close(ctx->ev_fd);
  ctx->epfd = ctx->wake_fd = ctx->ev_fd = -1;
  ex_hmap_destroy(&ctx->tx_by_key);
  ex_hmap_destroy(&ctx->tx_by_tid);
  ex_hmap_destroy(&ctx->calls_by_cid);
  ex_hmap_destroy(&ctx->calls_by_srvkey);
  ex_hmap_destroy(&ctx->dialogs_by_did);
  ex_hmap_destroy(&ctx->dialogs_by_key);
  ex_hmap_destroy(&ctx->dialogs_by_invtid);
  ex_hmap_destroy(&ctx->calls_by_uackey);
  ex_hmap_destroy(&ctx->dialogs_by_srvtid);
  ex_hmap_destroy(&ctx->dns_cache);
  ex_hmap_destroy(&ctx->conns_by_id);
  ex_hmap_destroy(&ctx->conns_by_addr);
  random_pool_close(ctx);
  ex_netopt_free(ctx);
  free(ctx->user_agent);
  ctx->user_agent = NULL;
  pthread_cond_destroy(&ctx->evcond);
  pthread_cond_destroy(&ctx->io_cond);
  pthread_mutex_destroy(&ctx->evlock);
  pthread_mutex_destroy(&ctx->lock);
  return rc;
}

static void run_timers(struct eXosip_t *ctx)
{
  uint64_t now = ex_now_us();
  struct ex_timer *t;
  int budget = 4096; /* never starve the sockets */
  while (budget-- > 0 && (t = ex_heap_top(&ctx->heap)) != NULL && t->due <= now) {
    ex_heap_remove(&ctx->heap, t);
    switch (t->kind) {
    case EX_TIMER_TX:
      ex_tx_timer_fire(ctx, (struct ex_tx *) t->owner);
      break;
    case EX_TIMER_2XX:
      ex_dialog_2xx_fire(ctx, (struct ex_dialog *) t->owner);
      break;
    case EX_TIMER_SWEEP:
      ex_tcp_sweep(ctx);
      break;
    case EX_TIMER_REL1XX:
      ex_prack_rel_fire(ctx, (struct ex_dialog *) t->owner);
      break;
    default:
      break;
    }
  }
}

void ex_io_kick(struct eXosip_t *ctx)
{
  uint64_t one = 1;
  if (ctx->wake_fd >= 0 && write(ctx->wake_fd, &one, sizeof(one)) < 0) {
    /* the counter is saturated: the poller is being woken anyway */
  }
}

void ex_io_round(struct eXosip_t *ctx, int max_ms)
{
  struct epoll_event evs[64];
  int timeout_ms = 1000, n, i, deferred;
  struct ex_timer *top;

  ex_ctx_lock(ctx);
  top = ex_heap_top(&ctx->heap);
  if (top != NULL) {
    uint64_t now = ex_now_us();
    if (top->due <= now)
      timeout_ms = 0;
    else if (top->due - now < 1000000ULL)
      timeout_ms = (int) ((top->due - now + 999) / 1000);
  }
  if (max_ms >= 0 && max_ms < timeout_ms)
    timeout_ms = max_ms;
  ctx->sleep_until = timeout_ms == 0 ? 0 : ex_now_us() + (uint64_t) timeout_ms * 1000ULL;
  ex_ctx_unlock(ctx);

  n = epoll_wait(ctx->epfd, evs, 64, timeout_ms);

  ex_ctx_lock(ctx);
  ctx->sleep_until = 0;
  ctx->io_path = 1;
  ctx->ev_defer = 1; /* the waiters are woken once, below, not per event */
  for (i = 0; i < n && !ctx->stopping; i++) {
    uint64_t tag = evs[i].data.u64;
    if (tag == TAG_WAKE) {
      uint64_t v;
      if (read(ctx->wake_fd, &v, sizeof(v)) < 0) {
        /* nothing pending: another wake-up consumed it */
      }
    } else if (tag == TAG_UDP) {
      if (evs[i].events & EPOLLERR) /* ICMP errors of what we sent (udp.c) */
        ex_udp_read_errors(ctx);
      ex_udp_read(ctx);
    } else if (tag == TAG_TCP_LISTEN) {
      ex_tcp_accept(ctx);
    } else if (tag == EX_TAG_TLS_LISTEN) {
      ex_tls_accept(ctx);
    } else {
      ex_tcp_event(ctx, (long) tag, evs[i].events);
    }
  }
  run_timers(ctx);
  ex_dns_poll(ctx); /* requests whose server location ended (dns.c) */
  ctx->ev_defer = 0;
  ctx->io_path = 0;
  deferred = ctx->ev_deferred;
  ctx->ev_deferred = 0;
  ex_ctx_unlock(ctx);
  ex_event_flush(ctx, deferred);
}

/*
 * Who waits on the sockets. A program thread that finds no event in eXosip_event_wait/get does not
 * sleep while the I/O thread reads for it: it takes the lead and runs the I/O loop itself
 * (event.c), so what it reads becomes its event without a thread switch, as in a single-threaded
 * server. The I/O thread gives the lead up whenever a program thread waits for events, and takes it
 * back only when no program thread has led for a whole FOLLOW_MS: while the program is busy outside
 * eXosip_event_wait, retransmissions, timers and incoming messages are still served, at most
 * 2 * FOLLOW_MS late. A program that never waits in eXosip_event_wait (one that polls, or watches
 * eXosip_event_geteventsocket) leaves the I/O thread leading, as before.
 */
#define FOLLOW_MS 10

static void follow_deadline(struct timespec *ts)
{
  clock_gettime(CLOCK_MONOTONIC, ts);
  ts->tv_nsec += FOLLOW_MS * 1000000L;
  if (ts->tv_nsec >= 1000000000L) {
    ts->tv_sec++;
    ts->tv_nsec -= 1000000000L;
  }
}

static void *io_thread(void *arg)
{
  struct eXosip_t *ctx = arg;
  int led_before = 0;

  pthread_mutex_lock(&ctx->evlock);
  while (!ctx->stopping) {
    int yield;
    if (led_before || ctx->io_leader != 0) {
      /* follow: lead again only once no thread has led for a whole FOLLOW_MS (right after this
       * thread gave the lead up, the waiter it woke may not have taken it yet) */
      unsigned seen;
      do {
        struct timespec ts;
        seen = ctx->io_epoch;
        follow_deadline(&ts);
        pthread_cond_timedwait(&ctx->io_cond, &ctx->evlock, &ts);
      } while (!ctx->stopping && (ctx->io_leader != 0 || ctx->io_epoch != seen));
      if (ctx->stopping)
        break;
    }
    led_before = 1;
    ctx->io_leader = EX_LEAD_IO;
    do {
      pthread_mutex_unlock(&ctx->evlock);
      ex_io_round(ctx, -1);
      pthread_mutex_lock(&ctx->evlock);
      yield = ctx->ev_waiters > 0;
    } while (!yield && !ctx->stopping);
    ctx->io_leader = 0;
    ctx->io_yield_asked = 0;
    if (yield)
      pthread_cond_signal(&ctx->evcond); /* a waiter takes the lead (or the event it was woken for) */
  }
  pthread_mutex_unlock(&ctx->evlock);
  return NULL;
}

static int start_thread(struct eXosip_t *ctx)
{
  if (ctx->thread_started)
    return OSIP_SUCCESS;
  if (pthread_create(&ctx->thread, NULL, io_thread, ctx) != 0)
    return OSIP_UNDEFINED_ERROR;
  ctx->thread_started = 1;
  return OSIP_SUCCESS;
}

int ex_epoll_add(struct eXosip_t *ctx, int fd, uint32_t events, uint64_t tag)
{
  struct epoll_event ev;
  memset(&ev, 0, sizeof(ev));
  ev.events = events;
  ev.data.u64 = tag;
  return epoll_ctl(ctx->epfd, EPOLL_CTL_ADD, fd, &ev) == 0 ? OSIP_SUCCESS : OSIP_UNDEFINED_ERROR;
}

int ex_epoll_mod(struct eXosip_t *ctx, int fd, uint32_t events, uint64_t tag)
{
  struct epoll_event ev;
  memset(&ev, 0, sizeof(ev));
  ev.events = events;
  ev.data.u64 = tag;
  return epoll_ctl(ctx->epfd, EPOLL_CTL_MOD, fd, &ev) == 0 ? OSIP_SUCCESS : OSIP_UNDEFINED_ERROR;
}

EXOSIP_API void eXosip_quit(struct eXosip_t *excontext)
{
  struct eXosip_t *ctx = excontext;
  if (ctx == NULL)
    return;
  if (ctx->initialized) {
    ctx->stopping = 1;
    if (ctx->thread_started) {
      ex_io_kick(ctx); /* whoever waits on the sockets */
      pthread_mutex_lock(&ctx->evlock);
      pthread_cond_broadcast(&ctx->io_cond);
      pthread_mutex_unlock(&ctx->evlock);
      pthread_join(ctx->thread, NULL);
      ctx->thread_started = 0;
    }
    eXosip_wakeup_event(ctx);
    /* a program thread still running a round of the I/O loop in eXosip_event_wait finishes it
     * before the context is torn down */
    pthread_mutex_lock(&ctx->evlock);
    while (ctx->io_leader != 0) {
      struct timespec ts;
      ex_io_kick(ctx);
      follow_deadline(&ts);
      pthread_cond_timedwait(&ctx->io_cond, &ctx->evlock, &ts);
    }
    pthread_mutex_unlock(&ctx->evlock);
    ex_ctx_lock(ctx);
    ex_heap_destroy(&ctx->heap);
    ex_call_free_all(ctx);
    ex_tx_free_all(ctx);
    ex_tcp_close_all(ctx);
    ex_tls_free(ctx);
    ex_usage_free_all(ctx); /* registrations, subscriptions, publications (usage.c) */
    ex_retry_free_all(ctx);
    ex_auth_free_all(ctx);
    ex_dialog_cache_free(ctx); /* after everything that frees dialogs */
    ex_ctx_unlock(ctx);
    ex_event_queue_destroy(ctx);
    ex_capture_free(ctx);
    osip_release(ctx->osip);
    ctx->osip = NULL;
    if (ctx->udp_fd >= 0)
      close(ctx->udp_fd);
    free(ctx->udp_rx);
    if (ctx->tcp_fd >= 0)
      close(ctx->tcp_fd);
    if (ctx->tls_fd >= 0)
      close(ctx->tls_fd);
    close(ctx->epfd);
    close(ctx->wake_fd);
    close(ctx->ev_fd);
    ex_hmap_destroy(&ctx->tx_by_key);
    ex_hmap_destroy(&ctx->tx_by_tid);
    ex_hmap_destroy(&ctx->calls_by_cid);
    ex_hmap_destroy(&ctx->calls_by_srvkey);
    ex_hmap_destroy(&ctx->dialogs_by_did);
    ex_hmap_destroy(&ctx->dialogs_by_key);
    ex_hmap_destroy(&ctx->dialogs_by_invtid);
    ex_hmap_destroy(&ctx->calls_by_uackey);
    ex_hmap_destroy(&ctx->dialogs_by_srvtid);
    ex_dns_cache_clear(ctx);
    ex_hmap_destroy(&ctx->dns_cache);
    ex_dns_free(ctx);
    ex_hmap_destroy(&ctx->conns_by_id);
    ex_hmap_destroy(&ctx->conns_by_addr);
    random_pool_close(ctx);
    pthread_cond_destroy(&ctx->evcond);
    pthread_cond_destroy(&ctx->io_cond);
    pthread_mutex_destroy(&ctx->evlock);
    pthread_mutex_destroy(&ctx->lock);
    ctx->initialized = 0;
    ctx->udp_fd = ctx->tcp_fd = ctx->epfd = ctx->wake_fd = ctx->ev_fd = -1;
    ctx->udp_rx = NULL;
  }
  /* As in eXosip2 5.3, the struct itself stays: the caller of eXosip_malloc
   * releases it with osip_free() once eXosip_quit has returned. */
  ex_netopt_free(ctx);
  free(ctx->user_agent);
  ctx->user_agent = NULL;
}

EXOSIP_API int eXosip_lock(struct eXosip_t *excontext)
{
  if (excontext == NULL || !excontext->initialized)
    return OSIP_BADPARAMETER;
  ex_ctx_lock(excontext);
  return OSIP_SUCCESS;
}

EXOSIP_API int eXosip_unlock(struct eXosip_t *excontext)
{
  if (excontext == NULL || !excontext->initialized || excontext->lock_depth <= 0)
    return OSIP_BADPARAMETER;
  ex_ctx_unlock(excontext);
  return OSIP_SUCCESS;
}

static void fill_stats(struct eXosip_t *ctx, struct eXosip_stats *st)
{
  double hours = (double) (ex_now_us() - ctx->start_us) / 3600e6;
  if (hours < 1.0 / 3600.0)
    hours = 1.0 / 3600.0;
  memset(st, 0, sizeof(*st));
  st->allocated_transactions = (int) ctx->tx_by_tid.count;
  st->average_transactions = (float) ((double) ctx->total_tx / hours);
  st->allocated_calls = (int) ctx->calls_by_cid.count;
  st->average_calls = (float) ((double) ctx->total_calls / hours);
  st->reserved1[0] = (int) ctx->dropped;
  st->reserved1[1] = (int) ctx->conns_closed;
  ex_usage_stats(ctx, st, hours); /* registrations, subscriptions, publications (usage.c) */
}

/* The core-only limit options of eX_core.h: where each lives, its default and its range. */
struct limit_def {
  int opt;
  size_t offset;
  int def, min, max;
};

#define LIMIT(o, field, d, lo, hi) { o, offsetof(struct ex_limits, field), d, lo, hi }
static const struct limit_def limit_defs[] = {
  LIMIT(EXOSIP_CORE_OPT_MAX_TCP_CONNECTIONS, max_tcp_conns, EX_MAX_TCP_CONNS, 1, 1 << 20),
  LIMIT(EXOSIP_CORE_OPT_MAX_TCP_CONNECTIONS_PER_SOURCE, max_tcp_conns_per_source, 64, 1, 1 << 20),
  LIMIT(EXOSIP_CORE_OPT_TCP_MESSAGE_TIMEOUT_MS, tcp_message_timeout_ms, 10000, 100, 3600 * 1000),
  LIMIT(EXOSIP_CORE_OPT_TCP_IDLE_TIMEOUT_MS, tcp_idle_timeout_ms, EX_TCP_IDLE_MS, 1000, 24 * 3600 * 1000),
  LIMIT(EXOSIP_CORE_OPT_MAX_HEADERS, max_headers, 256, 8, 65536),
  LIMIT(EXOSIP_CORE_OPT_MAX_PARAMS, max_params, 64, 4, 65536),
  LIMIT(EXOSIP_CORE_OPT_MAX_HEADER_VALUES, max_header_values, 64, 4, 65536),
  LIMIT(EXOSIP_CORE_OPT_MAX_TRANSACTIONS, max_transactions, 8192, 16, 1 << 24),
  LIMIT(EXOSIP_CORE_OPT_MAX_TRANSACTIONS_PER_SOURCE, max_transactions_per_source, 1024, 1, 1 << 24),
  LIMIT(EXOSIP_CORE_OPT_MAX_CALLS, max_calls, 16384, 1, 1 << 24),
  LIMIT(EXOSIP_CORE_OPT_CALL_IDLE_TIMEOUT, call_idle_timeout_s, 7200, 0, 7 * 24 * 3600),
  LIMIT(EXOSIP_CORE_OPT_MAX_QUEUED_EVENTS, max_queued_events, 2048, 16, 1 << 24),
  LIMIT(EXOSIP_CORE_OPT_MAX_AUTOMATIC_RETRIES, max_automatic_retries, 5, 0, 100),
  LIMIT(EXOSIP_CORE_OPT_MAX_MIN_EXPIRES, max_min_expires, 86400, 60, 1 << 30),
  LIMIT(EXOSIP_CORE_OPT_MIN_REGISTER_EXPIRES, min_register_expires, 30, 1, 86400),
  LIMIT(EXOSIP_CORE_OPT_MIN_SESSION_EXPIRES, min_session_expires, 90, 1, 86400),
  LIMIT(EXOSIP_CORE_OPT_INVITE_ANSWER_TIMEOUT_MS, invite_answer_timeout_ms, 180000, 0, 24 * 3600 * 1000),
  LIMIT(EXOSIP_CORE_OPT_INVITE_ANSWER_TIMEOUT_STATUS, invite_answer_timeout_status, 408, 300, 699),
  LIMIT(EXOSIP_CORE_OPT_MAX_FORKED_DIALOGS, max_forked_dialogs, 16, 1, 1024),
  LIMIT(EXOSIP_CORE_OPT_KEEP_FORKED_DIALOGS, keep_forked_dialogs, 0, 0, 1),
};
#undef LIMIT

static const struct limit_def *limit_def_of(int opt)
{
  size_t i;
  for (i = 0; i < sizeof(limit_defs) / sizeof(limit_defs[0]); i++)
    if (limit_defs[i].opt == opt)
      return &limit_defs[i];
  return NULL;
}

static void limits_defaults(struct ex_limits *l)
{
  size_t i;
  for (i = 0; i < sizeof(limit_defs) / sizeof(limit_defs[0]); i++)
    *(int *) ((char *) l + limit_defs[i].offset) = limit_defs[i].def;
}

void ex_limits_defaults(struct ex_limits *l)
{
  limits_defaults(l);
}

EXOSIP_API int eXosip_core_get_limit(struct eXosip_t *excontext, int opt)
{
  const struct limit_def *d = limit_def_of(opt);
  int v;
  if (excontext != NULL && excontext->initialized && opt == EXOSIP_CORE_OPT_DNS_TIMEOUT_MS)
    return ex_dns_get_option(excontext, opt);
  if (excontext == NULL || !excontext->initialized || d == NULL)
    return OSIP_BADPARAMETER;
  ex_ctx_lock(excontext);
  v = *(const int *) ((const char *) &excontext->limits + d->offset);
  ex_ctx_unlock(excontext);
  return v;
}

EXOSIP_API int eXosip_set_option(struct eXosip_t *excontext, int opt, const void *value)
{
  struct eXosip_t *ctx = excontext;
  int rc = OSIP_SUCCESS;

  if (ctx == NULL || !ctx->initialized)
    return OSIP_BADPARAMETER;
  ex_ctx_lock(ctx);
  switch (opt) {
  case EXOSIP_OPT_UDP_KEEP_ALIVE:
    if (value == NULL)
      rc = OSIP_BADPARAMETER;
    else
      ctx->keepalive = *(const int *) value;
    break;
  case EXOSIP_OPT_USE_RPORT:
    if (value == NULL)
      rc = OSIP_BADPARAMETER;
    else
      ctx->use_rport = *(const int *) value != 0;
    break;
  case EXOSIP_OPT_ENABLE_IPV6:
    if (value == NULL)
      rc = OSIP_BADPARAMETER;
    else
      ctx->ipv6 = *(const int *) value != 0;
    break;
  case EXOSIP_OPT_ENABLE_AUTOANSWERBYE:
    if (value == NULL)
      rc = OSIP_BADPARAMETER;
    else
      ctx->autoanswer_bye = *(const int *) value != 0;
    break;
  case EXOSIP_OPT_SET_SESSIONTIMERS_FORCE:
    if (value == NULL)
      rc = OSIP_BADPARAMETER;
    else
      ctx->sessiontimers_force = *(const int *) value != 0;
    break;
  case EXOSIP_OPT_SET_HEADER_USER_AGENT:
    free(ctx->user_agent);
    ctx->user_agent = value != NULL ? strdup((const char *) value) : NULL;
    break;
  case EXOSIP_OPT_SET_TLS_VERIFY_CERTIFICATE:
    if (value == NULL)
      rc = OSIP_BADPARAMETER;
    else
      ctx->tls_verify = *(const int *) value != 0;
    break;
  case EXOSIP_OPT_SET_TLS_CERTIFICATES_INFO:
    if (ex_tls_set_params(ctx, (const eXosip_tls_ctx_t *) value) != TLS_OK)
      rc = OSIP_BADPARAMETER;
    break;
  case EXOSIP_OPT_GET_STATISTICS:
    if (value == NULL)
      rc = OSIP_BADPARAMETER;
    else
      fill_stats(ctx, (struct eXosip_stats *) (uintptr_t) value);
    break;
  default: {
    const struct limit_def *d = limit_def_of(opt);
    int v;
    if (d == NULL && (rc = ex_dns_set_option(ctx, opt, value)) != OSIP_UNDEFINED_ERROR)
      break; /* server location (dns.c) */
    rc = ex_netopt_set(ctx, opt, value); /* netopts.c */
    if (rc <= 0)
      break;
    rc = OSIP_SUCCESS;
    if (d == NULL || value == NULL) {
      rc = OSIP_BADPARAMETER;
      break;
    }
    v = *(const int *) value;
    if (v < d->min || v > d->max) {
      rc = OSIP_BADPARAMETER;
      break;
    }
    *(int *) ((char *) &ctx->limits + d->offset) = v;
    break;
  }
  }
  ex_ctx_unlock(ctx);
  return rc;
}

EXOSIP_API void eXosip_set_user_agent(struct eXosip_t *excontext, const char *user_agent)
{
  if (excontext == NULL || !excontext->initialized)
    return;
  ex_ctx_lock(excontext);
  free(excontext->user_agent);
  excontext->user_agent = user_agent != NULL ? strdup(user_agent) : NULL;
  ex_ctx_unlock(excontext);
}

EXOSIP_API int eXosip_set_cbsip_message(struct eXosip_t *excontext, CbSipCallback cbsipCallback)
{
  if (excontext == NULL || !excontext->initialized)
    return OSIP_BADPARAMETER;
  ex_ctx_lock(excontext);
  excontext->cbsip = cbsipCallback;
  ex_ctx_unlock(excontext);
  return OSIP_SUCCESS;
}

EXOSIP_API void eXosip_masquerade_contact(struct eXosip_t *excontext, const char *public_address, int port)
{
  if (excontext == NULL || !excontext->initialized)
    return;
  ex_ctx_lock(excontext);
  if (public_address == NULL || public_address[0] == '\0') {
    excontext->masq_ip[0] = '\0';
    excontext->masq_port = 0;
  } else {
    snprintf(excontext->masq_ip, sizeof(excontext->masq_ip), "%s", public_address);
    excontext->masq_port = port;
  }
  ex_ctx_unlock(excontext);
}

EXOSIP_API int eXosip_guess_localip(struct eXosip_t *excontext, int family, char *address, int size)
{
  int fd, rc = OSIP_SUCCESS;
  struct sockaddr_storage ss;
  socklen_t len;
  (void) excontext;

  if (address == NULL || size <= 0)
    return OSIP_BADPARAMETER;
  if (family != AF_INET6)
    family = AF_INET;
  fd = socket(family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  memset(&ss, 0, sizeof(ss));
  if (family == AF_INET) {
    struct sockaddr_in *sin = (struct sockaddr_in *) &ss;
    sin->sin_family = AF_INET;
    sin->sin_port = htons(9);
    inet_pton(AF_INET, "192.0.2.1", &sin->sin_addr); /* TEST-NET-1: never contacted */
    len = sizeof(*sin);
  } else {
    struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *) &ss;
    sin6->sin6_family = AF_INET6;
    sin6->sin6_port = htons(9);
    inet_pton(AF_INET6, "2001:db8::1", &sin6->sin6_addr);
    len = sizeof(*sin6);
  }
  if (fd < 0 || connect(fd, (struct sockaddr *) &ss, len) != 0) {
    snprintf(address, (size_t) size, "%s", family == AF_INET ? "127.0.0.1" : "::1");
    rc = OSIP_NO_NETWORK;
    goto cleanup;
  }
  len = sizeof(ss);
  if (getsockname(fd, (struct sockaddr *) &ss, &len) != 0) {
    snprintf(address, (size_t) size, "%s", family == AF_INET ? "127.0.0.1" : "::1");
    rc = OSIP_NO_NETWORK;
    goto cleanup;
  }
  if (family == AF_INET)
    inet_ntop(AF_INET, &((struct sockaddr_in *) &ss)->sin_addr, address, (socklen_t) size);
  else
    inet_ntop(AF_INET6, &((struct sockaddr_in6 *) &ss)->sin6_addr, address, (socklen_t) size);
cleanup:
  if (fd >= 0)
    close(fd);
  return rc;
}

/* Bind a throw-away socket of type on port; the bound port or -1. */
static int try_bind(int type, int port)
{
  struct sockaddr_in sin;
  socklen_t len = sizeof(sin);
  int fd = socket(AF_INET, type | SOCK_CLOEXEC, 0), result = -1;
  if (fd < 0)
    return -1;
  memset(&sin, 0, sizeof(sin));
  sin.sin_family = AF_INET;
  sin.sin_port = htons((uint16_t) port);
  if (bind(fd, (struct sockaddr *) &sin, sizeof(sin)) == 0
      && getsockname(fd, (struct sockaddr *) &sin, &len) == 0)
    result = ntohs(sin.sin_port);
  close(fd);
  return result;
}

EXOSIP_API int eXosip_find_free_port(struct eXosip_t *excontext, int free_port, int transport)
{
  int attempt;
  int first = transport == IPPROTO_TCP ? SOCK_STREAM : SOCK_DGRAM;
  int other = transport == IPPROTO_TCP ? SOCK_DGRAM : SOCK_STREAM;
  (void) excontext;

  if (free_port > 0 && free_port < 65536 && try_bind(first, free_port) == free_port
      && try_bind(other, free_port) == free_port)
    return free_port;
  for (attempt = 0; attempt < 16; attempt++) {
    int port = try_bind(first, 0);
    if (port > 0 && try_bind(other, port) == port)
      return port;
  }
  return OSIP_UNDEFINED_ERROR;
}

EXOSIP_API int eXosip_listen_addr(struct eXosip_t *excontext, int transport, const char *addr, int port,
                                  int family, int secure)
{
  struct eXosip_t *ctx = excontext;
  int rc;
  int any;

  if (ctx == NULL || !ctx->initialized)
    return OSIP_BADPARAMETER;
  if ((transport != IPPROTO_UDP && transport != IPPROTO_TCP) || (secure && transport != IPPROTO_TCP) || port < 0
      || port > 65535)
    return OSIP_BADPARAMETER;
  if (family != AF_INET && family != AF_INET6)
    family = ctx->ipv6 ? AF_INET6 : AF_INET;
  ex_ctx_lock(ctx);
  if (transport == IPPROTO_UDP)
    rc = ex_udp_open(ctx, addr, port, family);
  else if (secure)
    rc = ex_tls_open(ctx, addr, port, family);
  else
    rc = ex_tcp_open(ctx, addr, port, family);
  if (rc == OSIP_SUCCESS) {
    any = addr == NULL || addr[0] == '\0' || strcmp(addr, "0.0.0.0") == 0 || strcmp(addr, "::") == 0;
    if (any)
      eXosip_guess_localip(ctx, family, ctx->local_ip, sizeof(ctx->local_ip));
    else
      snprintf(ctx->local_ip, sizeof(ctx->local_ip), "%s", addr);
    if (secure) {
      if (ctx->udp_fd < 0 && ctx->tcp_fd < 0)
        ctx->default_proto = EX_PROTO_TLS;
    } else if ((transport == IPPROTO_UDP ? ctx->tcp_fd : ctx->udp_fd) < 0 && ctx->tls_fd < 0) {
      ctx->default_proto = transport;
    }
    rc = start_thread(ctx);
  }
  ex_ctx_unlock(ctx);
  return rc;
}

EXOSIP_API int eXosip_transport_set(osip_message_t *msg, const char *transport)
{
  osip_via_t *via = NULL;
  if (msg == NULL || transport == NULL)
    return OSIP_BADPARAMETER;
  if (osip_strcasecmp(transport, "UDP") != 0 && osip_strcasecmp(transport, "TCP") != 0
      && osip_strcasecmp(transport, "TLS") != 0)
    return OSIP_BADPARAMETER;
  if (osip_message_get_via(msg, 0, &via) < 0 || via == NULL)
    return OSIP_SYNTAXERROR;
  osip_free(via->protocol);
  via->protocol = osip_strdup(osip_strcasecmp(transport, "TCP") == 0   ? "TCP"
                              : osip_strcasecmp(transport, "TLS") == 0 ? "TLS"
                                                                       : "UDP");
  osip_message_force_update(msg);
  return OSIP_SUCCESS;
}

EXOSIP_API int eXosip_default_action(struct eXosip_t *excontext, eXosip_event_t *je)
{
  int code, rc;
  if (excontext == NULL || je == NULL || je->response == NULL)
    return OSIP_BADPARAMETER;
  if (!excontext->initialized)
    return OSIP_WRONG_STATE;
  /* hook (register.c, retry.c): the request refused by this event's challenge, redirection, 422 or
   * 423 goes out again now when it can */
  ex_ctx_lock(excontext);
  rc = je->rid > 0 ? ex_register_retry_now(excontext, je->rid) : ex_retry_now(excontext, je->tid);
  ex_ctx_unlock(excontext);
  if (rc == OSIP_SUCCESS)
    return OSIP_SUCCESS;
  code = je->response->status_code;
  if (code == 401 || code == 407)
    return OSIP_NOTFOUND; /* no credentials answer this challenge (or they were refused already) */
  if (code >= 300 && code < 400)
    return OSIP_UNDEFINED_ERROR; /* no usable new target */
  return OSIP_BADPARAMETER; /* no default action for this event */
}

EXOSIP_API void eXosip_automatic_action(struct eXosip_t *excontext)
{
  /* Retransmissions and timeouts run on the I/O thread. Here: registrations refreshed before they
   * lapse, requests answered again after a challenge, redirection or 422 (usage.c, retry.c), and
   * session refreshes and expiries (session_timer.c). */
  if (excontext == NULL || !excontext->initialized)
    return;
  ex_ctx_lock(excontext);
  ex_usage_automatic(excontext);
  ex_retry_automatic(excontext);
  ex_st_automatic(excontext); /* session timers (session_timer.c) */
  ex_keepalive_run(excontext); /* netopts.c */
  ex_ctx_unlock(excontext);
}

EXOSIP_API int eXosip_execute(struct eXosip_t *excontext)
{
  if (excontext == NULL || !excontext->initialized)
    return OSIP_BADPARAMETER;
  ex_ctx_lock(excontext);
  run_timers(excontext);
  ex_usage_automatic(excontext);
  ex_retry_automatic(excontext);
  ex_st_automatic(excontext);
  ex_keepalive_run(excontext);
  ex_ctx_unlock(excontext);
  return OSIP_SUCCESS;
}

EXOSIP_API int eXosip_set_socket(struct eXosip_t *excontext, int transport, int socket, int port)
{
  int rc;
  if (excontext == NULL || !excontext->initialized || socket < 0 || port < 0 || port > 65535)
    return OSIP_BADPARAMETER;
  if (transport != IPPROTO_UDP)
    return OSIP_BADPARAMETER; /* as in eXosip2 5.3: a UDP socket */
  ex_ctx_lock(excontext);
  rc = ex_udp_adopt(excontext, socket, port);
  if (rc == OSIP_SUCCESS) {
    if (excontext->tcp_fd < 0)
      excontext->default_proto = IPPROTO_UDP;
    rc = start_thread(excontext);
  }
  ex_ctx_unlock(excontext);
  return rc;
}

EXOSIP_API int eXosip_reset_transports(struct eXosip_t *excontext)
{
  if (excontext == NULL || !excontext->initialized)
    return OSIP_BADPARAMETER;
  ex_ctx_lock(excontext);
  ex_tcp_reset(excontext);
  ex_dns_cache_clear(excontext);
  if (strcmp(excontext->local_ip, "0.0.0.0") == 0 || excontext->local_ip[0] == '\0')
    eXosip_guess_localip(excontext, excontext->ipv6 ? AF_INET6 : AF_INET, excontext->local_ip,
                         sizeof(excontext->local_ip));
  ex_ctx_unlock(excontext);
  return OSIP_SUCCESS;
}

EXOSIP_API int eXosip_byte_generate_random(char *buf, int buf_size)
{
  if (buf == NULL || buf_size <= 0)
    return OSIP_BADPARAMETER;
  random_fill((unsigned char *) buf, (size_t) buf_size);
  return OSIP_SUCCESS;
}

EXOSIP_API int eXosip_generate_random(char *buf, int buf_size)
{
  unsigned int r;
  if (buf == NULL || buf_size <= 0)
    return OSIP_BADPARAMETER;
  random_fill((unsigned char *) &r, sizeof(r));
  snprintf(buf, (size_t) buf_size, "%u", r);
  return OSIP_SUCCESS;
}

EXOSIP_API int eXosip_hexa_generate_random(char *buf, int buf_size, char *str1, char *str2, char *str3)
{
  static const char hex[] = "0123456789abcdef";
  unsigned char bytes[64];
  int i;
  (void) str1;
  (void) str2;
  (void) str3;
  if (buf == NULL || buf_size <= 0)
    return OSIP_BADPARAMETER;
  for (i = 0; i + 1 < buf_size; i++) {
    if (i % 128 == 0)
      random_fill(bytes, sizeof(bytes));
    buf[i] = hex[(bytes[(i % 128) / 2] >> ((i & 1) * 4)) & 15];
  }
  buf[buf_size - 1] = '\0';
  return OSIP_SUCCESS;
}
