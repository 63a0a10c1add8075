/* SPDX-License-Identifier: Apache-2.0 */
/* A small chained hash map with string or integer keys: the index of transactions, calls and dialogs. */
#include <stdlib.h>
#include <string.h>

#include "exosip_internal.h"

static uint64_t hash_str(const char *s)
{
  /* FNV-1a, 64 bit */
  uint64_t h = 1469598103934665603ULL;
  for (; *s; s++) {
    h ^= (unsigned char) *s;
    h *= 1099511628211ULL;
  }
  return h;
}

static uint64_t hash_int(long k)
{
  uint64_t x = (uint64_t) k;
  x ^= x >> 33;
  x *= 0xff51afd7ed558ccdULL;
  x ^= x >> 33;
  return x;
}

int ex_hmap_init(struct ex_hmap *m, size_t nbuckets)
{
  size_t n = 16;
  while (n < nbuckets)
    n <<= 1;
  m->buckets = calloc(n, sizeof(*m->buckets));
  if (m->buckets == NULL)
    return OSIP_NOMEM;
  m->nbuckets = n;
  m->count = 0;
  return OSIP_SUCCESS;
}

void ex_hmap_destroy(struct ex_hmap *m)
{
  size_t i;
  if (m->buckets == NULL)
    return;
  for (i = 0; i < m->nbuckets; i++) {
    struct ex_hnode *n = m->buckets[i];
    while (n != NULL) {
      struct ex_hnode *next = n->next;
      free(n->skey);
      free(n);
      n = next;
    }
  }
  free(m->buckets);
  m->buckets = NULL;
  m->nbuckets = m->count = 0;
}

static void grow(struct ex_hmap *m)
{
  size_t n = m->nbuckets * 2, i;
  struct ex_hnode **b = calloc(n, sizeof(*b));
  if (b == NULL)
    return; /* keep working with longer chains */
  for (i = 0; i < m->nbuckets; i++) {
    struct ex_hnode *node = m->buckets[i];
    while (node != NULL) {
      struct ex_hnode *next = node->next;
      size_t j = node->hash & (n - 1);
      node->next = b[j];
      b[j] = node;
      node = next;
    }
  }
  free(m->buckets);
  m->buckets = b;
  m->nbuckets = n;
}

static struct ex_hnode **find_str(const struct ex_hmap *m, const char *key, uint64_t h)
{
  struct ex_hnode **p = &m->buckets[h & (m->nbuckets - 1)];
  for (; *p != NULL; p = &(*p)->next)
    if ((*p)->hash == h && (*p)->skey != NULL && strcmp((*p)->skey, key) == 0)
      return p;
  return p;
}

static struct ex_hnode **find_int(const struct ex_hmap *m, long key, uint64_t h)
{
  struct ex_hnode **p = &m->buckets[h & (m->nbuckets - 1)];
  for (; *p != NULL; p = &(*p)->next)
    if ((*p)->skey == NULL && (*p)->ikey == key)
      return p;
  return p;
}

void *ex_hmap_get_str(const struct ex_hmap *m, const char *key)
{
  struct ex_hnode **p;
  if (key == NULL || m->buckets == NULL)
    return NULL;
  p = find_str(m, key, hash_str(key));
  return *p ? (*p)->val : NULL;
}

static int insert(struct ex_hmap *m, struct ex_hnode **slot, uint64_t h, char *skey, long ikey, void *val)
{
  struct ex_hnode *n;
  if (*slot != NULL) { /* replace */
    free(skey);
    (*slot)->val = val;
    return OSIP_SUCCESS;
  }
  n = malloc(sizeof(*n));
  if (n == NULL) {
    free(skey);
    return OSIP_NOMEM;
  }
  n->hash = h;
  n->skey = skey;
  n->ikey = ikey;
  n->val = val;
  n->next = NULL;
  *slot = n;
  m->count++;
  if (m->count > m->nbuckets)
    grow(m);
  return OSIP_SUCCESS;
}

int ex_hmap_put_str(struct ex_hmap *m, const char *key, void *val)
{
  uint64_t h;
  char *copy;
  if (key == NULL)
    return OSIP_BADPARAMETER;
  h = hash_str(key);
  copy = strdup(key);
  if (copy == NULL)
    return OSIP_NOMEM;
  return insert(m, find_str(m, key, h), h, copy, 0, val);
}

static void *unlink_node(struct ex_hmap *m, struct ex_hnode **p)
{
  struct ex_hnode *n = *p;
  void *val;
  if (n == NULL)
    return NULL;
  *p = n->next;
  val = n->val;
  free(n->skey);
  free(n);
  m->count--;
  return val;
}

void *ex_hmap_del_str(struct ex_hmap *m, const char *key)
{
  if (key == NULL || m->buckets == NULL)
    return NULL;
  return unlink_node(m, find_str(m, key, hash_str(key)));
}

void *ex_hmap_get_int(const struct ex_hmap *m, long key)
{
  struct ex_hnode **p;
  if (m->buckets == NULL)
    return NULL;
  p = find_int(m, key, hash_int(key));
  return *p ? (*p)->val : NULL;
}

int ex_hmap_put_int(struct ex_hmap *m, long key, void *val)
{
  uint64_t h = hash_int(key);
  return insert(m, find_int(m, key, h), h, NULL, key, val);
}

void *ex_hmap_del_int(struct ex_hmap *m, long key)
{
  if (m->buckets == NULL)
    return NULL;
  return unlink_node(m, find_int(m, key, hash_int(key)));
}

void ex_hmap_foreach(struct ex_hmap *m, void (*fn)(void *val, void *arg), void *arg)
{
  size_t i;
  if (m->buckets == NULL)
    return;
  for (i = 0; i < m->nbuckets; i++) {
    struct ex_hnode *n = m->buckets[i];
    while (n != NULL) {
      struct ex_hnode *next = n->next;
      fn(n->val, arg);
      n = next;
    }
  }
}
