# SPDX-License-Identifier: Apache-2.0
"""What one hostile datagram costs examples/c/uas, and how long a valid OPTIONS then waits.

For each kind of datagram (a Via with ~15 000 parameters in 60 KB, 5 000 header lines, a
Request-URI with 10 000 parameters, a To with 5 000 comma-separated values, 1 KB of non-SIP
bytes, and a valid OPTIONS as the baseline) the script sends COUNT of them to a uas on 127.0.0.1
in rounds of ROUND datagrams, each round followed by one OPTIONS whose 200 shows the round was
handled, and reads the uas's CPU time (the run time of its threads, /proc/PID/task/*/schedstat) before and after. The
CPU of the OPTIONS pings is measured alone first and taken off.

Eight TCP clients then each send 20 000 bytes of a header without its end and one more byte per
millisecond (--drip-seconds); the uas's CPU share over that time is measured (the header-end
search must not rescan what it has seen).

Then, LATENCY times, one hostile datagram is sent and a valid OPTIONS right behind it: the time
to its 200 is the latency a caller sees while the datagram is being handled.

Results: a table on stdout and JSON in benchmarks/results/hostile_parse[-LABEL].json.

    python3 benchmarks/hostile_parse.py                      # examples/c/uas (make examples)
    python3 benchmarks/hostile_parse.py --uas OTHER/uas --label before --count 5
"""

import argparse
import json
import os
import platform
import random
import re
import signal
import socket
import statistics
import subprocess
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RESULTS = os.path.join(ROOT, "benchmarks", "results")


def options(lport, port, n, extra=b""):
    return (b"OPTIONS sip:uas@127.0.0.1:%d SIP/2.0\r\n"
            b"Via: SIP/2.0/UDP 127.0.0.1:%d;branch=z9hG4bK-hp%d\r\n"
            b"Max-Forwards: 70\r\nFrom: <sip:bench@127.0.0.1>;tag=hp%d\r\nTo: <sip:uas@127.0.0.1>\r\n"
            b"Call-ID: hp%d@127.0.0.1\r\nCSeq: 1 OPTIONS\r\n%sContent-Length: 0\r\n\r\n"
            % (port, lport, n, n, n, extra))


def hostile(kind, lport, port, n):
    """One datagram of *kind* (all under 64 KB)."""
    if kind == "via_15000_params":
        via = b"Via: SIP/2.0/UDP 127.0.0.1:%d;branch=z9hG4bK-hv%d" % (lport, n) + b";p=1" * 15000 + b"\r\n"
        return options(lport, port, n).replace(b"Via: ", b"X-Old-Via: ", 1).replace(b"Max-Forwards", via + b"Max-Forwards", 1)
    if kind == "headers_5000":
        return options(lport, port, n, b"".join(b"X-H%d: v\r\n" % i for i in range(5000)))
    if kind == "uri_10000_params":
        return options(lport, port, n).replace(b"127.0.0.1:%d SIP/2.0" % port,
                                               b"127.0.0.1:%d" % port + b";u" * 10000 + b" SIP/2.0", 1)
    if kind == "to_5000_values":
        return options(lport, port, n).replace(b"To: <sip:uas@127.0.0.1>",
                                               b"To: <sip:uas@127.0.0.1>" + b",<sip:b@c>" * 5000, 1)
    if kind == "garbage_1k":
        return bytes(random.Random(n).randrange(256) for _ in range(1024))
    if kind == "valid_options":
        return options(lport, port, 10_000_000 + n)
    raise ValueError(kind)


KINDS = ["valid_options", "garbage_1k", "via_15000_params", "headers_5000", "uri_10000_params", "to_5000_values"]


def cpu_seconds(pid):
    """CPU time of every thread of *pid*, in seconds, with nanosecond resolution (schedstat)."""
    total = 0
    for tid in os.listdir("/proc/%d/task" % pid):
        try:
            with open("/proc/%d/task/%s/schedstat" % (pid, tid)) as f:
                total += int(f.read().split()[0])
        except (OSError, ValueError, IndexError):
            pass  # a thread that just ended
    return total / 1e9


class Client:
    def __init__(self, port):
        self.port = port
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
        self.sock.bind(("127.0.0.1", 0))
        self.lport = self.sock.getsockname()[1]
        self.n = 0
        self.other_answers = 0

    def send(self, data):
        self.sock.sendto(data, ("127.0.0.1", self.port))

    def ping(self, timeout=30.0):
        """Send an OPTIONS and wait (bounded) for its 200; returns the seconds it took."""
        self.n += 1
        branch = b"z9hG4bK-hp%d;" % self.n
        t0 = time.perf_counter()
        self.send(options(self.lport, self.port, self.n))
        deadline = time.monotonic() + timeout
        while True:
            self.sock.settimeout(max(0.001, deadline - time.monotonic()))
            try:
                data = self.sock.recv(65536)
            except socket.timeout:
                raise RuntimeError("no answer to OPTIONS %d within %.0f s" % (self.n, timeout))
            if (b"z9hG4bK-hp%d\r\n" % self.n) in data or branch in data:
                if data.startswith(b"SIP/2.0 200"):
                    return time.perf_counter() - t0
            else:
                self.other_answers += 1


def start_uas(path, transport="udp"):
    proc = subprocess.Popen([path, "-a", "127.0.0.1", "-p", "0", "-t", transport, "-q"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    line = proc.stdout.readline()
    m = re.search(r"listening on %s 127\.0\.0\.1:(\d+)" % transport, line)
    if not m:
        proc.kill()
        raise SystemExit("uas did not start: %r" % line)
    return proc, int(m.group(1))


def stop_uas(proc):
    proc.send_signal(signal.SIGINT)
    try:
        out, err = proc.communicate(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, err = proc.communicate(timeout=10)
    m = re.search(r"dropped=(\d+)", err)
    return int(m.group(1)) if m else None


def drip(path, seconds, conns=8, prefix=20000):
    """CPU share of the uas while CONNS TCP clients each send PREFIX bytes of an unfinished header
    at once and then one more byte per millisecond."""
    proc, port = start_uas(path, "tcp")
    socks = []
    try:
        for _ in range(conns):
            s = socket.create_connection(("127.0.0.1", port))
            head = options(s.getsockname()[1], port, 1).split(b"Content-Length")[0] + b"X-Pad: "
            s.sendall(head + b"p" * (prefix - len(head)))
            socks.append(s)
        time.sleep(0.2)
        c0 = cpu_seconds(proc.pid)
        t0 = time.monotonic()
        sent = 0
        closed = None
        while time.monotonic() - t0 < seconds and closed is None:
            for s in socks:
                try:
                    s.send(b"p")
                except OSError:
                    closed = time.monotonic() - t0
                    break
            sent += 1
            time.sleep(0.001)
        elapsed = time.monotonic() - t0
        cpu = cpu_seconds(proc.pid) - c0
    finally:
        for s in socks:
            s.close()
        stop_uas(proc)
    return {"connections": conns, "prefix_bytes": prefix, "seconds": elapsed, "bytes_per_connection": sent,
            "cpu_share": cpu / elapsed, "closed_after_s": closed}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--uas", default=os.path.join(ROOT, "examples", "c", "uas"))
    ap.add_argument("--count", type=int, default=400, help="datagrams of each kind")
    ap.add_argument("--round", type=int, default=16, help="datagrams between two OPTIONS pings")
    ap.add_argument("--latency", type=int, default=10, help="hostile+OPTIONS pairs per kind")
    ap.add_argument("--label", default="")
    ap.add_argument("--kinds", default=",".join(KINDS))
    ap.add_argument("--drip-seconds", type=float, default=8.0,
                    help="length of the TCP drip measurement (0: skip it)")
    args = ap.parse_args()
    if not os.access(args.uas, os.X_OK):
        raise SystemExit("%s is not built (make examples)" % args.uas)
    proc, port = start_uas(args.uas)
    rows = []
    try:
        client = Client(port)
        for _ in range(20):
            client.ping()
        pings = max(50, args.count // args.round)
        c0 = cpu_seconds(proc.pid)
        for _ in range(pings):
            client.ping()
        ping_cpu = (cpu_seconds(proc.pid) - c0) / pings
        for kind in args.kinds.split(","):
            client.other_answers = 0
            sent = 0
            rounds = 0
            c0 = cpu_seconds(proc.pid)
            w0 = time.perf_counter()
            while sent < args.count:
                burst = [hostile(kind, client.lport, port, sent + i) for i in range(min(args.round, args.count - sent))]
                for data in burst:  # built first, then sent back to back
                    client.send(data)
                sent += len(burst)
                client.ping(timeout=120)
                rounds += 1
            cpu = cpu_seconds(proc.pid) - c0 - rounds * ping_cpu
            wall = time.perf_counter() - w0
            lat = []
            for i in range(args.latency):
                client.send(hostile(kind, client.lport, port, 1_000_000 + i))
                lat.append(client.ping(timeout=120) * 1000.0)
            rows.append({"kind": kind, "bytes": len(hostile(kind, client.lport, port, 0)), "count": sent,
                         "cpu_us_per_datagram": max(cpu, 0.0) / sent * 1e6, "wall_s": wall,
                         "options_after_ms_median": statistics.median(lat), "options_after_ms_max": max(lat),
                         "answered": client.other_answers})
    finally:
        dropped = stop_uas(proc)
    print("%-18s %7s %6s %14s %12s %10s %9s" % ("datagram", "bytes", "count", "cpu us/dgram", "OPTIONS ms",
                                               "(max ms)", "answered"))
    for r in rows:
        print("%-18s %7d %6d %14.1f %12.2f %10.2f %9d" % (r["kind"], r["bytes"], r["count"], r["cpu_us_per_datagram"],
                                                       r["options_after_ms_median"], r["options_after_ms_max"],
                                                       r["answered"]))
    print("OPTIONS after one datagram: median and max of %d; answered: answers to the datagrams of that kind"
          % args.latency)
    print("uas dropped counter: %s; CPU of one OPTIONS ping (taken off): %.1f us" % (dropped, ping_cpu * 1e6))
    dripped = drip(args.uas, args.drip_seconds) if args.drip_seconds > 0 else None
    if dripped:
        print("TCP drip, %d connections with %d header bytes, then 1 byte per ms each: %d bytes in %.1f s,"
              " uas CPU %.1f%%%s"
              % (dripped["connections"], dripped["prefix_bytes"], dripped["bytes_per_connection"],
                 dripped["seconds"], dripped["cpu_share"] * 100,
                 "" if dripped["closed_after_s"] is None else ", closed after %.1f s" % dripped["closed_after_s"]))
    os.makedirs(RESULTS, exist_ok=True)
    out = os.path.join(RESULTS, "hostile_parse%s.json" % ("-" + args.label if args.label else ""))
    with open(out, "w") as f:
        json.dump({"uas": args.uas, "label": args.label, "machine": platform.node(), "cpus": os.cpu_count(),
                   "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "rows": rows,
                   "uas_dropped": dropped, "tcp_drip": dripped, "ping_cpu_us": ping_cpu * 1e6},
                  f, indent=2)
    print("wrote", out)


if __name__ == "__main__":
    main()
