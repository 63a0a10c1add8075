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
               "test_sipvicious.py", "test_core_sipp.py", "test_hostile_transport.py", "test_docs.py",
               "test_build_prefix.py")


# Whole files about core/ itself (make test-system runs the suite with -m "not core_only" against an
# installed libeXosip2); single tests of that kind carry @pytest.mark.core_only where they are.
CORE_ONLY_FILES = {
    "test_arena.py": "core/'s message arenas and allocator hooks",
    "test_core_api.py": "a C program built against core/",
    "test_hmap.py": "core/'s hash map, built from its source",
    "test_io_leader.py": "a C program built against core/ (its I/O loop on the program's threads)",
    "test_core_contracts.py": "a C program built against core/",
    "test_core_register.py": "C programs built against core/",
    "test_core_sipp.py": "the C examples built against core/",
    "test_core_smoke.py": "the C examples built against core/",
    "test_hostile_client.py": "C programs built against core/, core/'s limits",
    "test_hostile_state.py": "core/'s limits on the state a peer can make it hold",
    "test_hostile_transport.py": "core/'s transports and its pre-parse check",
    "test_fuzz.py": "fuzz harnesses built from core/'s sources",
    "test_network_fuzz.py": "core/'s limits under network fuzzing",
    "test_trace.py": "message capture (eXosip_core_capture, eX_core.h)",
    "test_cli_trace.py": "message capture (eXosip_core_capture, eX_core.h)",
    "test_wheel.py": "wheels bundle core/",
    "test_wheels.py": "wheels bundle core/",
}


def pytest_collection_modifyitems(session, config, items):
    for item in items:
        if item.nodeid.split("::", 1)[0].rsplit("/", 1)[-1] in CORE_ONLY_FILES:
            item.add_marker(pytest.mark.core_only)

    def rank(item):
        name = item.nodeid.split("::", 1)[0].rsplit("/", 1)[-1]
        return _SLOW_FIRST.index(name) if name in _SLOW_FIRST else len(_SLOW_FIRST)

    items.sort(key=rank)  # stable: the order within each file is kept
