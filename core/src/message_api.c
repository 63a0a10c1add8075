/* SPDX-License-Identifier: Apache-2.0 */
/* Public API of requests outside dialogs (eX_message.h). */
#include "exosip_internal.h"

EXOSIP_API int eXosip_message_build_request(struct eXosip_t *excontext, osip_message_t **message,
                                            const char *method, const char *to, const char *from,
                                            const char *route)
{
  int rc;
  if (message == NULL)
    return OSIP_BADPARAMETER;
  *message = NULL;
  if (excontext == NULL || !excontext->initialized || method == NULL)
    return OSIP_BADPARAMETER;
  if (osip_strcasecmp(method, "INVITE") == 0 || osip_strcasecmp(method, "ACK") == 0
      || osip_strcasecmp(method, "CANCEL") == 0)
    return OSIP_BADPARAMETER;
  ex_ctx_lock(excontext);
  rc = ex_build_request_out(excontext, method, to, from, route, message);
  ex_ctx_unlock(excontext);
  return rc;
}

EXOSIP_API int eXosip_message_send_request(struct eXosip_t *excontext, osip_message_t *message)
{
  int rc;
  if (excontext == NULL || !excontext->initialized) {
    osip_message_free(message);
    return OSIP_BADPARAMETER;
  }
  if (message == NULL)
    return OSIP_BADPARAMETER;
  ex_ctx_lock(excontext);
  rc = ex_request_send_out(excontext, message);
  ex_ctx_unlock(excontext);
  return rc;
}

EXOSIP_API int eXosip_message_build_answer(struct eXosip_t *excontext, int tid, int status,
                                           osip_message_t **answer)
{
  int rc;
  if (answer == NULL)
    return OSIP_BADPARAMETER;
  *answer = NULL;
  if (excontext == NULL || !excontext->initialized)
    return OSIP_BADPARAMETER;
  ex_ctx_lock(excontext);
  rc = ex_answer_build(excontext, tid, status, answer);
  ex_ctx_unlock(excontext);
  return rc;
}

EXOSIP_API int eXosip_message_send_answer(struct eXosip_t *excontext, int tid, int status,
                                          osip_message_t *answer)
{
  int rc;
  if (excontext == NULL || !excontext->initialized) {
    osip_message_free(answer);
    return OSIP_BADPARAMETER;
  }
  ex_ctx_lock(excontext);
  rc = ex_answer_send(excontext, tid, status, answer);
  ex_ctx_unlock(excontext);
  return rc;
}
