/* SPDX-License-Identifier: Apache-2.0 */
/* eXosip2 5.3 compatible API: PUBLISH. */
#ifndef EXOSIP2_EX_PUBLISH_H
#define EXOSIP2_EX_PUBLISH_H

#include <eXosip2/eX_setup.h>

#ifdef __cplusplus
extern "C" {
#endif

/* A PUBLISH with Event, Expires (text, as in eXosip2) and, when given, a body of type ctype. */
int eXosip_build_publish(struct eXosip_t *excontext, osip_message_t **message, const char *to, const char *from,
                         const char *route, const char *event, const char *expires, const char *ctype,
                         const char *body);
/* Send a PUBLISH for the address of record `to` (always taken). The SIP-ETag of the latest 2xx for
 * that AoR is sent as SIP-If-Match; a 412 forgets it (the next PUBLISH starts a new publication).
 * Returns the tid (> 0) or a negative code. */
int eXosip_publish(struct eXosip_t *excontext, osip_message_t *message, const char *to);

#ifdef __cplusplus
}
#endif

#endif /* EXOSIP2_EX_PUBLISH_H */
