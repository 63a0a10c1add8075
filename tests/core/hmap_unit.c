/* SPDX-License-Identifier: Apache-2.0 */
/*
 * core/src/hmap.c on its own: string and integer keys put, found, replaced and deleted; keys that
 * are prefixes of one another, empty, 4 000 bytes long or differ only in their last byte; tables
 * that grow from 16 buckets to 65 536 keys; and the spread of the seeded hash over sequential,
 * SIP-like keys (no chain longer than 12 at a load of at most 1). Prints "hmap: ok".
 */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "exosip_internal.h"

#include "check.h"

static void count_visit(void *val, void *arg)
{
  (void) val;
  (*(long *) arg)++;
}

static size_t longest_chain(const struct ex_hmap *m)
{
  size_t i, best = 0;
  for (i = 0; i < m->nbuckets; i++) {
    size_t n = 0;
    const struct ex_hnode *p;
    for (p = m->buckets[i]; p != NULL; p = p->next)
      n++;
    if (n > best)
      best = n;
  }
  return best;
}

int main(void)
{
  struct ex_hmap m, ints;
  char key[4100];
  static long vals[65536];
  long visited = 0;
  int i;

  CHECK(ex_hmap_init(&m, 16) == OSIP_SUCCESS);
  /* SIP-like keys: branch, method and a sent-by that differ in a few characters */
  for (i = 0; i < 65536; i++) {
    snprintf(key, sizeof(key), "z9hG4bK-%d|INVITE|10.0.%d.%d:5060", i, i / 256, i % 256);
    vals[i] = i;
    CHECK(ex_hmap_put_str(&m, key, &vals[i]) == OSIP_SUCCESS);
  }
  CHECK(m.count == 65536);
  CHECK(m.count <= m.nbuckets);
  CHECK(longest_chain(&m) <= 12);
  for (i = 0; i < 65536; i++) {
    long *v;
    snprintf(key, sizeof(key), "z9hG4bK-%d|INVITE|10.0.%d.%d:5060", i, i / 256, i % 256);
    v = ex_hmap_get_str(&m, key);
    CHECK(v != NULL && *v == i);
  }
  ex_hmap_foreach(&m, count_visit, &visited);
  CHECK(visited == 65536);
  /* a replaced value, and a key that is not there */
  CHECK(ex_hmap_put_str(&m, "z9hG4bK-7|INVITE|10.0.0.7:5060", &vals[9]) == OSIP_SUCCESS);
  CHECK(m.count == 65536);
  CHECK(ex_hmap_get_str(&m, "z9hG4bK-7|INVITE|10.0.0.7:5060") == &vals[9]);
  CHECK(ex_hmap_get_str(&m, "z9hG4bK-7|INVITE|10.0.0.7:506") == NULL);
  CHECK(ex_hmap_get_str(&m, "z9hG4bK-7|INVITE|10.0.0.7:50600") == NULL);
  CHECK(ex_hmap_get_str(&m, NULL) == NULL);
  CHECK(ex_hmap_put_str(&m, NULL, &vals[0]) == OSIP_BADPARAMETER);
  /* delete every other key; the rest stay */
  for (i = 0; i < 65536; i += 2) {
    snprintf(key, sizeof(key), "z9hG4bK-%d|INVITE|10.0.%d.%d:5060", i, i / 256, i % 256);
    CHECK(ex_hmap_del_str(&m, key) != NULL);
    CHECK(ex_hmap_del_str(&m, key) == NULL);
  }
  CHECK(m.count == 32768);
  for (i = 1; i < 65536; i += 2) {
    snprintf(key, sizeof(key), "z9hG4bK-%d|INVITE|10.0.%d.%d:5060", i, i / 256, i % 256);
    CHECK(ex_hmap_get_str(&m, key) != NULL);
  }
  ex_hmap_destroy(&m);

  /* prefixes of one another, the empty key, one long key and keys that differ only at the end */
  CHECK(ex_hmap_init(&m, 16) == OSIP_SUCCESS);
  memset(key, 'x', sizeof(key));
  for (i = 0; i <= 24; i++) {
    key[i] = '\0';
    CHECK(ex_hmap_put_str(&m, key, &vals[i]) == OSIP_SUCCESS);
    key[i] = 'x';
  }
  key[4000] = '\0';
  CHECK(ex_hmap_put_str(&m, key, &vals[100]) == OSIP_SUCCESS);
  key[3999] = 'y';
  CHECK(ex_hmap_put_str(&m, key, &vals[101]) == OSIP_SUCCESS);
  CHECK(m.count == 27);
  CHECK(ex_hmap_get_str(&m, key) == &vals[101]);
  key[3999] = 'x';
  CHECK(ex_hmap_get_str(&m, key) == &vals[100]);
  for (i = 0; i <= 24; i++) {
    key[i] = '\0';
    CHECK(ex_hmap_get_str(&m, key) == &vals[i]);
    key[i] = 'x';
  }
  CHECK(ex_hmap_get_str(&m, "") == &vals[0]);
  CHECK(ex_hmap_del_str(&m, "") == &vals[0]);
  CHECK(ex_hmap_get_str(&m, "") == NULL);
  CHECK(ex_hmap_get_str(&m, "x") == &vals[1]);
  ex_hmap_destroy(&m);

  /* integer keys, including the extremes */
  CHECK(ex_hmap_init(&ints, 16) == OSIP_SUCCESS);
  for (i = 0; i < 20000; i++)
    CHECK(ex_hmap_put_int(&ints, (long) i * 7 - 5000, &vals[i]) == OSIP_SUCCESS);
  CHECK(ex_hmap_put_int(&ints, LONG_MAX, &vals[1]) == OSIP_SUCCESS);
  CHECK(ex_hmap_put_int(&ints, LONG_MIN, &vals[2]) == OSIP_SUCCESS);
  CHECK(ints.count == 20002);
  CHECK(longest_chain(&ints) <= 12);
  for (i = 0; i < 20000; i++)
    CHECK(ex_hmap_get_int(&ints, (long) i * 7 - 5000) == &vals[i]);
  CHECK(ex_hmap_get_int(&ints, LONG_MAX) == &vals[1]);
  CHECK(ex_hmap_get_int(&ints, LONG_MIN) == &vals[2]);
  CHECK(ex_hmap_get_int(&ints, 1) == NULL);
  CHECK(ex_hmap_del_int(&ints, LONG_MIN) == &vals[2]);
  CHECK(ex_hmap_get_int(&ints, LONG_MIN) == NULL);
  ex_hmap_destroy(&ints);
  CHECK(ex_hmap_get_int(&ints, 3) == NULL); /* destroyed: empty, not a crash */
  CHECK(ex_hmap_get_str(&ints, "3") == NULL);

  printf("hmap: ok\n");
  return 0;
}
