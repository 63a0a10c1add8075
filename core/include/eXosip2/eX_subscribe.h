/* SPDX-License-Identifier: Apache-2.0 */
/* eXosip2 5.3 compatible API: subscription states (used by eXosip_call_build_notify). */
#ifndef EXOSIP2_EX_SUBSCRIBE_H
#define EXOSIP2_EX_SUBSCRIBE_H

#include <eXosip2/eX_setup.h>

#ifdef __cplusplus
extern "C" {
#endif

/* States of a subscription (the Subscription-State header), numbered as in eXosip2 5.3. */
enum eXosip_ss {
  EXOSIP_SUBCRSTATE_UNKNOWN,    /* 0 */
  EXOSIP_SUBCRSTATE_PENDING,    /* 1 */
  EXOSIP_SUBCRSTATE_ACTIVE,     /* 2 */
  EXOSIP_SUBCRSTATE_TERMINATED  /* 3 */
};

#ifdef __cplusplus
}
#endif

#endif /* EXOSIP2_EX_SUBSCRIBE_H */
