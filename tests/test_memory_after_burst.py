# SPDX-License-Identifier: Apache-2.0
"""Memory goes back after a burst: the C UAS and the Python UAS (inline and asyncio)
take a burst of calls from SIPp, then idle until the transactions' RFC 3261
retention is over; their RSS must come back near the baseline it had before.

What this guards: the core's allocator trim after the state held shrinks, the
transaction pool handing its surplus pages back, and the asyncio path taking
events from the core only as its consumer does (no unbounded Python queue)."""

import os
import sys
import time

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "benchmarks"))

from asyncio_burst import load  # noqa: E402
from peers.sipp import Program, rss_kib  # noqa: E402

BURST_CALLS = 6000
BURST_RATE = 600
# UDP transactions are kept 32 s after they end (Timer J, 64*T1); the trim follows
SETTLE_S = 60
# how far above its baseline a UAS may stay once the burst is over: a leak of 700 bytes
# per call, or a queue or pool that keeps what the burst made it hold, goes past it
BACK_WITHIN_KIB = 4 * 1024


def start(kind, workdir):
    if kind == "c":
        exe = os.path.join(ROOT, "examples", "c", "uas")
        assert os.access(exe, os.X_OK), "examples/c/uas is not built (make examples)"
        prog = Program(exe, ["-a", "127.0.0.1", "-p", "0", "-t", "udp", "-q"], name="uas-c", workdir=workdir)
    else:
        script = os.path.join(ROOT, "examples", "python", "uas.py")
        prog = Program(sys.executable, [script, "--dispatch", kind, "-a", "127.0.0.1", "-p", "0", "-t", "udp", "-q"],
                       name="uas-py-" + kind, workdir=workdir, env={"PYTHONPATH": ROOT})
    prog.prefix = "uas"
    prog.start(timeout=30)
    return prog


@pytest.mark.timeout(240)
@pytest.mark.parametrize("kind", ["c", "inline", "asyncio"])
def test_rss_returns_near_baseline_after_a_burst(kind, tmp_path):
    prog = start(kind, str(tmp_path / "uas"))
    try:
        # a few calls first, so the baseline includes what the first call allocates once
        load(prog, 50, 50, 50, 30, str(tmp_path / "warm"))
        time.sleep(1.0)
        base = rss_kib(prog.pid)
        during = []
        result, _ = load(prog, BURST_RATE, BURST_CALLS, BURST_RATE, BURST_CALLS // BURST_RATE + 60,
                         str(tmp_path / "uac"), during)
        peak = max([v for _, v in during if v is not None] + [rss_kib(prog.pid)])
        after = []
        t0 = time.monotonic()
        while time.monotonic() - t0 < SETTLE_S:
            time.sleep(1.0)
            after.append(rss_kib(prog.pid))
            if t0 + 34 < time.monotonic() and after[-1] - base <= BACK_WITHIN_KIB:
                break
        assert prog.proc.poll() is None, "the UAS died during the burst: " + prog.describe()
    finally:
        prog.stop(check=False)
    report = "%s: baseline %d KiB, peak %d KiB, after %d KiB (%d s), %d calls ok, %d failed" % (
        kind, base, peak, after[-1], len(after), result.successful, result.failed)
    print(report)
    assert result.successful >= BURST_CALLS * 0.9, report
    assert after[-1] - base <= BACK_WITHIN_KIB, "RSS stayed up after the burst: " + report
