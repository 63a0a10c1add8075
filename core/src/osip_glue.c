/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The bridge to oSIP2's transaction state machines.
 *
 * oSIP2 keeps every transaction in a linked list per kind and walks those lists to
 * find a transaction or run its timers. We never use the walkers: each transaction
 * is taken off oSIP2's list right after it is created (the list then never holds
 * more than one element), indexed in our hash table by its RFC 3261 matching key,
 * and its deadlines (kept by oSIP2 in the ict/ist/nict/nist context) are mirrored
 * in our timer heap. A due timer becomes a TIMEOUT_* event executed on that one
 * transaction.
 */
#include <stdio.h>
#include <malloc.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <sys/mman.h>
#if defined(__has_include)
#if __has_include(<valgrind/valgrind.h>)
#include <valgrind/valgrind.h>
#endif
#endif

#include "exosip_internal.h"
#include "arena.h"
#include "blockstack.h"

/*
 * Transaction blocks. oSIP2 allocates every transaction as one block of sizeof(osip_transaction_t)
 * (about 15 KB, almost all of it an SRV record core never fills in). glibc serves a request that
 * large from its large bins, and every such request first merges all the small chunks freed since
 * the previous one (malloc_consolidate): under load that was the largest single cost of a call. So
 * oSIP2's allocator hooks are pointed at functions that serve blocks of exactly that size from one
 * reserved region, kept on a free stack (last freed, first reused: its pages are warm), and pass
 * every other size to malloc/realloc/free unchanged. When the region is full, malloc takes over.
 * The hooks are installed once per process, only if nobody installed others before, and never
 * under a sanitizer or valgrind (they must see every block to check it).
 */
#define TX_BLOCK_SIZE sizeof(osip_transaction_t)
#define TX_POOL_BLOCKS 4096
/* free blocks kept committed when the pool is trimmed: the ones reused first (the top of the stack) */
#define TX_POOL_WARM 64
/* after a peak too small for malloc_trim, the pool still gives back its surplus past this many blocks */
#define TX_POOL_RELEASE_AT 128

/*
 * Blocks sit a whole number of pages apart, so a free block's pages can be handed back to the
 * system (oSIP2 zeroes a new transaction anyway); blockstack.c keeps the free ones.
 */
static struct ex_blockstack tx_pool = { PTHREAD_MUTEX_INITIALIZER, NULL, 0, 0, 0, 0, 0, 0, 0, NULL, NULL };
static char *tx_pool_end;

static int in_tx_pool(const void *p)
{
  return (const char *) p >= tx_pool.base && (const char *) p < tx_pool_end;
}

static void *pool_malloc(size_t size)
{
  void *p = NULL;
  if (size != TX_BLOCK_SIZE) {
    if (size <= EX_ARENA_MAX_BLOCK && (p = ex_arena_alloc(size)) != NULL)
      return p; /* inside a message scope (arena.c) */
    if (size == EX_ARENA_BIG_SIZE && ex_arena_in_scope() && (p = ex_arena_big_alloc()) != NULL)
      return p; /* the serialiser's first buffer */
    return malloc(size);
  }
  p = ex_bs_get(&tx_pool);
  return p != NULL ? p : malloc(size);
}

static void pool_free(void *p)
{
  if (ex_arena_owns(p)) {
    ex_arena_free(p);
    return;
  }
  if (ex_arena_big_owns(p)) {
    ex_arena_big_free(p);
    return;
  }
  if (!in_tx_pool(p)) {
    free(p);
    return;
  }
  ex_bs_put(&tx_pool, p);
}

/* free blocks above the warm ones whose pages are still committed */
static uint32_t tx_pool_surplus(void)
{
  return ex_bs_surplus(&tx_pool);
}

/*
 * Called with the allocator trim after a burst (trim_after_shrink): the pages of every free block
 * but the TX_POOL_WARM reused next go back to the system, so the pool, like malloc's arenas,
 * returns to near its baseline once the state held has shrunk. A block is released once.
 */
static void tx_pool_release_surplus(void)
{
  ex_bs_release_surplus(&tx_pool);
}

static void *pool_realloc(void *p, size_t size)
{
  void *q;
  if (p != NULL && ex_arena_owns(p)) {
    size_t old = ex_arena_block_size(p);
    q = pool_malloc(size);
    if (q == NULL)
      return NULL;
    memcpy(q, p, size < old ? size : old);
    ex_arena_free(p);
    return q;
  }
  if (p != NULL && ex_arena_big_owns(p)) {
    q = malloc(size); /* the serialiser outgrew its first buffer */
    if (q == NULL)
      return NULL;
    memcpy(q, p, size < EX_ARENA_BIG_SIZE ? size : EX_ARENA_BIG_SIZE);
    ex_arena_big_free(p);
    return q;
  }
  if (p == NULL || !in_tx_pool(p))
    return realloc(p, size);
  q = malloc(size); /* never asked of oSIP2's transactions; correct all the same */
  if (q == NULL)
    return NULL;
  memcpy(q, p, size < TX_BLOCK_SIZE ? size : TX_BLOCK_SIZE);
  pool_free(p);
  return q;
}

static int pool_wanted(void)
{
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
  return 0;
#else
#if defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer) || __has_feature(memory_sanitizer)
  return 0;
#endif
#endif
#ifdef RUNNING_ON_VALGRIND
  if (RUNNING_ON_VALGRIND)
    return 0;
#endif
  return 1;
#endif
}

static void tx_pool_install(void)
{
  long page = sysconf(_SC_PAGESIZE);
  size_t stride, blocks_len, len;
  char *region;
  if (!pool_wanted() || osip_malloc_func != NULL || osip_free_func != NULL || osip_realloc_func != NULL)
    return;
  if (page <= 0)
    page = 4096;
  stride = (TX_BLOCK_SIZE + (size_t) page - 1) / (size_t) page * (size_t) page;
  blocks_len = stride * TX_POOL_BLOCKS;
  len = blocks_len + ex_bs_index_bytes(TX_POOL_BLOCKS);
  /* address space only: a page is committed when a block on it is first handed out */
  region = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (region == MAP_FAILED)
    return;
  ex_bs_init(&tx_pool, region, stride, TX_POOL_BLOCKS, TX_POOL_WARM, 1, region + blocks_len);
  tx_pool_end = region + blocks_len;
  (void) ex_arena_install(); /* when it cannot reserve its region, every small block is malloc's */
  osip_set_allocators(pool_malloc, pool_realloc, pool_free);
}

static pthread_once_t tx_pool_once = PTHREAD_ONCE_INIT;

static osip_list_t *osip_list_of(osip_t *osip, osip_fsm_type_t kind)
{
  switch (kind) {
  case ICT: return &osip->osip_ict_transactions;
  case IST: return &osip->osip_ist_transactions;
  case NICT: return &osip->osip_nict_transactions;
  default: return &osip->osip_nist_transactions;
  }
}

static struct ex_tx *tx_of(osip_transaction_t *tr)
{
  return tr != NULL ? (struct ex_tx *) osip_transaction_get_your_instance(tr) : NULL;
}

static void cb_message(int type, osip_transaction_t *tr, osip_message_t *sip)
{
  struct ex_tx *w = tx_of(tr);
  (void) sip;
  if (w != NULL)
    w->last_cb = type;
}

static void cb_kill(int type, osip_transaction_t *tr)
{
  struct ex_tx *w = tx_of(tr);
  (void) type;
  if (w != NULL)
    w->killed = 1;
}

static void cb_transport_error(int type, osip_transaction_t *tr, int error)
{
  struct ex_tx *w = tx_of(tr);
  (void) type;
  (void) error;
  if (w != NULL && w->last_cb < 0) {
    /* a client transaction that cannot send behaves as if nobody answered */
    if (w->kind == ICT)
      w->last_cb = OSIP_ICT_STATUS_TIMEOUT;
    else if (w->kind == NICT)
      w->last_cb = OSIP_NICT_STATUS_TIMEOUT;
  }
}

static int cb_send(osip_transaction_t *tr, osip_message_t *sip, char *host, int port, int out_socket)
{
  struct ex_tx *w = tx_of(tr);
  struct eXosip_t *ctx;
  struct ex_dest dest;
  int proto, rc;
  (void) out_socket;

  if (w == NULL)
    return -1;
  ctx = w->ctx;
  proto = ex_proto_of_message(sip);
  if (proto == IPPROTO_TCP && w->conn_id > 0 && (w->kind == IST || w->kind == NIST)) {
    /* answers go back on the connection of the request */
    memset(&dest, 0, sizeof(dest));
    dest.proto = IPPROTO_TCP;
    dest.conn_id = w->conn_id;
    memcpy(&dest.sa, &w->src, w->srclen);
    dest.salen = w->srclen;
  } else if ((w->kind == ICT || w->kind == NICT) && (rc = ex_dns_request_dest(ctx, w, sip, &dest)) != 0) {
    if (rc < 0) /* RFC 3263 (dns.c, TLS included): a name without port not resolved */
      return -1;
    if (rc == 2) /* its lookup is under way: sent when it ends (ex_dns_poll) */
      return 0;
  } else if (MSG_IS_REQUEST(sip) && ex_contact_proto(sip) == EX_PROTO_TLS) {
    if (ex_request_dest(ctx, sip, &dest) != OSIP_SUCCESS) /* the 5061 default of sips:/TLS */
      return -1;
  } else if (ex_dest_resolve(ctx, host, port, proto, &dest) != OSIP_SUCCESS) {
    return -1;
  }
  rc = ex_send_message(ctx, sip, &dest);
  return rc == OSIP_SUCCESS ? 0 : -1;
}

int ex_osip_setup(struct eXosip_t *ctx)
{
  int i;
  pthread_once(&tx_pool_once, tx_pool_install);
  if (osip_init(&ctx->osip) != 0)
    return OSIP_NOMEM;
  osip_set_application_context(ctx->osip, ctx);
  osip_set_cb_send_message(ctx->osip, cb_send);
  for (i = OSIP_ICT_STATUS_1XX_RECEIVED; i <= OSIP_ICT_STATUS_3456XX_RECEIVED_AGAIN; i++)
    osip_set_message_callback(ctx->osip, i, cb_message);
  for (i = OSIP_NICT_STATUS_1XX_RECEIVED; i <= OSIP_NICT_STATUS_3456XX_RECEIVED_AGAIN; i++)
    osip_set_message_callback(ctx->osip, i, cb_message);
  osip_set_message_callback(ctx->osip, OSIP_ICT_STATUS_TIMEOUT, cb_message);
  osip_set_message_callback(ctx->osip, OSIP_NICT_STATUS_TIMEOUT, cb_message);
  for (i = 0; i < OSIP_KILL_CALLBACK_COUNT; i++)
    osip_set_kill_transaction_callback(ctx->osip, i, cb_kill);
  for (i = 0; i < OSIP_TRANSPORT_ERROR_CALLBACK_COUNT; i++)
    osip_set_transport_error_callback(ctx->osip, i, cb_transport_error);
  return OSIP_SUCCESS;
}

/* The strings of the NULL-terminated *parts*, end to end, in a fresh malloc'd string: hash keys are
 * built for every message, and this is a few memcpy where snprintf parsed its format each time. */
char *ex_join_parts(const char *const *parts)
{
  size_t n = 1, at = 0, i;
  char *out;
  for (i = 0; parts[i] != NULL; i++)
    n += strlen(parts[i]);
  out = malloc(n);
  if (out == NULL)
    return NULL;
  for (i = 0; parts[i] != NULL; i++) {
    size_t l = strlen(parts[i]);
    memcpy(out + at, parts[i], l);
    at += l;
  }
  out[at] = '\0';
  return out;
}

static const char *via_branch(const osip_via_t *via)
{
  osip_generic_param_t *b = NULL;
  if (via == NULL)
    return NULL;
  osip_via_param_get_byname((osip_via_t *) via, "branch", &b);
  return b != NULL ? b->gvalue : NULL;
}

/* RFC 3261 17.2.3: branch, sent-by and method (ACK counts as INVITE). Caller frees. */
char *ex_server_key(const osip_message_t *req, const char *method_override)
{
  osip_via_t *via = osip_list_get(&req->vias, 0);
  const char *branch = via_branch(via);
  const char *method = method_override != NULL ? method_override : req->sip_method;
  const char *host = via != NULL && via->host != NULL ? via->host : "";
  const char *port = via != NULL && via->port != NULL ? via->port : "5060";
  if (method == NULL)
    return NULL;
  if (strcmp(method, "ACK") == 0)
    method = "INVITE";
  if (branch != NULL && strncmp(branch, "z9hG4bK", 7) == 0) {
    const char *parts[] = { "S|", branch, "|", host, ":", port, "|", method, NULL };
    return ex_join_parts(parts);
  }
  {
    /* pre-RFC 3261 peers: Call-ID, From tag, CSeq number and top Via stand in for the branch */
    char cidbuf[512];
    const char *callid = ex_callid(req, cidbuf, sizeof(cidbuf));
    const char *ftag = ex_from_tag(req);
    const char *cseq = req->cseq != NULL && req->cseq->number ? req->cseq->number : "";
    if (ftag == NULL)
      ftag = "";
    {
      const char *parts[] = { "S2|", callid, "|", ftag, "|", cseq, "|", host, ":", port, "|", method, NULL };
      return ex_join_parts(parts);
    }
  }
}

/* RFC 3261 17.1.3: the branch of our top Via and the CSeq method. Caller frees. */
char *ex_client_key(const osip_message_t *msg)
{
  osip_via_t *via = osip_list_get(&msg->vias, 0);
  const char *branch = via_branch(via);
  const char *method = msg->cseq != NULL ? msg->cseq->method : NULL;
  if (branch == NULL || method == NULL)
    return NULL;
  {
    const char *parts[] = { "C|", branch, "|", method, NULL };
    return ex_join_parts(parts);
  }
}

int ex_tx_new(struct eXosip_t *ctx, osip_fsm_type_t kind, osip_message_t *request, struct ex_tx **out)
{
  osip_transaction_t *tr = NULL;
  struct ex_tx *w = NULL;
  osip_list_t *list;
  int rc;

  *out = NULL;
  w = calloc(1, sizeof(*w));
  if (w == NULL)
    return OSIP_NOMEM;
  w->key = (kind == ICT || kind == NICT) ? ex_client_key(request) : ex_server_key(request, NULL);
  if (w->key == NULL) {
    rc = OSIP_SYNTAXERROR;
    goto cleanup;
  }
  if (ex_hmap_get_str(&ctx->tx_by_key, w->key) != NULL) {
    rc = OSIP_WRONG_STATE; /* a transaction with this key exists */
    goto cleanup;
  }
  ex_arena_begin(); /* the transaction's copies of the request's headers live as long as it does */
  rc = osip_transaction_init(&tr, kind, ctx->osip, request);
  ex_arena_end();
  if (rc != 0 || tr == NULL) {
    rc = rc != 0 ? rc : OSIP_NOMEM;
    tr = NULL;
    goto cleanup;
  }
  /* take it off oSIP2's list at once: it is at the head of a one-element list */
  list = osip_list_of(ctx->osip, kind);
  {
    int pos = 0;
    osip_list_iterator_t it;
    osip_transaction_t *t = osip_list_get_first(list, &it);
    while (t != NULL && t != tr) {
      t = osip_list_get_next(&it);
      pos++;
    }
    if (t == tr)
      osip_list_remove(list, pos);
  }
  w->ctx = ctx;
  w->tr = tr;
  w->tid = tr->transactionid;
  w->kind = kind;
  w->timer.idx = -1;
  w->timer.kind = EX_TIMER_TX;
  w->timer.owner = w;
  w->last_cb = -1;
  w->created = ex_now_us();
  osip_transaction_set_your_instance(tr, w);
  if (ex_hmap_put_str(&ctx->tx_by_key, w->key, w) != OSIP_SUCCESS
      || ex_hmap_put_int(&ctx->tx_by_tid, w->tid, w) != OSIP_SUCCESS) {
    ex_hmap_del_str(&ctx->tx_by_key, w->key);
    rc = OSIP_NOMEM;
    goto cleanup;
  }
  ctx->total_tx++;
  *out = w;
  return OSIP_SUCCESS;

cleanup:
  if (tr != NULL)
    osip_transaction_free2(tr);
  if (w != NULL) {
    free(w->key);
    free(w);
  }
  return rc;
}

/* ---- bounds: per-source counts, retired lists, merged requests ---- */

static int lazy_map(struct ex_hmap *m)
{
  return m->buckets != NULL ? OSIP_SUCCESS : ex_hmap_init(m, 256);
}

/* Dotted quad of four bytes, the text inet_ntop gives, without its sprintf (run per request). */
static void ipv4_text(const unsigned char *a, char *buf)
{
  int i;
  for (i = 0; i < 4; i++) {
    unsigned v = a[i];
    if (v >= 100)
      *buf++ = (char) ('0' + v / 100);
    if (v >= 10)
      *buf++ = (char) ('0' + v / 10 % 10);
    *buf++ = (char) ('0' + v % 10);
    *buf++ = i < 3 ? '.' : '\0';
  }
}

static void source_key(const struct sockaddr *sa, char *buf, size_t size)
{
  buf[0] = '\0';
  if (sa->sa_family == AF_INET6) {
    const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *) sa;
    if (IN6_IS_ADDR_V4MAPPED(&sin6->sin6_addr) && size >= INET_ADDRSTRLEN)
      ipv4_text(&sin6->sin6_addr.s6_addr[12], buf);
    else if (!IN6_IS_ADDR_V4MAPPED(&sin6->sin6_addr))
      inet_ntop(AF_INET6, &sin6->sin6_addr, buf, (socklen_t) size);
  } else if (sa->sa_family == AF_INET && size >= INET_ADDRSTRLEN) {
    ipv4_text((const unsigned char *) &((const struct sockaddr_in *) sa)->sin_addr, buf);
  }
}

static struct ex_source *source_of(struct eXosip_t *ctx, const struct sockaddr *sa, int create)
{
  char key[64];
  struct ex_source *s;
  source_key(sa, key, sizeof(key));
  if (key[0] == '\0' || lazy_map(&ctx->tx_by_source) != OSIP_SUCCESS)
    return NULL;
  s = ex_hmap_get_str(&ctx->tx_by_source, key);
  if (s != NULL || !create)
    return s;
  s = calloc(1, sizeof(*s));
  if (s == NULL)
    return NULL;
  snprintf(s->key, sizeof(s->key), "%s", key);
  if (ex_hmap_put_str(&ctx->tx_by_source, s->key, s) != OSIP_SUCCESS) {
    free(s);
    return NULL;
  }
  return s;
}

static void retired_link(struct eXosip_t *ctx, struct ex_tx *w)
{
  struct ex_source *s = w->source;
  if (w->on_retired)
    return;
  w->on_retired = 1;
  w->rnext = NULL;
  w->rprev = ctx->retired_tail;
  if (ctx->retired_tail != NULL)
    ctx->retired_tail->rnext = w;
  else
    ctx->retired_head = w;
  ctx->retired_tail = w;
  if (s != NULL) {
    w->snext = NULL;
    w->sprev = s->rtail;
    if (s->rtail != NULL)
      s->rtail->snext = w;
    else
      s->rhead = w;
    s->rtail = w;
  }
}

static void retired_unlink(struct eXosip_t *ctx, struct ex_tx *w)
{
  struct ex_source *s = w->source;
  if (!w->on_retired)
    return;
  w->on_retired = 0;
  if (w->rprev != NULL)
    w->rprev->rnext = w->rnext;
  else
    ctx->retired_head = w->rnext;
  if (w->rnext != NULL)
    w->rnext->rprev = w->rprev;
  else
    ctx->retired_tail = w->rprev;
  w->rprev = w->rnext = NULL;
  if (s != NULL) {
    if (w->sprev != NULL)
      w->sprev->snext = w->snext;
    else
      s->rhead = w->snext;
    if (w->snext != NULL)
      w->snext->sprev = w->sprev;
    else
      s->rtail = w->sprev;
  }
  w->sprev = w->snext = NULL;
}

/* Undo the bounds bookkeeping of a transaction that is being freed. */
static void tx_detach(struct eXosip_t *ctx, struct ex_tx *w)
{
  retired_unlink(ctx, w);
  if (w->merge_key != NULL) {
    if (ctx->tx_by_merge.buckets != NULL && ex_hmap_get_str(&ctx->tx_by_merge, w->merge_key) == w)
      ex_hmap_del_str(&ctx->tx_by_merge, w->merge_key);
    free(w->merge_key);
    w->merge_key = NULL;
  }
  if (w->source != NULL) {
    struct ex_source *s = w->source;
    w->source = NULL;
    if (--s->count <= 0 && s->rhead == NULL) {
      ex_hmap_del_str(&ctx->tx_by_source, s->key);
      free(s);
    }
  }
}

static void tx_destroy(struct eXosip_t *ctx, struct ex_tx *w);

/* Free the oldest retired transaction (of source s, or of all when s is NULL) that is not
 * already on its way out. A retired transaction only absorbs retransmissions of a request that
 * was answered finally: without it a late retransmission is treated as a new request. */
static int evict_one(struct eXosip_t *ctx, struct ex_source *s)
{
  struct ex_tx *w = s != NULL ? s->rhead : ctx->retired_head;
  while (w != NULL && w->reap_queued)
    w = s != NULL ? w->snext : w->rnext;
  if (w == NULL)
    return 0;
  tx_destroy(ctx, w);
  return 1;
}

int ex_tx_admit(struct eXosip_t *ctx, const struct sockaddr *src)
{
  for (;;) { /* the source entry may go with its last evicted transaction: look it up each time */
    struct ex_source *s = source_of(ctx, src, 0);
    if (s == NULL || s->count < ctx->limits.max_transactions_per_source)
      break;
    if (!evict_one(ctx, s))
      return 503;
  }
  while (ctx->tx_by_tid.count >= (size_t) ctx->limits.max_transactions) {
    if (!evict_one(ctx, NULL))
      return 503;
  }
  return 0;
}

static char *merge_key_of(const osip_message_t *req)
{
  char cid[512];
  const char *callid = ex_callid(req, cid, sizeof(cid));
  const char *ftag = ex_from_tag(req);
  if (ftag == NULL || req->cseq == NULL || req->cseq->number == NULL || req->cseq->method == NULL)
    return NULL;
  {
    const char *parts[] = { "M|", callid, "|", ftag, "|", req->cseq->number, "|", req->cseq->method, NULL };
    return ex_join_parts(parts);
  }
}

static int unanswered_nist(const struct ex_tx *w);

struct ex_tx *ex_tx_merged(struct eXosip_t *ctx, const osip_message_t *req)
{
  char *key;
  struct ex_tx *w;
  if (ctx->tx_by_merge.buckets == NULL || ctx->tx_by_merge.count == 0 || ex_to_tag(req) != NULL)
    return NULL;
  key = merge_key_of(req);
  w = key != NULL ? ex_hmap_get_str(&ctx->tx_by_merge, key) : NULL;
  free(key);
  /* only a request still in progress (not answered finally) merges: a client that sends a request
   * again with a new branch after a final answer is served as before */
  if (w == NULL || w->tr == NULL || w->killed)
    return NULL;
  if (w->kind == IST && (w->tr->state == IST_PRE_PROCEEDING || w->tr->state == IST_PROCEEDING))
    return w;
  if (w->kind == NIST && unanswered_nist(w))
    return w;
  return NULL;
}

void ex_tx_attach(struct eXosip_t *ctx, struct ex_tx *w, const osip_message_t *req, const struct sockaddr *src)
{
  struct ex_source *s = source_of(ctx, src, 1);
  if (s != NULL) {
    s->count++;
    w->source = s;
  }
  if (ex_to_tag(req) == NULL && lazy_map(&ctx->tx_by_merge) == OSIP_SUCCESS) {
    w->merge_key = merge_key_of(req);
    if (w->merge_key != NULL && ex_hmap_get_str(&ctx->tx_by_merge, w->merge_key) == NULL
        && ex_hmap_put_str(&ctx->tx_by_merge, w->merge_key, w) != OSIP_SUCCESS) {
      free(w->merge_key);
      w->merge_key = NULL;
    }
  }
}

static void tx_destroy(struct eXosip_t *ctx, struct ex_tx *w)
{
  tx_detach(ctx, w);
  ex_heap_remove(&ctx->heap, &w->timer);
  if (ex_hmap_get_str(&ctx->tx_by_key, w->key) == w)
    ex_hmap_del_str(&ctx->tx_by_key, w->key);
  ex_hmap_del_int(&ctx->tx_by_tid, w->tid);
  if (w->tr != NULL) {
    osip_transaction_set_your_instance(w->tr, NULL);
    osip_transaction_free2(w->tr);
  }
  free(w->retired);
  ex_dns_tx_free(ctx, w);
  free(w->key);
  free(w);
}

static uint64_t tv_us(const struct timeval *tv)
{
  return (uint64_t) tv->tv_sec * 1000000ULL + (uint64_t) tv->tv_usec;
}

/* The timers that can fire in the transaction's present state. */
struct pending {
  int n;
  type_t type[3];
  const struct timeval *at[3];
};

static void add_pending(struct pending *p, type_t type, const struct timeval *tv)
{
  if (tv->tv_sec == -1 || (tv->tv_sec == 0 && tv->tv_usec == 0))
    return;
  p->type[p->n] = type;
  p->at[p->n] = tv;
  p->n++;
}

static void pending_timers(const osip_transaction_t *tr, struct pending *p)
{
  p->n = 0;
  switch (tr->ctx_type) {
  case ICT:
    if (tr->ict_context == NULL)
      break;
    if (tr->state == ICT_CALLING) {
      add_pending(p, TIMEOUT_B, &tr->ict_context->timer_b_start);
      add_pending(p, TIMEOUT_A, &tr->ict_context->timer_a_start);
    } else if (tr->state == ICT_COMPLETED) {
      add_pending(p, TIMEOUT_D, &tr->ict_context->timer_d_start);
    }
    break;
  case IST:
    if (tr->ist_context == NULL)
      break;
    if (tr->state == IST_COMPLETED) {
      add_pending(p, TIMEOUT_H, &tr->ist_context->timer_h_start);
      add_pending(p, TIMEOUT_G, &tr->ist_context->timer_g_start);
    } else if (tr->state == IST_CONFIRMED) {
      add_pending(p, TIMEOUT_I, &tr->ist_context->timer_i_start);
    }
    break;
  case NICT:
    if (tr->nict_context == NULL)
      break;
    if (tr->state == NICT_TRYING || tr->state == NICT_PROCEEDING) {
      add_pending(p, TIMEOUT_F, &tr->nict_context->timer_f_start);
      add_pending(p, TIMEOUT_E, &tr->nict_context->timer_e_start);
    } else if (tr->state == NICT_COMPLETED) {
      add_pending(p, TIMEOUT_K, &tr->nict_context->timer_k_start);
    }
    break;
  case NIST:
    if (tr->nist_context != NULL && tr->state == NIST_COMPLETED)
      add_pending(p, TIMEOUT_J, &tr->nist_context->timer_j_start);
    break;
  }
}

static uint64_t tv_us(const struct timeval *tv);

/* Replace a completed NIST (UDP) by its serialized final answer; see struct ex_tx. */
static void tx_retire(struct eXosip_t *ctx, struct ex_tx *w)
{
  osip_transaction_t *tr = w->tr;
  osip_message_t *resp = tr->last_response;
  char *buf = NULL, *host = NULL;
  size_t len = 0;
  int port = 5060, rc;
  uint64_t due;

  if (resp == NULL || tr->nist_context == NULL || tr->nist_context->timer_j_start.tv_sec == -1)
    return;
  due = tv_us(&tr->nist_context->timer_j_start);
  osip_response_get_destination(resp, &host, &port);
  if (host == NULL || ex_dest_resolve(ctx, host, port, IPPROTO_UDP, &w->retired_dest) != OSIP_SUCCESS) {
    /* an answer nobody can be sent to (a name the I/O thread does not resolve): retired all the
     * same, with no destination, rather than kept whole until Timer J */
    memset(&w->retired_dest, 0, sizeof(w->retired_dest));
  }
  osip_free(host);
  ex_arena_begin();
  rc = osip_message_to_str(resp, &buf, &len);
  ex_arena_end();
  if (rc != 0 || buf == NULL)
    return;
  w->retired = malloc(len);
  if (w->retired == NULL) {
    osip_free(buf);
    return;
  }
  memcpy(w->retired, buf, len);
  w->retired_len = len;
  osip_free(buf);
  osip_transaction_set_your_instance(tr, NULL);
  osip_transaction_free2(tr);
  w->tr = NULL;
  ex_arm(ctx, &w->timer, due);
  retired_link(ctx, w);
}

/* A non-INVITE request the program has not answered finally (yet). */
static int unanswered_nist(const struct ex_tx *w)
{
  return w->kind == NIST && w->tr != NULL
         && (w->tr->state == NIST_TRYING || w->tr->state == NIST_PROCEEDING || w->tr->state == NIST_PRE_TRYING);
}

static void tx_rearm(struct eXosip_t *ctx, struct ex_tx *w)
{
  struct pending p;
  uint64_t due = UINT64_MAX;
  int i;
  pending_timers(w->tr, &p);
  for (i = 0; i < p.n; i++) {
    uint64_t t = tv_us(p.at[i]);
    if (t < due)
      due = t;
  }
  if (unanswered_nist(w))
    due = w->created + 64ULL * EX_T1 * 1000ULL;
  {
    uint64_t answer_due = ex_invite_answer_deadline(ctx, w); /* hook (invite.c) */
    if (answer_due > 0 && answer_due < due)
      due = answer_due;
  }
  {
    uint64_t silent_due = ex_dns_deadline(w); /* hook (dns.c): a silent server is left */
    if (silent_due > 0 && silent_due < due)
      due = silent_due;
  }
  if (due == UINT64_MAX)
    ex_heap_remove(&ctx->heap, &w->timer);
  else
    ex_arm(ctx, &w->timer, due);
}

static void queue_reap(struct eXosip_t *ctx, struct ex_tx *w)
{
  if (w->reap_queued)
    return;
  w->reap_queued = 1;
  w->reap_next = ctx->reap_head;
  ctx->reap_head = w;
}

void ex_tx_execute(struct eXosip_t *ctx, struct ex_tx *w, osip_event_t *evt)
{
  int cb;
  evt->transactionid = w->tid;
  if (w->did > 0) {
    struct ex_dialog *dlg = ex_dialog_by_did(ctx, w->did);
    if (dlg != NULL)
      dlg->last_traffic = ex_now_us();
  }
  w->last_cb = -1;
  w->executing = 1;
  osip_transaction_execute(w->tr, evt);
  w->executing = 0;
  cb = w->last_cb;
  w->last_cb = -1;
  if (cb >= 0)
    ex_tu_after(ctx, w, cb);
  if (w->killed) {
    ex_heap_remove(&ctx->heap, &w->timer);
    queue_reap(ctx, w);
  } else if (w->kind == NIST && w->tr->state == NIST_COMPLETED && w->conn_id > 0) {
    /* over a reliable transport Timer J is zero (RFC 3261 17.2.2): the transaction ends with its
     * final answer, and its room under the limits is free at once rather than a tick later */
    w->killed = 1;
    ex_heap_remove(&ctx->heap, &w->timer);
    queue_reap(ctx, w);
  } else if (w->kind == NICT && w->tr->state == NICT_COMPLETED && w->tr->last_response != NULL
             && MSG_IS_STATUS_2XX(w->tr->last_response)) {
    /* A 2xx ends a non-INVITE request for the TU, and nothing is ever asked of its transaction
     * again (a challenge or a redirect may be: those keep it). Timer K would only absorb copies of
     * the 2xx, which find no transaction and are dropped all the same (ex_handle_response); kept
     * whole, it held about 20 KB per request for T4 (a client at 2 000 BYEs or REGISTERs a second
     * held 200 MB). */
    w->killed = 1;
    ex_heap_remove(&ctx->heap, &w->timer);
    queue_reap(ctx, w);
  } else {
    tx_rearm(ctx, w);
    if (w->kind == NIST && w->tr->state == NIST_COMPLETED && w->conn_id == 0)
      queue_reap(ctx, w);
  }
}

/*
 * After a burst the allocator keeps the freed memory of tens of thousands of transactions in its
 * arenas (the I/O thread's arena is not trimmed by free). After a large peak, each time the state
 * held falls to a quarter of what it was at the last trim, the free pages are handed back to the
 * system: a few trims per burst (a quarter, a sixteenth, ...), until next to nothing is held.
 */
#define EX_TRIM_MIN_PEAK 4096
#define EX_TRIM_FLOOR 64
/* a peak of state held worth one trim when the context goes idle after it */
#define EX_TRIM_IDLE_PEAK 512
/* free message chunks (4 KB each) past the warm ones worth handing back after a small peak */
#define ARENA_RELEASE_AT 256
static void trim_after_shrink(struct eXosip_t *ctx)
{
  size_t held = ctx->tx_by_tid.count + ctx->calls_by_cid.count;
  if (held > ctx->trim_peak) {
    ctx->trim_peak = held;
    return;
  }
  if ((ctx->trim_peak >= EX_TRIM_MIN_PEAK || ctx->trim_armed) && held < ctx->trim_peak / 4) {
    malloc_trim(0);
    tx_pool_release_surplus();
    ex_arena_release_surplus();
    ctx->trim_peak = held;
    ctx->trim_armed = held > EX_TRIM_FLOOR / 4;
  } else if (ctx->trim_peak >= EX_TRIM_IDLE_PEAK && held <= EX_TRIM_FLOOR) {
    /* a smaller peak, and now next to nothing held: one trim as the context goes idle, so what a
     * burst of a few thousand calls left in malloc's arenas goes back too */
    malloc_trim(0);
    tx_pool_release_surplus();
    ex_arena_release_surplus();
    ctx->trim_peak = held;
  } else if (held < ctx->trim_peak / 4
             && (tx_pool_surplus() > TX_POOL_RELEASE_AT || ex_arena_surplus() > ARENA_RELEASE_AT)) {
    /* a smaller peak leaves malloc's arenas alone, but the pool's free blocks are 16 KB each:
     * a few hundred of them are worth handing back at once, and so are a few MB of message chunks */
    tx_pool_release_surplus();
    ex_arena_release_surplus();
    ctx->trim_peak = held;
  }
}

void ex_tx_reap(struct eXosip_t *ctx)
{
  trim_after_shrink(ctx);
  while (ctx->reap_head != NULL) {
    struct ex_tx *w = ctx->reap_head;
    ctx->reap_head = w->reap_next;
    w->reap_next = NULL;
    w->reap_queued = 0;
    if (w->killed) {
      ex_call_ist_gone(ctx, w); /* hook (call.c): an INVITE that was never answered takes its call */
      tx_destroy(ctx, w);
    } else if (w->tr != NULL && w->kind == NIST && w->tr->state == NIST_COMPLETED
               && ex_proto_of_message(w->tr->last_response ? w->tr->last_response : w->tr->orig_request)
                    == IPPROTO_UDP) {
      tx_retire(ctx, w);
    }
  }
}

/* A retransmitted request for a retired transaction: send the final answer again. */
void ex_tx_replay(struct eXosip_t *ctx, struct ex_tx *w)
{
  if (w->retired != NULL && w->retired_dest.salen > 0)
    ex_send_raw(ctx, &w->retired_dest, w->retired, w->retired_len);
}

int ex_tx_send(struct eXosip_t *ctx, struct ex_tx *w, osip_message_t *msg)
{
  osip_event_t *evt = osip_new_outgoing_sipmessage(msg);
  if (evt == NULL) {
    osip_message_free(msg);
    return OSIP_NOMEM;
  }
  ex_tx_execute(ctx, w, evt);
  return OSIP_SUCCESS;
}

struct ex_tx *ex_tx_by_tid(struct eXosip_t *ctx, int tid)
{
  struct ex_tx *w = ex_hmap_get_int(&ctx->tx_by_tid, tid);
  /* a retired or ended transaction has nothing left to do */
  return w != NULL && w->tr != NULL && !w->killed ? w : NULL;
}

void ex_tx_timer_fire(struct eXosip_t *ctx, struct ex_tx *w)
{
  struct pending p;
  uint64_t now = ex_now_us();
  int i;
  if (w->tr == NULL) { /* a retired transaction reached Timer J */
    w->killed = 1;
    queue_reap(ctx, w);
    return;
  }
  if (unanswered_nist(w) && now >= w->created + 64ULL * EX_T1 * 1000ULL) {
    /* the client gave up long ago (Timer F): close the transaction instead of keeping it forever */
    osip_message_t *resp = NULL;
    ex_insub_unanswered(ctx, w); /* hook (insubscribe.c): a subscription never answered goes too */
    if (w->tr->orig_request != NULL
        && ex_build_response(ctx, w->tr->orig_request, 500, NULL, 0, &resp) == OSIP_SUCCESS) {
      osip_message_set_header(resp, "Retry-After", "5");
      ex_tx_send(ctx, w, resp);
    } else {
      w->killed = 1;
      ex_heap_remove(&ctx->heap, &w->timer);
      queue_reap(ctx, w);
    }
    return;
  }
  {
    uint64_t answer_due = ex_invite_answer_deadline(ctx, w);
    if (answer_due > 0 && now >= answer_due) {
      ex_invite_answer_timeout(ctx, w); /* hook (invite.c): the program never answered */
      if (!w->killed && ex_invite_answer_deadline(ctx, w) > 0) {
        /* no answer could be sent (out of memory): end the transaction rather than fire again */
        w->killed = 1;
        ex_heap_remove(&ctx->heap, &w->timer);
        queue_reap(ctx, w);
      }
      return;
    }
  }
  if (ex_dns_silent(ctx, w, now)) { /* hook (dns.c): sent to the next target instead */
    tx_rearm(ctx, w);
    return;
  }
  pending_timers(w->tr, &p);
  for (i = 0; i < p.n; i++) {
    if (tv_us(p.at[i]) <= now) {
      osip_event_t *evt = osip_malloc(sizeof(*evt));
      if (evt == NULL)
        break;
      memset(evt, 0, sizeof(*evt));
      evt->type = p.type[i];
      evt->transactionid = w->tid;
      ex_tx_execute(ctx, w, evt);
      /* a state machine that ignored the timeout must not make us spin on it */
      if (!w->killed && w->timer.idx >= 0 && w->timer.due <= now)
        ex_arm(ctx, &w->timer, now + 50000);
      return;
    }
  }
  tx_rearm(ctx, w);
}

static void free_one(void *val, void *arg)
{
  struct ex_tx *w = val;
  (void) arg;
  w->timer.idx = -1;
  free(w->merge_key);
  if (w->tr != NULL) {
    osip_transaction_set_your_instance(w->tr, NULL);
    osip_transaction_free2(w->tr);
  }
  free(w->retired);
  ex_dns_tx_free(w->ctx, w);
  free(w->key);
  free(w);
}

static void free_source(void *val, void *arg)
{
  (void) arg;
  free(val);
}

void ex_tx_free_all(struct eXosip_t *ctx)
{
  ctx->reap_head = NULL;
  ctx->retired_head = ctx->retired_tail = NULL;
  if (ctx->tx_by_source.buckets != NULL)
    ex_hmap_foreach(&ctx->tx_by_source, free_source, NULL);
  ex_hmap_destroy(&ctx->tx_by_source);
  ex_hmap_destroy(&ctx->tx_by_merge);
  ex_hmap_foreach(&ctx->tx_by_tid, free_one, NULL);
  ex_hmap_destroy(&ctx->tx_by_tid);
  ex_hmap_destroy(&ctx->tx_by_key);
  ex_hmap_init(&ctx->tx_by_tid, 16);
  ex_hmap_init(&ctx->tx_by_key, 16);
}
