# SPDX-License-Identifier: Apache-2.0

# Raise the OsipError subclass matching a negative oSIP2/eXosip2 return code;
# return rc unchanged otherwise. func names the C function, for the message.
cdef int check(int rc, const char *func) except -1
