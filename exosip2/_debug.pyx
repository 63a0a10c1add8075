# SPDX-License-Identifier: Apache-2.0
"""Counters of live native wrappers, for finding leaks in tests.

Built in only when the package is compiled with ``EXOSIP2_COUNT_LIVE=1``
(``make build`` and ``make test`` do); otherwise :func:`enabled` is False and
every count stays 0.
"""

cdef Py_ssize_t _live[<int>LIVE_KINDS]

_NAMES = {
    LIVE_MESSAGE: "OsipMessage",
    LIVE_SDP: "SdpMessage",
    LIVE_CONTEXT: "Context",
    LIVE_EVENT: "Event",
}


cdef void live_add(int kind, int delta) noexcept nogil:
    # Wrappers are created and freed with the GIL held, so plain adds are safe.
    _live[kind] += delta


def enabled():
    """True when this build counts live native wrappers."""
    return bool(COUNT_LIVE)


def live_objects():
    """Return ``{class name: number of live instances}`` for every counted class."""
    return {name: _live[<int>kind] for kind, name in _NAMES.items()}
