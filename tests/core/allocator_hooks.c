/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Who owns oSIP2's allocator hooks. `allocator_hooks core`: eXosip_init installs core's (a block of a
 * message core parsed is then not malloc's). `allocator_hooks optout`: a program that set malloc,
 * realloc and free before eXosip_init keeps them, and every block is malloc's (free() on it is valid).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <eXosip2/eXosip.h>
#include <osipparser2/osip_parser.h>

#include "check.h"

int main(int argc, char **argv)
{
  struct eXosip_t *ctx;
  int optout = argc > 1 && strcmp(argv[1], "optout") == 0;
  char *s;
  if (optout)
    osip_set_allocators(malloc, realloc, free);
  ctx = eXosip_malloc();
  CHECK(ctx != NULL);
  CHECK(eXosip_init(ctx) == 0);
  if (optout) {
    CHECK(osip_malloc_func == malloc && osip_realloc_func == realloc && osip_free_func == free);
    s = osip_strdup("a block of malloc");
    CHECK(s != NULL);
    free(s); /* valid only because the program kept malloc */
  } else {
    CHECK(osip_malloc_func != NULL && osip_malloc_func != malloc && osip_free_func != NULL);
    s = osip_strdup("a block of core's hooks");
    CHECK(s != NULL && strcmp(s, "a block of core's hooks") == 0);
    osip_free(s);
  }
  eXosip_quit(ctx);
  printf("hooks: %s\n", optout ? "malloc" : "core");
  return 0;
}
