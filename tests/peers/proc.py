# SPDX-License-Identifier: Apache-2.0
"""Low-level helpers shared by the peer fixtures: free ports, binaries and child processes.

Every wait here is bounded.  A peer is started with :class:`PeerProcess`, which
remembers its own pid and is stopped by that pid only (SIGTERM, then SIGKILL),
so a test never leaves a child behind and never touches a process it did not
start.
"""

import os
import shutil
import signal
import socket
import subprocess
import threading
import time

LOOPBACK = "127.0.0.1"

# Ports already handed out by this process: a port picked once is not picked
# again, even after its probe socket is closed, so two peers of one test run
# never race for the same number.
_handed_out = set()
_lock = threading.Lock()


class PeerError(RuntimeError):
    """A peer could not be found, started, reached or stopped."""


def require_binary(name, package):
    """Return the full path of *name*, or raise a clear error naming the package."""
    path = shutil.which(name) or shutil.which(name, path="/usr/sbin:/sbin:/usr/local/sbin")
    if path is None:
        raise PeerError("%s is not installed: this test needs the real peer "
                        "(apt-get install -y --no-install-recommends %s, or run `make deps`)"
                        % (name, package))
    return path


def _bindable(port, host=LOOPBACK):
    """True when *port* can be bound on *host* for both UDP and TCP right now."""
    socks = []
    try:
        for kind in (socket.SOCK_DGRAM, socket.SOCK_STREAM):
            s = socket.socket(socket.AF_INET, kind)
            socks.append(s)
            if kind == socket.SOCK_STREAM:
                s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            s.bind((host, port))
        return True
    except OSError:
        return False
    finally:
        for s in socks:
            s.close()


def free_ports(count=1, host=LOOPBACK, attempts=200):
    """Return the first of *count* consecutive ports free for UDP and TCP on *host*.

    The kernel picks an ephemeral port; the following ones are checked as well
    (baresip binds TLS on its SIP port + 1, for instance).
    """
    for _ in range(attempts):
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            s.bind((host, 0))
            base = s.getsockname()[1]
        finally:
            s.close()
        if base + count > 65535:
            continue
        wanted = set(range(base, base + count))
        with _lock:
            if wanted & _handed_out:
                continue
            if all(_bindable(p, host) for p in wanted):
                _handed_out.update(wanted)
                return base
    raise PeerError("no run of %d free UDP+TCP ports on %s after %d attempts" % (count, host, attempts))


def free_port(host=LOOPBACK):
    """Return one port free for both UDP and TCP on *host*."""
    return free_ports(1, host)


def pid_alive(pid):
    """True while *pid* exists and is not a zombie."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            state = f.read().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError, IndexError):
        return False
    return state not in ("Z", "X")


def wait_until(predicate, timeout, interval=0.02):
    """Poll *predicate* until it returns a true value or *timeout* seconds pass.

    Returns the last value of the predicate (false on timeout).
    """
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value or time.monotonic() >= deadline:
            return value
        time.sleep(interval)


class PeerProcess:
    """A child process with a log file, stopped by its own pid within bounded time."""

    def __init__(self, argv, log_path, cwd=None, env=None, name=None):
        self.argv = [str(a) for a in argv]
        self.log_path = str(log_path)
        self.cwd = cwd
        self.env = env
        self.name = name or os.path.basename(self.argv[0])
        self.popen = None
        self.pid = None
        # Extra pids (e.g. forked workers) whose end is awaited at stop().
        self.children = []

    def start(self):
        with open(self.log_path, "ab") as log:
            self.popen = subprocess.Popen(
                self.argv, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                cwd=self.cwd, env=self.env, close_fds=True)
        self.pid = self.popen.pid
        return self

    def running(self):
        return self.popen is not None and self.popen.poll() is None

    def returncode(self):
        return None if self.popen is None else self.popen.poll()

    def log_text(self):
        try:
            with open(self.log_path, "r", errors="replace") as f:
                return f.read()
        except FileNotFoundError:
            return ""

    def log_tail(self, lines=40):
        return "\n".join(self.log_text().splitlines()[-lines:])

    def child_pids(self):
        """Direct children of the process (read from /proc), for later checks."""
        if self.pid is None:
            return []
        try:
            with open("/proc/%d/task/%d/children" % (self.pid, self.pid)) as f:
                return [int(p) for p in f.read().split()]
        except (FileNotFoundError, ProcessLookupError):
            return []

    def stop(self, term_timeout=3.0, kill_timeout=2.0):
        """SIGTERM the process by pid, SIGKILL it if it lingers; return its exit code.

        Raises :class:`PeerError` if the process or one of the recorded
        children is still there after both waits.
        """
        if self.popen is None:
            return None
        if self.popen.poll() is None:
            try:
                os.kill(self.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            try:
                self.popen.wait(timeout=term_timeout)
            except subprocess.TimeoutExpired:
                try:
                    os.kill(self.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                try:
                    self.popen.wait(timeout=kill_timeout)
                except subprocess.TimeoutExpired:
                    raise PeerError("%s (pid %d) survived SIGKILL" % (self.name, self.pid))
        leftovers = [p for p in self.children if not wait_until(lambda p=p: not pid_alive(p), kill_timeout)]
        for p in leftovers:
            try:
                os.kill(p, signal.SIGKILL)
            except ProcessLookupError:
                pass
        leftovers = [p for p in leftovers if not wait_until(lambda p=p: not pid_alive(p), kill_timeout)]
        if leftovers:
            raise PeerError("%s left processes %r running" % (self.name, leftovers))
        return self.popen.returncode


def run_bounded(argv, timeout, log_path=None, cwd=None):
    """Run a short-lived command to its end within *timeout* seconds.

    Returns ``(returncode, output)``.  On timeout the process is killed by pid
    and :class:`PeerError` is raised with its output so far.
    """
    proc = subprocess.Popen([str(a) for a in argv], stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, cwd=cwd)
    try:
        out, _ = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.kill(proc.pid, signal.SIGKILL)
        out, _ = proc.communicate(timeout=5)
        text = out.decode("utf-8", "replace")
        if log_path:
            with open(log_path, "w") as f:
                f.write(text)
        raise PeerError("%s did not finish within %.1f s:\n%s" % (argv[0], timeout, text[-3000:]))
    text = out.decode("utf-8", "replace")
    if log_path:
        with open(log_path, "w") as f:
            f.write(text)
    return proc.returncode, text


def wait_process(peer, timeout):
    """Wait up to *timeout* seconds for *peer* (a :class:`PeerProcess`) to end; return its exit code.

    On timeout the process is stopped by its pid and :class:`PeerError` is raised.
    """
    try:
        return peer.popen.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        peer.stop()
        raise PeerError("%s (pid %d) still running after %.1f s:\n%s"
                        % (peer.name, peer.pid, timeout, peer.log_tail()))
