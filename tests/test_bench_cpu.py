# SPDX-License-Identifier: Apache-2.0
"""benchmarks/cpu_per_call.py, run once at a tiny scale so that it keeps working.

The figures of a run this short mean nothing (two seconds, a loaded machine); what is checked is that
the script drives every UAS, reads its CPU from /proc, writes a JSON report with the fields the
full runs are read from, and fails loudly when a run is not clean.
"""

import json
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SCRIPT = os.path.join(ROOT, "benchmarks", "cpu_per_call.py")
UAS = os.path.join(ROOT, "examples", "c", "uas")


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
