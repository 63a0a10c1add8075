/* SPDX-License-Identifier: Apache-2.0 */
/* eXosip2 5.3 compatible API: REGISTER and registration management. */
#ifndef EXOSIP2_EX_REGISTER_H
#define EXOSIP2_EX_REGISTER_H

#include <eXosip2/eX_setup.h>

#ifdef __cplusplus
extern "C" {
#endif

#ifdef __cplusplus
}
#endif

#endif /* EXOSIP2_EX_REGISTER_H */
