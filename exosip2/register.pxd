# SPDX-License-Identifier: Apache-2.0

from exosip2.message cimport ExosipMessage


cdef class InitialRegister(ExosipMessage):
    # The registration id returned by the build call, and the lifetime asked for.
    cdef int _rid
    cdef int _expires
    cdef readonly object from_
    cdef object _proxy, _contact, _qvalue


cdef class Register(ExosipMessage):
    cdef int _rid
    cdef int _expires
