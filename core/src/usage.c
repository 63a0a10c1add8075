/* SPDX-License-Identifier: Apache-2.0 */
/* The one hand-off from the transaction layer to the usages other than calls (see usage.h). */
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <limits.h>

#include "usage.h"
#include "regauth.h"

/* Asked in this order; the plain usage (any request outside dialogs) comes last. */
static const struct ex_usage *const usages[] = {
  &ex_usage_registration,
  &ex_usage_subscription,
  &ex_usage_insubscription,
  &ex_usage_publication,
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

void ex_usage_stats(struct eXosip_t *ctx, struct eXosip_stats *st, double hours)
{
  size_t i;
  for (i = 0; i < N_USAGES; i++)
    if (usages[i]->stats != NULL)
      usages[i]->stats(ctx, st, hours);
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

int ex_usage_build_in_dialog(struct eXosip_t *ctx, osip_dialog_t *d, const char *method, osip_message_t **out)
{
  struct ex_dialog tmp; /* the request builder reads only the oSIP2 dialog of it */
  memset(&tmp, 0, sizeof(tmp));
  tmp.d = d;
  *out = NULL;
  if (d == NULL)
    return OSIP_NOTFOUND;
  return ex_build_request_in_dialog(ctx, &tmp, method, out);
}

int ex_usage_send(struct eXosip_t *ctx, osip_message_t *msg)
{
  struct ex_tx *w = NULL;
  int rc = ex_tx_new(ctx, NICT, msg, &w);
  if (rc != OSIP_SUCCESS) {
    osip_message_free(msg);
    return rc;
  }
  rc = w->tid;
  ex_tx_send(ctx, w, msg);
  return rc;
}

int ex_nict_answer_cb(int cb)
{
  switch (cb) {
  case OSIP_NICT_STATUS_1XX_RECEIVED:
  case OSIP_NICT_STATUS_2XX_RECEIVED:
  case OSIP_NICT_STATUS_3XX_RECEIVED:
  case OSIP_NICT_STATUS_4XX_RECEIVED:
  case OSIP_NICT_STATUS_5XX_RECEIVED:
  case OSIP_NICT_STATUS_6XX_RECEIVED:
    return 1;
  default:
    return 0; /* *_RECEIVED_AGAIN: the same answer retransmitted */
  }
}

const char *ex_header_value(const osip_message_t *msg, const char *name)
{
  osip_header_t *h = NULL;
  if (msg == NULL)
    return NULL;
  osip_message_header_get_byname(msg, name, 0, &h);
  return h != NULL ? h->hvalue : NULL;
}

long ex_header_long(const osip_message_t *msg, const char *name, long dflt)
{
  const char *v = ex_header_value(msg, name);
  char *end = NULL;
  long n;
  if (v == NULL)
    return dflt;
  errno = 0;
  n = strtol(v, &end, 10);
  if (end == v || n < 0)
    return dflt;
  if (errno == ERANGE)
    return LONG_MAX; /* the caller bounds it */
  return n;
}

int ex_usage_copy_for_resend(struct eXosip_t *ctx, const osip_message_t *req, int cseq, osip_message_t **out)
{
  osip_message_t *m = NULL;
  char buf[16];
  int rc;
  *out = NULL;
  if (req == NULL || req->cseq == NULL || osip_message_clone(req, &m) != 0)
    return OSIP_NOMEM;
  rc = ex_request_new_branch(ctx, m);
  if (rc != OSIP_SUCCESS) {
    osip_message_free(m);
    return rc;
  }
  snprintf(buf, sizeof(buf), "%d", cseq);
  osip_free(m->cseq->number);
  m->cseq->number = osip_strdup(buf);
  osip_message_force_update(m);
  *out = m;
  return OSIP_SUCCESS;
}

static int word_is(const char *s, size_t n, const char *word)
{
  return strlen(word) == n && osip_strncasecmp(s, word, n) == 0;
}

void ex_parse_substate(const char *value, int *status, int *reason, long *expires)
{
  static const char *const reasons[] = {"deactivated", "probation", "rejected", "timeout", "giveup", "noresource"};
  const char *p = value, *q;
  size_t n, i;
  *status = EXOSIP_SUBCRSTATE_UNKNOWN;
  *reason = DEACTIVATED;
  *expires = -1;
  if (p == NULL)
    return;
  while (*p == ' ' || *p == '\t')
    p++;
  for (q = p; *q != '\0' && *q != ';' && *q != ' ' && *q != '\t'; q++)
    ;
  n = (size_t) (q - p);
  if (word_is(p, n, "active"))
    *status = EXOSIP_SUBCRSTATE_ACTIVE;
  else if (word_is(p, n, "pending"))
    *status = EXOSIP_SUBCRSTATE_PENDING;
  else if (word_is(p, n, "terminated"))
    *status = EXOSIP_SUBCRSTATE_TERMINATED;
  /* parameters: ;name=value, one pass, each looked at once */
  while ((p = strchr(q, ';')) != NULL) {
    const char *name, *val = NULL;
    size_t nl, vl = 0;
    p++;
    while (*p == ' ' || *p == '\t')
      p++;
    name = p;
    for (q = p; *q != '\0' && *q != ';' && *q != '=' && *q != ' '; q++)
      ;
    nl = (size_t) (q - name);
    while (*q == ' ')
      q++;
    if (*q == '=') {
      q++;
      while (*q == ' ')
        q++;
      val = q;
      for (; *q != '\0' && *q != ';' && *q != ' '; q++)
        ;
      vl = (size_t) (q - val);
    }
    if (val != NULL && word_is(name, nl, "expires")) {
      char *end = NULL;
      long e = strtol(val, &end, 10);
      if (end != val && e >= 0)
        *expires = e > EX_MAX_SUB_EXPIRES ? EX_MAX_SUB_EXPIRES : e;
    } else if (val != NULL && word_is(name, nl, "reason")) {
      for (i = 0; i < sizeof(reasons) / sizeof(reasons[0]); i++)
        if (word_is(val, vl, reasons[i]))
          *reason = (int) i;
    }
  }
}
