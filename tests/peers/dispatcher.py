# SPDX-License-Identifier: Apache-2.0
"""Kamailio's dispatcher in front of ``python -m exosip2 serve`` workers, on 127.0.0.1.

* :class:`Dispatcher` runs ``examples/kamailio/dispatcher.cfg`` itself (values given with ``-A``:
  listen address, list file, probing interval, tm timers) and reads back from its log which worker
  each request went to (``ds-pick``), the failovers (``ds-failover``) and the state changes the
  probing made (``ds-state down|up``, with Kamailio's time).
* :class:`Serve` runs the supervisor in a session of its own (its workers are in that process
  group) and reads each worker's counters from ``--stats-dir``; its stop checks that the whole
  group is gone, and kills what is left of it.
"""

import json
import os
import re
import signal
import subprocess
import sys
import time

from . import sipprobe
from .kamailio import find_module_dir
from .proc import LOOPBACK, PeerError, PeerProcess, free_port, free_ports, pid_alive, require_binary, wait_until

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CONFIG = os.path.join(ROOT, "examples", "kamailio", "dispatcher.cfg")

_PICK_RE = re.compile(r"ds-pick dst=sip:(\S+) callid=(\S+) time=(\S+)( retry=1)?")
_STATE_RE = re.compile(r"ds-state (down|up) by=(\S+) ru=sip:(?:[^@\s]*@)?(\S+) du=(\S+) time=(\S+)")
_FAILOVER_RE = re.compile(r"ds-failover dst=sip:(\S+) status=(\S+) callid=(\S+)")


class Dispatcher:
    """Kamailio with ``examples/kamailio/dispatcher.cfg`` balancing over *workers* ``[(host, port)]``."""

    def __init__(self, rundir, workers, ping_interval=1, fr_timer=1000, fr_inv_timer=5000, children=2, shm_mb=64,
                 host=LOOPBACK, port=None):
        self.binary = require_binary("kamailio", "kamailio")
        self.rundir = str(rundir)
        os.makedirs(self.rundir, exist_ok=True)
        self.host = host
        self.port = port or free_port(host)
        self.workers = list(workers)
        self.ping_interval = ping_interval
        self.fr_timer = fr_timer
        self.list_path = os.path.join(self.rundir, "dispatcher.list")
        with open(self.list_path, "w") as f:
            for h, p in self.workers:
                f.write("1 sip:%s:%d\n" % (h, p))
        self.log_path = os.path.join(self.rundir, "kamailio.log")
        self.defines = ["-A", 'DS_LIST="%s"' % self.list_path,
                        "-A", "LISTEN_UDP=udp:%s:%d" % (host, self.port),
                        "-A", "LISTEN_TCP=tcp:%s:%d" % (host, self.port),
                        "-A", "DS_PING_INTERVAL=%d" % ping_interval,
                        "-A", "FR_TIMER=%d" % fr_timer, "-A", "FR_INV_TIMER=%d" % fr_inv_timer,
                        "-A", "CHILDREN=%d" % children]
        argv = [self.binary, "-f", CONFIG, "-DD", "-E", "-w", self.rundir, "-Y", self.rundir,
                "-P", os.path.join(self.rundir, "kamailio.pid"), "-L", find_module_dir(),
                "-m", str(shm_mb), "-M", "8"] + self.defines
        self.process = PeerProcess(argv, self.log_path, cwd=self.rundir, name="kamailio-dispatcher")

    def start(self, timeout=10.0):
        """Start Kamailio; return once it answers OPTIONS over UDP and TCP."""
        self.process.start()
        deadline = time.monotonic() + timeout
        ready = {"udp": False, "tcp": False}
        while time.monotonic() < deadline:
            if not self.process.running():
                raise PeerError("kamailio exited with %r:\n%s" % (self.process.returncode(), self.process.log_tail()))
            for proto in ready:
                if not ready[proto]:
                    ready[proto] = self.answers(proto)
            if all(ready.values()):
                self.process.children = self.process.child_pids()
                return self
            time.sleep(0.05)
        self.stop()
        raise PeerError("kamailio dispatcher not ready in %.1f s:\n%s" % (timeout, self.process.log_tail()))

    def answers(self, proto, timeout=0.3):
        try:
            resp = sipprobe.request(self.host, self.port, proto, "OPTIONS", timeout=timeout)
        except (sipprobe.ProbeError, OSError):
            return False
        return resp.status == 200 and (resp.header("server") or "") == "exosip2-dispatcher"

    def stop(self):
        return self.process.stop(term_timeout=5.0, kill_timeout=3.0)

    def all_pids(self):
        return [self.process.pid] + list(self.process.children)

    @property
    def address(self):
        return "%s:%d" % (self.host, self.port)

    def log_text(self):
        return self.process.log_text()

    def picks(self):
        """``[(worker "host:port", call_id, is_retry, time)]`` in the order Kamailio chose them."""
        return [(m.group(1), m.group(2), bool(m.group(4)), float(m.group(3)))
                for m in _PICK_RE.finditer(self.log_text())]

    def states(self):
        """``[(state "down"|"up", worker "host:port", time, method)]`` as the dispatcher changed them
        (*method*: OPTIONS for a probe, else the relayed request that failed)."""
        out = []
        for m in _STATE_RE.finditer(self.log_text()):
            state, method, ru, du, when = m.groups()
            dst = du[4:] if du.startswith("sip:") else ru
            out.append((state, dst, float(when), method))
        return out

    def failovers(self):
        """``[(worker, status, call_id)]``: requests a worker failed (timeout or 5xx), retried elsewhere."""
        return [(m.group(1), m.group(2), m.group(3)) for m in _FAILOVER_RE.finditer(self.log_text())]


def group_pids(pgid):
    """Live pids whose process group is *pgid* (read from /proc)."""
    out = []
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % name) as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except (FileNotFoundError, ProcessLookupError, IndexError):
            continue
        if fields[0] not in ("Z", "X") and int(fields[2]) == pgid:
            out.append(int(name))
    return out


class Serve:
    """``python -m exosip2 serve`` with *workers* workers on consecutive free ports."""

    def __init__(self, rundir, workers=2, extra=(), host=LOOPBACK):
        self.rundir = str(rundir)
        os.makedirs(self.rundir, exist_ok=True)
        self.count = workers
        self.host = host
        self.port = free_ports(workers, host)
        self.stats_dir = os.path.join(self.rundir, "stats")
        self.log_path = os.path.join(self.rundir, "serve.log")
        self.argv = [sys.executable, "-m", "exosip2", "serve", "--workers", str(workers), "--port", str(self.port),
                     "--address", host, "--stats-dir", self.stats_dir] + list(extra)
        self.popen = None

    @property
    def ports(self):
        return [self.port + i for i in range(self.count)]

    @property
    def addresses(self):
        return [(self.host, p) for p in self.ports]

    def start(self, timeout=20.0):
        """Start the supervisor in its own session; return once every worker said it listens."""
        with open(self.log_path, "ab") as log:
            self.popen = subprocess.Popen(self.argv, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                          cwd=ROOT, start_new_session=True,
                                          env=dict(os.environ, PYTHONPATH=ROOT))
        ok = wait_until(lambda: self.popen.poll() is not None or len(self.listening()) >= self.count, timeout, 0.05)
        if self.popen.poll() is not None or not ok:
            self.stop()
            raise PeerError("serve did not start %d workers in %.0f s:\n%s" % (self.count, timeout, self.log_text()))
        return self

    @property
    def pid(self):
        return self.popen.pid

    def log_text(self):
        try:
            with open(self.log_path, errors="replace") as f:
                return f.read()
        except FileNotFoundError:
            return ""

    def listening(self):
        """``{index: pid}`` of the latest worker of each index that said it listens."""
        out = {}
        for m in re.finditer(r"serve: worker (\d+) pid (\d+) listening", self.log_text()):
            out[int(m.group(1))] = int(m.group(2))
        return out

    def stats(self, index):
        """The counters worker *index* last wrote (dict), or None."""
        try:
            with open(os.path.join(self.stats_dir, "worker-%d.json" % index)) as f:
                return json.load(f)
        except (FileNotFoundError, ValueError):
            return None

    def all_stats(self):
        return [self.stats(i) for i in range(self.count)]

    def wait_stats(self, predicate, timeout=5.0):
        """Wait (bounded) until *predicate(list of stats)* holds; return the last stats."""
        last = []

        def check():
            last[:] = self.all_stats()
            return all(s is not None for s in last) and predicate(last)
        wait_until(check, timeout, 0.1)
        return list(last)

    def terminate(self, timeout=15.0):
        """SIGTERM the supervisor and wait for it; return its exit status."""
        if self.popen.poll() is None:
            os.kill(self.popen.pid, signal.SIGTERM)
        try:
            return self.popen.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            raise PeerError("serve still running %.0f s after SIGTERM:\n%s" % (timeout, self.log_text()))

    def stop(self):
        """Stop the supervisor and check that nothing of its process group is left (killing it if so)."""
        if self.popen is None:
            return None
        rc = None
        try:
            rc = self.terminate()
        except PeerError:
            pass
        left = wait_until(lambda: not group_pids(self.popen.pid), 5.0) or group_pids(self.popen.pid)
        if left is not True and left:
            try:
                os.killpg(self.popen.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            if self.popen.poll() is None:
                self.popen.wait(timeout=5)
            raise PeerError("serve left processes %r running:\n%s" % (left, self.log_text()))
        return rc


__all__ = ["Dispatcher", "Serve", "group_pids", "pid_alive"]
