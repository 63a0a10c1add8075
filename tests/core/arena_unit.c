/* SPDX-License-Identifier: Apache-2.0 */
/*
 * core/src/arena.c on its own (compiled in with this file): scopes, block placement, the count of
 * a chunk across threads, chunk reuse, boundaries, and pages given back. Exits 0 when every check
 * holds; prints the failed check otherwise.
 */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "arena.h"
#include "check.h"

static uint32_t used(void)
{
  struct ex_arena_stats st;
  ex_arena_get_stats(&st);
  return st.chunks_used;
}

static char *chunk_of(const void *p)
{
  return ex_arena_lo + (((size_t) ((const char *) p - ex_arena_lo)) & ~(size_t) (EX_ARENA_CHUNK - 1));
}

/* outside a scope, and for large blocks, nothing comes from an arena */
static void outside_and_large(void)
{
  void *p;
  CHECK(ex_arena_alloc(16) == NULL);
  ex_arena_end(); /* an end without a begin is ignored */
  CHECK(ex_arena_alloc(16) == NULL);
  ex_arena_begin();
  CHECK(ex_arena_alloc(EX_ARENA_MAX_BLOCK + 1) == NULL);
  CHECK(ex_arena_alloc((size_t) -1) == NULL);
  p = ex_arena_alloc(EX_ARENA_MAX_BLOCK);
  CHECK(p != NULL && ex_arena_owns(p) && ex_arena_block_size(p) == EX_ARENA_MAX_BLOCK);
  ex_arena_end();
  CHECK(ex_arena_alloc(16) == NULL);
  ex_arena_free(p);
  CHECK(used() == 0);
  CHECK(!ex_arena_owns(NULL));
  p = malloc(32);
  CHECK(!ex_arena_owns(p));
  free(p);
}

/* blocks of a scope are 8-aligned, hold what was asked, and share a chunk until it is full */
static void placement(void)
{
  char *b[600];
  size_t i, n = 0;
  ex_arena_begin();
  for (i = 0; i < 600; i++) {
    size_t size = i % 97; /* 0 included */
    b[i] = ex_arena_alloc(size);
    CHECK(b[i] != NULL);
    CHECK(((uintptr_t) b[i] & 7u) == 0);
    CHECK(ex_arena_block_size(b[i]) == size);
    memset(b[i], (int) (i & 0xff), size);
    if (i > 0 && chunk_of(b[i]) != chunk_of(b[i - 1]))
      n++;
  }
  ex_arena_end();
  CHECK(n > 0 && n < 20); /* about 30 KB in 4 KB chunks */
  for (i = 0; i < 600; i++) {
    size_t k, size = i % 97;
    for (k = 0; k < size; k++)
      CHECK((unsigned char) b[i][k] == (i & 0xff));
  }
  for (i = 0; i < 600; i++)
    ex_arena_free(b[i]);
  CHECK(used() == 0);
}

/* the chunk a thread frees last is the one its next scope opens (its spare), and a thread that ends
 * hands its spare back to the shared stack */
static void *spare_thread(void *arg)
{
  void *p;
  (void) arg;
  ex_arena_begin();
  p = ex_arena_alloc(10);
  ex_arena_end();
  ex_arena_free(p); /* this thread's spare now */
  return p;
}

static void spares(void)
{
  struct ex_arena_stats st;
  pthread_t t;
  void *a, *b, *r;
  ex_arena_begin();
  a = ex_arena_alloc(10);
  ex_arena_end();
  ex_arena_free(a);
  ex_arena_begin();
  b = ex_arena_alloc(10);
  ex_arena_end();
  CHECK(chunk_of(a) == chunk_of(b)); /* the spare, reused */
  ex_arena_free(b);
  CHECK(pthread_create(&t, NULL, spare_thread, NULL) == 0);
  CHECK(pthread_join(t, &r) == 0);
  ex_arena_get_stats(&st);
  CHECK(st.chunks_spare == 1); /* this thread's; the other's went back when it ended */
  CHECK(st.chunks_used == 0);
}

/* a chunk stays while its scope is open, even with every block freed; a new scope, a new chunk */
static void scope_holds_chunk(void)
{
  void *a, *b, *c;
  ex_arena_begin();
  a = ex_arena_alloc(40);
  ex_arena_free(a);
  CHECK(used() == 1);
  ex_arena_begin(); /* nested: the same scope */
  b = ex_arena_alloc(40);
  CHECK(chunk_of(b) == chunk_of(a));
  ex_arena_end();
  CHECK(used() == 1);
  ex_arena_end();
  CHECK(used() == 1); /* b is alive */
  ex_arena_begin();
  c = ex_arena_alloc(40);
  ex_arena_end();
  CHECK(chunk_of(c) != chunk_of(b));
  ex_arena_free(b);
  ex_arena_free(c);
  CHECK(used() == 0);
  /* an empty scope takes no chunk */
  ex_arena_begin();
  ex_arena_end();
  CHECK(used() == 0);
}

/* three of the largest blocks share a chunk, a fourth does not fit; blocks fill it to the byte */
static void boundaries(void)
{
  void *p[4];
  int i;
  ex_arena_begin();
  for (i = 0; i < 4; i++) {
    p[i] = ex_arena_alloc(EX_ARENA_MAX_BLOCK);
    CHECK(p[i] != NULL);
  }
  CHECK(chunk_of(p[0]) == chunk_of(p[2]) && chunk_of(p[3]) != chunk_of(p[2]));
  ex_arena_end();
  for (i = 0; i < 4; i++)
    ex_arena_free(p[i]);
  CHECK(used() == 0);
  {
    /* blocks that fill a chunk to its last byte all land in it */
    void *q[4];
    void *r;
    ex_arena_begin();
    for (i = 0; i < 3; i++)
      q[i] = ex_arena_alloc(EX_ARENA_MAX_BLOCK); /* 1032 bytes each with its header */
    q[3] = ex_arena_alloc(EX_ARENA_CHUNK - 16 - 3 * (EX_ARENA_MAX_BLOCK + 8) - 8); /* the rest, to the byte */
    CHECK(q[3] != NULL);
    CHECK(chunk_of(q[0]) == chunk_of(q[3]));
    r = ex_arena_alloc(1);
    CHECK(r != NULL && chunk_of(r) != chunk_of(q[0]));
    ex_arena_end();
    for (i = 0; i < 4; i++)
      ex_arena_free(q[i]);
    ex_arena_free(r);
  }
  CHECK(used() == 0);
}

/* blocks allocated by one thread, freed by two others while it goes on allocating */
#define XN 200000
static void *xblocks[XN];
static int xnext;

static void *freer(void *arg)
{
  int from = *(int *) arg, i;
  for (i = from; i < XN; i += 2) {
    while (__atomic_load_n(&xnext, __ATOMIC_ACQUIRE) <= i)
      ;
    ex_arena_free(xblocks[i]);
  }
  return NULL;
}

static void cross_thread(void)
{
  pthread_t t[2];
  int from[2] = { 0, 1 }, i;
  CHECK(pthread_create(&t[0], NULL, freer, &from[0]) == 0);
  CHECK(pthread_create(&t[1], NULL, freer, &from[1]) == 0);
  for (i = 0; i < XN; i++) {
    if (i % 50 == 0)
      ex_arena_begin();
    xblocks[i] = ex_arena_alloc((size_t) (i % 200) + 1);
    CHECK(xblocks[i] != NULL);
    __atomic_store_n(&xnext, i + 1, __ATOMIC_RELEASE);
    if (i % 50 == 49)
      ex_arena_end();
  }
  CHECK(pthread_join(t[0], NULL) == 0);
  CHECK(pthread_join(t[1], NULL) == 0);
  CHECK(used() == 0);
}

/* after a peak, the free chunks past the warm ones give their pages back, and come back zeroed */
static void release(void)
{
  static void *p[4000];
  struct ex_arena_stats st;
  int i;
  for (i = 0; i < 4000; i++) {
    ex_arena_begin();
    p[i] = ex_arena_alloc(100);
    memset(p[i], 0xab, 100);
    ex_arena_end();
  }
  for (i = 0; i < 4000; i++)
    ex_arena_free(p[i]);
  ex_arena_get_stats(&st);
  CHECK(st.chunks_used == 0 && st.chunks_free + st.chunks_spare >= 4000 && st.chunks_spare <= 1);
  if (sysconf(_SC_PAGESIZE) == EX_ARENA_CHUNK) {
    CHECK(ex_arena_surplus() == st.chunks_free - 256);
    ex_arena_release_surplus();
    ex_arena_get_stats(&st);
    CHECK(st.chunks_released == st.chunks_free - 256);
  } else { /* larger pages: a chunk is not a page of its own, and nothing is given back */
    ex_arena_release_surplus();
    ex_arena_get_stats(&st);
    CHECK(st.chunks_released == 0);
  }
  CHECK(ex_arena_surplus() == 0);
  /* all of them in use again: released chunks are handed out like the others */
  for (i = 0; i < 4000; i++) {
    ex_arena_begin();
    p[i] = ex_arena_alloc(100);
    CHECK(p[i] != NULL);
    ex_arena_end();
  }
  ex_arena_get_stats(&st);
  CHECK(st.chunks_used == 4000);
  for (i = 0; i < 4000; i++)
    ex_arena_free(p[i]);
  CHECK(used() == 0);
}

/* the serialiser's 8 KB blocks: page-aligned, writable to the last byte, a bounded stack, reused */
static void big_blocks(void)
{
  static char *b[300];
  int i, n = 0;
  for (i = 0; i < 300; i++) {
    b[i] = ex_arena_big_alloc();
    if (b[i] == NULL)
      break;
    CHECK(ex_arena_big_owns(b[i]) && !ex_arena_owns(b[i]));
    CHECK(((uintptr_t) b[i] & 4095u) == 0);
    memset(b[i], 0x5a, EX_ARENA_BIG_SIZE);
    n++;
  }
  CHECK(n == 256); /* then NULL: the caller takes malloc */
  CHECK(ex_arena_big_alloc() == NULL);
  for (i = 0; i < n; i++)
    ex_arena_big_free(b[i]);
  CHECK(ex_arena_big_alloc() == b[n - 1]); /* last freed, first reused */
  ex_arena_big_free(b[n - 1]);
}

int main(void)
{
  CHECK(!ex_arena_on());
  CHECK(ex_arena_big_alloc() == NULL);
  ex_arena_begin();
  CHECK(ex_arena_alloc(8) == NULL); /* not installed: malloc serves everything */
  ex_arena_end();
  CHECK(ex_arena_install() == 0);
  CHECK(ex_arena_on());
  CHECK(ex_arena_install() == 0); /* twice: the same region */
  outside_and_large();
  placement();
  scope_holds_chunk();
  spares();
  boundaries();
  cross_thread();
  release();
  big_blocks();
  printf("arena: ok\n");
  return 0;
}
