/* SPDX-License-Identifier: Apache-2.0 */
/* The one hand-off from the transaction layer to the usages other than calls (see usage.h). */
#include "usage.h"

/* Asked in this order; the plain usage (any request outside dialogs) comes last. */
static const struct ex_usage *const usages[] = {
  &ex_usage_registration,
  &ex_usage_plain,
};
#define N_USAGES (sizeof(usages) / sizeof(usages[0]))

int ex_usage_request(struct eXosip_t *ctx, struct ex_tx *w)
{
  size_t i;
  for (i = 0; i < N_USAGES; i++)
    if (usages[i]->request != NULL && usages[i]->request(ctx, w))
      return 1;
  return 0;
}

int ex_usage_nict_after(struct eXosip_t *ctx, struct ex_tx *w, int cb)
{
  size_t i;
  for (i = 0; i < N_USAGES; i++)
    if (usages[i]->nict_after != NULL && usages[i]->nict_after(ctx, w, cb))
      return 1;
  return 0;
}

void ex_usage_automatic(struct eXosip_t *ctx)
{
  size_t i;
  for (i = 0; i < N_USAGES; i++)
    if (usages[i]->automatic != NULL)
      usages[i]->automatic(ctx);
}

void ex_usage_free_all(struct eXosip_t *ctx)
{
  size_t i;
  for (i = 0; i < N_USAGES; i++)
    if (usages[i]->free_all != NULL)
      usages[i]->free_all(ctx);
}

eXosip_event_type_t ex_event_by_class(int status, eXosip_event_type_t base_ok)
{
  if (status < 200)
    return (eXosip_event_type_t) (base_ok - 1);
  if (status < 300)
    return base_ok;
  if (status < 400)
    return (eXosip_event_type_t) (base_ok + 1);
  if (status < 500)
    return (eXosip_event_type_t) (base_ok + 2);
  if (status < 600)
    return (eXosip_event_type_t) (base_ok + 3);
  return (eXosip_event_type_t) (base_ok + 4);
}

