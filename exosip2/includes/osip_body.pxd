# SPDX-License-Identifier: Apache-2.0
# osipparser2/osip_body.h: message bodies (one per MIME part), with the two
# osip_parser.h accessor macros that reach them.

from exosip2.includes.osip_parser cimport osip_message_t
from exosip2.includes.osip_headers cimport osip_content_type_t

cdef extern from "osipparser2/osip_body.h" nogil:
    ctypedef struct osip_body_t:
        char *body
        size_t length
        osip_content_type_t *content_type

    void osip_body_free(osip_body_t *body)
    int osip_body_to_str(const osip_body_t *body, char **dest, size_t *length)

cdef extern from "osipparser2/osip_parser.h" nogil:
    # Macros in the header: the n-th body (negative when there is none) and the Content-Type header.
    int osip_message_get_body(const osip_message_t *sip, int pos, osip_body_t **dest)
    osip_content_type_t *osip_message_get_content_type(const osip_message_t *sip)
