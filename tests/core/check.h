/* SPDX-License-Identifier: Apache-2.0 */
/*
 * CHECK(cond) for the C test programs under tests/core: a failed check names its line on stderr.
 * By default the program then exits 1 (the rest of a scenario depends on each step). A program
 * that defines CHECK_COUNTS_FAILURES before including this file, and declares
 * `static int failures;`, goes on instead, and returns failures != 0 at the end.
 */
#ifndef EXOSIP2_TESTS_CHECK_H
#define EXOSIP2_TESTS_CHECK_H

#include <stdio.h>
#include <stdlib.h>

#ifdef CHECK_COUNTS_FAILURES
#define CHECK(cond)                                                                                        \
  do {                                                                                                     \
    if (!(cond)) {                                                                                         \
      fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond);                             \
      failures++;                                                                                          \
    }                                                                                                      \
  } while (0)
#else
#define CHECK(cond)                                                                                        \
  do {                                                                                                     \
    if (!(cond)) {                                                                                         \
      fprintf(stderr, "check failed at line %d: %s\n", __LINE__, #cond);                                  \
      exit(1);                                                                                             \
    }                                                                                                      \
  } while (0)
#endif

#endif
