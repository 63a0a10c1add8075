# SPDX-License-Identifier: Apache-2.0
"""exosip2: the eXosip2 SIP user-agent API for Python, compiled with Cython.

The modules keep the names of the ctypes binding ``exosip2ctypes``
(``call``, ``context``, ``error``, ``event``, ``message``, ``register``,
``sdp``, ``utils``, ``version``) so that its users port by changing the import.
"""

from exosip2.options import Option as Option  # exosip2.Option, re-exported
from exosip2.version import __version__

__all__ = ["__version__", "initialize"]

_initialized = False


def initialize(path=None):
    """Check that the linked eXosip2 library is usable; idempotent.

    Kept for code written for ``exosip2ctypes``, which had to load the shared
    library at run time. Here the library is linked when the package is
    built, so *path* is accepted and ignored (it must be ``None`` or a str).

    :raises RuntimeError: when the linked library does not answer.
    """
    global _initialized
    if path is not None and not isinstance(path, (str, bytes)):
        raise TypeError("path must be a str or None, not %s" % type(path).__name__)
    if _initialized:
        return
    from exosip2 import message  # noqa: F401  (sets up oSIP2's parser once)
    from exosip2.version import get_library_version

    if not get_library_version():
        raise RuntimeError("the linked eXosip2 library reports no version")
    _initialized = True
