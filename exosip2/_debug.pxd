# SPDX-License-Identifier: Apache-2.0
# Live-object counters, compiled in when the build sets EXOSIP2_COUNT_LIVE=1.

cdef extern from *:
    """
    #ifndef EXOSIP2_COUNT_LIVE
    #define EXOSIP2_COUNT_LIVE 0
    #endif
    """
    const bint COUNT_LIVE "EXOSIP2_COUNT_LIVE"

cpdef enum LiveKind:
    LIVE_MESSAGE = 0
    LIVE_SDP = 1
    LIVE_CONTEXT = 2
    LIVE_EVENT = 3
    LIVE_KINDS = 8

# Add delta to the count of live objects of one kind (call only when COUNT_LIVE).
cdef void live_add(int kind, int delta) noexcept nogil
