#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""What tracing costs: CPU per call of a Python UAS under SIPp load, tracing off and on.

Three modes of the same UAS (examples/python/uas.py's handler, inline dispatch):

* ``off``   — no tracing (the core tests one flag per message);
* ``info``  — ``Context.trace(True)`` with the ``exosip2.sip`` logger at INFO: every message is
  captured, drained by the event loop and turned into a SipTrace, but the record is filtered out;
* ``debug`` — the logger at DEBUG, records written to a file through a logging.FileHandler.

Runs alternate (off, info, debug, off, info, debug, ...) so that drift of a noisy machine spreads
over all modes. Each run starts a fresh UAS process, has ``sipp -sn uac`` place CALLS calls at
RATE per second, and reads the UAS's CPU time (utime + stime from /proc/PID/stat) just before and
just after the load: CPU per call = the difference / calls.

    python3 benchmarks/trace_cost.py [--calls 3000] [--rate 300] [--rounds 3] [--json PATH]

This is a benchmark, not a test: it prints a table and writes JSON to benchmarks/results/.
"""

import argparse
import datetime
import json
import logging
import os
import platform
import signal
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tests"))
RESULTS = os.path.join(ROOT, "benchmarks", "results")
MODES = ("off", "info", "debug")


# -- the UAS (this file run with --serve MODE) ----------------------------------------------------
def serve(mode, logfile):
    sys.path.insert(0, os.path.join(ROOT, "examples", "python"))
    import uas as example
    from exosip2.context import Context

    opts = example.parse_args(["-a", "127.0.0.1", "-p", "0", "-q"])
    server = example.Uas(opts)
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: server.done.set())
    log = logging.getLogger("exosip2.sip")
    log.propagate = False
    if mode == "debug":
        handler = logging.FileHandler(logfile)
        handler.setFormatter(logging.Formatter("%(asctime)s %(message)s"))
        log.addHandler(handler)
        log.setLevel(logging.DEBUG)
    else:
        log.setLevel(logging.INFO)
    with Context() as ctx:
        port = ctx.listen_on_address("127.0.0.1", port=0)
        if mode != "off":
            ctx.trace(True)
        print("uas: listening on udp 127.0.0.1:%d" % port, flush=True)
        server.run_threaded(ctx, "inline")
        dropped = ctx.trace_dropped()
        ctx.trace(False)
    print("uas: calls=%d answered=%d closed=%d dropped=%d" % (server.calls, server.answered, server.closed,
                                                              dropped), flush=True)
    return 0


# -- the driver -------------------------------------------------------------------------------------
def cpu_s(pid):
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def one_run(mode, args, workdir):
    from peers.sipp import Sipp

    logfile = os.path.join(workdir, "sip-%s.log" % mode)
    proc = subprocess.Popen([sys.executable, os.path.abspath(__file__), "--serve", mode, "--logfile", logfile],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=dict(os.environ, PYTHONPATH=ROOT))
    try:
        line = proc.stdout.readline()
        if "listening on" not in line:
            raise RuntimeError("the UAS did not start: %r %s" % (line, proc.stderr.read()))
        port = int(line.rsplit(":", 1)[1])
        time.sleep(0.3)
        before = cpu_s(proc.pid)
        client = Sipp("uac", "127.0.0.1:%d" % port, calls=args.calls, rate=args.rate, limit=max(200, args.rate),
                      pause_ms=0, timeout_s=int(args.calls / args.rate) + 60,
                      workdir=os.path.join(workdir, "sipp-%s" % mode))
        t0 = time.monotonic()
        client.start(wait_bound=False)
        result = client.wait(timeout=args.calls / args.rate + 90)
        wall = time.monotonic() - t0
        after = cpu_s(proc.pid)
    finally:
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=30)
    summary = out.strip().splitlines()[-1] if out.strip() else ""
    log_bytes = os.path.getsize(logfile) if os.path.exists(logfile) else 0
    return {
        "mode": mode,
        "calls": args.calls,
        "successful": result.successful,
        "failed": result.failed,
        "retransmissions": result.retransmissions,
        "sipp_rc": result.returncode,
        "cpu_s": round(after - before, 3),
        "cpu_us_per_call": round((after - before) / args.calls * 1e6, 1),
        "wall_s": round(wall, 2),
        "uas_summary": summary,
        "log_bytes": log_bytes,
    }


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--calls", type=int, default=3000)
    ap.add_argument("--rate", type=int, default=300)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--json", default=None)
    ap.add_argument("--serve", choices=MODES, help=argparse.SUPPRESS)
    ap.add_argument("--logfile", default=None, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.serve:
        return serve(args.serve, args.logfile)
    runs = []
    with tempfile.TemporaryDirectory(prefix="trace-cost-") as workdir:
        for r in range(args.rounds):
            for mode in MODES:
                run = one_run(mode, args, workdir)
                run["round"] = r
                runs.append(run)
                print("round %d %-5s  %7.1f us/call  %d/%d ok  rc %s  %s" % (
                    r, mode, run["cpu_us_per_call"], run["successful"], run["calls"], run["sipp_rc"],
                    run["uas_summary"]), flush=True)
    table = {}
    for mode in MODES:
        values = [x["cpu_us_per_call"] for x in runs if x["mode"] == mode]
        table[mode] = {"median_us_per_call": statistics.median(values), "min_us_per_call": min(values),
                       "max_us_per_call": max(values), "runs": len(values),
                       "all_calls_ok": all(x["successful"] == x["calls"] for x in runs if x["mode"] == mode)}
    base = table["off"]["median_us_per_call"]
    print()
    print("%-6s %12s %10s %10s %10s  %s" % ("mode", "median us", "min", "max", "vs off", "all calls ok"))
    for mode in MODES:
        t = table[mode]
        print("%-6s %12.1f %10.1f %10.1f %+9.1f%%  %s" % (mode, t["median_us_per_call"], t["min_us_per_call"],
                                                        t["max_us_per_call"],
                                                        (t["median_us_per_call"] / base - 1) * 100 if base else 0,
                                                        t["all_calls_ok"]))
    report = {
        "benchmark": "trace_cost",
        "when": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "machine": {"platform": platform.platform(), "python": platform.python_version(), "cpus": os.cpu_count()},
        "calls_per_run": args.calls, "rate": args.rate, "rounds": args.rounds,
        "table": table, "runs": runs,
    }
    path = args.json or os.path.join(RESULTS, "trace_cost-%s.json" % time.strftime("%Y%m%d-%H%M%S"))
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        json.dump(report, f, indent=2)
    print("\nwrote %s" % os.path.relpath(path, ROOT))
    return 0


if __name__ == "__main__":
    sys.exit(main())
