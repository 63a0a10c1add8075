# SPDX-License-Identifier: Apache-2.0
# osipparser2/osip_port.h: memory functions and return codes.

cdef extern from "osipparser2/osip_port.h" nogil:
    void *osip_malloc(size_t size)
    void osip_free(void *ptr)
    char *osip_strdup(const char *ch)
    char *osip_strncpy(char *dest, const char *src, size_t length)

    enum:
        OSIP_SUCCESS
        OSIP_UNDEFINED_ERROR
        OSIP_BADPARAMETER
        OSIP_WRONG_STATE
        OSIP_NOMEM
        OSIP_SYNTAXERROR
        OSIP_NOTFOUND
        OSIP_API_NOT_INITIALIZED
        OSIP_NO_NETWORK
        OSIP_PORT_BUSY
        OSIP_UNKNOWN_HOST
        OSIP_TIMEOUT

cdef extern from "osipparser2/osip_port.h" nogil:
    int osip_strcasecmp(const char *s1, const char *s2)
