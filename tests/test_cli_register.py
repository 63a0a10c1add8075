# SPDX-License-Identifier: Apache-2.0
"""``python -m exosip2 register`` run as a subprocess against a real Kamailio."""

import os
import signal
import subprocess
import sys
import threading
import time

import pytest

from peers.kamailio import kamailio, kamailio_factory  # noqa: F401 (fixtures)
from peers.proc import wait_until

pytestmark = [pytest.mark.peers, pytest.mark.timeout(40)]

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


class Cli:
    """A running ``python -m exosip2 …``; its stdout lines are collected by a thread."""

    def __init__(self, *args):
        env = dict(os.environ, PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))
        self.proc = subprocess.Popen([sys.executable, "-m", "exosip2"] + [str(a) for a in args],
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=ROOT, env=env,
                                     text=True)
        self.lines = []
        self.err = ""
        self._out = threading.Thread(target=self._read, daemon=True)
        self._out.start()
        self._errt = threading.Thread(target=self._read_err, daemon=True)
        self._errt.start()

    def _read(self):
        for line in self.proc.stdout:
            self.lines.append(line.rstrip("\n"))

    def _read_err(self):
        self.err = self.proc.stderr.read()

    def wait_line(self, text, timeout=8.0):
        if not wait_until(lambda: any(text in l for l in self.lines) or self.proc.poll() is not None, timeout):
            raise AssertionError("no line with %r within %.1f s: %r" % (text, timeout, self.lines))
        found = [l for l in self.lines if text in l]
        assert found, "exited (%r) without %r: %r stderr=%r" % (self.proc.poll(), text, self.lines, self.err)
        return found[0]

    def finish(self, timeout=15.0):
        try:
            rc = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            raise AssertionError("the command did not exit within %.1f s: %r" % (timeout, self.lines))
        self._out.join(2)
        self._errt.join(2)
        return rc

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(5)


@pytest.fixture
def cli():
    started = []

    def run(*args):
        c = Cli(*args)
        started.append(c)
        return c

    yield run
    for c in started:
        c.kill()
        for f in (c.proc.stdout, c.proc.stderr):
            f.close()


@pytest.mark.core_only  # a 4 s lifetime: eXosip2 5.3 raises it to 30 s
@pytest.mark.parametrize("transport,sig", [("udp", signal.SIGINT), ("tcp", signal.SIGTERM)])
def test_register_refresh_and_unregister_on_signal(transport, sig, kamailio_factory, cli):  # noqa: F811
    k = kamailio_factory(min_expires=1)
    c = cli("register", k.aor("alice"), "--password", "alicepw", "--expires", 4, "--transport", transport)
    c.wait_line("register: registering %s" % k.aor("alice"))
    assert c.wait_line("register: challenged") == "register: challenged 401 Unauthorized"
    assert c.wait_line("register: registered") == "register: registered expires=4"
    bindings = k.bindings("alice")
    assert len(bindings) == 1
    assert c.wait_line("register: refreshed", 6.0) == "register: refreshed expires=4"
    assert len(k.bindings("alice")) == 1
    c.proc.send_signal(sig)
    assert c.finish() == 0, (c.lines, c.err)
    assert c.lines[-2:] == ["register: unregistering", "register: unregistered"]
    assert c.err == ""
    regs = k.seen("REGISTER", user="alice", proto=transport)
    assert regs[-1].expires == 0
    assert all(r.expires == 4 for r in regs[:-1])
    assert k.bindings("alice") == []


def test_register_with_explicit_user_and_duration(kamailio, cli):  # noqa: F811
    c = cli("register", kamailio.aor("bob"), "--user", "bob", "--password", "bobpw", "--realm", kamailio.realm,
            "--expires", 60, "--transport", "udp", "--duration", 1.5)
    c.wait_line("register: registered expires=60")
    assert c.finish() == 0, (c.lines, c.err)
    assert c.lines[-1] == "register: unregistered"
    assert kamailio.bindings("bob") == []


def test_register_with_ha1(kamailio, cli):  # noqa: F811
    import hashlib

    ha1 = hashlib.md5(("alice:%s:alicepw" % kamailio.realm).encode()).hexdigest()
    c = cli("register", kamailio.aor("alice"), "--ha1", ha1, "--realm", kamailio.realm, "--duration", 1)
    assert c.finish() == 0, (c.lines, c.err)
    assert "register: registered expires=3600" in c.lines
    assert kamailio.auth_results("alice") == ["1", "1"]     # the REGISTER and its Expires: 0
    assert kamailio.bindings("alice") == []


def test_wrong_password_exits_1_after_two_registers(kamailio, cli):  # noqa: F811
    c = cli("register", kamailio.aor("alice"), "--password", "wrong")
    assert c.finish() == 1, (c.lines, c.err)
    assert c.lines[-1] == "register: failed 403 Forbidden"
    assert kamailio.register_count("alice") == 2
    assert kamailio.bindings("alice") == []


def test_no_password_exits_1_on_the_unanswered_challenge(kamailio, cli):  # noqa: F811
    c = cli("register", kamailio.aor("alice"))
    assert c.finish() == 1, (c.lines, c.err)
    assert c.lines[-1].startswith("register: failed 401")
    assert kamailio.register_count("alice") == 1


@pytest.mark.parametrize("args", [
    ["register", "alice@127.0.0.1"],
    ["register", "sip:127.0.0.1"],
    ["register", "sip:alice@127.0.0.1", "--expires", "-5"],
    ["register", "sip:alice@127.0.0.1", "--port", "70000"],
    ["register", "sip:alice@127.0.0.1", "--transport", "sctp"],
    ["register", "sip:alice@127.0.0.1", "--ha1", "not-hex"],
    ["register"],
])
def test_bad_arguments_exit_2(args, cli):
    c = cli(*args)
    assert c.finish() == 2
    assert c.lines == []
    assert "error" in c.err
