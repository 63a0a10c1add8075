# SPDX-License-Identifier: Apache-2.0
# osipparser2/headers/*.h: the header types oSIP2 parses into structures.
# Only the fields and functions the binding uses are declared; several oSIP2
# header types are typedefs of one another (To, Contact, Route and Record-Route
# are From; Allow, Content-Encoding and MIME-Version are Content-Length; ...).

from exosip2.includes.osip_list cimport osip_list_t
from exosip2.includes.osip_uri cimport osip_uri_t

cdef extern from "osipparser2/osip_headers.h" nogil:
    # osip_header.h: any header oSIP2 does not parse ("unknown" headers)
    ctypedef struct osip_header_t:
        char *hname
        char *hvalue
    void osip_header_free(osip_header_t *header)

    # osip_from.h, osip_to.h, osip_contact.h, osip_route.h, osip_record_route.h
    ctypedef struct osip_from_t:
        char *displayname       # as written: a quoted string with its quotes, or tokens
        osip_uri_t *url
        osip_list_t gen_params  # osip_generic_param_t: tag and the other header parameters
    int osip_from_init(osip_from_t **header)
    int osip_from_parse(osip_from_t *header, const char *hvalue)
    ctypedef osip_from_t osip_to_t
    ctypedef osip_from_t osip_contact_t
    ctypedef osip_from_t osip_route_t
    ctypedef osip_from_t osip_record_route_t
    void osip_from_free(osip_from_t *header)
    int osip_from_to_str(const osip_from_t *header, char **dest)
    void osip_to_free(osip_to_t *header)
    int osip_to_to_str(const osip_to_t *header, char **dest)
    void osip_contact_free(osip_contact_t *header)
    int osip_contact_to_str(const osip_contact_t *header, char **dest)
    void osip_route_free(osip_route_t *header)
    int osip_route_to_str(const osip_route_t *header, char **dest)
    void osip_record_route_free(osip_record_route_t *header)
    int osip_record_route_to_str(const osip_record_route_t *header, char **dest)

    # osip_via.h
    ctypedef struct osip_via_t:
        char *host
    void osip_via_free(osip_via_t *header)
    int osip_via_to_str(const osip_via_t *header, char **dest)

    # osip_call_id.h
    ctypedef struct osip_call_id_t:
        char *number
        char *host
    void osip_call_id_free(osip_call_id_t *header)
    int osip_call_id_to_str(const osip_call_id_t *header, char **dest)

    # osip_cseq.h
    ctypedef struct osip_cseq_t:
        char *method
        char *number
    void osip_cseq_free(osip_cseq_t *header)
    int osip_cseq_to_str(const osip_cseq_t *header, char **dest)

    # osip_content_type.h, osip_accept.h
    ctypedef struct osip_content_type_t:
        char *type
        char *subtype
    ctypedef osip_content_type_t osip_accept_t
    void osip_content_type_free(osip_content_type_t *header)
    int osip_content_type_to_str(const osip_content_type_t *header, char **dest)
    void osip_accept_free(osip_accept_t *header)
    int osip_accept_to_str(const osip_accept_t *header, char **dest)

    # osip_content_length.h, osip_allow.h, osip_content_encoding.h, osip_mime_version.h
    ctypedef struct osip_content_length_t:
        char *value
    ctypedef osip_content_length_t osip_allow_t
    ctypedef osip_content_length_t osip_content_encoding_t
    ctypedef osip_content_length_t osip_mime_version_t
    void osip_content_length_free(osip_content_length_t *header)
    int osip_content_length_to_str(const osip_content_length_t *header, char **dest)

    # osip_accept_encoding.h, osip_accept_language.h
    ctypedef struct osip_accept_encoding_t:
        char *element
    ctypedef osip_accept_encoding_t osip_accept_language_t
    void osip_accept_encoding_free(osip_accept_encoding_t *header)
    int osip_accept_encoding_to_str(const osip_accept_encoding_t *header, char **dest)

    # osip_call_info.h, osip_alert_info.h, osip_error_info.h
    ctypedef struct osip_call_info_t:
        char *element
    ctypedef osip_call_info_t osip_alert_info_t
    ctypedef osip_call_info_t osip_error_info_t
    void osip_call_info_free(osip_call_info_t *header)
    int osip_call_info_to_str(const osip_call_info_t *header, char **dest)

    # osip_authorization.h, osip_proxy_authorization.h
    ctypedef struct osip_authorization_t:
        char *auth_type
    ctypedef osip_authorization_t osip_proxy_authorization_t
    void osip_authorization_free(osip_authorization_t *header)
    int osip_authorization_to_str(const osip_authorization_t *header, char **dest)

    # osip_www_authenticate.h, osip_proxy_authenticate.h
    ctypedef struct osip_www_authenticate_t:
        char *auth_type
    ctypedef osip_www_authenticate_t osip_proxy_authenticate_t
    void osip_www_authenticate_free(osip_www_authenticate_t *header)
    int osip_www_authenticate_to_str(const osip_www_authenticate_t *header, char **dest)

    # osip_authentication_info.h, osip_proxy_authentication_info.h
    ctypedef struct osip_authentication_info_t:
        char *auth_type
    ctypedef osip_authentication_info_t osip_proxy_authentication_info_t
    void osip_authentication_info_free(osip_authentication_info_t *header)
    int osip_authentication_info_to_str(const osip_authentication_info_t *header, char **dest)
