/* SPDX-License-Identifier: Apache-2.0 */
/* eXosip2 5.3 compatible API: SUBSCRIBE and NOTIFY. */
#ifndef EXOSIP2_EX_SUBSCRIBE_H
#define EXOSIP2_EX_SUBSCRIBE_H

#include <eXosip2/eX_setup.h>

#ifdef __cplusplus
extern "C" {
#endif

#ifdef __cplusplus
}
#endif

#endif /* EXOSIP2_EX_SUBSCRIBE_H */
