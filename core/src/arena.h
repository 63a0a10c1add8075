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

/* A block of EX_ARENA_MAX_BLOCK bytes or fewer from the open scope, or NULL (no scope, too large,
 * or no chunk left): the caller then uses malloc. */
void *ex_arena_alloc(size_t size);
/* p lies in the arenas' region */
int ex_arena_owns(const void *p);
/* p must be a block of the arenas */
void ex_arena_free(void *p);
/* the size asked for when p was allocated */
size_t ex_arena_block_size(const void *p);

/* Free chunks past the ones kept warm give their pages back to the system. */
void ex_arena_release_surplus(void);
/* free chunks whose pages are still committed, past the warm ones */
uint32_t ex_arena_surplus(void);

struct ex_arena_stats {
  uint32_t chunks_used;     /* chunks holding live blocks (or open) */
  uint32_t chunks_free;     /* on the free stack */
  uint32_t chunks_released; /* free chunks whose pages were given back */
  uint32_t chunks_touched;  /* chunks handed out at least once */
};
void ex_arena_get_stats(struct ex_arena_stats *st);

#endif
