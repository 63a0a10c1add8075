/* SPDX-License-Identifier: Apache-2.0 */
/* A small chained hash map with string or integer keys: the index of transactions, calls and dialogs. */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "exosip_internal.h"
#include "osrandom.h"

/*
 * String keys come from the network (Call-IDs, tags, branches): they are hashed with SipHash-1-3
 * under a key drawn at random once per process (by the first ex_hmap_init: every map is initialised
 * before it hashes), so that a peer cannot choose keys that all land in one chain (hash flooding).
 * It reads the key 8 bytes at a time.
 */
static uint64_t sip_k0, sip_k1;
static pthread_once_t sip_once = PTHREAD_ONCE_INIT;

static void sip_seed(void)
{
  uint64_t k[2] = {0x736f6d6570736575ULL, 0x646f72616e646f6dULL};
  if (ex_os_random(k, sizeof(k)) != (ssize_t) sizeof(k)) {
    /* no randomness at all: the fixed key still spreads keys well, only guessable */
  }
  sip_k0 = k[0];
  sip_k1 = k[1];
}

#define ROTL64(x, b) (((x) << (b)) | ((x) >> (64 - (b))))
#define SIPROUND                                                                                   \
  do {                                                                                             \
    v0 += v1;                                                                                      \
    v1 = ROTL64(v1, 13);                                                                           \
    v1 ^= v0;                                                                                      \
    v0 = ROTL64(v0, 32);                                                                           \
    v2 += v3;                                                                                      \
    v3 = ROTL64(v3, 16);                                                                           \
    v3 ^= v2;                                                                                      \
    v0 += v3;                                                                                      \
    v3 = ROTL64(v3, 21);                                                                           \
    v3 ^= v0;                                                                                      \
    v2 += v1;                                                                                      \
    v1 = ROTL64(v1, 17);                                                                           \
    v1 ^= v2;                                                                                      \
    v2 = ROTL64(v2, 32);                                                                           \
  } while (0)

static uint64_t load64(const unsigned char *p)
{
  uint64_t w;
  memcpy(&w, p, sizeof(w)); /* one load; the byte order only changes which hash a key gets */
  return w;
}

static uint64_t hash_bytes(const char *key, size_t len)
{
  const unsigned char *p = (const unsigned char *) key;
  uint64_t v0, v1, v2, v3, m, last = (uint64_t) len << 56;
  size_t i, words = len / 8;

  v0 = sip_k0 ^ 0x736f6d6570736575ULL;
  v1 = sip_k1 ^ 0x646f72616e646f6dULL;
  v2 = sip_k0 ^ 0x6c7967656e657261ULL;
  v3 = sip_k1 ^ 0x7465646279746573ULL;
  for (i = 0; i < words; i++, p += 8) {
    m = load64(p);
    v3 ^= m;
    SIPROUND;
    v0 ^= m;
  }
  for (i = 0; i < (len & 7); i++)
    last |= (uint64_t) p[i] << (8 * i);
  v3 ^= last;
  SIPROUND;
  v0 ^= last;
  v2 ^= 0xff;
  SIPROUND;
  SIPROUND;
  SIPROUND;
  return v0 ^ v1 ^ v2 ^ v3;
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
  pthread_once(&sip_once, sip_seed);
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

static struct ex_hnode **find_str(const struct ex_hmap *m, const char *key, size_t len, uint64_t h)
{
  struct ex_hnode **p = &m->buckets[h & (m->nbuckets - 1)];
  for (; *p != NULL; p = &(*p)->next)
    if ((*p)->hash == h && (*p)->klen == len && memcmp((*p)->skey, key, len) == 0)
      return p;
  return p;
}

static struct ex_hnode **find_int(const struct ex_hmap *m, long key, uint64_t h)
{
  struct ex_hnode **p = &m->buckets[h & (m->nbuckets - 1)];
  for (; *p != NULL; p = &(*p)->next)
    if ((*p)->klen == (size_t) -1 && (*p)->ikey == key)
      return p;
  return p;
}

void *ex_hmap_get_str(const struct ex_hmap *m, const char *key)
{
  struct ex_hnode **p;
  size_t len;
  if (key == NULL || m->buckets == NULL)
    return NULL;
  len = strlen(key);
  p = find_str(m, key, len, hash_bytes(key, len));
  return *p ? (*p)->val : NULL;
}

/* slot: where find_* stopped; skey/len: a string key to copy into a new node (len (size_t) -1: ikey) */
static int insert(struct ex_hmap *m, struct ex_hnode **slot, uint64_t h, const char *skey, size_t len,
                  long ikey, void *val)
{
  struct ex_hnode *n;
  if (*slot != NULL) { /* replace */
    (*slot)->val = val;
    return OSIP_SUCCESS;
  }
  n = malloc(sizeof(*n) + (len == (size_t) -1 ? 0 : len + 1));
  if (n == NULL)
    return OSIP_NOMEM;
  n->hash = h;
  n->klen = len;
  if (len != (size_t) -1) {
    memcpy(n->skey, skey, len);
    n->skey[len] = '\0';
  }
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
  size_t len;
  if (key == NULL)
    return OSIP_BADPARAMETER;
  len = strlen(key);
  h = hash_bytes(key, len);
  return insert(m, find_str(m, key, len, h), h, key, len, 0, val);
}

static void *unlink_node(struct ex_hmap *m, struct ex_hnode **p)
{
  struct ex_hnode *n = *p;
  void *val;
  if (n == NULL)
    return NULL;
  *p = n->next;
  val = n->val;
  free(n);
  m->count--;
  return val;
}

void *ex_hmap_del_str(struct ex_hmap *m, const char *key)
{
  size_t len;
  if (key == NULL || m->buckets == NULL)
    return NULL;
  len = strlen(key);
  return unlink_node(m, find_str(m, key, len, hash_bytes(key, len)));
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
  return insert(m, find_int(m, key, h), h, NULL, (size_t) -1, key, val);
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
