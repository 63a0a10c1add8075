# SPDX-License-Identifier: Apache-2.0
# osipparser2/osip_parser.h, osip_message.h and headers/*.h: SIP messages and their headers.

cdef extern from "osipparser2/osip_parser.h" nogil:
    ctypedef struct osip_message_t

    int parser_init()
    int osip_message_init(osip_message_t **sip)
    void osip_message_free(osip_message_t *sip)
    int osip_message_parse(osip_message_t *sip, const char *buf, size_t length)
    int osip_message_to_str(osip_message_t *sip, char **dest, size_t *message_length)
    int osip_message_clone(const osip_message_t *sip, osip_message_t **dest)
