# SPDX-License-Identifier: Apache-2.0

from exosip2.includes.sdp_message cimport sdp_message_t, sdp_media_t


cdef class SdpMessage:
    # The native SDP body. Owned when _owned is true; otherwise borrowed from _owner.
    cdef sdp_message_t *_ptr
    cdef bint _owned
    cdef object _owner
    # Number of threads serialising the body with the GIL released; mutators refuse while > 0.
    cdef int _busy
    # Media wrappers handed out, by native address (a WeakValueDictionary, made on first use),
    # so that removing a media invalidates every wrapper of it.
    cdef object _media_wrappers
    cdef object __weakref__

    @staticmethod
    cdef SdpMessage from_ptr(sdp_message_t *ptr, bint owned, object owner)

    cdef sdp_message_t *_get(self) except NULL
    # _get() for a change: also refuses while another thread serialises the body.
    cdef sdp_message_t *_mut(self) except NULL
    cdef SdpMedia _wrap_media(self, sdp_media_t *media)


cdef class SdpMedia:
    # One m= section, borrowed from _sdp (a strong reference keeps the message alive).
    # _ptr becomes NULL when the message removes this media.
    cdef SdpMessage _sdp
    cdef sdp_media_t *_ptr
    cdef object __weakref__

    cdef sdp_media_t *_get(self) except NULL
    cdef sdp_media_t *_mut(self) except NULL
    # (payload type as str, the rest of the first "a=<field>:<payload> ..." line or None).
    cdef tuple _payload_attribute(self, bytes field, object payload)
