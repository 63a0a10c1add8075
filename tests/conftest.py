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
