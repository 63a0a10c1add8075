# SPDX-License-Identifier: Apache-2.0
"""The SIPp scenarios of tests/scenarios and the SIPp harness, checked against SIPp models of the UAS.

tests/test_core_sipp.py runs each client scenario against examples/c/uas. Here the same scenario runs
against SIPp playing uas's part (its built-in ``uas`` or a ``uas_*.xml`` model), so a failure there
points at core/ and not at the scenario. Only the program on the other side differs.
"""

import pytest

from peers import sipp_cases
from peers.sipp import EXIT_ALL_OK, free_port, rss_kib
from peers.sipp_fixtures import program_factory, scenario, sipp_factory  # noqa: F401  (fixtures)

pytestmark = pytest.mark.peers


@pytest.mark.parametrize("case, transport", sipp_cases.params())
def test_scenario_against_sipp_model(case, transport, sipp_factory):  # noqa: F811
    model = scenario(case.model)
    server = sipp_factory(model, transport=transport, timeout_s=30, keys=case.keys,
                          extra=case.model_extra).start()
    client = sipp_factory(scenario(case.scenario), "127.0.0.1:%d" % server.port, transport=transport,
                          calls=case.calls, rate=case.rate, timeout_s=30, keys=case.keys,
                          trace_counts=True, trace_messages=True)
    result = client.start(wait_bound=False).wait()
    result.assert_clean(case.calls)
    if case.check:
        case.check(result)
    # The model runs until stopped (a SIPp that exits by itself would close the TCP connection
    # under the client's feet); SIGTERM makes it write its final statistics and exit 0.
    model_result = server.stop()
    assert model_result.returncode == EXIT_ALL_OK, model_result.describe()
    assert model_result.failed == 0, model_result.describe()
    assert model_result.stat("IncomingCall") == case.calls, model_result.describe()
    assert not model_result.errors, model_result.describe()


@pytest.mark.parametrize("transport", ["udp", "tcp"])
def test_builtin_uac_against_builtin_uas(transport, sipp_factory):  # noqa: F811
    """The load pair the benchmark and test_core_sipp use: statistics are read back exactly."""
    server = sipp_factory("uas", transport=transport, calls=50, timeout_s=30).start()
    assert rss_kib(server.pid) > 0
    result = sipp_factory("uac", "127.0.0.1:%d" % server.port, transport=transport, calls=50, rate=200,
                          limit=50, pause_ms=0, timeout_s=30).start(wait_bound=False).wait()
    result.assert_clean(50)
    assert result.retransmissions == 0, result.describe()
    assert result.created == 50
    if transport == "udp":
        # over UDP the built-in UAS lingers ~4 s after each call, then exits by itself after -m calls
        model_result = server.wait(timeout=30)
        model_result.assert_clean(50)
    else:
        server.stop()


def test_free_ports_are_distinct_and_free():
    ports = {free_port() for _ in range(20)}
    assert len(ports) == 20
    assert all(1024 <= p <= 65535 for p in ports)


def test_program_helper_reads_listening_and_stats_lines(program_factory, tmp_path):  # noqa: F811
    """Program: the listening line is found with a deadline, SIGTERM stops it, the stats line parses.
    A tiny stand-in (Python) prints the same two lines as examples/c/uas."""
    import sys

    stand_in = tmp_path / "uas-standin.py"
    stand_in.write_text(
        "import signal, socket, sys\n"
        "s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(('127.0.0.1', 0))\n"
        "print('uas: listening on udp 127.0.0.1:%d' % s.getsockname()[1], flush=True)\n"
        "signal.signal(signal.SIGTERM, lambda *a: (print('uas: calls=0 answered=0 closed=0'), sys.exit(0)))\n"
        "signal.pause()\n")
    prog = program_factory(sys.executable, [str(stand_in)], name="uas")
    prog.prefix = "uas"
    prog.start(timeout=10)
    assert prog.transport == "udp" and prog.port > 0
    assert prog.stop() == 0
    assert prog.stats() == {"calls": 0, "answered": 0, "closed": 0}


def test_cps_benchmark_runs_against_sipp_uas(tmp_path):
    """benchmarks/cps.py end to end, briefly, on the ceiling target only: it climbs, measures, writes
    JSON (the long run is not a test)."""
    import json
    import os
    import subprocess
    import sys

    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    out = tmp_path / "cps.json"
    proc = subprocess.run([sys.executable, os.path.join(root, "benchmarks", "cps.py"), "--duration", "2",
                           "--ladder", "50,100", "--targets", "sipp-uas", "--pause", "0", "--json", str(out)],
                          stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout
    report = json.loads(out.read_text())
    (target,) = report["targets"]
    assert target["target"] == "sipp-uas"
    assert target["highest_clean_cps"] == 100, proc.stdout
    for step, rate in zip(target["steps"], (50, 100)):
        assert step["rate"] == rate and step["clean"], step
        assert step["successful"] == rate * 2 and step["failed"] == 0 and step["retransmissions"] == 0
        assert step["rss_kib"] and all(kib > 0 for _, kib in step["rss_kib"])
    assert "highest clean rate: 100 cps" in proc.stdout
