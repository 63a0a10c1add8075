# SPDX-License-Identifier: Apache-2.0
"""Shared fixtures and checks for the test suite."""

import gc

import pytest

from exosip2 import _debug


@pytest.fixture
def no_leaks():
    """Fail the test if it leaves live native wrappers behind."""
    assert _debug.enabled(), "build with EXOSIP2_COUNT_LIVE=1 (make build) to count live objects"
    gc.collect()
    before = _debug.live_objects()
    yield
    gc.collect()
    after = _debug.live_objects()
    assert after == before, "live native objects changed: %r -> %r" % (before, after)


# The longest tests (builds, network fuzzing, load runs) are handed out first, so that under
# pytest-xdist they overlap with the many short ones instead of running last, one after another.
_SLOW_FIRST = ("test_network_fuzz.py", "test_wheels.py", "test_wheel.py", "test_b2bua.py", "test_fuzz.py",
               "test_sipvicious.py", "test_core_sipp.py", "test_hostile_transport.py", "test_docs.py")


def pytest_collection_modifyitems(session, config, items):
    def rank(item):
        name = item.nodeid.split("::", 1)[0].rsplit("/", 1)[-1]
        return _SLOW_FIRST.index(name) if name in _SLOW_FIRST else len(_SLOW_FIRST)

    items.sort(key=rank)  # stable: the order within each file is kept
