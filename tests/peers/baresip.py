# SPDX-License-Identifier: Apache-2.0
"""baresip, a real softphone, run headless and driven over its TCP control socket.

Each instance gets a throwaway configuration directory (``config``,
``accounts`` and an empty ``contacts``), listens on 127.0.0.1 only, plays a sine
tone as its microphone and discards what it hears.  :class:`CtrlClient` speaks
the ``ctrl_tcp`` protocol: netstring-framed JSON commands
(``{"command": ..., "params": ..., "token": ...}``) answered by responses with
the same token, and events (``{"event": true, "type": "CALL_ESTABLISHED", ...}``)
on the same connection.
"""

import json
import os
import re
import socket
import time

import pytest

from .proc import LOOPBACK, PeerError, PeerProcess, free_port, free_ports, pid_alive, require_binary

MODULE_DIR_CANDIDATES = ("/usr/lib/baresip/modules", "/usr/lib/x86_64-linux-gnu/baresip/modules",
                         "/usr/local/lib/baresip/modules")
MODULES = ("g711.so", "ausine.so", "alsa.so")
APP_MODULES = ("account.so", "contact.so", "menu.so", "ctrl_tcp.so")


def find_module_dir():
    for d in MODULE_DIR_CANDIDATES:
        if os.path.exists(os.path.join(d, "ctrl_tcp.so")):
            return d
    raise PeerError("baresip modules (ctrl_tcp.so) not found in %s: apt-get install -y "
                    "--no-install-recommends baresip-core" % ", ".join(MODULE_DIR_CANDIDATES))


class CtrlError(RuntimeError):
    """The control connection failed, or a command or event did not come in time."""


class CtrlClient:
    """Client for baresip's ctrl_tcp: netstring-framed JSON commands, responses and events."""

    def __init__(self, host, port, timeout=5.0):
        deadline = time.monotonic() + timeout
        last = None
        while True:
            try:
                self.sock = socket.create_connection((host, port), timeout=0.5)
                break
            except OSError as exc:
                last = exc
                if time.monotonic() >= deadline:
                    raise CtrlError("cannot connect to baresip ctrl_tcp at %s:%d: %s" % (host, port, last))
                time.sleep(0.05)
        self.buffer = b""
        self.events = []
        self.responses = {}
        self.closed = False
        self._tokens = 0

    # --- framing ------------------------------------------------------------
    @staticmethod
    def encode(obj):
        data = json.dumps(obj).encode("utf-8")
        return b"%d:%s," % (len(data), data)

    def _parse(self):
        while True:
            colon = self.buffer.find(b":")
            if colon < 0:
                return
            head = self.buffer[:colon]
            if not head.isdigit():
                raise CtrlError("bad netstring length %r" % head[:20])
            length = int(head)
            end = colon + 1 + length
            if len(self.buffer) < end + 1:
                return
            if self.buffer[end:end + 1] != b",":
                raise CtrlError("netstring not terminated by a comma")
            payload = self.buffer[colon + 1:end]
            self.buffer = self.buffer[end + 1:]
            msg = json.loads(payload.decode("utf-8", "replace"))
            if msg.get("event"):
                self.events.append(msg)
            elif msg.get("response"):
                self.responses[msg.get("token")] = msg

    def _pump(self, timeout):
        """Read what arrives within *timeout* seconds (at most one recv) and parse it."""
        if self.closed:
            return False
        self.sock.settimeout(max(timeout, 0.001))
        try:
            chunk = self.sock.recv(65536)
        except socket.timeout:
            return True
        except OSError:
            self.closed = True
            return False
        if not chunk:
            self.closed = True
            return False
        self.buffer += chunk
        self._parse()
        return True

    # --- commands and events ----------------------------------------------------
    def send(self, command, params=None):
        """Send a command without waiting; return its token."""
        self._tokens += 1
        token = "t%d" % self._tokens
        msg = {"command": command, "token": token}
        if params is not None:
            msg["params"] = params
        self.sock.sendall(self.encode(msg))
        return token

    def command(self, command, params=None, timeout=5.0):
        """Send a command and return its response (a dict with ``ok`` and ``data``)."""
        token = self.send(command, params)
        deadline = time.monotonic() + timeout
        while token not in self.responses:
            remaining = deadline - time.monotonic()
            if remaining <= 0 or self.closed:
                raise CtrlError("no response to %r within %.1f s" % (command, timeout))
            self._pump(remaining)
        return self.responses.pop(token)

    def wait_event(self, types, timeout=5.0, since=0, predicate=None):
        """Return the first event at index >= *since* whose type is in *types* (a name or a tuple).

        Raises :class:`CtrlError` after *timeout* seconds, listing the events seen.
        """
        if isinstance(types, str):
            types = (types,)
        deadline = time.monotonic() + timeout
        while True:
            for ev in self.events[since:]:
                if ev.get("type") in types and (predicate is None or predicate(ev)):
                    return ev
            remaining = deadline - time.monotonic()
            if remaining <= 0 or self.closed:
                raise CtrlError("no %s event within %.1f s; seen: %s"
                                % ("/".join(types), timeout, [e.get("type") for e in self.events]))
            self._pump(min(remaining, 0.2))

    def event_types(self):
        return [e.get("type") for e in self.events]

    def close(self):
        if not self.closed:
            self.closed = True
        try:
            self.sock.close()
        except OSError:
            pass


class Baresip:
    """A running baresip with one account, controlled through :attr:`ctrl`."""

    def __init__(self, confdir, user, password, registrar, answermode="auto", regint=60,
                 transport="udp", host=LOOPBACK, extra_account_params="", contacts=()):
        """*registrar* is ``(host, port)`` of the registrar; the account's domain is that address.

        *contacts* are SIP URIs written to the ``contacts`` file; the last one is
        the current contact, the target of :meth:`message`.
        """
        self.binary = require_binary("baresip", "baresip-core")
        self.module_dir = find_module_dir()
        self.confdir = str(confdir)
        os.makedirs(self.confdir, exist_ok=True)
        self.host = host
        self.user = user
        self.registrar = registrar
        self.transport = transport
        self.sip_port = free_ports(2, host)      # SIP on the port, TLS on port + 1
        self.ctrl_port = free_port(host)
        self.rtp_base = free_ports(10, host)
        self.aor = "sip:%s@%s:%d" % (user, registrar[0], registrar[1])
        self.log_path = os.path.join(self.confdir, "baresip.log")
        self._write_config()
        with open(os.path.join(self.confdir, "accounts"), "w") as f:
            f.write("<%s;transport=%s>;auth_pass=%s;answermode=%s;regint=%d%s\n"
                    % (self.aor, transport, password, answermode, regint, extra_account_params))
        with open(os.path.join(self.confdir, "contacts"), "w") as f:
            for uri in contacts:
                f.write("<%s>\n" % uri)
        self.process = PeerProcess([self.binary, "-f", self.confdir], self.log_path, cwd=self.confdir,
                                   name="baresip")
        self.ctrl = None

    def _write_config(self):
        lines = [
            ("poll_method", "epoll"),
            ("sip_listen", "%s:%d" % (self.host, self.sip_port)),
            ("net_interface", self.host),
            ("call_local_timeout", "20"),
            ("call_max_calls", "4"),
            ("audio_player", "alsa,null"),
            ("audio_source", "ausine,440"),
            ("audio_alert", "alsa,null"),
            ("ausrc_srate", "48000"),
            ("ausrc_channels", "2"),
            ("audio_level", "no"),
            ("rtp_ports", "%d-%d" % (self.rtp_base, self.rtp_base + 9)),
            ("rtp_timeout", "0"),
            ("module_path", self.module_dir),
        ]
        lines += [("module", m) for m in MODULES]
        lines += [("module_app", m) for m in APP_MODULES]
        lines.append(("ctrl_tcp_listen", "%s:%d" % (self.host, self.ctrl_port)))
        with open(os.path.join(self.confdir, "config"), "w") as f:
            f.write("# baresip for the exosip2 test suite (generated; one run only)\n")
            for key, value in lines:
                f.write("%-20s %s\n" % (key, value))

    # --- life cycle ---------------------------------------------------------------
    def start(self, timeout=10.0):
        """Start baresip and connect to its control socket."""
        self.process.start()
        deadline = time.monotonic() + timeout
        while True:
            if not self.process.running():
                raise PeerError("baresip exited with %r during start-up:\n%s"
                                % (self.process.returncode(), self.process.log_tail()))
            try:
                self.ctrl = CtrlClient(self.host, self.ctrl_port, timeout=0.2)
                return self
            except CtrlError:
                if time.monotonic() >= deadline:
                    self.stop()
                    raise PeerError("baresip control socket %s:%d not up within %.1f s:\n%s"
                                    % (self.host, self.ctrl_port, timeout, self.process.log_tail()))

    def stop(self, timeout=3.0):
        """Ask baresip to quit, then stop it by its pid if it lingers; return its exit code."""
        if self.ctrl is not None and self.process.running():
            try:
                self.ctrl.send("quit")
            except OSError:
                pass
            deadline = time.monotonic() + timeout
            while self.process.running() and time.monotonic() < deadline:
                time.sleep(0.02)
        if self.ctrl is not None:
            self.ctrl.close()
        return self.process.stop(term_timeout=2.0, kill_timeout=2.0)

    @property
    def pid(self):
        return self.process.pid

    def running(self):
        return self.process.running()

    def log_tail(self, lines=40):
        return self.process.log_tail(lines)

    # --- conveniences ---------------------------------------------------------------
    def reginfo(self):
        """The text of the ``reginfo`` command."""
        return self.ctrl.command("reginfo").get("data", "")

    def registration_state(self):
        """The account's state as ``reginfo`` shows it: ``"OK"``, ``"ERR"``, ``"zzz"`` (not yet) or None."""
        return _reginfo_state(self.reginfo())

    def wait_registration(self, wanted="OK", timeout=10.0):
        """Poll ``reginfo`` until the account shows *wanted* (``"OK"`` or ``"ERR"``); return the state.

        Raises :class:`PeerError` on timeout, or as soon as the opposite final state shows.
        """
        deadline = time.monotonic() + timeout
        while True:
            state = self.registration_state()
            if state == wanted:
                return state
            if state in ("OK", "ERR"):
                raise PeerError("baresip %s registration is %s, not %s\n%s"
                                % (self.aor, state, wanted, self.log_tail()))
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise PeerError("baresip %s registration not %s within %.1f s (state %r)\n%s"
                                % (self.aor, wanted, timeout, state, self.log_tail()))
            self.ctrl._pump(min(remaining, 0.1))

    def wait_registered(self, timeout=10.0):
        """Wait until the account is registered; raise if registration fails or takes too long."""
        return self.wait_registration("OK", timeout)

    def dial(self, uri):
        return self.ctrl.command("dial", uri)

    def hangup(self):
        return self.ctrl.command("hangup")

    def message(self, text):
        """Send a SIP MESSAGE with *text* to the current contact."""
        return self.ctrl.command("message", text)

    def answer(self):
        """Accept the ringing incoming call (for ``answermode=manual`` accounts)."""
        return self.ctrl.command("accept")


_ANSI_RE = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


def _reginfo_state(text):
    """The status word of the first account in a ``reginfo`` listing (colours stripped), or None."""
    for line in _ANSI_RE.sub("", text).splitlines():
        m = re.match(r"^\s*>?\s*(sip:\S+)\s+(OK|ERR|zzz)\b", line)
        if m:
            return m.group(2)
    return None


@pytest.fixture
def baresip_factory(tmp_path):
    """Start baresip instances on demand; all quit (or are killed) and are checked gone at teardown.

    ``baresip_factory("alice", "alicepw", (host, port))`` returns a running :class:`Baresip`.
    """
    started = []

    def make(user, password, registrar, **options):
        b = Baresip(tmp_path / ("baresip-%d-%s" % (len(started), user)), user, password, registrar, **options)
        started.append(b)
        b.start()
        return b

    yield make
    problems = []
    for b in started:
        try:
            b.stop()
        except PeerError as exc:
            problems.append(str(exc))
        if b.pid and pid_alive(b.pid):
            problems.append("baresip pid %d still alive after stop" % b.pid)
    if problems:
        pytest.fail("; ".join(problems))
