#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""The Python UAS with events handled inline and with asyncio, side by side.

Two measurements of examples/python/uas.py, each mode in a fresh process, the modes alternating
(inline, asyncio, asyncio, inline, …) so that both see the same machine load:

* **clean rate**: ``sipp -sn uac -d 0 -r RATE`` for DURATION seconds per step, climbing the ladder
  for each mode until a step is unclean (SIPp exit not 0, a failed call, a retransmission, fewer
  successful calls than placed, or the rate not kept). The CPU the UAS spent during the step
  (``utime + stime`` from /proc/PID/stat) divided by the successful calls gives µs of CPU per call.
* **burst**: the UAS idles (RSS baseline), takes BURST_CALLS calls at BURST_RATE, then idles for
  SETTLE seconds (UDP transactions live 32 s after they end); RSS is sampled every second before,
  during and after. "after" is the last sample: it says whether memory went back near the baseline.

    python3 benchmarks/asyncio_burst.py [--duration 20] [--ladder 1000,1500,2000,2500,3000]
        [--rounds 1] [--burst-rate 2500] [--burst-calls 25000] [--settle 40]
        [--pythonpath DIR] [--label NAME] [--json PATH]

``--pythonpath`` points the UAS at another build of the package (the tree holding ``exosip2/`` and
``examples/python/uas.py``), which is how a before/after pair is measured on one machine. This is a
benchmark, not a test: it prints a table and writes JSON to benchmarks/results/.
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

from results_io import sipp_unclean, write_report  # noqa: E402
from peers.sipp import PeerError, Program, Sipp, rss_kib  # noqa: E402

RESULTS = os.path.join(ROOT, "benchmarks", "results")
MODES = ("inline", "asyncio")
CLK_TCK = os.sysconf("SC_CLK_TCK")


def cpu_s(pid):
    """utime + stime of *pid* in seconds (None once it has gone)."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / CLK_TCK
    except (OSError, ValueError, IndexError):
        return None


def start_uas(mode, tree, workdir):
    script = os.path.join(tree, "examples", "python", "uas.py")
    prog = Program(sys.executable, [script, "--dispatch", mode, "-a", "127.0.0.1", "-p", "0", "-t", "udp", "-q"],
                   name="uas-py-" + mode, workdir=workdir, env={"PYTHONPATH": tree})
    prog.prefix = "uas"
    prog.start(timeout=20)
    return prog


def load(prog, rate, calls, limit, timeout_s, workdir, sample=None):
    """Place *calls* calls at *rate* with SIPp against *prog*; sample RSS each second into *sample*."""
    client = Sipp("uac", "127.0.0.1:%d" % prog.port, calls=calls, rate=rate, limit=limit, pause_ms=0,
                  timeout_s=timeout_s, stat_freq_s=1, workdir=workdir)
    t0 = time.monotonic()
    client.start(wait_bound=False)
    next_sample = t0
    while client.running() and time.monotonic() - t0 < timeout_s + 30:
        now = time.monotonic()
        if sample is not None and now >= next_sample:
            sample.append((round(now - t0, 1), rss_kib(prog.pid)))
            next_sample += 1.0
        time.sleep(0.05)
    result = client.wait(timeout=30)
    return result, time.monotonic() - t0


def created_after_s(result, calls):
    for row in result.samples:
        if int(row.get("TotalCallCreated", 0) or 0) >= calls:
            try:
                parts = [int(p) for p in row.get("ElapsedTime(C)", "").split(":")]
                return parts[0] * 3600 + parts[1] * 60 + parts[2] + (parts[3] / 1e6 if len(parts) > 3 else 0.0)
            except (ValueError, IndexError):
                return None
    return None


def step(mode, rate, args, workdir):
    calls = rate * args.duration
    prog = start_uas(mode, args.tree, os.path.join(workdir, "uas"))
    try:
        cpu0 = cpu_s(prog.pid)
        result, wall = load(prog, rate, calls, max(200, rate), args.duration + 30, os.path.join(workdir, "uac"))
        cpu1 = cpu_s(prog.pid)
        rss = rss_kib(prog.pid)
    finally:
        rc = prog.stop(check=False)
    created = created_after_s(result, calls)
    why = sipp_unclean(result, calls)
    if created is None or created > args.duration * 1.05 + 1.0:
        why.append("rate not kept")
    if rc not in (0, None):
        why.append("uas exit %s" % rc)
    us_per_call = (1e6 * (cpu1 - cpu0) / result.successful
                   if cpu0 is not None and cpu1 is not None and result.successful else None)
    return {"mode": mode, "rate": rate, "calls": calls, "successful": result.successful,
            "failed": result.failed, "retransmissions": result.retransmissions, "sipp_rc": result.returncode,
            "wall_s": round(wall, 1), "clean": not why, "why_unclean": why,
            "cpu_us_per_call": None if us_per_call is None else round(us_per_call, 1), "rss_end_kib": rss}


def burst(mode, args, workdir):
    prog = start_uas(mode, args.tree, os.path.join(workdir, "uas"))
    samples = []
    try:
        time.sleep(2.0)
        base = rss_kib(prog.pid)
        cpu0 = cpu_s(prog.pid)
        result, wall = load(prog, args.burst_rate, args.burst_calls, max(200, args.burst_rate),
                            args.burst_calls // args.burst_rate + 60, os.path.join(workdir, "uac"), samples)
        cpu1 = cpu_s(prog.pid)
        end_of_load = rss_kib(prog.pid)
        t0 = time.monotonic()
        after = []
        while time.monotonic() - t0 < args.settle:
            time.sleep(1.0)
            after.append((round(time.monotonic() - t0, 1), rss_kib(prog.pid)))
    finally:
        rc = prog.stop(check=False)
    during = [v for _, v in samples if v is not None]
    return {"mode": mode, "rate": args.burst_rate, "calls": args.burst_calls, "successful": result.successful,
            "failed": result.failed, "retransmissions": result.retransmissions, "sipp_rc": result.returncode,
            "uas_rc": rc, "wall_s": round(wall, 1),
            "cpu_us_per_call": round(1e6 * (cpu1 - cpu0) / result.successful, 1)
            if result.successful and cpu0 is not None and cpu1 is not None else None,
            "rss_before_kib": base, "rss_max_during_kib": max(during) if during else None,
            "rss_end_of_load_kib": end_of_load, "rss_after_kib": after[-1][1] if after else None,
            "rss_during": samples, "rss_after": after}


FLOODER = r"""
import os, socket, sys, time
port, pps, seconds = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3])
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
junk = [os.urandom(n) for n in (20, 60, 200, 500, 1200)] + [b"\r\n\r\n", b"SIP/2.0 \x00\xff", b"INVITE x"]
sent, t0 = 0, time.monotonic()
while True:
    now = time.monotonic() - t0
    if now >= seconds:
        break
    due = int(now * pps)
    while sent < due:
        try:
            s.sendto(junk[sent % len(junk)], ("127.0.0.1", port))
        except OSError:
            pass
        sent += 1
print(sent)
"""


def flood(mode, args, workdir):
    """SIPp at FLOOD_CPS while a second process sends garbage datagrams at FLOOD_PPS to the UAS."""
    import subprocess
    prog = start_uas(mode, args.tree, os.path.join(workdir, "uas"))
    try:
        flooder = subprocess.Popen([sys.executable, "-c", FLOODER, str(prog.port), str(args.flood_pps),
                                    str(args.flood_seconds + 5)], stdout=subprocess.PIPE, text=True)
        try:
            time.sleep(1.0)
            calls = args.flood_cps * args.flood_seconds
            cpu0 = cpu_s(prog.pid)
            result, wall = load(prog, args.flood_cps, calls, max(200, args.flood_cps), args.flood_seconds + 40,
                                os.path.join(workdir, "uac"))
            cpu1 = cpu_s(prog.pid)
        finally:
            out, _ = flooder.communicate(timeout=args.flood_seconds + 60)
    finally:
        rc = prog.stop(check=False)
    sent = int(out.strip() or 0)
    return {"mode": mode, "cps": args.flood_cps, "calls": calls, "successful": result.successful,
            "failed": result.failed, "retransmissions": result.retransmissions, "sipp_rc": result.returncode,
            "uas_rc": rc, "garbage_sent": sent, "garbage_pps": round(sent / (args.flood_seconds + 5)),
            "uas_cpu_s": None if cpu0 is None or cpu1 is None else round(cpu1 - cpu0, 1)}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--duration", type=int, default=20, help="seconds of load per ladder step (default 20)")
    ap.add_argument("--ladder", default="1000,1500,2000,2500,3000", help="rates climbed per mode")
    ap.add_argument("--rounds", type=int, default=1, help="how many times the ladder is climbed")
    ap.add_argument("--burst-rate", type=int, default=2500)
    ap.add_argument("--burst-calls", type=int, default=25000)
    ap.add_argument("--settle", type=int, default=40, help="seconds of idle RSS sampling after the burst")
    ap.add_argument("--no-ladder", action="store_true", help="only the burst")
    ap.add_argument("--no-burst", action="store_true", help="only the ladder")
    ap.add_argument("--flood-pps", type=int, default=0,
                    help="also run calls under a garbage flood of this many datagrams/s (default: no flood run)")
    ap.add_argument("--flood-cps", type=int, default=300)
    ap.add_argument("--flood-seconds", type=int, default=20)
    ap.add_argument("--pythonpath", default=ROOT, help="the tree with exosip2/ and examples/ (default: this one)")
    ap.add_argument("--label", default="", help="a name for this build in the report")
    ap.add_argument("--json", help="default benchmarks/results/asyncio_burst-<time>.json")
    args = ap.parse_args(argv)
    args.tree = os.path.abspath(args.pythonpath)
    ladder = [int(r) for r in args.ladder.split(",") if r.strip()]
    stamp = datetime.datetime.now(datetime.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    report = {"benchmark": "asyncio_burst", "started_utc": stamp, "label": args.label, "tree": args.tree,
              "duration_s": args.duration, "ladder": ladder,
              "host": {"cpus": os.cpu_count(), "kernel": platform.release(), "python": platform.python_version(),
                       "loadavg_at_start": os.getloadavg()},
              "steps": [], "highest_clean_cps": {}, "bursts": [], "floods": []}
    with tempfile.TemporaryDirectory(prefix="asyncio-burst-") as workdir:
        for rnd in range(args.rounds if not args.no_ladder else 0):
            alive = {m: True for m in MODES}
            best = {m: None for m in MODES}
            for i, rate in enumerate(ladder):
                order = MODES if (i + rnd) % 2 == 0 else MODES[::-1]
                for mode in order:
                    if not alive[mode]:
                        continue
                    print("  round %d %-8s %5d cps for %d s … " % (rnd, mode, rate, args.duration),
                          end="", flush=True)
                    try:
                        s = step(mode, rate, args, os.path.join(workdir, "%d-%s-%d" % (rnd, mode, rate)))
                    except PeerError as exc:
                        s = {"mode": mode, "rate": rate, "clean": False, "why_unclean": [str(exc)[:300]]}
                    s["round"] = rnd
                    report["steps"].append(s)
                    print(("clean, %s µs CPU/call" % s.get("cpu_us_per_call")) if s["clean"]
                          else "unclean: " + "; ".join(s["why_unclean"]), flush=True)
                    if s["clean"]:
                        best[mode] = rate
                    else:
                        alive[mode] = False
                if not any(alive.values()):
                    break
            report["highest_clean_cps"]["round%d" % rnd] = best
        if not args.no_burst:
            for mode in MODES:
                print("  burst %-8s %d calls at %d cps, then %d s idle … " % (
                    mode, args.burst_calls, args.burst_rate, args.settle), end="", flush=True)
                try:
                    b = burst(mode, args, os.path.join(workdir, "burst-" + mode))
                except PeerError as exc:
                    b = {"mode": mode, "error": str(exc)[:300]}
                report["bursts"].append(b)
                print("done" if "error" not in b else b["error"], flush=True)
        if args.flood_pps:
            for mode in MODES:
                print("  flood %-8s %d cps under %d garbage datagrams/s for %d s … " % (
                    mode, args.flood_cps, args.flood_pps, args.flood_seconds), end="", flush=True)
                try:
                    f = flood(mode, args, os.path.join(workdir, "flood-" + mode))
                except PeerError as exc:
                    f = {"mode": mode, "error": str(exc)[:300]}
                report["floods"].append(f)
                print(("%(successful)s ok, %(failed)s failed, %(retransmissions)s retransmissions, "
                       "%(garbage_pps)s garbage/s" % f) if "error" not in f else f["error"], flush=True)

    print()
    if report["steps"]:
        print("%-8s %6s %-8s %8s %7s %8s %12s" % ("mode", "cps", "result", "ok", "failed", "retrans", "µs CPU/call"))
        for s in report["steps"]:
            print("%-8s %6d %-8s %8s %7s %8s %12s" % (
                s["mode"], s["rate"], "clean" if s["clean"] else "UNCLEAN", s.get("successful", "-"),
                s.get("failed", "-"), s.get("retransmissions", "-"), s.get("cpu_us_per_call", "-")))
        for rnd, best in report["highest_clean_cps"].items():
            ratio = (best["asyncio"] / best["inline"]) if best.get("asyncio") and best.get("inline") else None
            print("%s highest clean: inline %s cps, asyncio %s cps%s" % (
                rnd, best["inline"], best["asyncio"], "" if ratio is None else " (asyncio/inline %.0f %%)"
                % (100 * ratio)))
    if report["bursts"]:
        print()
        print("%-8s %8s %7s %8s %11s %11s %11s %11s %9s" % (
            "burst", "ok", "failed", "retrans", "rss0 KiB", "max KiB", "endload KiB", "after KiB", "µs/call"))
        for b in report["bursts"]:
            if "error" in b:
                print("%-8s %s" % (b["mode"], b["error"][:100]))
                continue
            print("%-8s %8s %7s %8s %11s %11s %11s %11s %9s" % (
                b["mode"], b["successful"], b["failed"], b["retransmissions"], b["rss_before_kib"],
                b["rss_max_during_kib"], b["rss_end_of_load_kib"], b["rss_after_kib"], b["cpu_us_per_call"]))
    suffix = "-" + args.label if args.label else ""
    path = args.json or os.path.join(RESULTS, "asyncio_burst-%s%s.json" % (stamp, suffix))
    write_report(report, path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
