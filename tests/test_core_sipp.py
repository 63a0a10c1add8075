# SPDX-License-Identifier: Apache-2.0
"""core/ through the C example programs, against SIPp on 127.0.0.1.

* examples/c/uas answers 200 calls from ``sipp -sn uac`` (UDP and TCP);
* examples/c/uac places 200 calls to ``sipp -sn uas`` (UDP and TCP);
* every scenario of tests/scenarios runs against uas (tests/test_sipp_scenarios.py checks the same
  scenarios against SIPp models of uas, so a failure here is about core/ or uas);
* uas under valgrind memcheck and as an AddressSanitizer build, through 200 calls each.
"""

import os
import re
import sys
import time

import pytest

from peers import sipp_cases
from peers.sipp_fixtures import (c_examples, program_factory, scenario, sipp_factory,  # noqa: F401
                                 uas_asan, valgrind)

pytestmark = pytest.mark.peers

CALLS = 200
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def start_uas(program_factory, path, transport, args=(), ready_timeout=10, **options):  # noqa: F811
    """Start uas on a free port (-p 0) and wait (bounded) for its listening line."""
    uas = program_factory(path, ["-a", "127.0.0.1", "-p", "0", "-t", transport, "-q"] + list(args), **options)
    uas.start(timeout=ready_timeout)
    assert uas.transport == transport, uas.describe()
    return uas


def assert_stats(prog, expected):
    stats = prog.stats()
    for key, value in expected.items():
        assert stats.get(key) == value, "%s: expected %s=%s, final line says %r\n%s" % (
            prog.name, key, value, stats, prog.describe())


def run_load_against_uas(uas, sipp_factory, transport, rate, timeout_s=60):  # noqa: F811
    """``sipp -sn uac`` places CALLS calls to *uas* at *rate*; SIPp must succeed on every one."""
    client = sipp_factory("uac", "127.0.0.1:%d" % uas.port, transport=transport, calls=CALLS, rate=rate,
                          limit=100, pause_ms=0, timeout_s=timeout_s)
    result = client.start(wait_bound=False).wait()
    result.assert_clean(CALLS)
    return result


@pytest.mark.parametrize("transport", ["udp", "tcp"])
def test_uas_answers_sipp_uac(transport, c_examples, program_factory, sipp_factory):  # noqa: F811
    uas = start_uas(program_factory, c_examples["uas"], transport, ["-n", str(CALLS)])
    result = run_load_against_uas(uas, sipp_factory, transport, rate=100)
    assert result.successful == CALLS
    # with -n, uas exits by itself once CALLS calls are closed
    assert uas.wait(timeout=30) == 0, uas.describe()
    assert_stats(uas, {"calls": CALLS, "answered": CALLS, "closed": CALLS})


@pytest.mark.parametrize("transport", ["udp", "tcp"])
def test_uac_calls_sipp_uas(transport, c_examples, program_factory, sipp_factory):  # noqa: F811
    server = sipp_factory("uas", transport=transport, calls=CALLS, timeout_s=90).start()
    uac = program_factory(c_examples["uac"], [
        "-a", "127.0.0.1", "-p", "0", "-t", transport, "-n", str(CALLS), "-r", "100", "-l", "100",
        "-T", "30", "sip:service@127.0.0.1:%d" % server.port])
    uac.start(wait_listening=False)
    assert uac.wait(timeout=60) == 0, uac.describe()
    assert_stats(uac, {"calls": CALLS, "ok": CALLS, "failed": 0})
    if transport == "udp":
        # SIPp's built-in uas keeps each call ~4 s after the BYE, then exits by itself after -m calls
        result = server.wait(timeout=40)
        result.assert_clean(CALLS)
    else:
        # over TCP, uac's exit closes the connection while SIPp still lingers on the last calls:
        # SIPp then fails those with FailedTcpClosed, which says nothing about uac. Everything else
        # must be clean: all calls arrived, no other failure, no unexpected message.
        result = server.stop()
        assert result.stat("IncomingCall") == CALLS, result.describe()
        reasons = result.failure_reasons()
        reasons.pop("FailedCall", None)
        assert set(reasons) <= {"FailedTcpClosed"}, result.describe()
        assert not [e for e in result.errors if "nexpected" in e], result.describe()


@pytest.mark.parametrize("case, transport", sipp_cases.params())
def test_scenario_against_uas(case, transport, c_examples, program_factory, sipp_factory):  # noqa: F811
    uas = start_uas(program_factory, c_examples["uas"], transport, case.uas_args)
    client = sipp_factory(scenario(case.scenario), "127.0.0.1:%d" % uas.port, transport=transport,
                          calls=case.calls, rate=case.rate, timeout_s=30, keys=case.keys,
                          trace_counts=True, trace_messages=True)
    result = client.start(wait_bound=False).wait()
    result.assert_clean(case.calls)
    if case.check:
        case.check(result)
    assert uas.stop() == 0
    assert_stats(uas, case.uas_stats)


VALGRIND_OPTIONS = ["--leak-check=full", "--error-exitcode=1", "--errors-for-leak-kinds=definite",
                    "--show-leak-kinds=definite", "--num-callers=30", "--track-fds=no"]


def test_uas_valgrind_memcheck(valgrind, c_examples, program_factory, sipp_factory, tmp_path):  # noqa: F811
    log = tmp_path / "valgrind.log"
    uas = start_uas(program_factory, c_examples["uas"], "udp", ["-n", str(CALLS)], ready_timeout=60,
                    wrapper=[valgrind] + VALGRIND_OPTIONS + ["--log-file=%s" % log], name="uas-valgrind")
    # a slow rate: memcheck runs the program some 20-50 times slower
    run_load_against_uas(uas, sipp_factory, "udp", rate=20, timeout_s=90)
    rc = uas.wait(timeout=120)
    report = log.read_text(errors="replace")
    assert rc == 0, "valgrind/uas exit %s\n%s\n%s" % (rc, report[-8000:], uas.describe())
    assert re.search(r"ERROR SUMMARY: 0 errors", report), report[-8000:]
    lost = re.search(r"definitely lost: ([\d,]+) bytes", report)
    assert lost is None or lost.group(1) == "0", report[-8000:]
    assert_stats(uas, {"calls": CALLS, "answered": CALLS, "closed": CALLS})


def test_uas_address_sanitizer(uas_asan, program_factory, sipp_factory):  # noqa: F811
    env = {"ASAN_OPTIONS": "detect_leaks=1:halt_on_error=1:abort_on_error=0:exitcode=86",
           "LSAN_OPTIONS": "exitcode=87"}
    uas = start_uas(program_factory, uas_asan, "udp", ["-n", str(CALLS)], ready_timeout=30, env=env)
    run_load_against_uas(uas, sipp_factory, "udp", rate=100)
    rc = uas.wait(timeout=60)
    assert "Sanitizer" not in uas.stderr, uas.describe()
    assert rc == 0, uas.describe()
    assert_stats(uas, {"calls": CALLS, "answered": CALLS, "closed": CALLS})


def uac_program(lang, c_examples, program_factory, args):  # noqa: F811
    """examples/c/uac or examples/python/uac.py with *args*, not started."""
    if lang == "c":
        return program_factory(c_examples["uac"], args)
    uac = program_factory(os.path.join(ROOT, "examples", "python", "uac.py"), args, wrapper=[sys.executable],
                          name="uac-py", env={"PYTHONPATH": ROOT})
    uac.prefix = "uac"
    return uac


@pytest.mark.parametrize("lang", ["c", "python"])
def test_uac_says_where_it_listens_and_waits_before_its_first_call(lang, c_examples, program_factory,  # noqa: F811
                                                                   sipp_factory):  # noqa: F811
    # what benchmarks/cpu_per_call.py --role uac relies on: the listening line comes first, then
    # -s START_DELAY_MS of quiet (its start-up CPU is read then), then the calls from that port
    server = sipp_factory("uas", transport="udp", calls=3, timeout_s=60, trace_messages=True).start()
    args = ["-a", "127.0.0.1", "-p", "0", "-n", "3", "-r", "100", "-d", "0", "-s", "800", "-T", "20",
            "sip:service@127.0.0.1:%d" % server.port]
    uac = uac_program(lang, c_examples, program_factory, args)
    uac.start(timeout=15)
    listening = time.monotonic()
    assert uac.transport == "udp" and uac.port > 0, uac.describe()
    assert uac.wait(timeout=30) == 0, uac.describe()
    assert time.monotonic() - listening >= 0.75, uac.describe()  # three calls alone take a few ms
    assert_stats(uac, {"calls": 3, "ok": 3, "failed": 0})
    result = server.wait(timeout=30)
    invites = [m for _, d, m in result.messages if d == "received" and m.startswith("INVITE ")]
    assert len(invites) == 3, result.describe()
    assert all(re.search(r"(?im)^via: SIP/2\.0/UDP 127\.0\.0\.1:%d[;\s]" % uac.port, m) for m in invites), invites


@pytest.mark.parametrize("lang", ["c", "python"])
def test_uac_refuses_a_negative_start_delay(lang, c_examples, program_factory):  # noqa: F811
    args = ["-s", "-1", "sip:service@127.0.0.1:9"]
    uac = uac_program(lang, c_examples, program_factory, args)
    uac.start(wait_listening=False)
    assert uac.wait(timeout=15) == 2, uac.describe()
    assert "listening" not in uac.stdout, uac.describe()
