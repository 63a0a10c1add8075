/* SPDX-License-Identifier: Apache-2.0 */
/* eXosip2 5.3 compatible API: subscription states (used by eXosip_call_build_notify). */
#ifndef EXOSIP2_EX_SUBSCRIBE_H
#define EXOSIP2_EX_SUBSCRIBE_H

#include <eXosip2/eX_setup.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Values of the Subscription-State header, as numbered by eXosip2 5.3. */
#define EXOSIP_SUBCRSTATE_UNKNOWN 0
#define EXOSIP_SUBCRSTATE_PENDING 1
#define EXOSIP_SUBCRSTATE_ACTIVE 2
#define EXOSIP_SUBCRSTATE_TERMINATED 3

#ifdef __cplusplus
}
#endif

#endif /* EXOSIP2_EX_SUBSCRIBE_H */
