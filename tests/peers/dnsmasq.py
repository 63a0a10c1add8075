# SPDX-License-Identifier: Apache-2.0
"""dnsmasq as a real DNS server on 127.0.0.1 and a free UDP port, serving NAPTR/SRV/A records
given on its command line (Debian's ``dnsmasq-base``), in the foreground (``-k``).

Names under ``test`` that have no record get NXDOMAIN (``--local=/test/``); nothing is forwarded
(``--no-resolv``) and ``/etc/hosts`` is not read. ``queries()`` returns the query lines dnsmasq
logged so far (``--log-queries``), which shows what was asked and when (the cache tests).
"""

import subprocess
import threading
import time

from .proc import LOOPBACK, PeerError, free_port, require_binary


class Dnsmasq:
    """One dnsmasq process; stop() ends it by its pid."""

    def __init__(self, naptr=(), srv=(), hosts=(), ttl=60):
        exe = require_binary("dnsmasq", "dnsmasq-base")
        self.port = free_port()
        self.server = "%s:%d" % (LOOPBACK, self.port)
        cmd = [exe, "-k", "--no-resolv", "--no-hosts",
               "--port=%d" % self.port, "--listen-address=%s" % LOOPBACK, "--bind-interfaces",
               "--local=/test/", "--local-ttl=%d" % ttl, "--pid-file=", "--conf-file=/dev/null",
               "--user=%s" % _user(), "--log-queries", "--log-facility=-"]
        for name, order, pref, services, replacement in naptr:
            cmd.append("--naptr-record=%s,%d,%d,s,%s,,%s" % (name, order, pref, services, replacement))
        for name, target, port, prio, weight in srv:
            cmd.append("--srv-host=%s,%s,%d,%d,%d" % (name, target, port, prio, weight))
        for name, ip in hosts:
            cmd.append("--host-record=%s,%s" % (name, ip))
        self.lines = []
        self._lock = threading.Lock()
        self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                     stderr=subprocess.STDOUT, text=True)
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        deadline = time.monotonic() + 5
        while not any("started" in line for line in self.snapshot()):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise PeerError("dnsmasq did not start: %s" % "".join(self.snapshot()))
            time.sleep(0.02)

    def _read(self):
        for line in self.proc.stdout:
            with self._lock:
                self.lines.append(line)

    def snapshot(self):
        with self._lock:
            return list(self.lines)

    def queries(self, name=None, at_least=0, timeout=3.0):
        """The ``query[TYPE] name`` lines logged so far (for *name* only when given).

        The log is read by a thread, so a line can lag the answer it belongs to: with *at_least*,
        wait (up to *timeout* seconds) until that many lines are there, then return what is."""
        deadline = time.monotonic() + timeout
        while True:
            out = [line for line in self.snapshot() if " query[" in line]
            if name is not None:
                out = [line for line in out if (" %s from" % name) in line]
            if len(out) >= at_least or time.monotonic() >= deadline:
                return out
            time.sleep(0.02)

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self._reader.join(2)
        if self.proc.stdout is not None:
            self.proc.stdout.close()


def _user():
    import pwd
    import os
    return pwd.getpwuid(os.getuid()).pw_name
