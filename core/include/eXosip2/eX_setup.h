/* SPDX-License-Identifier: Apache-2.0 */
/* eXosip2 5.3 compatible API: context set-up, configuration and version. */
#ifndef EXOSIP2_EX_SETUP_H
#define EXOSIP2_EX_SETUP_H

#ifdef __cplusplus
extern "C" {
#endif

/* An eXosip context: opaque; every API call takes one. */
struct eXosip_t;

/* The eXosip2 API version this library implements, as "MAJOR.MINOR.PATCH". */
const char *eXosip_get_version(void);

#ifdef __cplusplus
}
#endif

#endif /* EXOSIP2_EX_SETUP_H */
