# SPDX-License-Identifier: Apache-2.0
# osipparser2/osip_parser.h and osip_message.h: SIP messages and their headers.

from exosip2.includes.osip_list cimport osip_list_t
from exosip2.includes.osip_uri cimport osip_uri_t
from exosip2.includes.osip_headers cimport (
    osip_call_id_t, osip_content_length_t, osip_content_type_t, osip_cseq_t,
    osip_from_t, osip_mime_version_t, osip_to_t,
)

cdef extern from "osipparser2/osip_parser.h" nogil:
    ctypedef struct osip_message_t:
        char *sip_version
        osip_uri_t *req_uri
        char *sip_method
        int status_code
        char *reason_phrase
        osip_list_t accepts
        osip_list_t accept_encodings
        osip_list_t accept_languages
        osip_list_t alert_infos
        osip_list_t allows
        osip_list_t authentication_infos
        osip_list_t authorizations
        osip_call_id_t *call_id
        osip_list_t call_infos
        osip_list_t contacts
        osip_list_t content_encodings
        osip_content_length_t *content_length
        osip_content_type_t *content_type
        osip_cseq_t *cseq
        osip_list_t error_infos
        osip_from_t *from_ "from"
        osip_mime_version_t *mime_version
        osip_list_t proxy_authenticates
        osip_list_t proxy_authentication_infos
        osip_list_t proxy_authorizations
        osip_list_t record_routes
        osip_list_t routes
        osip_to_t *to
        osip_list_t vias
        osip_list_t www_authenticates
        osip_list_t headers
        osip_list_t bodies

    int parser_init()
    int osip_message_init(osip_message_t **sip)
    void osip_message_free(osip_message_t *sip)
    int osip_message_parse(osip_message_t *sip, const char *buf, size_t length)
    int osip_message_to_str(osip_message_t *sip, char **dest, size_t *message_length)
    int osip_message_clone(const osip_message_t *sip, osip_message_t **dest)
    int osip_message_force_update(osip_message_t *sip)
    # The standard reason phrase of a status code ("" when oSIP2 knows none).
    const char *osip_message_get_reason(int status_code)

    # Parse one header line's value as the message parser does: split at the
    # commas of comma-separated headers, dispatch known names to their setter,
    # keep the others as unknown headers. Lowercases hname in place.
    int osip_message_set_multiple_header(osip_message_t *sip, char *hname, char *hvalue)
    # Append an unknown header (hname and hvalue are copied).
    int osip_message_set_header(osip_message_t *sip, const char *hname, const char *hvalue)
    int osip_message_replace_header(osip_message_t *sip, const char *hname, const char *hvalue)
    # Append a body (copied), or a MIME part with its own headers.
    int osip_message_set_body(osip_message_t *sip, const char *buf, size_t length)
