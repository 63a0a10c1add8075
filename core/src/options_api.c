/* SPDX-License-Identifier: Apache-2.0 */
/* Public API of OPTIONS outside dialogs (eX_options.h). */
#include <string.h>

#include "exosip_internal.h"

EXOSIP_API int eXosip_options_build_request(struct eXosip_t *excontext, osip_message_t **options,
                                            const char *to, const char *from, const char *route)
{
  return eXosip_message_build_request(excontext, options, "OPTIONS", to, from, route);
}

EXOSIP_API int eXosip_options_send_request(struct eXosip_t *excontext, osip_message_t *options)
{
  if (options != NULL && (!MSG_IS_REQUEST(options) || !MSG_IS_OPTIONS(options))) {
    osip_message_free(options);
    return OSIP_BADPARAMETER;
  }
  return eXosip_message_send_request(excontext, options);
}

EXOSIP_API int eXosip_options_build_answer(struct eXosip_t *excontext, int tid, int status,
                                           osip_message_t **answer)
{
  return eXosip_message_build_answer(excontext, tid, status, answer);
}

EXOSIP_API int eXosip_options_send_answer(struct eXosip_t *excontext, int tid, int status,
                                          osip_message_t *answer)
{
  return eXosip_message_send_answer(excontext, tid, status, answer);
}
