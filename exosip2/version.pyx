# SPDX-License-Identifier: Apache-2.0
"""Versions of the package and of the C libraries it is linked with."""

from exosip2.includes.eX_setup cimport eXosip_get_version

cdef extern from *:
    """
    #ifndef EXOSIP2_OSIP_VERSION
    #define EXOSIP2_OSIP_VERSION "unknown"
    #endif
    """
    const char *EXOSIP2_OSIP_VERSION
    const bint EXOSIP2_SYSTEM_LIBRARY

__version__ = "0.1.0"


def get_library_version():
    """Return the eXosip2 API version of the linked C library, e.g. ``"5.3.0"``."""
    return (<bytes>eXosip_get_version()).decode("ascii")


def get_osip_version():
    """Return the version of the oSIP2 library the package was built against."""
    return (<bytes>EXOSIP2_OSIP_VERSION).decode("ascii")


def get_library_kind():
    """Return ``"core"`` for the bundled eXosip2 API core, ``"system"`` for an installed libeXosip2."""
    return "system" if EXOSIP2_SYSTEM_LIBRARY else "core"
