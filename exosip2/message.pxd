# SPDX-License-Identifier: Apache-2.0

from exosip2.includes.osip_parser cimport osip_message_t


cdef class OsipMessage:
    # The native message. Owned (freed in __dealloc__) when _owned is true;
    # otherwise borrowed from _owner, which keeps it alive (e.g. an Event).
    cdef osip_message_t *_ptr
    cdef bint _owned
    cdef object _owner
    # Set once the message was handed to the C core (sent); further use raises.
    cdef bint _consumed

    @staticmethod
    cdef OsipMessage from_ptr(osip_message_t *ptr, bint owned, object owner)

    # Return the native pointer, raising if the message was handed over or freed.
    cdef osip_message_t *_get(self) except NULL
    # Give up ownership before a C call that takes the message; returns the pointer.
    cdef osip_message_t *_steal(self) except NULL
    # Make this (pointer-less) wrapper hold ptr; counts it as live.
    cdef int _attach(self, osip_message_t *ptr, bint owned, object owner) except -1
    # Serialise with osip_message_to_str (GIL held: oSIP2 caches the text in the message).
    cdef bytes _serialise(self)


cdef class ExosipMessage(OsipMessage):
    # A message built by the SIP stack for one context (which it keeps alive);
    # subclasses (exosip2.call, exosip2.request) know how to send it.
    cdef object _context

    # Take the message a build call made (owned), or free it and raise the build call's error.
    cdef int _adopt(self, object context, int rc, osip_message_t *m, const char *func) except -1


# A str (UTF-8, surrogateescape) or bytes argument as bytes; None only when optional.
cdef bytes text_arg(object value, str what, bint optional=*)


# The C string of b, or NULL for None.
cdef inline const char *c_str(bytes b):
    if b is None:
        return NULL
    return <const char *>b
