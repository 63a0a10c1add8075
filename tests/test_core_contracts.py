# SPDX-License-Identifier: Apache-2.0
"""eXosip2 5.3's idioms run on core/: tests/core/idioms_53.c, a program written as 5.3's tools are.

It frees the context itself after eXosip_quit (``eXosip_quit(ctx); osip_free(ctx);``, which
aborted with a double free while core/'s eXosip_quit freed the struct), treats a non-zero
eXosip_call_send_request as failure, answers non-INVITE requests of a call with a built answer,
and checks the event sequence of an incoming BYE, the 100 Trying of EXOSIP_CALL_INVITE and the
tid of EXOSIP_CALL_CANCELLED. Run over UDP and TCP, and once under valgrind.
"""

import subprocess

import pytest

from test_core_register import VALGRIND, _compile, _valgrind


@pytest.fixture(scope="module")
def idioms_53(tmp_path_factory):
    return _compile(tmp_path_factory, "idioms_53")


@pytest.mark.parametrize("transport", ["udp", "tcp"])
def test_53_program_runs_clean(idioms_53, transport):
    res = subprocess.run([idioms_53, transport], capture_output=True, text=True, timeout=60)
    assert res.returncode == 0, res.stdout + res.stderr
    assert res.stdout.strip() == "idioms_53: all checks passed" and res.stderr == ""


def test_53_program_under_valgrind(idioms_53):
    res = subprocess.run([_valgrind()] + VALGRIND + [idioms_53, "udp"], capture_output=True, text=True,
                         timeout=240)
    assert res.returncode == 0, res.stdout + res.stderr
    assert "idioms_53: all checks passed" in res.stdout
    assert "Invalid free" not in res.stderr and "definitely lost" not in res.stderr, res.stderr
