# SPDX-License-Identifier: Apache-2.0
# osipparser2/osip_body.h: message bodies (one per MIME part).

cdef extern from "osipparser2/osip_body.h" nogil:
    ctypedef struct osip_body_t:
        char *body
        size_t length

    void osip_body_free(osip_body_t *body)
    int osip_body_to_str(const osip_body_t *body, char **dest, size_t *length)
