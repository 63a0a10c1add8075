#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""CPU per call: microseconds of CPU a UAS spends on one call, measured side by side.

Every UAS of benchmarks/cps.py that is installed here (examples/c/uas on core/, examples/python/uas.py
in its inline, executor and asyncio dispatch modes, and SIPp's own ``-sn uas`` as the anchor) answers
``sipp -sn uac -d 0 -r RATE -m RATE*DURATION``. The runs alternate (A B C A B C …) so that a change in
the machine's load spreads over every UAS instead of landing on one of them. For one run:

    µs CPU per call = (utime + stime of the UAS process, from /proc/PID/stat, read just before SIPp
                       starts and just after it has finished) / completed calls

A fresh UAS process is started for every run. A run counts only when it is clean: SIPp exits 0, every
call completes, no call fails and SIPp saw no retransmission (a retransmission means a UAS answered
late, and the CPU of a late answer is not the cost of a call). Peak RSS is the UAS's VmHWM. An unclean
run is reported, left out of the figures, and makes the script exit 1.

    python3 benchmarks/cpu_per_call.py [--duration 30] [--rates 500,2000] [--runs 3]
                                       [--targets uas-c,uas-py-inline,...] [--json PATH]

It prints a table (median, min, max µs per call; ratios to SIPp's UAS and to the C UAS of the same
session) and writes JSON to benchmarks/results/.
"""

import argparse
import datetime
import os
import platform
import shlex
import statistics
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import cps  # noqa: E402  (puts tests/ on sys.path too)
from results_io import sipp_unclean, write_report  # noqa: E402
from peers.sipp import PeerError, Sipp  # noqa: E402

DEFAULT_TARGETS = ["uas-c", "uas-py-inline", "uas-py-executor", "uas-py-asyncio", "sipp-uas"]
CLK_TCK = os.sysconf("SC_CLK_TCK")


def cpu_ticks(pid):
    """utime + stime of *pid* (every thread of it) in clock ticks, or None once it has gone."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            text = f.read()
    except OSError:
        return None
    # the command name (field 2) may hold spaces: the fields after it start after the last ')'
    fields = text[text.rindex(")") + 2:].split()
    return int(fields[11]) + int(fields[12])  # fields 14 and 15 of proc(5)


def peak_rss_kib(pid):
    """VmHWM (peak resident set) of *pid* in KiB, or None."""
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        return None
    return None


def run_one(target, rate, args, workdir):
    """One fresh *target*, loaded at *rate* for args.duration seconds: a dict describing the run."""
    calls = rate * args.duration
    run = {"target": target.name, "rate": rate, "duration_s": args.duration, "calls": calls}
    handle = target.start("udp", os.path.join(workdir, "target"))
    try:
        time.sleep(args.settle)  # let a Python UAS finish importing and its threads go idle
        client = Sipp("uac", "127.0.0.1:%d" % handle.port, transport="udp", calls=calls, rate=rate,
                      limit=max(200, rate), pause_ms=0, timeout_s=args.duration + args.grace,
                      stat_freq_s=1, workdir=os.path.join(workdir, "sipp-uac"))
        before = cpu_ticks(handle.pid)
        t0 = time.monotonic()
        client.start(wait_bound=False)
        result = client.wait(timeout=args.duration + args.grace + 30)
        wall = time.monotonic() - t0
        after = cpu_ticks(handle.pid)
        peak = peak_rss_kib(handle.pid)
    finally:
        target_rc, target_stats, target_err = handle.stop()
    reasons = sipp_unclean(result, calls)
    if before is None or after is None:
        reasons.append("the UAS process was gone before its CPU time could be read")
    if target.exit_status_matters and target_rc not in (0, None):
        reasons.append("target exit %s" % target_rc)
    cpu_s = (after - before) / CLK_TCK if before is not None and after is not None else None
    run.update({
        "successful": result.successful,
        "failed": result.failed,
        "failure_reasons": result.failure_reasons(),
        "retransmissions": result.retransmissions,
        "sipp_rc": result.returncode,
        "wall_s": round(wall, 2),
        "cpu_s": cpu_s,
        "us_per_call": (round(cpu_s * 1e6 / result.successful, 1)
                        if cpu_s is not None and result.successful else None),
        "peak_rss_kib": peak,
        "clean": not reasons,
        "why_unclean": reasons,
        "target_rc": target_rc,
        "target_stats": target_stats,
    })
    if reasons and target_err.strip():
        run["target_stderr_tail"] = target_err
    return run


def summarise(runs, targets, rates):
    """Per target and rate: median/min/max µs per call over the clean runs, and the ratios."""
    rows = []
    for rate in rates:
        medians = {}
        for name in targets:
            mine = [r for r in runs if r["target"] == name and r["rate"] == rate]
            clean = [r["us_per_call"] for r in mine if r["clean"] and r["us_per_call"] is not None]
            row = {"target": name, "rate": rate, "runs": len(mine), "clean_runs": len(clean),
                   "median_us": round(statistics.median(clean), 1) if clean else None,
                   "min_us": min(clean) if clean else None, "max_us": max(clean) if clean else None,
                   "failed": sum(r.get("failed") or 0 for r in mine),
                   "retransmissions": sum(r.get("retransmissions") or 0 for r in mine),
                   "peak_rss_kib": max((r.get("peak_rss_kib") or 0 for r in mine), default=None)}
            medians[name] = row["median_us"]
            rows.append(row)
        for row in rows:
            if row["rate"] != rate:
                continue
            for ref, key in (("sipp-uas", "ratio_to_sipp"), ("uas-c", "ratio_to_c")):
                base = medians.get(ref)
                row[key] = round(row["median_us"] / base, 2) if row["median_us"] and base else None
    return rows


def print_table(rows):
    print()
    header = "%-16s %5s %6s %8s %8s %8s %7s %7s %7s %9s %7s" % (
        "UAS", "cps", "clean", "median", "min", "max", "/sipp", "/C", "failed", "retrans", "peakMiB")
    print(header.rstrip())
    print("-" * len(header.rstrip()))
    fmt = lambda v, f="%.1f": "-" if v is None else f % v  # noqa: E731
    for r in rows:
        print("%-16s %5d %3d/%-2d %8s %8s %8s %7s %7s %7d %9d %7s" % (
            r["target"], r["rate"], r["clean_runs"], r["runs"], fmt(r["median_us"]), fmt(r["min_us"]),
            fmt(r["max_us"]), fmt(r["ratio_to_sipp"], "%.2f"), fmt(r["ratio_to_c"], "%.2f"), r["failed"],
            r["retransmissions"], fmt(r["peak_rss_kib"] and r["peak_rss_kib"] / 1024.0)))
    print("(µs of UAS CPU per completed call: utime+stime from /proc over the run / calls)")


def parse_args(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--duration", type=int, default=30, help="seconds of load per run (default 30)")
    ap.add_argument("--rates", default="500,2000", help="comma-separated call rates (default %(default)s)")
    ap.add_argument("--runs", type=int, default=3, help="runs of every UAS at every rate (default 3)")
    ap.add_argument("--targets", default=",".join(DEFAULT_TARGETS),
                    help="comma-separated, measured in this order: %s" % ", ".join(cps.TARGETS))
    ap.add_argument("--grace", type=int, default=20, help="extra seconds SIPp gets after DURATION")
    ap.add_argument("--settle", type=float, default=0.5, help="seconds between a UAS's start and the load")
    ap.add_argument("--pause", type=float, default=1.0, help="seconds between runs")
    ap.add_argument("--uas", default=os.path.join(cps.ROOT, "examples", "c", "uas"), help="examples/c/uas")
    ap.add_argument("--add-target", action="append", default=[], metavar="NAME=COMMAND",
                    help="another UAS: a command that takes -a/-p/-t/-q like examples/c/uas and prints "
                         "'NAME: listening on …' (repeatable; then list NAME in --targets), e.g. "
                         "'uas-old=env LD_LIBRARY_PATH=/tmp/old examples/c/uas' to compare two builds of core/")
    ap.add_argument("--json", help="where to write the JSON (default benchmarks/results/cpu-<time>.json)")
    args = ap.parse_args(argv)
    args.rates = [int(r) for r in args.rates.split(",") if r.strip()]
    args.targets = [t.strip() for t in args.targets.split(",") if t.strip()]
    for spec in args.add_target:
        name, sep, command = spec.partition("=")
        if not sep or not name or not command.strip():
            ap.error("--add-target wants NAME=COMMAND, not %r" % spec)
        cps.TARGETS[name] = lambda _args, name=name, argv=shlex.split(command): cps.ProgramTarget(name, argv)
    unknown = [t for t in args.targets if t not in cps.TARGETS]
    if unknown:
        ap.error("unknown target(s) %s; known: %s" % (", ".join(unknown), ", ".join(cps.TARGETS)))
    if "uas-c" in args.targets and not os.access(args.uas, os.X_OK):
        ap.error("%s is not built (make examples)" % args.uas)
    if args.runs < 1 or args.duration < 1 or not args.rates:
        ap.error("--runs, --duration and --rates must be positive")
    return args


def main(argv=None):
    args = parse_args(argv)
    stamp = datetime.datetime.now(datetime.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    targets = [cps.TARGETS[name](args) for name in args.targets]
    report = {
        "benchmark": "cpu_per_call",
        "started_utc": stamp,
        "duration_s": args.duration,
        "rates": args.rates,
        "runs_per_uas": args.runs,
        "transport": "udp",
        "host": {"machine": platform.machine(), "cpus": os.cpu_count(), "kernel": platform.release(),
                 "python": platform.python_version(), "loadavg_at_start": os.getloadavg()},
        "us_per_call_means": "utime+stime of the UAS process (/proc/PID/stat) from just before SIPp "
                             "starts to just after it exits, divided by completed calls",
        "clean_means": "sipp exit 0, every call successful, 0 failed, 0 retransmissions",
        "targets": {t.name: t.description for t in targets},
        "runs": [],
    }
    print("cpu per call: udp, %d s per run, rates %s, %d alternating runs of %s" % (
        args.duration, args.rates, args.runs, ", ".join(args.targets)))
    with tempfile.TemporaryDirectory(prefix="cpu-") as workdir:
        for rate in args.rates:
            for rep in range(args.runs):
                for target in targets:
                    print("  %-16s %5d cps run %d … " % (target.name, rate, rep + 1), end="", flush=True)
                    run_dir = os.path.join(workdir, "%s-%d-%d" % (target.name, rate, rep))
                    try:
                        run = run_one(target, rate, args, run_dir)
                    except PeerError as exc:
                        run = {"target": target.name, "rate": rate, "clean": False, "us_per_call": None,
                               "why_unclean": [str(exc)[:500]]}
                    run["repeat"] = rep + 1
                    report["runs"].append(run)
                    print(("%.1f µs/call" % run["us_per_call"]) if run["clean"]
                          else "UNCLEAN: " + "; ".join(run["why_unclean"]), flush=True)
                    time.sleep(args.pause)
    report["summary"] = summarise(report["runs"], args.targets, args.rates)
    report["loadavg_at_end"] = os.getloadavg()
    print_table(report["summary"])
    write_report(report, args.json or os.path.join(cps.RESULTS, "cpu-%s.json" % stamp))
    unclean = [r for r in report["runs"] if not r["clean"]]
    if unclean:
        print("\nFAILED: %d unclean run(s); their CPU is not reported as a cost:" % len(unclean),
              file=sys.stderr)
        for r in unclean:
            print("  %s at %s cps: %s" % (r["target"], r["rate"], "; ".join(r["why_unclean"])),
                  file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
