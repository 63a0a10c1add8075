/* SPDX-License-Identifier: Apache-2.0 */
/* Private declarations shared by the files of core/: never installed. */
#ifndef EXOSIP2_CORE_INTERNAL_H
#define EXOSIP2_CORE_INTERNAL_H

#include <eXosip2/eXosip.h>

/* Symbols of the public API are exported; everything else stays hidden (-fvisibility=hidden). */
#define EXOSIP_API __attribute__((visibility("default")))

/* The eXosip2 API release this core follows. */
#define EXOSIP_CORE_API_VERSION "5.3.0"

#endif /* EXOSIP2_CORE_INTERNAL_H */
