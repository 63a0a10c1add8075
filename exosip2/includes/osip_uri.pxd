# SPDX-License-Identifier: Apache-2.0
# osipparser2/osip_uri.h: SIP URIs (the request URI and the URIs inside headers).

from exosip2.includes.osip_list cimport osip_list_t

cdef extern from "osipparser2/osip_uri.h" nogil:
    # One ";name=value" of a URI, one "name=value" of its "?headers" (value NULL when absent);
    # oSIP2 keeps them unescaped and escapes them again when it serialises the URI.
    ctypedef struct osip_uri_param_t:
        char *gname
        char *gvalue
    ctypedef osip_uri_param_t osip_uri_header_t
    ctypedef osip_uri_param_t osip_generic_param_t
    # Appends to the list; takes name and value (osip_malloc'ed; value may be NULL).
    int osip_uri_param_add(osip_list_t *url_params, char *name, char *value)

    ctypedef struct osip_uri_t:
        char *scheme
        char *username
        char *password
        char *host
        char *port
        osip_list_t url_params
        osip_list_t url_headers
        char *string

    int osip_uri_init(osip_uri_t **url)
    void osip_uri_free(osip_uri_t *url)
    int osip_uri_parse(osip_uri_t *url, const char *buf)
    int osip_uri_to_str(const osip_uri_t *url, char **dest)
