# SPDX-License-Identifier: Apache-2.0
"""exosip2: the eXosip2 SIP user-agent API for Python, compiled with Cython.

The modules keep the names of the ctypes binding ``exosip2ctypes``
(``call``, ``context``, ``error``, ``event``, ``message``, ``register``,
``sdp``, ``utils``, ``version``) so that its users port by changing the import.

The package re-exports the same names as ``exosip2ctypes``' package:
:func:`initialize`, :data:`DLL_NAME`, :class:`~exosip2.context.Context`,
:class:`~exosip2.context.ContextLock`, :class:`~exosip2.event.Event`,
:class:`~exosip2.event.EventType` and the version functions (and :class:`~exosip2.options.Option`), so that
``from exosip2 import Context, EventType`` works as it did there. The names
from ``context``, ``event`` and ``options`` are loaded on first use, which keeps
``import exosip2`` as cheap as importing the version module alone.
"""

from exosip2.version import __version__, get_library_kind, get_library_version, get_osip_version

#: The shared library name ``exosip2ctypes`` loaded at run time. Accepted for
#: compatibility and unused: here the library is linked when the package is built.
DLL_NAME = "eXosip2"

__all__ = [
    "DLL_NAME",
    "Context",
    "ContextLock",
    "Event",
    "EventType",
    "Option",
    "__version__",
    "get_library_kind",
    "get_library_version",
    "get_osip_version",
    "initialize",
]

# Names loaded from their module on first attribute access (PEP 562).
_LAZY = {
    "Context": "exosip2.context",
    "ContextLock": "exosip2.context",
    "Event": "exosip2.event",
    "EventType": "exosip2.event",
    "Option": "exosip2.options",
}

_initialized = False


def __getattr__(name):
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError("module 'exosip2' has no attribute %r" % (name,))
    import importlib

    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # later lookups skip this function
    return value


def __dir__():
    return sorted(set(globals()) | set(_LAZY))


def initialize(path=None):
    """Check that the linked eXosip2 library is usable; idempotent.

    Kept for code written for ``exosip2ctypes``, which had to load the shared
    library at run time. Here the library is linked when the package is
    built, so *path* is accepted and ignored (it must be ``None`` or a str).

    :raises TypeError: when *path* is neither ``None``, a str nor bytes.
    :raises RuntimeError: when the linked library does not answer.
    """
    global _initialized
    if path is not None and not isinstance(path, (str, bytes)):
        raise TypeError("path must be a str or None, not %s" % type(path).__name__)
    if _initialized:
        return
    from exosip2 import message  # noqa: F401  (sets up oSIP2's parser once)

    if not get_library_version():
        raise RuntimeError("the linked eXosip2 library reports no version")
    _initialized = True
