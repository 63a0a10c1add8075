# SPDX-License-Identifier: Apache-2.0
# eXosip2/eX_setup.h: contexts, configuration and version.

cdef extern from "eXosip2/eXosip.h" nogil:
    struct eXosip_t

    const char *eXosip_get_version()
