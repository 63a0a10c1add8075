# SPDX-License-Identifier: Apache-2.0
"""SIP over TLS next to TCP, in one run: calls per second and CPU per call between two contexts
(one connection, reused by every call), and the cost of a new TLS connection (handshake, then one
OPTIONS) against a new TCP one.

    python benchmarks/tls.py [--calls 300] [--connections 100] [--json PATH]

Both contexts and the client live in this process, so CPU figures are the whole exchange's
(both ends). This is a benchmark, not a test: it prints a table and writes JSON to
benchmarks/results/. Certificates come from a throwaway CA made with the `openssl` command.
"""

import argparse
import os
import queue
import socket
import ssl
import statistics
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
sys.path.insert(0, os.path.join(ROOT, "tests"))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from exosip2 import call  # noqa: E402
from exosip2.context import Context  # noqa: E402
from exosip2.event import EventType as T  # noqa: E402
from results_io import write_report  # noqa: E402
from tlscerts import CA  # noqa: E402
from uapair import sdp  # noqa: E402

RESULTS = os.path.join(ROOT, "benchmarks", "results")


class Side:
    def __init__(self, name, secure, cert):
        self.events = queue.Queue()
        self.ctx = Context(lambda c, e: self.events.put(e))
        if secure:
            self.ctx.set_tls(cert=cert[0], key=cert[1], verify=False)
        self.port = self.ctx.listen_on_address("127.0.0.1", socket.IPPROTO_TCP, port=0, secure=secure)
        self.uri = "sip:%s@127.0.0.1:%d;transport=%s" % (name, self.port, "tls" if secure else "tcp")
        self.ctx.start(event_executor="inline")

    def get(self, *types):
        while True:
            ev = self.events.get(timeout=10)
            if ev.type in types:
                return ev


def calls(secure, n, cert):
    a, b = Side("a", secure, cert), Side("b", secure, cert)
    try:
        t0, c0 = time.perf_counter(), time.process_time()
        for _ in range(n):
            inv = call.InitInvite(a.ctx, b.uri, a.uri)
            inv.add_body(sdp("a", 40000))
            inv.content_type = "application/sdp"
            cid = inv.send()
            ev = b.get(T.call_invite)
            ok = call.Answer(b.ctx, ev.tid, 200)
            ok.add_body(sdp("b", 41000))
            ok.content_type = "application/sdp"
            ok.send()
            ans = a.get(T.call_answered)
            a.ctx.call_send_ack(did=ans.did)
            b.get(T.call_ack)
            a.ctx.call_terminate(cid, ans.did)
            b.get(T.call_closed)
            a.get(T.call_released)
        wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    finally:
        a.ctx.close()
        b.ctx.close()
    return {"calls": n, "calls_per_s": n / wall, "cpu_us_per_call": cpu / n * 1e6}


def connections(secure, n, cert):
    side = Side("s", secure, cert)
    side.ctx.event_callback = lambda c, e: c.options_send_answer(e.tid, 200) if e.type == T.message_new else None
    cctx = ssl.create_default_context()
    cctx.check_hostname = False
    cctx.verify_mode = ssl.CERT_NONE
    times, hs = [], []
    c0 = time.process_time()
    try:
        for i in range(n):
            t0 = time.perf_counter()
            raw = socket.create_connection(("127.0.0.1", side.port), timeout=5)
            raw.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            s = cctx.wrap_socket(raw) if secure else raw
            hs.append(time.perf_counter() - t0)
            lp = s.getsockname()[1]
            s.sendall(("OPTIONS sip:s@127.0.0.1:%d SIP/2.0\r\nVia: SIP/2.0/%s 127.0.0.1:%d;branch=z9hG4bK-b%d\r\n"
                       "Max-Forwards: 70\r\nFrom: <sip:p@127.0.0.1>;tag=1\r\nTo: <sip:s@127.0.0.1>\r\n"
                       "Call-ID: b%d-%d@127.0.0.1\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n"
                       % (side.port, "TLS" if secure else "TCP", lp, i, i, lp)).encode())
            data = b""
            while b"\r\n\r\n" not in data:
                chunk = s.recv(65536)
                if not chunk:
                    break
                data += chunk
            s.close()
            assert data.startswith(b"SIP/2.0 200"), data
            times.append(time.perf_counter() - t0)
        cpu = time.process_time() - c0
    finally:
        side.ctx.close()
    return {"connections": n, "connect_ms_median": statistics.median(hs) * 1e3,
            "exchange_ms_median": statistics.median(times) * 1e3, "cpu_us_per_connection": cpu / n * 1e6}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--calls", type=int, default=300)
    ap.add_argument("--connections", type=int, default=100)
    ap.add_argument("--json", default=os.path.join(RESULTS, "tls.json"))
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as d:
        cert = CA(d, "bench").issue("server")
        report = {"note": "one process: both ends and the client; a shared machine gives noisy numbers"}
        for name, secure in (("tcp", False), ("tls", True)):
            report[name] = {"calls": calls(secure, args.calls, cert),
                            "new_connections": connections(secure, args.connections, cert)}
    print("%-4s %12s %14s %16s %18s" % ("", "calls/s", "CPU us/call", "connect ms (med)", "CPU us/connection"))
    for name in ("tcp", "tls"):
        r = report[name]
        print("%-4s %12.0f %14.0f %16.2f %18.0f" % (name, r["calls"]["calls_per_s"], r["calls"]["cpu_us_per_call"],
                                                    r["new_connections"]["connect_ms_median"],
                                                    r["new_connections"]["cpu_us_per_connection"]))
    write_report(report, args.json)


if __name__ == "__main__":
    main()
