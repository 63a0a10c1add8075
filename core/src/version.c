/* SPDX-License-Identifier: Apache-2.0 */
/* The API version reported by eXosip_get_version(). */
#include "exosip_internal.h"

EXOSIP_API const char *eXosip_get_version(void)
{
  return EXOSIP_CORE_API_VERSION;
}
