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

The same for clients (``--role uac``, ``--role register``): a fresh SIPp server per run (``-sn uas`` for
calls; benchmarks/scenarios/registrar.xml, which answers every REGISTER with 200 at once, for
registrations) is loaded by one client, and the CPU of the client is measured: examples/c/uac and
examples/python/uac.py (``-d 0``: BYE as soon as the call is answered) against ``sipp -sn uac -d 0``,
examples/c/register in its load mode (one binding per REGISTER) against SIPp's own REGISTER client
(benchmarks/scenarios/register_client.xml). A client program prints its listening line and waits
``--settle`` seconds before its first request; its CPU is read in that wait and again once it has exited
(the exited process is read before it is reaped), so its start-up is not counted. SIPp's clients are read
from the moment their port is bound. In these roles a run is clean when the client succeeded on every
request (SIPp: exit 0, 0 failed, 0 retransmissions) and the server's side saw exactly COUNT calls, none
failed, and no retransmission, unexpected message or timeout in its per-message counters. For a
registration the "call" is one REGISTER and its 200; the achieved rate is registrations / the client's
time from first request to last answer.

    python3 benchmarks/cpu_per_call.py [--role uas,uac,register] [--duration 30] [--rates 500,2000]
                                       [--runs 3] [--targets uas-c,uas-py-inline,...] [--json PATH]

It prints a table (median, min, max µs per call; ratios to SIPp's program and to the C program of the
same role and session) and writes JSON to benchmarks/results/.
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
import cpu_clients  # noqa: E402
from results_io import sipp_unclean, write_report  # noqa: E402
from peers.sipp import PeerError, Sipp  # noqa: E402

DEFAULT_TARGETS = ["uas-c", "uas-py-inline", "uas-py-executor", "uas-py-asyncio", "sipp-uas"]
#: role -> (the targets measured by default, the SIPp anchor, the C program): ratios are to the last two
ROLES = {
    "uas": (DEFAULT_TARGETS, "sipp-uas", "uas-c"),
    "uac": (["uac-c", "uac-py", "sipp-uac"], "sipp-uac", "uac-c"),
    "register": (["register-c", "sipp-register"], "sipp-register", "register-c"),
}
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


def wait_exit_unreaped(pid, timeout):
    """Wait (bounded) until the child *pid* has exited, leaving it unreaped so that /proc still holds
    its times; return (utime+stime ticks of the exited process or None, its last VmHWM seen)."""
    deadline = time.monotonic() + timeout
    peak = None
    while time.monotonic() < deadline:
        if os.waitid(os.P_PID, pid, os.WEXITED | os.WNOHANG | os.WNOWAIT) is not None:
            return cpu_ticks(pid), peak
        peak = peak_rss_kib(pid) or peak
        time.sleep(0.02)
    return None, peak


def finish_run(run, before, after, reasons):
    """Fill in the CPU figures of *run* and whether it was clean (*reasons* lists why not)."""
    if before is None or after is None:
        reasons.append("the measured process was gone before its CPU time could be read")
    cpu_s = (after - before) / CLK_TCK if before is not None and after is not None else None
    done = run.get("successful")
    run.update({
        "cpu_s": cpu_s,
        "us_per_call": round(cpu_s * 1e6 / done, 1) if cpu_s is not None and done else None,
        "clean": not reasons,
        "why_unclean": reasons,
    })
    return run


def run_uas(target, rate, args, workdir):
    """One fresh UAS *target*, loaded at *rate* for args.duration seconds: a dict describing the run."""
    calls = rate * args.duration
    run = {"role": "uas", "target": target.name, "rate": rate, "duration_s": args.duration, "calls": calls}
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
    if target.exit_status_matters and target_rc not in (0, None):
        reasons.append("target exit %s" % target_rc)
    run.update({
        "successful": result.successful,
        "failed": result.failed,
        "failure_reasons": result.failure_reasons(),
        "retransmissions": result.retransmissions,
        "sipp_rc": result.returncode,
        "wall_s": round(wall, 2),
        "peak_rss_kib": peak,
        "target_rc": target_rc,
        "target_stats": target_stats,
    })
    if reasons and target_err.strip():
        run["target_stderr_tail"] = target_err
    return finish_run(run, before, after, reasons)


def run_client(role, target, rate, args, workdir):
    """A fresh SIPp server for *role* and one client *target* loading it with rate*duration requests at
    *rate*; the CPU measured is the client's. A dict describing the run."""
    count = rate * args.duration
    run = {"role": role, "target": target.name, "rate": rate, "duration_s": args.duration, "calls": count}
    server = cpu_clients.SERVERS[role]().start(os.path.join(workdir, "server"))
    try:
        handle = target.start(server.port, count, rate, args, os.path.join(workdir, "client"))
        before = cpu_ticks(handle.pid)
        t0 = time.monotonic()
        after, peak = wait_exit_unreaped(handle.pid, args.duration + args.grace + 30)
        wall = time.monotonic() - t0
        handle.reap(timeout=10)
    finally:
        seen = server.stop(count)
    out = handle.outcome()
    reasons = out.pop("why_unclean") + seen.pop("why_unclean")
    retrans = (out["client_retransmissions"] or 0) + seen["server_retransmissions"]
    run.update(out)
    run.update(seen)
    run.update({"retransmissions": retrans, "wall_s": round(wall, 2), "peak_rss_kib": peak,
                "achieved_per_s": (round(out["successful"] / out["load_s"], 1)
                                   if out.get("load_s") and out["successful"] else None)})
    return finish_run(run, before, after, reasons)


def summarise(runs, targets, rates):
    """Per role, target and rate: median/min/max µs per call over the clean runs, and the ratios to the
    SIPp anchor and to the C program of the same role."""
    rows = []
    for role, (_defaults, sipp_ref, c_ref) in ROLES.items():
        names = [t for t in targets if role_of(t) == role]
        for rate in rates:
            medians = {}
            start = len(rows)
            for name in names:
                mine = [r for r in runs if r["target"] == name and r["rate"] == rate]
                clean = [r for r in mine if r["clean"] and r["us_per_call"] is not None]
                us = [r["us_per_call"] for r in clean]
                achieved = [r["achieved_per_s"] for r in clean if r.get("achieved_per_s")]
                row = {"role": role, "target": name, "rate": rate, "runs": len(mine), "clean_runs": len(us),
                       "median_us": round(statistics.median(us), 1) if us else None,
                       "min_us": min(us) if us else None, "max_us": max(us) if us else None,
                       "failed": sum(r.get("failed") or 0 for r in mine),
                       "retransmissions": sum(r.get("retransmissions") or 0 for r in mine),
                       "achieved_per_s": round(statistics.median(achieved), 1) if achieved else None,
                       "peak_rss_kib": max((r.get("peak_rss_kib") or 0 for r in mine), default=None)}
                medians[name] = row["median_us"]
                rows.append(row)
            for row in rows[start:]:
                for ref, key in ((sipp_ref, "ratio_to_sipp"), (c_ref, "ratio_to_c")):
                    base = medians.get(ref)
                    row[key] = round(row["median_us"] / base, 2) if row["median_us"] and base else None
    return rows


def print_table(rows):
    print()
    header = "%-9s %-16s %5s %6s %8s %8s %8s %7s %7s %7s %8s %9s %7s" % (
        "role", "target", "rate", "clean", "median", "min", "max", "/sipp", "/C", "failed", "retrans",
        "achieved", "peakMiB")
    print(header.rstrip())
    print("-" * len(header.rstrip()))
    fmt = lambda v, f="%.1f": "-" if v is None else f % v  # noqa: E731
    for r in rows:
        print("%-9s %-16s %5d %3d/%-2d %8s %8s %8s %7s %7s %7d %8d %9s %7s" % (
            r["role"], r["target"], r["rate"], r["clean_runs"], r["runs"], fmt(r["median_us"]),
            fmt(r["min_us"]), fmt(r["max_us"]), fmt(r["ratio_to_sipp"], "%.2f"), fmt(r["ratio_to_c"], "%.2f"),
            r["failed"], r["retransmissions"], fmt(r["achieved_per_s"], "%.0f"),
            fmt(r["peak_rss_kib"] and r["peak_rss_kib"] / 1024.0)))
    print("(µs of CPU of the measured program per completed call or registration: utime+stime from /proc "
          "over the run / completed; rate in calls or registrations per second)")


def role_of(name):
    """The role a target name is measured in: 'uas' (cps.TARGETS) or a client role."""
    return cpu_clients.CLIENTS[name][0] if name in cpu_clients.CLIENTS else "uas"


def make_target(name, args):
    return cpu_clients.CLIENTS[name][1](args) if name in cpu_clients.CLIENTS else cps.TARGETS[name](args)


def parse_args(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--role", default="uas",
                    help="comma-separated roles, measured in this order: %s (default %%(default)s)" % ", ".join(ROLES))
    ap.add_argument("--duration", type=int, default=30, help="seconds of load per run (default 30)")
    ap.add_argument("--rates", default="500,2000",
                    help="comma-separated rates, calls or registrations per second (default %(default)s)")
    ap.add_argument("--runs", type=int, default=3, help="runs of every target at every rate (default 3)")
    ap.add_argument("--targets",
                    help="comma-separated, measured in this order (default: every target of the roles): %s"
                         % ", ".join(list(cps.TARGETS) + list(cpu_clients.CLIENTS)))
    ap.add_argument("--grace", type=int, default=20, help="extra seconds SIPp gets after DURATION")
    ap.add_argument("--settle", type=float, default=0.5,
                    help="seconds between a program's start and the load (default %(default)s)")
    ap.add_argument("--pause", type=float, default=1.0, help="seconds between runs")
    ap.add_argument("--uas", default=os.path.join(cps.ROOT, "examples", "c", "uas"), help="examples/c/uas")
    ap.add_argument("--uac", default=os.path.join(cps.ROOT, "examples", "c", "uac"), help="examples/c/uac")
    ap.add_argument("--register", default=os.path.join(cps.ROOT, "examples", "c", "register"),
                    help="examples/c/register")
    ap.add_argument("--add-target", action="append", default=[], metavar="NAME=COMMAND",
                    help="another UAS: a command that takes -a/-p/-t/-q like examples/c/uas and prints "
                         "'NAME: listening on …' (repeatable; then list NAME in --targets), e.g. "
                         "'uas-old=env LD_LIBRARY_PATH=/tmp/old examples/c/uas' to compare two builds of core/")
    ap.add_argument("--json", help="where to write the JSON (default benchmarks/results/cpu-<time>.json)")
    args = ap.parse_args(argv)
    args.rates = [int(r) for r in args.rates.split(",") if r.strip()]
    args.roles = [r.strip() for r in args.role.split(",") if r.strip()]
    bad_roles = [r for r in args.roles if r not in ROLES]
    if bad_roles or not args.roles:
        ap.error("unknown role(s) %s; known: %s" % (", ".join(bad_roles), ", ".join(ROLES)))
    for spec in args.add_target:
        name, sep, command = spec.partition("=")
        if not sep or not name or not command.strip():
            ap.error("--add-target wants NAME=COMMAND, not %r" % spec)
        cps.TARGETS[name] = lambda _args, name=name, argv=shlex.split(command): cps.ProgramTarget(name, argv)
    if args.targets is None:
        args.targets = [t for role in args.roles for t in ROLES[role][0]]
    else:
        args.targets = [t.strip() for t in args.targets.split(",") if t.strip()]
    unknown = [t for t in args.targets if t not in cps.TARGETS and t not in cpu_clients.CLIENTS]
    if unknown:
        ap.error("unknown target(s) %s; known: %s" % (", ".join(unknown),
                                                     ", ".join(list(cps.TARGETS) + list(cpu_clients.CLIENTS))))
    args.roles = [r for r in ROLES if any(role_of(t) == r for t in args.targets)]
    for name, path in (("uas-c", args.uas), ("uac-c", args.uac), ("register-c", args.register)):
        if name in args.targets and not os.access(path, os.X_OK):
            ap.error("%s is not built (make examples)" % path)
    if args.runs < 1 or args.duration < 1 or not args.rates:
        ap.error("--runs, --duration and --rates must be positive")
    return args


def main(argv=None):
    args = parse_args(argv)
    stamp = datetime.datetime.now(datetime.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    targets = [make_target(name, args) for name in args.targets]
    report = {
        "benchmark": "cpu_per_call",
        "started_utc": stamp,
        "roles": args.roles,
        "duration_s": args.duration,
        "rates": args.rates,
        "runs_per_uas": args.runs,
        "runs_per_target": args.runs,
        "transport": "udp",
        "host": {"machine": platform.machine(), "cpus": os.cpu_count(), "kernel": platform.release(),
                 "python": platform.python_version(), "loadavg_at_start": os.getloadavg()},
        "us_per_call_means": "utime+stime of the UAS process (/proc/PID/stat) from just before SIPp "
                             "starts to just after it exits, divided by completed calls; roles uac and "
                             "register: of the client process, from the end of its start-up (SIPp: once "
                             "bound) to its exit, divided by completed calls (one REGISTER and its 200 "
                             "for register)",
        "clean_means": "sipp exit 0, every call successful, 0 failed, 0 retransmissions; roles uac and "
                       "register: the client succeeded on every request, and its SIPp server saw exactly "
                       "that many calls, none failed, no retransmission, unexpected message or timeout",
        "targets": {t.name: t.description for t in targets},
        "runs": [],
    }
    print("cpu per call: udp, %d s per run, rates %s, %d alternating runs of %s" % (
        args.duration, args.rates, args.runs, ", ".join(args.targets)))
    with tempfile.TemporaryDirectory(prefix="cpu-") as workdir:
        for role in args.roles:
            mine = [t for t in targets if role_of(t.name) == role]
            for rate, rep, target in ((rate, rep, t) for rate in args.rates for rep in range(args.runs)
                                      for t in mine):
                print("  %-16s %5d/s run %d … " % (target.name, rate, rep + 1), end="", flush=True)
                run_dir = os.path.join(workdir, "%s-%d-%d" % (target.name, rate, rep))
                try:
                    run = (run_uas(target, rate, args, run_dir) if role == "uas"
                           else run_client(role, target, rate, args, run_dir))
                except PeerError as exc:
                    run = {"role": role, "target": target.name, "rate": rate, "clean": False,
                           "us_per_call": None, "why_unclean": [str(exc)[:500]]}
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
            print("  %s at %s/s: %s" % (r["target"], r["rate"], "; ".join(r["why_unclean"])),
                  file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
