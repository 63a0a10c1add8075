# SPDX-License-Identifier: Apache-2.0
"""tests/core/call_extras.c: eXosip_set_socket, eXosip_execute, the SDP getters by tid, the previous
local SDP, the audio/video connections, eXosip_call_terminate_with_header, eXosip_reset_transports
and the random generators, through the public C API only; once plainly and once under valgrind."""

import subprocess

import pytest

from test_core_register import VALGRIND, _compile, _valgrind


@pytest.fixture(scope="module")
def call_extras(tmp_path_factory):
    return _compile(tmp_path_factory, "call_extras")


def test_call_extras(call_extras):
    res = subprocess.run([call_extras], capture_output=True, text=True, timeout=60)
    assert res.returncode == 0, res.stdout + res.stderr
    assert "all checks passed" in res.stdout


def test_call_extras_under_valgrind(call_extras):
    res = subprocess.run([_valgrind()] + VALGRIND + [call_extras], capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stdout + res.stderr[-6000:]
    assert "all checks passed" in res.stdout
