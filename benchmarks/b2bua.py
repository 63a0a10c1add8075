#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""The B2BUA benchmark: examples/python/b2bua.py between two SIPp peers, in both dispatch modes.

``sipp -sn uac`` calls the B2BUA, which bridges every call to ``sipp -sn uas``. For each rate of a
ladder, both dispatch modes (``--dispatch inline`` and ``--dispatch executor``, the default executor
with its per-call order; ``--modes`` adds ``pool``, a plain ThreadPoolExecutor as the default was
before) run one step each, alternating which goes first. A step is clean when
the caller's SIPp exits 0 with every call successful and no retransmission, kept the rate, the
callee's SIPp saw every call, and the B2BUA bridged every call with 0 lost and 0 misordered
relays and no bridge left in memory. Per step: the CPU time the B2BUA process used (utime + stime from /proc) divided by the
calls it bridged, in microseconds, and its resident set size. A mode stops climbing at its first
unclean step; the result is its highest clean rate.

Then a long run (``--long N`` calls, default 100 000, at ``--long-rate`` cps through the default
executor) samples the B2BUA's RSS every second: call references are released with their calls,
so once the heap holds the transactions alive (UDP keeps each one 32 s after it ends) the RSS
stops growing; the report gives it at each quarter of the run and its growth over the last third.

    python3 benchmarks/b2bua.py [--duration 10] [--ladder 200,400,...] [--long 100000]
                                [--long-rate 800] [--json PATH]

This is a benchmark, not a test: it prints a table and writes JSON to benchmarks/results/.
"""

import argparse
import datetime
import os
import platform
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tests"))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from results_io import sipp_elapsed_s, write_report  # noqa: E402
from peers.sipp import PeerError, Program, Sipp, rss_kib  # noqa: E402

B2BUA = os.path.join(ROOT, "examples", "python", "b2bua.py")
RESULTS = os.path.join(ROOT, "benchmarks", "results")
MODES = ("inline", "executor", "pool")
DEFAULT_LADDER = [200, 400, 600, 800, 1000, 1200, 1500]
TICKS = os.sysconf("SC_CLK_TCK")
RSS_SETTLE_S = 32


def cpu_s(pid):
    """utime + stime of *pid* in seconds, or None once it has gone."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / TICKS
    except (OSError, ValueError, IndexError):
        return None


def run_step(mode, rate, calls, args, workdir, sample_rss=False):
    """One load step; returns a dict (see the module docstring for what clean means)."""
    step = {"mode": mode, "rate": rate, "calls": calls}
    server = Sipp("uas", transport="udp", calls=calls, timeout_s=calls // rate + args.grace + 60,
                  workdir=os.path.join(workdir, "callee"), name="callee").start()
    b2b = Program(B2BUA, ["-a", "127.0.0.1", "-p", "0", "-q", "--dispatch", mode,
                          "sip:service@127.0.0.1:%d" % server.port],
                  wrapper=[sys.executable], name="b2bua", workdir=os.path.join(workdir, "b2bua"),
                  env={"PYTHONPATH": ROOT})
    b2b.prefix = "b2bua"
    rss = []
    try:
        b2b.start(timeout=20)
        cpu0 = cpu_s(b2b.pid)
        step["rss_start_kib"] = rss_kib(b2b.pid)
        client = Sipp("uac", "127.0.0.1:%d" % b2b.port, calls=calls, rate=rate,
                      limit=args.limit or max(200, rate), pause_ms=0,
                      timeout_s=calls // rate + args.grace, workdir=os.path.join(workdir, "caller"),
                      name="caller")
        t0 = time.monotonic()
        client.start(wait_bound=False)
        next_sample = t0
        while client.running():
            now = time.monotonic()
            if sample_rss and now >= next_sample:
                value = rss_kib(b2b.pid)
                if value is not None:
                    rss.append((round(now - t0, 1), value))
                next_sample += 1.0
            time.sleep(0.05)
        result = client.wait(timeout=60)
        elapsed = time.monotonic() - t0
        callee = server.wait(timeout=60)
        cpu1 = cpu_s(b2b.pid)
        step["rss_end_kib"] = rss_kib(b2b.pid)
    finally:
        rc = b2b.stop(check=False)
        server.stop()
    stats = b2b.stats() if rc == 0 else {}
    bridged = stats.get("bridged", 0)
    created_at = None
    for sample in result.samples:
        if int(sample.get("TotalCallCreated", 0) or 0) >= calls:
            created_at = sipp_elapsed_s(sample)
            break
    reasons = []
    if result.returncode != 0:
        reasons.append("caller sipp rc %s" % result.returncode)
    if result.successful != calls:
        reasons.append("%d/%d successful" % (result.successful, calls))
    if result.retransmissions:
        reasons.append("%d retransmissions" % result.retransmissions)
    if callee.successful != calls:
        reasons.append("callee saw %d/%d" % (callee.successful, calls))
    if created_at is None or created_at > (calls / rate) * 1.05 + 1.0:
        reasons.append("rate not kept (all calls created after %s s)" % (created_at,))
    if rc != 0:
        reasons.append("b2bua exit %s" % rc)
    elif bridged != calls or stats.get("lost") or stats.get("misordered") or stats.get("alive"):
        reasons.append("b2bua %r" % (stats,))
    step.update({
        "clean": not reasons, "why_unclean": reasons, "successful": result.successful,
        "failed": result.failed, "retransmissions": result.retransmissions,
        "failure_reasons": result.failure_reasons(), "wall_s": round(elapsed, 2),
        "b2bua_stats": stats,
        "cpu_s": round(cpu1 - cpu0, 3) if cpu0 is not None and cpu1 is not None else None,
    })
    step["cpu_us_per_call"] = (round(1e6 * step["cpu_s"] / bridged, 1)
                               if step["cpu_s"] is not None and bridged else None)
    if sample_rss:
        step["rss_kib"] = rss
        settled = [v for t, v in rss if t >= RSS_SETTLE_S]
        if len(settled) >= 3:
            step.update({"rss_at_32s_kib": settled[0], "rss_max_after_32s_kib": max(settled)})
        if len(rss) >= 9:
            # RSS at each quarter of the run, and its growth over the last third: with nothing
            # kept per call it stops growing once the heap holds the transactions alive (32 s).
            n = len(rss)
            step["rss_quarters_kib"] = [rss[min(n - 1, (n * q) // 4)][1] for q in range(5)]
            last = [v for _, v in rss[(2 * n) // 3:]]
            growth = max(last) - last[0]
            step.update({"rss_growth_last_third_kib": growth,
                         "calls_in_last_third": calls - (2 * calls) // 3,
                         "rss_flat_last_third": growth < 2048 or growth < 0.02 * last[0]})
    return step


def safe_step(mode, rate, calls, args, workdir, sample_rss=False):
    try:
        return run_step(mode, rate, calls, args, workdir, sample_rss)
    except PeerError as exc:
        return {"mode": mode, "rate": rate, "calls": calls, "clean": False, "why_unclean": [str(exc)[:500]]}


def print_table(report):
    print()
    header = "%-9s %6s %-8s %7s %7s %8s %10s %9s" % ("mode", "cps", "result", "ok", "retrans", "cpu s",
                                                    "us/call", "rss KiB")
    print(header)
    print("-" * len(header))
    for s in report["steps"]:
        print("%-9s %6d %-8s %7s %7s %8s %10s %9s" % (
            s["mode"], s["rate"], "clean" if s["clean"] else "UNCLEAN", s.get("successful", "-"),
            s.get("retransmissions", "-"), s.get("cpu_s", "-"), s.get("cpu_us_per_call", "-"),
            s.get("rss_end_kib", "-")))
    print()
    for mode, best in report["highest_clean_cps"].items():
        print("%-9s highest clean rate: %s cps, CPU per bridged call at that rate: %s us"
              % (mode, best, report["cpu_us_per_call_at_best"].get(mode)))
    long = report.get("long_run")
    if long:
        print("long run: %d calls at %d cps (%s): %s, %s us/call; RSS KiB at 0/25/50/75/100 %%: %s; "
              "growth over the last third (%s calls): %s KiB, flat: %s" % (
                  long["calls"], long["rate"], long["mode"], "clean" if long["clean"] else "UNCLEAN",
                  long.get("cpu_us_per_call"), long.get("rss_quarters_kib"), long.get("calls_in_last_third"),
                  long.get("rss_growth_last_third_kib"), long.get("rss_flat_last_third")))


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--duration", type=int, default=10, help="seconds of load per step (default 10)")
    ap.add_argument("--ladder", default=",".join(map(str, DEFAULT_LADDER)))
    ap.add_argument("--limit", type=int, default=0, help="SIPp -l (default max(200, rate))")
    ap.add_argument("--grace", type=int, default=30)
    ap.add_argument("--pause", type=float, default=2.0, help="seconds between steps")
    ap.add_argument("--long", type=int, default=100000, help="calls of the long run (0: none)")
    ap.add_argument("--long-rate", type=int, default=800)
    ap.add_argument("--modes", default="inline,executor",
                    help="comma-separated dispatch modes of b2bua.py: inline, executor (the default "
                         "executor), pool (a plain ThreadPoolExecutor: the default before it kept order)")
    ap.add_argument("--json")
    args = ap.parse_args(argv)
    ladder = [int(r) for r in args.ladder.split(",") if r.strip()]
    modes = [m.strip() for m in args.modes.split(",") if m.strip()]
    if not modes or set(modes) - set(MODES):
        ap.error("--modes: choose among %s" % ", ".join(MODES))
    stamp = datetime.datetime.now(datetime.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    report = {
        "benchmark": "b2bua", "started_utc": stamp, "duration_s": args.duration, "ladder": ladder,
        "transport": "udp",
        "host": {"machine": platform.machine(), "cpus": os.cpu_count(), "kernel": platform.release(),
                 "python": platform.python_version()},
        "clean_means": "caller sipp exit 0, every call successful, 0 retransmissions, rate kept; callee "
                       "saw every call; b2bua bridged every call, 0 lost, 0 misordered",
        "steps": [],
    }
    best = {m: None for m in modes}
    cpu_at_best = {}
    climbing = list(modes)
    print("b2bua: udp, %d s per step, ladder %s" % (args.duration, ladder))
    with tempfile.TemporaryDirectory(prefix="b2bua-bench-") as workdir:
        for i, rate in enumerate(ladder):
            order = climbing if i % 2 == 0 else list(reversed(climbing))
            for mode in order:
                print("  %-9s %5d cps … " % (mode, rate), end="", flush=True)
                step = safe_step(mode, rate, rate * args.duration, args,
                                 os.path.join(workdir, "%s-%d" % (mode, rate)))
                report["steps"].append(step)
                print("clean, %s us/call" % step.get("cpu_us_per_call") if step["clean"]
                      else "unclean: " + "; ".join(step["why_unclean"]), flush=True)
                if step["clean"]:
                    best[mode] = rate
                    cpu_at_best[mode] = step.get("cpu_us_per_call")
                else:
                    climbing.remove(mode)
                time.sleep(args.pause)
            if not climbing:
                break
        report["highest_clean_cps"] = best
        report["cpu_us_per_call_at_best"] = cpu_at_best
        if args.long:
            print("  long run: %d calls at %d cps through the default executor …" % (args.long, args.long_rate),
                  flush=True)
            report["long_run"] = safe_step("executor", args.long_rate, args.long, args,
                                           os.path.join(workdir, "long"), sample_rss=True)
    print_table(report)
    path = args.json or os.path.join(RESULTS, "b2bua-%s.json" % stamp)
    write_report(report, path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
