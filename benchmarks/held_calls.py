#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Memory a peer can make examples/c/uas hold with calls it never ends.

SIPp places CALLS calls at RATE and keeps each confirmed call (no BYE) for longer than the run;
the UAS's RSS is read before the first call, once every call is confirmed, and again after SETTLE
seconds (UDP transactions live 32 s after they end, so what is left then is the calls themselves).
Divided by the calls, that is what one held call costs; the core's bounds (MAX_CALLS, a 503
beyond; CALL_IDLE_TIMEOUT, a BYE after that much silence) cap the total.

    python3 benchmarks/held_calls.py [--calls 4000] [--rate 400] [--settle 35] [--uas PATH] [--json PATH]

A benchmark, not a test: it prints one line and writes JSON to benchmarks/results/.
"""

import argparse
import datetime
import os
import platform
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tests"))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from results_io import write_report  # noqa: E402
from peers.sipp import Program, Sipp, rss_kib  # noqa: E402

RESULTS = os.path.join(ROOT, "benchmarks", "results")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--calls", type=int, default=4000)
    ap.add_argument("--rate", type=int, default=400)
    ap.add_argument("--settle", type=int, default=35, help="seconds after the last call (default 35)")
    ap.add_argument("--uas", default=os.path.join(ROOT, "examples", "c", "uas"))
    ap.add_argument("--json", help="default benchmarks/results/held_calls-<time>.json")
    args = ap.parse_args()

    uas = Program(args.uas, ["-a", "127.0.0.1", "-p", "0", "-t", "udp", "-q"], name="uas")
    uas.start(timeout=20)
    hold_ms = (args.calls // args.rate + args.settle + 60) * 1000
    client = Sipp("uac", "127.0.0.1:%d" % uas.port, calls=args.calls, rate=args.rate, limit=args.calls,
                  pause_ms=hold_ms, timeout_s=hold_ms // 1000 + 30, stat_freq_s=1)
    try:
        time.sleep(1.0)
        base = rss_kib(uas.pid)
        client.start(wait_bound=False)
        t0 = time.monotonic()
        confirmed_at = None
        while time.monotonic() - t0 < args.calls / args.rate + 60:
            rows = [r for r in _rows(client) if r]
            if rows and int(rows[-1].get("TotalCallCreated", 0) or 0) >= args.calls and \
                    int(rows[-1].get("CurrentCall", 0) or 0) >= args.calls:
                confirmed_at = time.monotonic() - t0
                break
            time.sleep(0.5)
        time.sleep(2.0)  # the last ACKs
        held = rss_kib(uas.pid)
        time.sleep(args.settle)
        settled = rss_kib(uas.pid)
    finally:
        client.stop(grace=2.0)
        uas.stop(check=False)
    report = {
        "benchmark": "held_calls", "date": datetime.datetime.now(datetime.timezone.utc).isoformat(),
        "host": platform.node(), "cpus": os.cpu_count(), "load": os.getloadavg(),
        "calls": args.calls, "rate": args.rate, "confirmed_after_s": confirmed_at,
        "rss_before_kib": base, "rss_held_kib": held, "rss_settled_kib": settled,
        "kib_per_call_held": round((held - base) / args.calls, 2),
        "kib_per_call_settled": round((settled - base) / args.calls, 2),
    }
    print("%d calls held: RSS %d -> %d KiB (%.2f KiB/call), after %d s %d KiB (%.2f KiB/call); load %.1f"
          % (args.calls, base, held, report["kib_per_call_held"], args.settle, settled,
             report["kib_per_call_settled"], report["load"][0]))
    stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
    write_report(report, args.json or os.path.join(RESULTS, "held_calls-%s.json" % stamp))


def _rows(client):
    from peers.sipp import read_stat_rows
    try:
        return read_stat_rows(client.stat_path)
    except OSError:
        return []


if __name__ == "__main__":
    main()
