/* SPDX-License-Identifier: Apache-2.0 */
/* eXosip2 5.3 compatible API: out-of-dialog MESSAGE. */
#ifndef EXOSIP2_EX_MESSAGE_H
#define EXOSIP2_EX_MESSAGE_H

#include <eXosip2/eX_setup.h>

#ifdef __cplusplus
extern "C" {
#endif

#ifdef __cplusplus
}
#endif

#endif /* EXOSIP2_EX_MESSAGE_H */
