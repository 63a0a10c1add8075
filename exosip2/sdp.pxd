# SPDX-License-Identifier: Apache-2.0

from exosip2.includes.sdp_message cimport sdp_message_t


cdef class SdpMessage:
    # The native SDP body. Owned when _owned is true; otherwise borrowed from _owner.
    cdef sdp_message_t *_ptr
    cdef bint _owned
    cdef object _owner

    @staticmethod
    cdef SdpMessage from_ptr(sdp_message_t *ptr, bint owned, object owner)

    cdef sdp_message_t *_get(self) except NULL
