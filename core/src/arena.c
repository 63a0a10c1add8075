/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Message arenas.
 *
 * oSIP2 builds a message out of many small blocks: a parsed INVITE is about seventy mallocs (every
 * header, URI, parameter and string its own block), and a copy of it as many again. Under load one
 * call cost about a thousand mallocs and as many frees, 40 % of the instructions of the call. Those
 * blocks live and die together (with the transaction, the event, the serialisation that made them),
 * so core allocates them from chunks: while one message is parsed, copied, built or serialised (a
 * scope, ex_arena_begin/ex_arena_end), each small block is cut from the thread's open chunk by a
 * bump pointer and counted. A block is freed (osip_free, any thread) by decrementing its chunk's
 * count; the chunk goes back to the free stack when its scope has ended and its last block is freed.
 *
 * The count. While a chunk is open, only its owner thread allocates from it and counts the blocks
 * it hands out in `allocs`, without atomics; the shared count `live` starts at a bias larger than
 * any number of blocks, and every free (any thread) subtracts one atomically. When the scope ends,
 * the owner adds allocs - bias: `live` is then the number of blocks still allocated, and whoever
 * brings it to zero (the closing owner or the last free) gives the chunk back. No free can reach
 * zero before the close: it would take more frees than blocks.
 *
 * Chunks are CHUNK bytes, aligned to CHUNK, in one reserved region: a pointer's chunk is its address
 * rounded down, and a pointer is an arena block exactly when it lies in the region (so a block from
 * malloc is never mistaken for one). Each block carries its size in the 8 bytes before it, for
 * realloc. The region is address space only (MAP_NORESERVE); a chunk's page is committed when it is
 * first used, and free chunks past ARENA_WARM give their pages back when the allocator is trimmed.
 *
 * Lifetimes: a scope starts a fresh chunk (the previous scope's chunk is closed at its end), so what
 * one message keeps alive is its own chunks; nothing long-lived (dialogs, registrations) is built in
 * a scope. When the region is full, or a block is too large, malloc serves it.
 */
#include <pthread.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>
#include <sys/mman.h>

#include "arena.h"

#define CHUNK EX_ARENA_CHUNK
#define CHUNK_HEADER 16u      /* the count, and padding to keep blocks 8-aligned after their header */
#define BLOCK_HEADER EX_ARENA_BLOCK_HEADER /* the block's size */
#define REGION_CHUNKS 262144u /* 1 GiB of address space */
#define ARENA_WARM 256u       /* free chunks kept committed when the arenas are trimmed (1 MiB) */
#define LIVE_BIAS ((int64_t) 1 << 40)
#define BIG_STRIDE 8192u      /* EX_ARENA_BIG_SIZE rounded up to whole pages */
#define BIG_BLOCKS 256u       /* 2 MiB of address space: a few are ever in use at once */

struct chunk_head {
  int64_t live;
  uint64_t pad;
};

char *ex_arena_lo, *ex_arena_hi;
char *ex_arena_big_lo, *ex_arena_big_hi;
__thread struct ex_arena_tl ex_arena_tl EX_ARENA_TLS_MODEL;
#define tl ex_arena_tl

static struct {
  pthread_mutex_t lock;
  uint32_t handed;         /* chunks [0, handed) were handed out at least once */
  uint32_t nfree;          /* entries of free_idx in use */
  uint32_t nreleased;      /* free chunks whose pages were given back */
  uint32_t *free_idx;      /* REGION_CHUNKS entries */
  unsigned char *released; /* per chunk: its page was given back since it was last freed */
  int release_ok;          /* the system page is CHUNK bytes: a chunk's page can be given back alone */
  uint32_t big_handed;     /* big blocks [0, big_handed) were handed out at least once */
  uint32_t big_nfree;
  uint32_t big_free[BIG_BLOCKS];
} ar = { PTHREAD_MUTEX_INITIALIZER, 0, 0, 0, NULL, NULL, 0, 0, 0, { 0 } };

static uint32_t nspare; /* chunks kept as spares by threads (atomic) */
static pthread_key_t exit_key;
static int exit_key_ok;

static void push_free(char *c)
{
  pthread_mutex_lock(&ar.lock);
  ar.free_idx[ar.nfree++] = (uint32_t) ((size_t) (c - ex_arena_lo) / CHUNK);
  pthread_mutex_unlock(&ar.lock);
}

/* a thread that ends hands its spare to the shared stack */
static void thread_exit(void *unused)
{
  (void) unused;
  if (tl.spare != NULL) {
    char *c = tl.spare;
    tl.spare = NULL;
    __atomic_sub_fetch(&nspare, 1, __ATOMIC_RELAXED);
    push_free(c);
  }
}

int ex_arena_install(void)
{
  long page = sysconf(_SC_PAGESIZE);
  size_t chunks_len = (size_t) CHUNK * REGION_CHUNKS;
  size_t big_len = (size_t) BIG_STRIDE * BIG_BLOCKS;
  size_t len = chunks_len + REGION_CHUNKS * (sizeof(uint32_t) + 1) + CHUNK + big_len;
  char *region;
  if (ex_arena_lo != NULL)
    return 0;
  if (page > 0 && (size_t) page > CHUNK && (size_t) page % CHUNK == 0) {
    /* chunks must start on a CHUNK boundary: over-reserve by one page and align */
    len += (size_t) page;
  }
  region = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (region == MAP_FAILED)
    return -1;
  region = (char *) (((uintptr_t) region + CHUNK - 1) & ~(uintptr_t) (CHUNK - 1));
  ex_arena_lo = region;
  ex_arena_hi = region + chunks_len;
  ar.free_idx = (uint32_t *) (void *) ex_arena_hi;
  ar.released = (unsigned char *) (ar.free_idx + REGION_CHUNKS);
  ar.release_ok = page == (long) CHUNK;
  exit_key_ok = pthread_key_create(&exit_key, thread_exit) == 0;
  /* the big blocks after the index: page-aligned (the index ends on a CHUNK boundary: 5 bytes a chunk) */
  ex_arena_big_lo = (char *) (((uintptr_t) (ar.released + REGION_CHUNKS) + CHUNK - 1) & ~(uintptr_t) (CHUNK - 1));
  ex_arena_big_hi = ex_arena_big_lo + big_len;
  return 0;
}

int ex_arena_on(void)
{
  return ex_arena_lo != NULL;
}

static char *chunk_get(void)
{
  char *c = tl.spare;
  if (c != NULL) {
    tl.spare = NULL;
    __atomic_sub_fetch(&nspare, 1, __ATOMIC_RELAXED);
    return c;
  }
  pthread_mutex_lock(&ar.lock);
  if (ar.nfree > 0) {
    uint32_t i = ar.free_idx[--ar.nfree];
    if (ar.released[i]) {
      ar.released[i] = 0;
      ar.nreleased--;
    }
    c = ex_arena_lo + (size_t) i * CHUNK;
  } else if (ar.handed < REGION_CHUNKS) {
    c = ex_arena_lo + (size_t) ar.handed++ * CHUNK;
  }
  pthread_mutex_unlock(&ar.lock);
  return c;
}

void ex_arena_chunk_put(char *c)
{
  if (tl.spare == NULL && exit_key_ok) { /* most chunks are freed by the thread that opens the next one */
    if (!tl.exit_hook) {
      if (pthread_setspecific(exit_key, (void *) 1) != 0) {
        push_free(c);
        return;
      }
      tl.exit_hook = 1;
    }
    tl.spare = c;
    __atomic_add_fetch(&nspare, 1, __ATOMIC_RELAXED);
    return;
  }
  push_free(c);
}

/* the thread's open chunk is closed: from now on only frees touch it */
static void chunk_close(void)
{
  char *c = tl.chunk;
  struct chunk_head *h;
  int64_t delta;
  if (c == NULL)
    return;
  h = (struct chunk_head *) (void *) c;
  delta = (int64_t) tl.allocs - LIVE_BIAS;
  tl.chunk = NULL;
  tl.next = NULL;
  tl.allocs = 0;
  if (__atomic_add_fetch(&h->live, delta, __ATOMIC_ACQ_REL) == 0)
    ex_arena_chunk_put(c);
}

static int chunk_open(void);

/* the open chunk cannot hold `need` more bytes (or there is none): a fresh one */
void *ex_arena_alloc_slow(size_t need)
{
  char *b;
  if (ex_arena_lo == NULL || need > CHUNK - CHUNK_HEADER)
    return NULL;
  chunk_close();
  if (chunk_open() != 0)
    return NULL;
  b = tl.next;
  tl.next = b + need;
  return b;
}

static int chunk_open(void)
{
  char *c = chunk_get();
  struct chunk_head *h;
  if (c == NULL)
    return -1;
  h = (struct chunk_head *) (void *) c;
  __atomic_store_n(&h->live, LIVE_BIAS, __ATOMIC_RELAXED);
  tl.chunk = c;
  tl.next = c + CHUNK_HEADER;
  tl.allocs = 0;
  return 0;
}

void *ex_arena_big_alloc(void)
{
  char *b = NULL;
  if (ex_arena_big_lo == NULL)
    return NULL;
  pthread_mutex_lock(&ar.lock);
  if (ar.big_nfree > 0)
    b = ex_arena_big_lo + (size_t) ar.big_free[--ar.big_nfree] * BIG_STRIDE;
  else if (ar.big_handed < BIG_BLOCKS)
    b = ex_arena_big_lo + (size_t) ar.big_handed++ * BIG_STRIDE;
  pthread_mutex_unlock(&ar.lock);
  return b;
}

void ex_arena_big_free(void *p)
{
  pthread_mutex_lock(&ar.lock);
  ar.big_free[ar.big_nfree++] = (uint32_t) ((size_t) ((char *) p - ex_arena_big_lo) / BIG_STRIDE);
  pthread_mutex_unlock(&ar.lock);
}

void ex_arena_begin(void)
{
  tl.depth++;
}

void ex_arena_end(void)
{
  if (tl.depth > 0 && --tl.depth == 0)
    chunk_close();
}

size_t ex_arena_block_size(const void *p)
{
  return (size_t) *(const uint64_t *) (const void *) ((const char *) p - BLOCK_HEADER);
}

uint32_t ex_arena_surplus(void)
{
  uint32_t n = 0;
  if (ex_arena_lo == NULL || !ar.release_ok)
    return 0;
  pthread_mutex_lock(&ar.lock);
  if (ar.nfree > ARENA_WARM + ar.nreleased)
    n = ar.nfree - ARENA_WARM - ar.nreleased;
  pthread_mutex_unlock(&ar.lock);
  return n;
}

/* The chunks deepest in the free stack are reused last: their pages go back; the top ARENA_WARM stay. */
void ex_arena_release_surplus(void)
{
  uint32_t k;
  if (ex_arena_lo == NULL || !ar.release_ok)
    return;
  pthread_mutex_lock(&ar.lock);
  for (k = 0; k + ARENA_WARM < ar.nfree; k++) {
    uint32_t i = ar.free_idx[k];
    if (!ar.released[i]) {
      (void) madvise(ex_arena_lo + (size_t) i * CHUNK, CHUNK, MADV_DONTNEED);
      ar.released[i] = 1;
      ar.nreleased++;
    }
  }
  pthread_mutex_unlock(&ar.lock);
}

void ex_arena_get_stats(struct ex_arena_stats *st)
{
  memset(st, 0, sizeof(*st));
  if (ex_arena_lo == NULL)
    return;
  pthread_mutex_lock(&ar.lock);
  st->chunks_touched = ar.handed;
  st->chunks_spare = __atomic_load_n(&nspare, __ATOMIC_RELAXED);
  st->chunks_free = ar.nfree;
  st->chunks_released = ar.nreleased;
  st->chunks_used = ar.handed - ar.nfree - st->chunks_spare;
  pthread_mutex_unlock(&ar.lock);
}
