#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Calls per second: the highest rate on a fixed ladder at which a UAS stays clean.

For every target and every rate of the ladder, a fresh target process is started and
``sipp -sn uac -d 0 -r RATE`` places calls to it for DURATION seconds. A step is clean when SIPp
exits 0, counts no failed call and no retransmission, and kept the rate (all RATE*DURATION calls
created within DURATION plus a small margin). The climb stops at the first unclean step; the
result is the highest clean rate. The target's resident set size is sampled every second
(/proc/PID/status VmRSS) to see whether memory is flat once UDP transactions start expiring (32 s).

Targets are measured in the same run, so the ceiling (SIPp's own UAS) is measured on the same
machine under the same load:

    python3 benchmarks/cps.py [--duration 60] [--ladder 100,250,500,...] [--targets uas-c,sipp-uas]
                              [--transport udp] [--json PATH]

A target is a name, a command line (a function of the port) and a readiness check; see TARGETS.
This is a benchmark, not a test: it prints a table and writes JSON to benchmarks/results/.
"""

import argparse
import datetime
import os
import platform
import shlex
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tests"))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from results_io import sipp_elapsed_s, sipp_unclean, write_report  # noqa: E402
from peers.sipp import PeerError, Program, Sipp, rss_kib  # noqa: E402

DEFAULT_LADDER = [100, 250, 500, 750, 1000, 1250, 1500, 1750, 2000, 2500]
RESULTS = os.path.join(ROOT, "benchmarks", "results")
RSS_SETTLE_S = 32  # a UDP transaction lives 32 s (64*T1) after it ends: memory should be flat after that


# -- targets -------------------------------------------------------------------------------------
class Target:
    """Something that answers calls: how to start it on a transport, how to know it is ready.

    ``start(transport, workdir)`` returns a running handle with ``.port``, ``.pid`` and ``.stop()``
    (returning the exit code). Subclass or instantiate :class:`ProgramTarget` for a new UAS.
    """

    name = "?"
    description = ""
    #: whether a non-zero exit status after SIGTERM makes the step unclean
    exit_status_matters = True

    def start(self, transport, workdir):
        raise NotImplementedError


class ProgramTarget(Target):
    """A program that takes ``-a ADDR -p 0 -t TRANSPORT`` and prints ``NAME: listening on …``
    (examples/c/uas, and any Python UAS written to the same contract)."""

    def __init__(self, name, argv, description="", ready_timeout=15.0):
        self.name = name
        self.argv = list(argv)
        self.description = description or " ".join(self.argv)
        self.ready_timeout = ready_timeout

    def start(self, transport, workdir):
        program, args = self.argv[0], self.argv[1:] + ["-a", "127.0.0.1", "-p", "0", "-t", transport, "-q"]
        prog = Program(program, args, name=self.name, workdir=workdir)
        prog.start(timeout=self.ready_timeout)
        return _ProgramHandle(prog)


class _ProgramHandle:
    def __init__(self, prog):
        self.prog = prog
        self.port = prog.port
        self.pid = prog.pid

    def stop(self):
        rc = self.prog.stop(check=False)
        return rc, self.prog.stats(), self.prog.stderr[-2000:]


class SippUasTarget(Target):
    """SIPp's built-in UAS: the ceiling of this harness on this machine."""

    name = "sipp-uas"
    description = "sipp -sn uas"
    # over TCP SIPp fails the calls it still lingers on when the client closes the connection,
    # and then exits 1: that is about SIPp's scenario, not about the load it took
    exit_status_matters = False

    def start(self, transport, workdir):
        sipp = Sipp("uas", transport=transport, timeout_s=24 * 3600, stat_freq_s=60, workdir=workdir)
        sipp.start()
        return _SippHandle(sipp)


class _SippHandle:
    def __init__(self, sipp):
        self.sipp = sipp
        self.port = sipp.port
        self.pid = sipp.pid

    def stop(self):
        result = self.sipp.stop()
        return result.returncode, {"successful": result.successful, "failed": result.failed}, \
            result.stderr[-2000:]


class PythonUasTarget(ProgramTarget):
    """examples/python/uas.py with one dispatch mode (inline, executor or asyncio)."""

    def __init__(self, dispatch):
        script = os.path.join(ROOT, "examples", "python", "uas.py")
        super().__init__("uas-py-" + dispatch, [sys.executable, script, "--dispatch", dispatch],
                         "examples/python/uas.py --dispatch %s" % dispatch)

    def start(self, transport, workdir):
        args = self.argv[1:] + ["-a", "127.0.0.1", "-p", "0", "-t", transport, "-q"]
        prog = Program(self.argv[0], args, name=self.name, workdir=workdir, env={"PYTHONPATH": ROOT})
        prog.prefix = "uas"
        prog.start(timeout=self.ready_timeout)
        return _ProgramHandle(prog)


TARGETS = {
    "uas-c": lambda args: ProgramTarget("uas-c", [args.uas], "examples/c/uas (core/)"),
    "sipp-uas": lambda args: SippUasTarget(),
    "uas-py-inline": lambda args: PythonUasTarget("inline"),
    "uas-py-executor": lambda args: PythonUasTarget("executor"),
    "uas-py-asyncio": lambda args: PythonUasTarget("asyncio"),
}


# -- one step --------------------------------------------------------------------------------------
def run_step(target, rate, args, workdir):
    """Start *target*, load it at *rate* for args.duration seconds, stop it; return a dict."""
    step = {"target": target.name, "rate": rate, "duration_s": args.duration}
    calls = rate * args.duration
    handle = target.start(args.transport, os.path.join(workdir, "target"))
    rss = []
    try:
        step["rss_start_kib"] = rss_kib(handle.pid)
        client = Sipp("uac", "127.0.0.1:%d" % handle.port, transport=args.transport, calls=calls, rate=rate,
                      limit=args.limit or max(200, rate), pause_ms=0,
                      timeout_s=args.duration + args.grace, stat_freq_s=1,
                      workdir=os.path.join(workdir, "sipp-uac"))
        t0 = time.monotonic()
        client.start(wait_bound=False)
        next_sample = t0
        while client.running():
            now = time.monotonic()
            if now >= next_sample:
                value = rss_kib(handle.pid)
                if value is not None:
                    rss.append((round(now - t0, 2), value))
                next_sample += 1.0
            if now - t0 > args.duration + args.grace + 30:
                break
            time.sleep(0.05)
        result = client.wait(timeout=30)
        elapsed = time.monotonic() - t0
    finally:
        target_rc, target_stats, target_err = handle.stop()
    created_at = None
    for sample in result.samples:
        if int(sample.get("TotalCallCreated", 0) or 0) >= calls:
            created_at = sipp_elapsed_s(sample)
            break
    kept_rate = created_at is not None and created_at <= args.duration * 1.05 + 1.0
    reasons = sipp_unclean(result, calls)
    if not kept_rate:
        reasons.append("rate not kept (all calls created after %s s)" % (created_at,))
    if target.exit_status_matters and target_rc not in (0, None):
        reasons.append("target exit %s" % target_rc)
    step.update({
        "calls": calls,
        "successful": result.successful,
        "failed": result.failed,
        "failure_reasons": result.failure_reasons(),
        "retransmissions": result.retransmissions,
        "sipp_rc": result.returncode,
        "all_created_after_s": created_at,
        "wall_s": round(elapsed, 2),
        "clean": not reasons,
        "why_unclean": reasons,
        "target_rc": target_rc,
        "target_stats": target_stats,
        "rss_kib": rss,
    })
    step.update(rss_summary(rss))
    if reasons and target_err.strip():
        step["target_stderr_tail"] = target_err
    return step


def rss_summary(samples):
    """RSS at the start, at 32 s, at the end; growth after 32 s; flat if it grew < 2 MiB and < 5 %."""
    out = {"rss_first_kib": samples[0][1] if samples else None,
           "rss_last_kib": samples[-1][1] if samples else None,
           "rss_max_kib": max(v for _, v in samples) if samples else None}
    settled = [v for t, v in samples if t >= RSS_SETTLE_S]
    if len(settled) >= 3:
        base = settled[0]
        growth = max(settled) - base
        out.update({"rss_at_32s_kib": base, "rss_growth_after_32s_kib": growth,
                    "rss_flat_after_32s": growth < 2048 and growth < 0.05 * base})
    else:
        out.update({"rss_at_32s_kib": None, "rss_growth_after_32s_kib": None, "rss_flat_after_32s": None})
    return out


# -- the run ---------------------------------------------------------------------------------------
def climb(target, args, workdir):
    steps = []
    best = None
    for rate in args.ladder:
        print("  %-9s %5d cps for %d s … " % (target.name, rate, args.duration), end="", flush=True)
        step_dir = os.path.join(workdir, "%s-%d" % (target.name, rate))
        try:
            step = run_step(target, rate, args, step_dir)
        except PeerError as exc:
            step = {"target": target.name, "rate": rate, "clean": False, "why_unclean": [str(exc)[:500]]}
        steps.append(step)
        print("clean" if step["clean"] else "unclean: " + "; ".join(step["why_unclean"]), flush=True)
        if not step["clean"]:
            break
        best = rate
        time.sleep(args.pause)
    return {"target": target.name, "description": target.description, "highest_clean_cps": best,
            "steps": steps}


def print_table(report):
    print()
    header = "%-9s %6s %-8s %8s %7s %8s %9s %9s %9s %6s" % (
        "target", "cps", "result", "ok", "failed", "retrans", "rss0 KiB", "rss32 KiB", "rssEnd", "flat")
    print(header)
    print("-" * len(header))
    for tgt in report["targets"]:
        for s in tgt["steps"]:
            print("%-9s %6d %-8s %8s %7s %8s %9s %9s %9s %6s" % (
                tgt["target"], s["rate"], "clean" if s["clean"] else "UNCLEAN", s.get("successful", "-"),
                s.get("failed", "-"), s.get("retransmissions", "-"), s.get("rss_first_kib", "-"),
                s.get("rss_at_32s_kib") or "-", s.get("rss_last_kib", "-"),
                {True: "yes", False: "NO", None: "-"}[s.get("rss_flat_after_32s")]))
    print()
    for tgt in report["targets"]:
        print("%-9s highest clean rate: %s cps" % (tgt["target"], tgt["highest_clean_cps"]))
    if report.get("ratio_to_ceiling") is not None:
        print("uas-c / sipp-uas: %.0f %%" % (100 * report["ratio_to_ceiling"]))


def parse_args(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--duration", type=int, default=60, help="seconds of load per step (default 60)")
    ap.add_argument("--ladder", default=",".join(map(str, DEFAULT_LADDER)),
                    help="comma-separated rates, climbed in order (default %(default)s)")
    ap.add_argument("--targets", default="uas-c,sipp-uas", help="comma-separated: %s" % ", ".join(TARGETS))
    ap.add_argument("--transport", choices=["udp", "tcp"], default="udp")
    ap.add_argument("--limit", type=int, default=0, help="SIPp -l (default max(200, rate))")
    ap.add_argument("--grace", type=int, default=30, help="extra seconds SIPp gets after DURATION")
    ap.add_argument("--pause", type=float, default=2.0, help="seconds between steps")
    ap.add_argument("--uas", default=os.path.join(ROOT, "examples", "c", "uas"), help="path of examples/c/uas")
    ap.add_argument("--add-target", action="append", default=[], metavar="NAME=COMMAND",
                    help="another UAS to measure: a command that takes -a/-p/-t/-q like examples/c/uas "
                         "and prints 'NAME: listening on …' (repeatable; then list NAME in --targets)")
    ap.add_argument("--json", help="where to write the JSON report (default benchmarks/results/cps-<time>.json)")
    args = ap.parse_args(argv)
    args.ladder = [int(r) for r in args.ladder.split(",") if r.strip()]
    args.targets = [t.strip() for t in args.targets.split(",") if t.strip()]
    for spec in args.add_target:
        name, sep, command = spec.partition("=")
        if not sep or not name or not command.strip():
            ap.error("--add-target wants NAME=COMMAND, not %r" % spec)
        TARGETS[name] = lambda _args, name=name, argv=shlex.split(command): ProgramTarget(name, argv)
    unknown = [t for t in args.targets if t not in TARGETS]
    if unknown:
        ap.error("unknown target(s) %s; known: %s" % (", ".join(unknown), ", ".join(TARGETS)))
    if "uas-c" in args.targets and not os.access(args.uas, os.X_OK):
        ap.error("%s is not built (make examples)" % args.uas)
    return args


def main(argv=None):
    args = parse_args(argv)
    stamp = datetime.datetime.now(datetime.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    report = {
        "benchmark": "cps",
        "started_utc": stamp,
        "duration_s": args.duration,
        "ladder": args.ladder,
        "transport": args.transport,
        "host": {"machine": platform.machine(), "cpus": os.cpu_count(), "kernel": platform.release(),
                 "python": platform.python_version()},
        "clean_means": "sipp exit 0, 0 failed calls, 0 retransmissions, all calls created within "
                       "DURATION*1.05+1 s",
        "targets": [],
    }
    print("cps: %s, %d s per step, ladder %s" % (args.transport, args.duration, args.ladder))
    with tempfile.TemporaryDirectory(prefix="cps-") as workdir:
        for name in args.targets:
            report["targets"].append(climb(TARGETS[name](args), args, workdir))
    best = {t["target"]: t["highest_clean_cps"] for t in report["targets"]}
    report["ratio_to_ceiling"] = (best["uas-c"] / best["sipp-uas"]
                                  if best.get("uas-c") and best.get("sipp-uas") else None)
    print_table(report)
    path = args.json or os.path.join(RESULTS, "cps-%s.json" % stamp)
    write_report(report, path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
