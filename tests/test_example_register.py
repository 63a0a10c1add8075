# SPDX-License-Identifier: Apache-2.0
"""examples/register.py (exosip2ctypes' simple registration, ported) against a real Kamailio."""

import os
import subprocess
import sys
import threading

import pytest

from peers.kamailio import kamailio, kamailio_factory  # noqa: F401 (fixtures)
from peers.proc import wait_until

pytestmark = [pytest.mark.peers, pytest.mark.timeout(40)]

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
EXAMPLE = os.path.join(ROOT, "examples", "register.py")


def test_example_registers_and_unregisters_from_stdin(kamailio):  # noqa: F811
    env = dict(os.environ, PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))
    proc = subprocess.Popen([sys.executable, EXAMPLE, kamailio.aor("alice"), "--password", "alicepw",
                             "--expires", "120"],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True, cwd=ROOT, env=env)
    lines = []

    def read():
        for line in proc.stdout:
            lines.append(line.rstrip("\n"))

    reader = threading.Thread(target=read, daemon=True)
    reader.start()

    def count(text):
        return sum(text in line for line in lines)

    try:
        assert wait_until(lambda: count("started!") == 1, 10), lines
        proc.stdin.write("r\n")
        proc.stdin.flush()
        assert wait_until(lambda: count("registration success") == 1, 8), lines
        assert count("registration failure") == 1          # the 401 before the credentials
        assert any("status 401" in line for line in lines)
        assert len(kamailio.bindings("alice")) == 1
        proc.stdin.write("u\n")
        proc.stdin.flush()
        assert wait_until(lambda: count("registration success") == 2, 8), lines
        assert kamailio.bindings("alice") == []
        assert kamailio.seen("REGISTER", user="alice")[-1].expires == 0
        proc.stdin.write("q\n")
        proc.stdin.flush()
        assert proc.wait(10) == 0
        reader.join(5)
        assert not any("Traceback" in line for line in lines), lines
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(5)
        proc.stdin.close()
        proc.stdout.close()
