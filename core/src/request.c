/* SPDX-License-Identifier: Apache-2.0 */
/* The plain-request usage: requests outside dialogs (MESSAGE, OPTIONS, PUBLISH received, ...) and
 * the answers to those we send. */
#include <string.h>

#include "usage.h"
#include "regauth.h"

static int plain_request(struct eXosip_t *ctx, struct ex_tx *w)
{
  osip_message_t *req = w->tr->orig_request;
  if (ex_to_tag(req) != NULL || MSG_IS_BYE(req) || MSG_IS_PRACK(req))
    return 0; /* in a dialog (or claiming one): the call usage answers (481 when there is none) */
  ex_event_emit(ctx, EXOSIP_MESSAGE_NEW, NULL, NULL, w->tid, req, NULL, NULL);
  return 1;
}

static int plain_nict_after(struct eXosip_t *ctx, struct ex_tx *w, int cb)
{
  osip_message_t *req = w->tr->orig_request, *resp = w->tr->last_response;
  int status;
  if (w->cid > 0)
    return 0;
  switch (cb) {
  case OSIP_NICT_STATUS_1XX_RECEIVED:
  case OSIP_NICT_STATUS_2XX_RECEIVED:
  case OSIP_NICT_STATUS_3XX_RECEIVED:
  case OSIP_NICT_STATUS_4XX_RECEIVED:
  case OSIP_NICT_STATUS_5XX_RECEIVED:
  case OSIP_NICT_STATUS_6XX_RECEIVED:
    if (resp == NULL)
      return 1;
    status = resp->status_code;
    break;
  case OSIP_NICT_STATUS_TIMEOUT:
    status = 408;
    resp = NULL;
    break;
  default:
    return 1;
  }
  if (status >= 200 && resp != NULL)
    ex_retry_note(ctx, w, resp); /* retry.c: MESSAGE, OPTIONS, ... sent again when answerable */
  ex_event_emit(ctx, ex_event_by_class(status, EXOSIP_MESSAGE_ANSWERED), NULL, NULL, w->tid, req, resp, NULL);
  return 1;
}

const struct ex_usage ex_usage_plain = {
  "request", plain_request, plain_nict_after, NULL, NULL, NULL,
};
