/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A stack of equal blocks in a reserved region, for the transaction pool (osip_glue.c) and the
 * message chunks (arena.c): blocks are handed out last freed first (their pages are warm), the free
 * ones are a stack of indices kept beside the blocks (so a block whose pages were given back holds
 * nothing the stack reads), and the free blocks past the `warm` reused next can give their pages back
 * (MADV_DONTNEED: the next touch gets zeroed pages).
 */
#ifndef EX_BLOCKSTACK_H
#define EX_BLOCKSTACK_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

struct ex_blockstack {
  pthread_mutex_t lock;
  char *base;              /* block i is at base + i * stride */
  size_t stride;           /* whole pages when release_ok */
  uint32_t capacity;       /* blocks in the region */
  uint32_t warm;           /* free blocks kept committed when the surplus goes back */
  int release_ok;          /* a block's pages can be given back on their own */
  uint32_t handed;         /* blocks [0, handed) were handed out at least once */
  uint32_t nfree;          /* entries of free_idx in use; the top is free_idx[nfree - 1] */
  uint32_t nreleased;      /* free blocks whose pages were given back */
  uint32_t *free_idx;      /* capacity entries */
  unsigned char *released; /* per block: its pages were given back since it was last freed */
};

/* Bytes of the index that follows the blocks of a stack of `capacity` blocks. */
size_t ex_bs_index_bytes(uint32_t capacity);
/* The stack over `capacity` blocks of `stride` bytes at `base`, its index at `index`. */
void ex_bs_init(struct ex_blockstack *s, char *base, size_t stride, uint32_t capacity, uint32_t warm,
                int release_ok, void *index);
/* A block, or NULL when every block is in use. */
void *ex_bs_get(struct ex_blockstack *s);
/* p must be a block of s that is in use. */
void ex_bs_put(struct ex_blockstack *s, void *p);
/* Free blocks past the warm ones whose pages are still committed. */
uint32_t ex_bs_surplus(struct ex_blockstack *s);
/* Those blocks give their pages back (the ones deepest in the stack: reused last). */
void ex_bs_release_surplus(struct ex_blockstack *s);

#endif
