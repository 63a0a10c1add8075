#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Calls per second through Kamailio's dispatcher with 1, 2 and 3 exosip2 workers.

For each worker count, ``python -m exosip2 serve --workers N`` (the ``uas`` handler) runs behind
Kamailio with examples/kamailio/dispatcher.cfg, and SIPp (tests/scenarios/kamailio_uac_call.xml:
INVITE, 200, ACK, BYE, following the recorded route) offers ``--rate`` calls per second for
``--duration`` seconds. Per step: the calls per second achieved (successful calls over SIPp's run
time), failed calls and retransmissions, and the CPU time (utime + stime from /proc) of the workers
(together and the busiest one), of Kamailio (all its processes) and of SIPp, in microseconds per
successful call and as a share of one core. The process closest to a full core is the one that
saturates first.

SIPp, Kamailio and the workers all share the machine, so read the ratios between the rows, not
the absolute figures; on a loaded 2-core machine keep the runs short.

    python3 benchmarks/dispatcher.py [--workers 1,2,3] [--rates 300,600,900] [--duration 6] [--json PATH]

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

from results_io import write_report  # noqa: E402
from peers.dispatcher import Dispatcher, Serve  # noqa: E402
from peers.sipp import Sipp  # noqa: E402

RESULTS = os.path.join(ROOT, "benchmarks", "results")
UAC = os.path.join(ROOT, "tests", "scenarios", "kamailio_uac_call.xml")
TICKS = os.sysconf("SC_CLK_TCK")


def cpu_s(pid):
    """utime + stime of *pid* in seconds (0 once it has gone)."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / TICKS
    except (OSError, ValueError, IndexError):
        return 0.0


def descendants(pid):
    """*pid* and every process below it (read from /proc)."""
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        try:
            with open("/proc/%d/task/%d/children" % (p, p)) as f:
                todo.extend(int(c) for c in f.read().split())
        except OSError:
            pass
    return out


def run_step(workers, rate, duration, workdir):
    calls = int(rate * duration)
    tag = "%d-%d" % (workers, rate)
    serve = Serve(os.path.join(workdir, "serve-" + tag), workers=workers).start()
    disp = Dispatcher(os.path.join(workdir, "kamailio-" + tag), serve.addresses, ping_interval=2,
                      fr_timer=2000, children=4, shm_mb=256)
    try:
        disp.start()
        worker_pids = list(serve.listening().values())
        kam_pids = descendants(disp.process.pid)
        w0 = {p: cpu_s(p) for p in worker_pids}
        k0 = sum(cpu_s(p) for p in kam_pids)
        sipp = Sipp(UAC, disp.address, calls=calls, rate=rate, limit=max(50, rate), service="service",
                    keys={"caller": "sipp"}, timeout_s=int(duration * 3 + 20),
                    workdir=os.path.join(workdir, "sipp-" + tag), name="uac-" + tag)
        t0 = time.monotonic()
        sipp.start(wait_bound=False)
        sipp_cpu = 0.0
        while sipp.running():
            sipp_cpu = max(sipp_cpu, cpu_s(sipp.pid))
            time.sleep(0.05)
        elapsed = time.monotonic() - t0
        result = sipp.wait()
        w1 = {p: cpu_s(p) for p in worker_pids}
        k1 = sum(cpu_s(p) for p in kam_pids)
    finally:
        disp.stop()
        serve.stop()
    ok = max(1, result.successful)
    per_worker = [w1[p] - w0[p] for p in worker_pids]
    shares = [s["invites"] if s else None for s in serve.all_stats()]
    step = {
        "workers": workers, "offered_rate": rate, "calls": calls, "elapsed_s": round(elapsed, 3),
        "successful": result.successful, "failed": result.failed, "retransmissions": result.retransmissions,
        "cps": round(result.successful / elapsed, 1),
        "worker_shares": shares,
        "cpu_us_per_call": {
            "workers": round(sum(per_worker) / ok * 1e6, 1),
            "kamailio": round((k1 - k0) / ok * 1e6, 1),
            "sipp": round(sipp_cpu / ok * 1e6, 1),
        },
        "core_share": {
            "busiest_worker": round(max(per_worker) / elapsed, 3),
            "workers": round(sum(per_worker) / elapsed, 3),
            "kamailio": round((k1 - k0) / elapsed, 3),
            "sipp": round(sipp_cpu / elapsed, 3),
        },
    }
    single = {"busiest worker": step["core_share"]["busiest_worker"], "sipp": step["core_share"]["sipp"],
              "kamailio (all its processes)": step["core_share"]["kamailio"]}
    step["closest_to_a_full_core"] = max(single, key=single.get)
    return step


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--workers", default="1,2,3", help="worker counts, comma-separated")
    ap.add_argument("--rates", default="300,600,900",
                    help="calls per second SIPp offers, comma-separated: a worker count climbs this ladder "
                         "until a step is not clean (a failed call, or under 90%% of the offered rate)")
    ap.add_argument("--duration", type=float, default=6.0, help="seconds of calls per step")
    ap.add_argument("--json", default=None, help="where to write the report (default benchmarks/results/)")
    args = ap.parse_args(argv)
    try:
        counts = [int(x) for x in args.workers.split(",") if x]
        rates = [int(x) for x in args.rates.split(",") if x]
    except ValueError:
        ap.error("--workers and --rates are comma-separated integers")
    if not counts or any(not 1 <= n <= 16 for n in counts) or not rates or min(rates) < 1 or args.duration <= 0:
        ap.error("--workers must list counts in 1..16, --rates values >= 1, --duration > 0")
    steps = []
    with tempfile.TemporaryDirectory(prefix="bench-dispatcher-") as workdir:
        for n in counts:
            for rate in rates:
                step = run_step(n, rate, args.duration, workdir)
                step["clean"] = step["failed"] == 0 and step["cps"] >= 0.9 * rate
                steps.append(step)
                print("workers=%d cps=%.1f (offered %d) failed=%d retrans=%d shares=%s  us/call: workers %.0f "
                      "kamailio %.0f sipp %.0f  core share: busiest worker %.2f kamailio %.2f sipp %.2f -> %s"
                      % (n, step["cps"], rate, step["failed"], step["retransmissions"], step["worker_shares"],
                         step["cpu_us_per_call"]["workers"], step["cpu_us_per_call"]["kamailio"],
                         step["cpu_us_per_call"]["sipp"], step["core_share"]["busiest_worker"],
                         step["core_share"]["kamailio"], step["core_share"]["sipp"], step["closest_to_a_full_core"]),
                      flush=True)
                if not step["clean"]:
                    break
    best = {}
    for st in steps:
        if st["clean"] or st["workers"] not in best:
            best[st["workers"]] = max(best.get(st["workers"], 0), st["cps"])
    report = {
        "benchmark": "dispatcher", "date": datetime.datetime.now(datetime.timezone.utc).isoformat(),
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform(), "python": platform.python_version(),
                    "load_average": os.getloadavg()},
        "rates": rates, "duration_s": args.duration, "steps": steps,
        "best_cps": {str(n): c for n, c in best.items()},
    }
    base = best.get(counts[0])
    report["best_cps_ratio_to_first"] = {str(n): round(c / base, 2) if base else None for n, c in best.items()}
    print("highest clean cps per worker count: %s (ratios %s)"
          % (report["best_cps"], report["best_cps_ratio_to_first"]))
    write_report(report, args.json or os.path.join(RESULTS, "dispatcher.json"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
