/* SPDX-License-Identifier: Apache-2.0 */
/* A stack of equal blocks in a reserved region; see blockstack.h. */
#include <sys/mman.h>

#include "blockstack.h"

size_t ex_bs_index_bytes(uint32_t capacity)
{
  return (size_t) capacity * (sizeof(uint32_t) + 1);
}

void ex_bs_init(struct ex_blockstack *s, char *base, size_t stride, uint32_t capacity, uint32_t warm,
                int release_ok, void *index)
{
  s->base = base;
  s->stride = stride;
  s->capacity = capacity;
  s->warm = warm;
  s->release_ok = release_ok;
  s->handed = s->nfree = s->nreleased = 0;
  s->free_idx = (uint32_t *) index;
  s->released = (unsigned char *) (s->free_idx + capacity);
}

void *ex_bs_get(struct ex_blockstack *s)
{
  char *p = NULL;
  pthread_mutex_lock(&s->lock);
  if (s->nfree > 0) {
    uint32_t i = s->free_idx[--s->nfree];
    if (s->released[i]) {
      s->released[i] = 0;
      s->nreleased--;
    }
    p = s->base + (size_t) i * s->stride;
  } else if (s->handed < s->capacity) {
    p = s->base + (size_t) s->handed++ * s->stride;
  }
  pthread_mutex_unlock(&s->lock);
  return p;
}

void ex_bs_put(struct ex_blockstack *s, void *p)
{
  pthread_mutex_lock(&s->lock);
  s->free_idx[s->nfree++] = (uint32_t) ((size_t) ((char *) p - s->base) / s->stride);
  pthread_mutex_unlock(&s->lock);
}

uint32_t ex_bs_surplus(struct ex_blockstack *s)
{
  uint32_t n = 0;
  if (s->base == NULL || !s->release_ok)
    return 0;
  pthread_mutex_lock(&s->lock);
  if (s->nfree > s->warm + s->nreleased)
    n = s->nfree - s->warm - s->nreleased;
  pthread_mutex_unlock(&s->lock);
  return n;
}

void ex_bs_release_surplus(struct ex_blockstack *s)
{
  uint32_t k;
  if (s->base == NULL || !s->release_ok)
    return;
  pthread_mutex_lock(&s->lock);
  for (k = 0; k + s->warm < s->nfree; k++) {
    uint32_t i = s->free_idx[k];
    if (!s->released[i]) {
      (void) madvise(s->base + (size_t) i * s->stride, s->stride, MADV_DONTNEED);
      s->released[i] = 1;
      s->nreleased++;
    }
  }
  pthread_mutex_unlock(&s->lock);
}
