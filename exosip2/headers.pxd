# SPDX-License-Identifier: Apache-2.0

from exosip2.includes.osip_headers cimport osip_from_t
from exosip2.includes.osip_uri cimport osip_uri_t


cdef class Uri:
    cdef readonly str scheme
    cdef readonly str user
    cdef readonly str password
    cdef readonly str host
    cdef readonly object port
    cdef readonly tuple params
    cdef readonly tuple headers
    cdef readonly str opaque
    # The text oSIP2 writes for it, made on first use.
    cdef str _text
    cdef str _build_text(self)
    cdef tuple _key(self)


cdef class NameAddr:
    cdef readonly str display_name
    cdef readonly Uri uri
    cdef readonly str tag
    cdef readonly tuple params
    cdef str _text
    cdef str _build_text(self)
    cdef tuple _key(self)


# Values of a parsed header (where names it in errors: "the From header", ...); raise
# OsipSyntaxError for a structure that is not a valid one (port out of range, no host, ...).
cdef Uri uri_from_c(osip_uri_t *u, str where)
cdef NameAddr name_addr_from_c(osip_from_t *f, str where)
# New oSIP2 structures holding the value's parts (the caller frees them).
cdef osip_uri_t *uri_to_c(Uri uri) except NULL
cdef osip_from_t *name_addr_to_c(NameAddr na) except NULL
