# SPDX-License-Identifier: Apache-2.0
"""The Python examples against SIPp on 127.0.0.1: examples/python/uas.py answers ``sipp -sn uac``
(UDP and TCP, 200 calls, each dispatch mode), examples/python/uac.py calls ``sipp -sn uas``."""

import os
import sys

import pytest

from peers.sipp_fixtures import program_factory, sipp_factory  # noqa: F401

pytestmark = pytest.mark.peers

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
EXAMPLES = os.path.join(ROOT, "examples", "python")
CALLS = 200
ENV = {"PYTHONPATH": ROOT}


def python_program(program_factory, name, args):  # noqa: F811
    prog = program_factory(os.path.join(EXAMPLES, name + ".py"), args, wrapper=[sys.executable], name=name,
                           env=ENV)
    prog.prefix = name
    return prog


@pytest.mark.parametrize("dispatch", ["inline", "executor", "asyncio"])
@pytest.mark.parametrize("transport", ["udp", "tcp"])
def test_python_uas_answers_sipp_uac(transport, dispatch, program_factory, sipp_factory):  # noqa: F811
    uas = python_program(program_factory, "uas", ["-a", "127.0.0.1", "-p", "0", "-t", transport, "-q",
                                                  "-n", str(CALLS), "--dispatch", dispatch])
    uas.start(timeout=20)
    assert uas.transport == transport
    client = sipp_factory("uac", "127.0.0.1:%d" % uas.port, transport=transport, calls=CALLS, rate=100,
                          limit=100, pause_ms=0, timeout_s=60)
    client.start(wait_bound=False).wait().assert_clean(CALLS)
    assert uas.wait(timeout=30) == 0, uas.describe()
    assert uas.stats() == {"calls": CALLS, "answered": CALLS, "closed": CALLS}, uas.describe()
    assert "Traceback" not in uas.stderr, uas.describe()


@pytest.mark.parametrize("dispatch", ["inline", "executor", "asyncio"])
@pytest.mark.parametrize("transport", ["udp", "tcp"])
def test_python_uas_stops_on_sigterm(transport, dispatch, program_factory, sipp_factory):  # noqa: F811
    uas = python_program(program_factory, "uas", ["-a", "127.0.0.1", "-p", "0", "-t", transport,
                                                  "--dispatch", dispatch])
    uas.start(timeout=20)
    client = sipp_factory("uac", "127.0.0.1:%d" % uas.port, transport=transport, calls=5, rate=10,
                          limit=10, pause_ms=0, timeout_s=30)
    client.start(wait_bound=False).wait().assert_clean(5)
    assert uas.stop() == 0, uas.describe()
    stats = uas.stats()
    assert stats["calls"] == 5 and stats["answered"] == 5, uas.describe()
    assert "call_invite" not in uas.stderr and "uas: event 2 " in uas.stderr


@pytest.mark.parametrize("transport", ["udp", "tcp"])
def test_python_uac_calls_sipp_uas(transport, program_factory, sipp_factory):  # noqa: F811
    server = sipp_factory("uas", transport=transport, calls=CALLS, timeout_s=90).start()
    uac = python_program(program_factory, "uac", [
        "-a", "127.0.0.1", "-p", "0", "-t", transport, "-n", str(CALLS), "-r", "100", "-l", "100",
        "-T", "30", "sip:service@127.0.0.1:%d" % server.port])
    uac.start(wait_listening=False)
    assert uac.wait(timeout=60) == 0, uac.describe()
    assert uac.stats() == {"calls": CALLS, "ok": CALLS, "failed": 0}, uac.describe()
    if transport == "udp":
        server.wait(timeout=40).assert_clean(CALLS)
    else:
        # as for examples/c/uac: SIPp's lingering TCP calls fail with FailedTcpClosed when uac leaves
        result = server.stop()
        assert result.stat("IncomingCall") == CALLS, result.describe()
        reasons = result.failure_reasons()
        reasons.pop("FailedCall", None)
        assert set(reasons) <= {"FailedTcpClosed"}, result.describe()
