/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Message arenas: the small blocks oSIP2 allocates while core parses, builds, copies or serialises
 * one message, served by a bump pointer from page-sized chunks instead of one malloc and one free
 * each (about a thousand of each per call). See arena.c.
 *
 * Only code between ex_arena_begin() and ex_arena_end() of the same thread allocates from an arena;
 * every other osip_malloc goes to malloc. A block of an arena is freed by osip_free from any thread.
 */
#ifndef EX_ARENA_H
#define EX_ARENA_H

#include <stddef.h>
#include <stdint.h>

/* blocks larger than this always come from malloc */
#define EX_ARENA_MAX_BLOCK 1024

/* Reserves the address space; returns 0, or -1 (arenas stay off: every block comes from malloc). */
int ex_arena_install(void);
/* 1 when arenas were installed */
int ex_arena_on(void);

/* Scopes nest; the outermost end closes the thread's chunk, so the next scope starts a fresh one
 * and a long-lived message never shares a chunk with the short-lived work of a later scope. */
void ex_arena_begin(void);
void ex_arena_end(void);

/* The open scope of this thread. On glibc, initial-exec TLS: one instruction to reach it on every
 * oSIP2 allocation, where the general model is a call (this library is loaded by dlopen, and its few
 * bytes fit the static TLS surplus glibc's dynamic linker keeps for such libraries). musl refuses
 * initial-exec TLS in a library loaded by dlopen: there it is the general model. */
#if defined(__GLIBC__)
#define EX_ARENA_TLS_MODEL __attribute__((tls_model("initial-exec")))
#else
#define EX_ARENA_TLS_MODEL
#endif
struct ex_arena_tl {
  char *chunk; /* open chunk, or NULL */
  char *next;  /* first free byte of it */
  uint32_t allocs;
  uint32_t depth;
  char *spare; /* a free chunk kept by this thread for its next scope, off the shared stack */
  int exit_hook; /* the thread's exit hands its spare back */
};
extern __thread struct ex_arena_tl ex_arena_tl EX_ARENA_TLS_MODEL;
/* the region of the chunks: [ex_arena_lo, ex_arena_hi) */
extern char *ex_arena_lo, *ex_arena_hi;

#define EX_ARENA_CHUNK 4096u
#define EX_ARENA_BLOCK_HEADER 8u

void *ex_arena_alloc_slow(size_t need);
void ex_arena_chunk_put(char *c);

/* A block of EX_ARENA_MAX_BLOCK bytes or fewer from the open scope, or NULL (no scope, too large,
 * or no chunk left): the caller then uses malloc. */
static inline void *ex_arena_alloc(size_t size)
{
  struct ex_arena_tl *t = &ex_arena_tl;
  size_t need;
  char *b;
  if (t->depth == 0 || size > EX_ARENA_MAX_BLOCK)
    return NULL;
  need = (EX_ARENA_BLOCK_HEADER + size + 7u) & ~(size_t) 7u;
  b = t->next;
  if (b == NULL || (size_t) (t->chunk + EX_ARENA_CHUNK - b) < need) {
    b = ex_arena_alloc_slow(need);
    if (b == NULL)
      return NULL;
  } else {
    t->next = b + need;
  }
  t->allocs++;
  *(uint64_t *) (void *) b = (uint64_t) size;
  return b + EX_ARENA_BLOCK_HEADER;
}

/* p lies in the arenas' region */
static inline int ex_arena_owns(const void *p)
{
  return (const char *) p >= ex_arena_lo && (const char *) p < ex_arena_hi;
}

/* p must be a block of the arenas: its chunk's count goes down by one, and the chunk back to the
 * free stack when that was its last block and its scope has ended */
static inline void ex_arena_free(void *p)
{
  char *c = ex_arena_lo + (((size_t) ((char *) p - ex_arena_lo)) & ~(size_t) (EX_ARENA_CHUNK - 1));
  if (__atomic_sub_fetch((int64_t *) (void *) c, 1, __ATOMIC_ACQ_REL) == 0)
    ex_arena_chunk_put(c);
}
/* the size asked for when p was allocated */
size_t ex_arena_block_size(const void *p);

/*
 * The serialiser's buffer. osip_message_to_str starts every message in a buffer of
 * SIP_MESSAGE_MAX_LENGTH bytes (8000) and frees it as soon as core has sent it; from malloc, such a
 * request is a large-bin one that first merges every small chunk freed since the previous one. Inside
 * a scope, requests of exactly that size come from a stack of 8 KB blocks instead.
 */
#define EX_ARENA_BIG_SIZE 8000u
extern char *ex_arena_big_lo, *ex_arena_big_hi;
void *ex_arena_big_alloc(void);
void ex_arena_big_free(void *p);
static inline int ex_arena_big_owns(const void *p)
{
  return (const char *) p >= ex_arena_big_lo && (const char *) p < ex_arena_big_hi;
}
static inline int ex_arena_in_scope(void)
{
  return ex_arena_tl.depth > 0;
}

/* Free chunks past the ones kept warm give their pages back to the system. */
void ex_arena_release_surplus(void);
/* free chunks whose pages are still committed, past the warm ones */
uint32_t ex_arena_surplus(void);

struct ex_arena_stats {
  uint32_t chunks_used;     /* chunks holding live blocks (or open) */
  uint32_t chunks_free;     /* on the free stack */
  uint32_t chunks_spare;    /* kept by threads for their next scope (one each at most) */
  uint32_t chunks_released; /* free chunks whose pages were given back */
  uint32_t chunks_touched;  /* chunks handed out at least once */
};
void ex_arena_get_stats(struct ex_arena_stats *st);

#endif
