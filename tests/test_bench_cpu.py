# SPDX-License-Identifier: Apache-2.0
"""benchmarks/cpu_per_call.py, run once at a tiny scale so that it keeps working.

The figures of a run this short mean nothing (two seconds, a loaded machine); what is checked is that
the script drives every UAS, every UAC and every registration client, reads the measured program's CPU
from /proc, writes a JSON report with the fields the full runs are read from, and fails loudly when a
run is not clean.
"""

import json
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SCRIPT = os.path.join(ROOT, "benchmarks", "cpu_per_call.py")
UAS = os.path.join(ROOT, "examples", "c", "uas")
UAC = os.path.join(ROOT, "examples", "c", "uac")
REGISTER = os.path.join(ROOT, "examples", "c", "register")


def run_bench(tmp_path, *extra):
    out = tmp_path / "cpu.json"
    proc = subprocess.run([sys.executable, SCRIPT, "--json", str(out), "--pause", "0.2", *extra],
                          capture_output=True, text=True, timeout=240)
    return proc, (json.loads(out.read_text()) if out.exists() else None)


def test_cpu_per_call_tiny_run_is_clean_and_complete(tmp_path):
    assert os.access(UAS, os.X_OK), "examples/c/uas is not built (make examples)"
    targets = ["uas-c", "uas-py-inline", "sipp-uas"]
    proc, report = run_bench(tmp_path, "--duration", "2", "--rates", "50", "--runs", "1",
                             "--targets", ",".join(targets))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert report["benchmark"] == "cpu_per_call"
    assert [r["target"] for r in report["runs"]] == targets
    for run in report["runs"]:
        assert run["clean"], run
        assert run["successful"] == run["calls"] == 100
        assert run["failed"] == 0 and run["retransmissions"] == 0
        assert run["cpu_s"] > 0 and run["us_per_call"] > 0
        assert run["peak_rss_kib"] > 1000
    rows = {r["target"]: r for r in report["summary"]}
    assert rows["sipp-uas"]["ratio_to_sipp"] == 1.0
    assert rows["uas-c"]["ratio_to_c"] == 1.0
    assert rows["uas-py-inline"]["ratio_to_c"] > 0
    assert "median" in proc.stdout and "uas-py-inline" in proc.stdout


def test_cpu_per_call_fails_loudly_on_an_unclean_run(tmp_path):
    # a "UAS" that exits at once: the run has no clean figure, is reported as such, and the script exits 1
    proc, report = run_bench(tmp_path, "--duration", "1", "--rates", "5", "--runs", "1", "--grace", "2",
                             "--targets", "uas-c", "--uas", "/bin/false")
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert len(report["runs"]) == 1 and not report["runs"][0]["clean"]
    assert report["runs"][0]["us_per_call"] is None
    assert report["summary"][0]["median_us"] is None and report["summary"][0]["clean_runs"] == 0
    assert "UNCLEAN" in proc.stdout and "FAILED: 1 unclean run" in proc.stderr


def assert_client_runs_clean(report, role, targets, calls):
    """Every run of a client role: clean on both sides, CPU read, one summary row per target."""
    assert report["roles"] == [role]
    assert [r["target"] for r in report["runs"]] == targets
    for run in report["runs"]:
        assert run["role"] == role
        assert run["clean"], run
        assert run["successful"] == run["calls"] == calls
        assert run["failed"] == 0 and run["retransmissions"] == 0
        # the server's side: exactly the requests sent, nothing failed, retransmitted or unexpected
        assert run["server_created"] == calls and run["server_failed"] == 0
        assert run["server_retransmissions"] == run["server_retransmissions_sent"] == 0
        assert run["server_unexpected"] == 0 and run["server_timeouts"] == 0
        assert run["cpu_s"] > 0 and run["us_per_call"] > 0
        assert run["peak_rss_kib"] > 1000
    rows = {r["target"]: r for r in report["summary"]}
    assert sorted(rows) == sorted(targets)
    for row in rows.values():
        assert row["role"] == role and row["clean_runs"] == row["runs"] == 1
        assert row["median_us"] == row["min_us"] == row["max_us"] > 0
    return rows


def test_cpu_per_call_uac_tiny_run_is_clean_and_complete(tmp_path):
    assert os.access(UAC, os.X_OK), "examples/c/uac is not built (make examples)"
    targets = ["uac-c", "uac-py", "sipp-uac"]
    proc, report = run_bench(tmp_path, "--role", "uac", "--duration", "2", "--rates", "50", "--runs", "1")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    rows = assert_client_runs_clean(report, "uac", targets, 100)
    assert rows["sipp-uac"]["ratio_to_sipp"] == 1.0
    assert rows["uac-c"]["ratio_to_c"] == 1.0
    assert rows["uac-py"]["ratio_to_c"] > 0 and rows["uac-py"]["ratio_to_sipp"] > 0
    programs = [r for r in report["runs"] if r["target"] != "sipp-uac"]
    assert [r["client_stats"] for r in programs] == [{"calls": 100, "ok": 100, "failed": 0}] * 2
    assert all(r["client_rc"] == 0 for r in report["runs"])
    assert "uac-py" in proc.stdout and "sipp-uac" in proc.stdout


def test_cpu_per_call_register_tiny_run_is_clean_and_complete(tmp_path):
    assert os.access(REGISTER, os.X_OK), "examples/c/register is not built (make examples)"
    targets = ["register-c", "sipp-register"]
    proc, report = run_bench(tmp_path, "--role", "register", "--duration", "2", "--rates", "50", "--runs", "1")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    rows = assert_client_runs_clean(report, "register", targets, 100)
    for run in report["runs"]:
        # the registrar ends every call with its 200: every REGISTER was one complete call there
        assert run["server_successful"] == 100
        # 100 registrations asked at 50/s: they took about 2 s
        assert 40 <= run["achieved_per_s"] <= 60, run
    assert rows["sipp-register"]["ratio_to_sipp"] == 1.0 and rows["register-c"]["ratio_to_c"] == 1.0
    assert 40 <= rows["register-c"]["achieved_per_s"] <= 60
    assert report["runs"][0]["client_stats"]["registrations"] == 100


def test_cpu_per_call_client_role_fails_loudly_when_the_server_sees_nothing(tmp_path):
    # a register that sends its REGISTERs to a port nobody answers on (its last argument, the address
    # of record, is replaced): the client fails them, the registrar counts no call, the script exits 1
    wrapper = tmp_path / "register-elsewhere"
    wrapper.write_text("#!%s\nimport os, sys\n"
                       "os.execv(%r, [%r] + sys.argv[1:-1] + ['-x', '2', 'sip:bench@127.0.0.1:9'])\n"
                       % (sys.executable, REGISTER, REGISTER))
    wrapper.chmod(0o755)
    proc, report = run_bench(tmp_path, "--role", "register", "--targets", "register-c", "--register",
                             str(wrapper), "--duration", "1", "--rates", "5", "--runs", "1", "--grace", "2")
    assert proc.returncode == 1, proc.stdout + proc.stderr
    (run,) = report["runs"]
    assert not run["clean"] and run["us_per_call"] is None
    assert run["server_created"] == 0
    assert "server saw 0 calls, not 5" in run["why_unclean"]
    assert "0/5 successful" in run["why_unclean"] and "client exit 1" in run["why_unclean"]
    assert report["summary"][0]["median_us"] is None and report["summary"][0]["clean_runs"] == 0
    assert "UNCLEAN" in proc.stdout and "FAILED: 1 unclean run" in proc.stderr
