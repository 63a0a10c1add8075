/* SPDX-License-Identifier: Apache-2.0 */
/* A binary min-heap of deadlines: transaction timers, 2xx retransmissions, connection sweeps. */
#include <stdlib.h>
#include <sys/time.h>
#include <osip2/osip_time.h>

#include "exosip_internal.h"

/* The clock oSIP2 uses for its transaction deadlines (monotonic on Linux), in microseconds. */
uint64_t ex_now_us(void)
{
  struct timeval tv;
  osip_gettimeofday(&tv, NULL);
  return (uint64_t) tv.tv_sec * 1000000ULL + (uint64_t) tv.tv_usec;
}

static void place(struct ex_heap *h, int i, struct ex_timer *t)
{
  h->v[i] = t;
  t->idx = i;
}

static void sift_up(struct ex_heap *h, int i)
{
  struct ex_timer *t = h->v[i];
  while (i > 0) {
    int parent = (i - 1) / 2;
    if (h->v[parent]->due <= t->due)
      break;
    place(h, i, h->v[parent]);
    i = parent;
  }
  place(h, i, t);
}

static void sift_down(struct ex_heap *h, int i)
{
  struct ex_timer *t = h->v[i];
  for (;;) {
    int c = 2 * i + 1;
    if (c >= h->n)
      break;
    if (c + 1 < h->n && h->v[c + 1]->due < h->v[c]->due)
      c++;
    if (h->v[c]->due >= t->due)
      break;
    place(h, i, h->v[c]);
    i = c;
  }
  place(h, i, t);
}

int ex_heap_set(struct ex_heap *h, struct ex_timer *t, uint64_t due)
{
  if (t->idx >= 0) {
    uint64_t old = t->due;
    t->due = due;
    if (due < old)
      sift_up(h, t->idx);
    else
      sift_down(h, t->idx);
    return OSIP_SUCCESS;
  }
  if (h->n == h->cap) {
    int cap = h->cap ? h->cap * 2 : 1024;
    struct ex_timer **v = realloc(h->v, (size_t) cap * sizeof(*v));
    if (v == NULL)
      return OSIP_NOMEM;
    h->v = v;
    h->cap = cap;
  }
  t->due = due;
  place(h, h->n, t);
  h->n++;
  sift_up(h, h->n - 1);
  return OSIP_SUCCESS;
}

void ex_heap_remove(struct ex_heap *h, struct ex_timer *t)
{
  int i = t->idx;
  if (i < 0)
    return;
  t->idx = -1;
  h->n--;
  if (i == h->n)
    return;
  {
    struct ex_timer *moved = h->v[h->n];
    place(h, i, moved);
    sift_down(h, i);
    sift_up(h, moved->idx);
  }
}

struct ex_timer *ex_heap_top(const struct ex_heap *h)
{
  return h->n > 0 ? h->v[0] : NULL;
}

void ex_heap_destroy(struct ex_heap *h)
{
  int i;
  for (i = 0; i < h->n; i++)
    h->v[i]->idx = -1;
  free(h->v);
  h->v = NULL;
  h->n = h->cap = 0;
}
