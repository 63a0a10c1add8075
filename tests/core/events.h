/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Helpers of the C test programs under tests/core that wait for events: a monotonic clock in
 * seconds, and the next event of one type within a bound (the others are freed and skipped).
 * Include after <eXosip2/eXosip.h>.
 */
#ifndef EXOSIP2_TESTS_EVENTS_H
#define EXOSIP2_TESTS_EVENTS_H

#include <time.h>

static double now_s(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double) ts.tv_sec + (double) ts.tv_nsec / 1e9;
}

/* The next event of ctx of type `type` within `seconds`, or NULL. */
static eXosip_event_t *wait_event(struct eXosip_t *ctx, eXosip_event_type_t type, double seconds)
{
  double end = now_s() + seconds;
  while (now_s() < end) {
    eXosip_event_t *ev = eXosip_event_wait(ctx, 0, 100);
    if (ev == NULL)
      continue;
    if (ev->type == type)
      return ev;
    eXosip_event_free(ev);
  }
  return NULL;
}

#endif
