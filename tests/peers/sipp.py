# SPDX-License-Identifier: Apache-2.0
"""Run SIPp and the C example programs as real peers on 127.0.0.1, with every wait bounded.

* :func:`free_port` picks a port that is free for UDP and TCP at once.
* :class:`Sipp` starts one SIPp process (built-in scenario or XML file) in its own working directory,
  always with a global timeout, ``-timeout_error``, ``-nostdin`` and error tracing, never in the
  background; :meth:`Sipp.wait` and :meth:`Sipp.stop` return a :class:`SippResult` with the exit code,
  SIPp's cumulative statistics (successful, failed calls, retransmissions), the per-message counts and
  the unexpected-message log.
* :class:`Program` starts one of ``examples/c/uas`` / ``examples/c/uac`` (or any program that prints a
  listening line), waits for that line with a deadline, and stops it with SIGTERM by its own pid.

Nothing here forks twice or uses process groups: each helper knows exactly one pid and stops only it.
"""

import csv
import glob
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time

HOST = "127.0.0.1"

#: SIPp writes this line into every error log; it means nothing.
HARMLESS_ERRORS = ("Failed to delete FD from epoll",)

#: SIPp exit codes (see ``sipp -h``, "Exit codes").
EXIT_ALL_OK = 0
EXIT_SOME_FAILED = 1
EXIT_GLOBAL_TIMEOUT = 255
EXIT_PORT_IN_USE = 254

_handed_out = set()


class PeerError(AssertionError):
    """A peer did not start, did not stop in time, or ended in a way a test did not expect."""


def sipp_binary():
    path = shutil.which("sipp")
    if path is None:
        raise PeerError("sipp is not installed (Debian package sip-tester; `make deps` installs it)")
    return path


def _port_is_free(port, host=HOST):
    udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    tcp = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        udp.bind((host, port))
        tcp.bind((host, port))
        return True
    except OSError:
        return False
    finally:
        udp.close()
        tcp.close()


def free_port(host=HOST):
    """Return a port on *host* that is free for both UDP and TCP right now.

    The kernel picks a TCP port; it is kept only if UDP is free on the same number. A port is never
    handed out twice by one process, so peers started one after the other cannot collide.
    """
    for _ in range(200):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
            probe.bind((host, 0))
            port = probe.getsockname()[1]
        if port in _handed_out or not _port_is_free(port, host):
            continue
        _handed_out.add(port)
        return port
    raise PeerError("no port free for both UDP and TCP on %s" % host)


def _bound_sockets(transport):
    """``{port: {inode, …}}`` of sockets bound on 127.0.0.1 / 0.0.0.0 (UDP) or listening there
    (TCP), read from /proc/net."""
    found = {}
    path, state = ("/proc/net/udp", None) if transport == "udp" else ("/proc/net/tcp", "0A")
    try:
        with open(path) as f:
            next(f)
            for line in f:
                fields = line.split()
                addr, port = fields[1].split(":")
                if state is not None and fields[3] != state:
                    continue
                if addr in ("0100007F", "00000000"):
                    found.setdefault(int(port, 16), set()).add(fields[9])
    except (OSError, IndexError, ValueError):
        pass
    return found


def _socket_inodes(pid):
    """Inodes of the sockets process *pid* holds open."""
    inodes = set()
    fd_dir = "/proc/%d/fd" % pid
    try:
        names = os.listdir(fd_dir)
    except OSError:
        return inodes
    for name in names:
        try:
            link = os.readlink(os.path.join(fd_dir, name))
        except OSError:
            continue
        if link.startswith("socket:["):
            inodes.add(link[8:-1])
    return inodes


def wait_port_bound(port, transport, proc, timeout=10.0, name="peer"):
    """Wait until *proc* itself has *port* bound (UDP) or listening (TCP), while it is alive."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        inodes = _bound_sockets(transport).get(port)
        if inodes and inodes & _socket_inodes(proc.pid):
            return
        if proc.poll() is not None:
            raise PeerError("%s exited with %s before binding %s port %d" % (name, proc.returncode, transport, port))
        time.sleep(0.02)
    raise PeerError("%s did not bind %s port %d within %.1f s" % (name, transport, port, timeout))


def _stop_pid(proc, grace):
    """Stop *proc* (a Popen) by its own pid: SIGTERM, then SIGKILL after *grace* seconds."""
    if proc.poll() is not None:
        return proc.returncode
    proc.send_signal(signal.SIGTERM)
    try:
        return proc.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        proc.kill()
        return proc.wait(timeout=10)


def _read(path, limit=None):
    try:
        with open(path, "r", errors="replace") as f:
            text = f.read()
    except OSError:
        return ""
    if limit is not None and len(text) > limit:
        text = "…" + text[-limit:]
    return text


def read_stat_rows(path):
    """Rows of a SIPp ``-trace_stat`` or ``-trace_counts`` CSV file, as dicts keyed by the header."""
    try:
        with open(path, newline="", errors="replace") as f:
            rows = list(csv.reader(f, delimiter=";"))
    except OSError:
        return []
    if not rows:
        return []
    header = [h.strip() for h in rows[0]]
    out = []
    for row in rows[1:]:
        if len(row) < 3:
            continue
        out.append({h: v.strip() for h, v in zip(header, row) if h})
    return out


def _int(value, default=0):
    try:
        return int(value)
    except (TypeError, ValueError):
        try:
            return int(float(value))
        except (TypeError, ValueError):
            return default


_MSG_HEAD = re.compile(r"^-{20,} (\d{4}-\d\d-\d\d) (\d\d):(\d\d):(\d\d(?:\.\d+)?)\s*$")


def parse_message_log(text):
    """Split a SIPp ``-trace_msg`` log into ``(seconds_since_midnight, 'sent'|'received', message)``."""
    entries = []
    current = None
    for line in text.splitlines():
        m = _MSG_HEAD.match(line)
        if m:
            if current is not None:
                entries.append(current)
            secs = int(m.group(2)) * 3600 + int(m.group(3)) * 60 + float(m.group(4))
            current = [secs, None, []]
            continue
        if current is None:
            continue
        if current[1] is None:
            if " message sent" in line:
                current[1] = "sent"
            elif " message received" in line:
                current[1] = "received"
            continue
        current[2].append(line)
    if current is not None:
        entries.append(current)
    return [(t, d, "\n".join(lines).strip() + "\n") for t, d, lines in entries if d is not None]


_ERROR_STAMP = re.compile(r"(?=\d{4}-\d\d-\d\d\t\d\d:\d\d:\d\d\.\d+\t)")


def split_error_log(text):
    """The events of a SIPp error log, one string each (SIPp does not always end them with a newline),
    without the heading and without the harmless ones."""
    events = []
    for chunk in _ERROR_STAMP.split(text):
        chunk = chunk.replace("The following events occurred:", "").strip()
        if not chunk:
            continue
        first = chunk.splitlines()[0]
        if any(h in first for h in HARMLESS_ERRORS):
            continue
        events.append(chunk)
    return events


class SippResult:
    """What one SIPp run left behind."""

    def __init__(self, sipp, returncode):
        self.command = list(sipp.command)
        self.transport = sipp.transport
        self.workdir = sipp.workdir
        self.returncode = returncode
        self.stdout = _read(sipp.stdout_path, 20000)
        self.stderr = _read(sipp.stderr_path, 20000)
        self.samples = read_stat_rows(sipp.stat_path)
        self.stats = self.samples[-1] if self.samples else {}
        # -trace_counts has no file-name option: SIPp writes <scenario>_<pid>_counts.csv in its cwd
        counts = sorted(glob.glob(os.path.join(sipp.workdir, "*_counts.csv"))) if sipp.trace_counts else []
        self.count_samples = read_stat_rows(counts[-1]) if counts else []
        self.counts = self.count_samples[-1] if self.count_samples else {}
        error_text = _read(sipp.error_path)
        self.errors = split_error_log(error_text)
        self.error_log = error_text
        self.screen = _read(sipp.screen_path, 20000)
        self.messages = parse_message_log(_read(sipp.message_path)) if sipp.trace_messages else []

    def stat(self, name):
        """A cumulative statistic, e.g. ``stat('SuccessfulCall')`` reads ``SuccessfulCall(C)``."""
        return _int(self.stats.get(name + "(C)", self.stats.get(name)))

    @property
    def successful(self):
        return self.stat("SuccessfulCall")

    @property
    def failed(self):
        return self.stat("FailedCall")

    @property
    def retransmissions(self):
        return self.stat("Retransmissions")

    @property
    def created(self):
        return self.stat("TotalCallCreated")

    def failure_reasons(self):
        """Non-zero ``Failed*`` counters, e.g. ``{'FailedTimeoutOnRecv': 3}``."""
        return {k[:-3]: _int(v) for k, v in self.stats.items()
                if k.startswith("Failed") and k.endswith("(C)") and _int(v)}

    def message_count(self, index, kind):
        """Per-message counter from ``-trace_counts``: *index* is the scenario step, *kind* e.g.
        ``'Recv'``, ``'Sent'``, ``'Retrans'``, ``'Timeout'``, ``'Unexp'``."""
        for key, value in self.counts.items():
            parts = key.split("_")
            if len(parts) >= 3 and parts[0] == str(index) and parts[-1] == kind:
                return _int(value)
        raise KeyError("no counter for step %s kind %s in %s" % (index, kind, sorted(self.counts)))

    def describe(self):
        """A short report for assertion messages."""
        lines = [
            "sipp rc=%s successful=%s failed=%s retransmissions=%s created=%s reasons=%s" % (
                self.returncode, self.successful, self.failed, self.retransmissions, self.created,
                self.failure_reasons()),
            "command: %s" % " ".join(self.command),
            "workdir: %s" % self.workdir,
        ]
        if self.errors:
            lines.append("errors log (tail):\n" + "\n".join(self.errors[-15:]))
        if self.stderr.strip():
            lines.append("stderr (tail):\n" + self.stderr[-2000:])
        if self.screen.strip():
            lines.append("screen (tail):\n" + self.screen[-3000:])
        return "\n".join(lines)

    def assert_clean(self, calls=None):
        """SIPp exited 0, every call succeeded (exactly *calls* when given), nothing unexpected."""
        assert self.returncode == EXIT_ALL_OK, self.describe()
        assert self.failed == 0, self.describe()
        if calls is not None:
            assert self.successful == calls, self.describe()
        assert not self.errors, self.describe()


class Sipp:
    """One SIPp process.

    *scenario* is a built-in name (``'uac'``, ``'uas'``, …) or the path of an XML file. *remote* is
    ``'host:port'`` for a client. *transport* is ``'udp'`` or ``'tcp'`` (one socket: ``-t u1`` / ``-t t1``).
    *keys* become ``-key NAME VALUE`` (``[NAME]`` in the XML). The global timeout (*timeout_s*) is always
    set, with ``-timeout_error`` so that reaching it exits 255.
    """

    def __init__(self, scenario, remote=None, *, port=None, transport="udp", calls=None, rate=None,
                 rate_period_ms=None, limit=None, pause_ms=None, timeout_s=30, stat_freq_s=1,
                 keys=None, extra=(), workdir=None, trace_counts=False, trace_messages=False,
                 service=None, name=None):
        if transport not in ("udp", "tcp"):
            raise ValueError("transport must be 'udp' or 'tcp', not %r" % (transport,))
        self.transport = transport
        self._auto_port = port is None
        self.port = port if port is not None else free_port()
        self.timeout_s = timeout_s
        self.trace_counts = trace_counts
        self.trace_messages = trace_messages
        is_file = scenario.endswith(".xml") or os.sep in scenario
        self.name = name or (os.path.basename(scenario)[:-4] if is_file else scenario)
        self._own_workdir = workdir is None
        self.workdir = workdir or tempfile.mkdtemp(prefix="sipp-%s-" % self.name)
        os.makedirs(self.workdir, exist_ok=True)
        p = lambda suffix: os.path.join(self.workdir, "%s%s" % (self.name, suffix))  # noqa: E731
        self.stdout_path, self.stderr_path = p(".stdout"), p(".stderr")
        self.stat_path = p("_stat.csv")
        self.error_path, self.screen_path, self.message_path = p("_errors.log"), p("_screen.log"), p("_messages.log")

        cmd = [sipp_binary()]
        if remote:
            cmd.append(remote)
        cmd += ["-sf", os.path.abspath(scenario)] if is_file else ["-sn", scenario]
        cmd += ["-i", HOST, "-p", str(self.port), "-t", "u1" if transport == "udp" else "t1",
                "-timeout", "%ds" % timeout_s, "-timeout_error", "-nostdin",
                "-trace_err", "-error_file", self.error_path,
                "-trace_stat", "-stf", self.stat_path, "-fd", str(stat_freq_s),
                "-trace_screen", "-screen_file", self.screen_path]
        if trace_counts:
            cmd += ["-trace_counts"]
        if trace_messages:
            cmd += ["-trace_msg", "-message_file", self.message_path]
        if service is not None:
            cmd += ["-s", service]
        for flag, value in (("-m", calls), ("-r", rate), ("-rp", rate_period_ms), ("-l", limit),
                            ("-d", pause_ms)):
            if value is not None:
                cmd += [flag, str(value)]
        for key, value in (keys or {}).items():
            cmd += ["-key", key, str(value)]
        cmd += list(extra)
        self.command = cmd
        self.proc = None
        self.result = None

    # -- lifetime ------------------------------------------------------------------------------
    def start(self, wait_bound=True):
        """Start SIPp and wait (bounded) until its port is bound (UDP) or listening (TCP).

        Another process may take a port between :func:`free_port` and SIPp's bind; SIPp then exits
        254 at once, and a port chosen here is replaced and SIPp started again (twice at most). With
        *wait_bound* false (a client), SIPp may also finish before the bind is seen: that is fine,
        :meth:`wait` reports the outcome; a server (*wait_bound* true) must be bound.
        """
        assert self.proc is None, "already started"
        for attempt in range(3):
            with open(self.stdout_path, "wb") as out, open(self.stderr_path, "wb") as err:
                self.proc = subprocess.Popen(self.command, cwd=self.workdir, stdin=subprocess.DEVNULL,
                                             stdout=out, stderr=err)
            try:
                wait_port_bound(self.port, self.transport, self.proc, name="sipp %s" % self.name)
                return self
            except PeerError:
                rc = self.proc.poll()
                if rc == EXIT_PORT_IN_USE and self._auto_port and attempt < 2:
                    self._set_port(free_port())
                    continue
                if rc is not None and not wait_bound:
                    return self
                self.stop()
                raise PeerError("sipp %s did not start:\n%s" % (self.name, self.result.describe()))
        return self

    def _set_port(self, port):
        index = self.command.index("-p") + 1
        self.command[index] = str(port)
        self.port = port

    @property
    def pid(self):
        return self.proc.pid if self.proc else None

    def running(self):
        return self.proc is not None and self.proc.poll() is None

    def wait(self, timeout=None):
        """Wait for SIPp to exit by itself (bounded: the global timeout plus a margin) and return the
        :class:`SippResult`. Raises :class:`PeerError` if it had to be killed."""
        assert self.proc is not None, "not started"
        if timeout is None:
            timeout = self.timeout_s + 15
        try:
            rc = self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.stop()
            raise PeerError("sipp %s still running after %.0f s; stopped it\n%s"
                            % (self.name, timeout, self.result.describe()))
        self.result = SippResult(self, rc)
        return self.result

    def stop(self, grace=5.0):
        """Stop SIPp by its pid if it is still running (SIGTERM, then SIGKILL) and return the result."""
        if self.proc is None:
            return None
        rc = _stop_pid(self.proc, grace)
        if self.result is None or self.result.returncode != rc:
            self.result = SippResult(self, rc)
        return self.result

    def cleanup(self):
        self.stop()
        if self._own_workdir:
            shutil.rmtree(self.workdir, ignore_errors=True)

    def __enter__(self):
        return self.start() if self.proc is None else self

    def __exit__(self, *exc):
        self.stop()

    def __repr__(self):
        return "<Sipp %s %s:%d pid=%s>" % (self.name, self.transport, self.port, self.pid)


def run_sipp(scenario, remote=None, **kwargs):
    """Start a SIPp client, wait for it (bounded) and return its :class:`SippResult`."""
    sipp = Sipp(scenario, remote, **kwargs)
    sipp.start(wait_bound=False)
    return sipp.wait()


_LISTENING = re.compile(r"listening on (udp|tcp) ([0-9.]+):(\d+)")
_STATS = re.compile(r"^(\w+): ((?:\w+=\d+\s*)+)$")


def parse_stats_line(text, prefix):
    """Parse the last ``PREFIX: key=N key=N …`` line of *text* into a dict of ints (``{}`` if none)."""
    found = {}
    for line in text.splitlines():
        m = _STATS.match(line.strip())
        if m and m.group(1) == prefix:
            found = {k: int(v) for k, v in (kv.split("=") for kv in m.group(2).split())}
    return found


class Program:
    """One run of a C example program (``uas`` or ``uac``), stdout and stderr kept in files.

    *program* is the executable, *args* its arguments, *wrapper* an optional command put in front
    (``['valgrind', …]``). The final ``NAME: key=N …`` line is looked up with NAME = the program's
    base name up to the first ``-`` (``uas-asan`` prints ``uas: …``). For a server, :meth:`start` waits (bounded) for its ``NAME: listening on PROTO ADDR:PORT`` line and
    sets :attr:`port`. :meth:`stop` sends SIGTERM to its own pid, waits, and returns the exit code.
    """

    def __init__(self, program, args=(), *, wrapper=(), name=None, workdir=None, env=None):
        self.program = str(program)
        self.argv = [str(a) for a in wrapper] + [self.program] + [str(a) for a in args]
        self.prefix = os.path.basename(self.program).split("-")[0]
        self.name = name or os.path.basename(self.program)
        self._own_workdir = workdir is None
        self.workdir = workdir or tempfile.mkdtemp(prefix="prog-%s-" % self.name)
        os.makedirs(self.workdir, exist_ok=True)
        self.stdout_path = os.path.join(self.workdir, self.name + ".stdout")
        self.stderr_path = os.path.join(self.workdir, self.name + ".stderr")
        self.env = env
        self.proc = None
        self.port = None
        self.transport = None
        self.returncode = None

    def start(self, wait_listening=True, timeout=10.0):
        assert self.proc is None, "already started"
        env = dict(os.environ)
        env.update(self.env or {})
        with open(self.stdout_path, "wb") as out, open(self.stderr_path, "wb") as err:
            self.proc = subprocess.Popen(self.argv, cwd=self.workdir, stdin=subprocess.DEVNULL,
                                         stdout=out, stderr=err, env=env)
        if wait_listening:
            deadline = time.monotonic() + timeout
            while True:
                m = _LISTENING.search(self.stdout)
                if m:
                    self.transport, self.port = m.group(1), int(m.group(3))
                    break
                if self.proc.poll() is not None:
                    raise PeerError("%s exited with %s before listening\n%s"
                                    % (self.name, self.proc.returncode, self.describe()))
                if time.monotonic() > deadline:
                    self.stop(check=False)
                    raise PeerError("%s printed no listening line within %.0f s\n%s"
                                    % (self.name, timeout, self.describe()))
                time.sleep(0.02)
        return self

    @property
    def pid(self):
        return self.proc.pid if self.proc else None

    @property
    def stdout(self):
        return _read(self.stdout_path)

    @property
    def stderr(self):
        return _read(self.stderr_path)

    def stats(self):
        """The program's final ``NAME: calls=N …`` line, as a dict of ints."""
        return parse_stats_line(self.stdout, self.prefix)

    def describe(self):
        return "%s rc=%s argv=%s\nstdout (tail):\n%s\nstderr (tail):\n%s" % (
            self.name, self.returncode, " ".join(self.argv), self.stdout[-3000:], self.stderr[-6000:])

    def wait(self, timeout):
        """Wait (bounded) for the program to exit by itself; kill it and raise if it does not."""
        try:
            self.returncode = self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.returncode = _stop_pid(self.proc, 5.0)
            raise PeerError("%s still running after %.0f s; stopped it\n%s" % (self.name, timeout,
                                                                               self.describe()))
        return self.returncode

    def stop(self, check=True, grace=20.0):
        """SIGTERM to its own pid, bounded wait, SIGKILL if needed. With *check*, assert exit 0."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=grace)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
                self.returncode = self.proc.returncode
                if check:
                    raise PeerError("%s ignored SIGTERM for %.0f s; killed\n%s" % (self.name, grace,
                                                                                  self.describe()))
        self.returncode = self.proc.returncode
        if check:
            assert self.returncode == 0, self.describe()
        return self.returncode

    def cleanup(self):
        if self.proc is not None and self.proc.poll() is None:
            self.stop(check=False)
        if self._own_workdir:
            shutil.rmtree(self.workdir, ignore_errors=True)

    def __repr__(self):
        return "<Program %s port=%s pid=%s>" % (self.name, self.port, self.pid)


def rss_kib(pid):
    """Resident set size of *pid* in KiB (``VmRSS`` from /proc), or None once it has gone."""
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        return None
    return None
