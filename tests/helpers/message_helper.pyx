# SPDX-License-Identifier: Apache-2.0
# cython: language_level=3
"""Cython-level access to OsipMessage's ownership plumbing, for the tests.

Built by tests/test_message.py at run time; not part of the package.
"""

from exosip2.message cimport OsipMessage
from exosip2.includes.osip_parser cimport osip_message_t, osip_message_free


def borrow(OsipMessage owner):
    """A wrapper borrowing owner's native message and keeping owner alive (as an Event would)."""
    return OsipMessage.from_ptr(owner._ptr, False, owner)


def hand_over(OsipMessage msg):
    """Take the native message out of msg as a send call does, then free it as the core would."""
    cdef osip_message_t *p = msg._steal()
    osip_message_free(p)


def owner_of(OsipMessage msg):
    """The object that keeps a borrowed message alive."""
    return msg._owner
