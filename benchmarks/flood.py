#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Calls under a garbage flood: failed calls at 300 cps while 100 000+ junk datagrams/s arrive.

For every target (examples/c/uas and examples/python/uas.py in inline, executor and asyncio
dispatch; the targets of benchmarks/cps.py), a fresh process is started on UDP, then at the same
time:

* ``sipp -sn uac -r RATE`` places RATE*DURATION calls to it (default 300 cps for 30 s);
* benchmarks/flood_sender.c (compiled here at run time with the system C compiler) sends garbage
  datagrams to the same port with sendmmsg() at FLOOD datagrams/s (default 120 000) for DURATION.

Reported per target: calls successful/failed (and SIPp's failure reasons), SIPp's retransmissions
(answers lost or late), the flood rate
actually achieved by the sender, the target's RSS at the start and at its peak, whether it was
still alive at the end, and how many datagrams the kernel dropped because the target's receive
queue was full (/proc/net/udp); with ``--baseline`` the same SIPp load without the flood as well. The
destination is always 127.0.0.1. This is a benchmark, not a test: it prints a table and writes
JSON to benchmarks/results/flood-<time>.json.

    python3 benchmarks/flood.py [--duration 30] [--rate 300] [--flood 120000]
                                [--targets uas-c,uas-py-inline,uas-py-executor,uas-py-asyncio]
                                [--baseline] [--json PATH]
"""

import argparse
import datetime
import json
import os
import platform
import shlex
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(ROOT, "tests"))
sys.path.insert(0, HERE)

import cps  # noqa: E402
from results_io import write_report  # noqa: E402
from peers.sipp import Sipp, rss_kib  # noqa: E402

RESULTS = os.path.join(ROOT, "benchmarks", "results")
DEFAULT_TARGETS = "uas-c,uas-py-inline,uas-py-executor,uas-py-asyncio"


def build_sender(workdir):
    src = os.path.join(HERE, "flood_sender.c")
    out = os.path.join(workdir, "flood_sender")
    cc = shlex.split(os.environ.get("CC", "cc"))
    subprocess.check_call(cc + ["-O2", "-Wall", "-Wextra", "-o", out, src])
    return out


class RssPeak(threading.Thread):
    def __init__(self, pid):
        super().__init__(daemon=True)
        self.pid, self.peak, self.stop_flag = pid, 0, threading.Event()

    def run(self):
        while not self.stop_flag.is_set():
            value = rss_kib(self.pid)
            if value is None:
                return
            self.peak = max(self.peak, value)
            self.stop_flag.wait(0.5)


def udp_drops(port):
    """Datagrams the kernel dropped for the UDP socket bound to 127.0.0.1:PORT (receive queue full),
    from /proc/net/udp; None when no such socket."""
    want = "0100007F:%04X" % port
    try:
        with open("/proc/net/udp") as f:
            for line in f.readlines()[1:]:
                fields = line.split()
                if len(fields) >= 13 and fields[1] == want:
                    return int(fields[-1])
    except (OSError, ValueError):
        return None
    return None


def run_one(target, args, sender, workdir, flood):
    """One target under SIPp load, with or without the flood; returns a dict."""
    calls = args.rate * args.duration
    handle = target.start("udp", os.path.join(workdir, "target"))
    row = {"target": target.name, "flood": bool(flood), "rate_cps": args.rate, "duration_s": args.duration,
           "calls": calls, "rss_start_kib": rss_kib(handle.pid)}
    sampler = RssPeak(handle.pid)
    sampler.start()
    flooder = None
    try:
        client = Sipp("uac", "127.0.0.1:%d" % handle.port, transport="udp", calls=calls, rate=args.rate,
                      limit=max(200, args.rate), pause_ms=0, timeout_s=args.duration + args.grace,
                      stat_freq_s=1, workdir=os.path.join(workdir, "sipp-uac"))
        client.start(wait_bound=False)
        if flood:
            flooder = subprocess.Popen([sender, str(handle.port), str(args.duration), str(args.flood), "1"],
                                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        result = client.wait(timeout=args.duration + args.grace + 30)
        if flooder is not None:
            out, _ = flooder.communicate(timeout=args.duration + 30)
            try:
                row["flood_sender"] = json.loads(out.strip().splitlines()[-1])
            except (ValueError, IndexError):
                row["flood_sender"] = {"error": out[-500:]}
        row["alive_at_end"] = rss_kib(handle.pid) is not None  # None once gone (or a zombie)
        row["kernel_drops"] = udp_drops(handle.port)
    finally:
        if flooder is not None and flooder.poll() is None:
            flooder.kill()
            flooder.wait(timeout=10)
        sampler.stop_flag.set()
        sampler.join(timeout=5)
        target_rc, target_stats, target_err = handle.stop()
    row.update({
        "successful": result.successful,
        "failed": result.failed,
        "failed_pct": round(100.0 * (calls - result.successful) / calls, 2) if calls else None,
        "failure_reasons": result.failure_reasons(),
        "retransmissions": result.retransmissions,
        "sipp_rc": result.returncode,
        "rss_peak_kib": sampler.peak,
        "target_rc": target_rc,
        "target_stats": target_stats,
    })
    if target_rc not in (0, None) and target_err.strip():
        row["target_stderr_tail"] = target_err
    return row


def print_table(rows):
    print()
    header = "%-16s %-6s %7s %7s %7s %8s %8s %11s %10s %9s %9s %6s" % (
        "target", "flood", "calls", "ok", "failed", "fail %", "retrans", "flood dg/s", "rcv drops", "rss0 KiB",
        "peak KiB", "alive")
    print(header)
    print("-" * len(header))
    for r in rows:
        sender = r.get("flood_sender") or {}
        print("%-16s %-6s %7d %7s %7s %8s %8s %11s %10s %9s %9s %6s" % (
            r["target"], "yes" if r["flood"] else "no", r["calls"], r["successful"], r["failed"], r["failed_pct"],
            r["retransmissions"], sender.get("rate", "-"), r.get("kernel_drops", "-"), r["rss_start_kib"], r["rss_peak_kib"],
            "yes" if r.get("alive_at_end") else "NO"))


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--duration", type=int, default=30, help="seconds of load and flood per target")
    ap.add_argument("--rate", type=int, default=300, help="SIPp calls per second (default 300)")
    ap.add_argument("--flood", type=int, default=120000, help="garbage datagrams per second (0: all it can)")
    ap.add_argument("--targets", default=DEFAULT_TARGETS, help="comma-separated, from: %s" % ", ".join(cps.TARGETS))
    ap.add_argument("--baseline", action="store_true", help="also run each target without the flood")
    ap.add_argument("--grace", type=int, default=40, help="extra seconds SIPp gets after DURATION")
    ap.add_argument("--uas", default=os.path.join(ROOT, "examples", "c", "uas"), help="path of examples/c/uas")
    ap.add_argument("--json", help="where to write the JSON report (default benchmarks/results/flood-<time>.json)")
    args = ap.parse_args(argv)
    if not 0 < args.duration <= 600:
        ap.error("--duration must be 1..600 s")
    names = [t.strip() for t in args.targets.split(",") if t.strip()]
    unknown = [t for t in names if t not in cps.TARGETS]
    if unknown:
        ap.error("unknown target(s) %s" % ", ".join(unknown))
    if "uas-c" in names and not os.access(args.uas, os.X_OK):
        ap.error("%s is not built (make examples)" % args.uas)
    stamp = datetime.datetime.now(datetime.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    report = {
        "benchmark": "flood",
        "started_utc": stamp,
        "duration_s": args.duration,
        "rate_cps": args.rate,
        "flood_asked_dgps": args.flood,
        "host": {"machine": platform.machine(), "cpus": os.cpu_count(), "kernel": platform.release(),
                 "python": platform.python_version()},
        "rows": [],
    }
    print("flood: %d cps for %d s per target, garbage flood asked %d datagrams/s" % (
        args.rate, args.duration, args.flood))
    with tempfile.TemporaryDirectory(prefix="flood-") as workdir:
        sender = build_sender(workdir)
        for name in names:
            target = cps.TARGETS[name](args)
            for flood in ([False, True] if args.baseline else [True]):
                row = run_one(target, args, sender, os.path.join(workdir, "%s-%d" % (name, flood)), flood)
                report["rows"].append(row)
                print("  %s flood=%s: %s ok, %s failed, flood %s dg/s" % (
                    name, flood, row["successful"], row["failed"], (row.get("flood_sender") or {}).get("rate")),
                    flush=True)
                time.sleep(2)
    print_table(report["rows"])
    path = args.json or os.path.join(RESULTS, "flood-%s.json" % stamp)
    write_report(report, path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
