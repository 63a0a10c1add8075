/* SPDX-License-Identifier: Apache-2.0 */
/*
 * core/src/arena.c built as a shared library and loaded with dlopen, as the binding loads core: the
 * loader must accept its thread-local state (musl refuses initial-exec TLS in such a library), and a
 * scope must work from two threads. `arena_dlopen LIBRARY` exits 0 and prints "dlopen: ok".
 */
#include <dlfcn.h>
#include <pthread.h>
#include <stddef.h>
#include <stdio.h>

static int (*install)(void);
static void (*begin)(void);
static void (*end)(void);
static void *(*alloc_slow)(size_t);

static void *scope(void *arg)
{
  void *p;
  (void) arg;
  begin();
  p = alloc_slow(64); /* opens a chunk of this thread's scope */
  end();
  return p;
}

int main(int argc, char **argv)
{
  void *h, *a, *b;
  pthread_t t;
  if (argc < 2)
    return 2;
  h = dlopen(argv[1], RTLD_NOW);
  if (h == NULL) {
    printf("dlopen: %s\n", dlerror());
    return 1;
  }
  install = (int (*)(void)) dlsym(h, "ex_arena_install");
  begin = (void (*)(void)) dlsym(h, "ex_arena_begin");
  end = (void (*)(void)) dlsym(h, "ex_arena_end");
  alloc_slow = (void *(*) (size_t)) dlsym(h, "ex_arena_alloc_slow");
  if (!install || !begin || !end || !alloc_slow || install() != 0)
    return 3;
  a = scope(NULL);
  if (pthread_create(&t, NULL, scope, NULL) != 0 || pthread_join(t, &b) != 0)
    return 4;
  if (a == NULL || b == NULL || a == b)
    return 5;
  printf("dlopen: ok\n");
  return 0;
}
