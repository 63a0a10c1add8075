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
#include "blockstack.h"

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

static struct ex_blockstack chunks = { PTHREAD_MUTEX_INITIALIZER, NULL, 0, 0, 0, 0, 0, 0, 0, NULL, NULL };
/* the serialiser's big blocks: a handful in use at once, never given back (2 MiB at most) */
static struct ex_blockstack bigs = { PTHREAD_MUTEX_INITIALIZER, NULL, 0, 0, 0, 0, 0, 0, 0, NULL, NULL };
static uint32_t big_index[BIG_BLOCKS + (BIG_BLOCKS + 3) / 4]; /* ex_bs_index_bytes(BIG_BLOCKS) */

static uint32_t nspare; /* chunks kept as spares by threads (atomic) */
static pthread_key_t exit_key;
static int exit_key_ok;

static void push_free(char *c)
{
  ex_bs_put(&chunks, c);
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
  size_t len = chunks_len + ex_bs_index_bytes(REGION_CHUNKS) + CHUNK + big_len;
  char *region, *big;
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
  ex_bs_init(&chunks, region, CHUNK, REGION_CHUNKS, ARENA_WARM, page == (long) CHUNK, region + chunks_len);
  exit_key_ok = pthread_key_create(&exit_key, thread_exit) == 0;
  /* the big blocks after the index, page-aligned */
  big = (char *) (((uintptr_t) (region + chunks_len + ex_bs_index_bytes(REGION_CHUNKS)) + CHUNK - 1)
                  & ~(uintptr_t) (CHUNK - 1));
  ex_bs_init(&bigs, big, BIG_STRIDE, BIG_BLOCKS, BIG_BLOCKS, 0, big_index);
  ex_arena_big_lo = big;
  ex_arena_big_hi = big + big_len;
  ex_arena_lo = region;
  ex_arena_hi = region + chunks_len;
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
  return ex_bs_get(&chunks);
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
  return ex_arena_big_lo != NULL ? ex_bs_get(&bigs) : NULL;
}

void ex_arena_big_free(void *p)
{
  ex_bs_put(&bigs, p);
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
  return ex_bs_surplus(&chunks);
}

/* The chunks deepest in the free stack are reused last: their pages go back; the top ARENA_WARM stay. */
void ex_arena_release_surplus(void)
{
  ex_bs_release_surplus(&chunks);
}

void ex_arena_get_stats(struct ex_arena_stats *st)
{
  memset(st, 0, sizeof(*st));
  if (ex_arena_lo == NULL)
    return;
  pthread_mutex_lock(&chunks.lock);
  st->chunks_touched = chunks.handed;
  st->chunks_spare = __atomic_load_n(&nspare, __ATOMIC_RELAXED);
  st->chunks_free = chunks.nfree;
  st->chunks_released = chunks.nreleased;
  st->chunks_used = chunks.handed - chunks.nfree - st->chunks_spare;
  pthread_mutex_unlock(&chunks.lock);
}
