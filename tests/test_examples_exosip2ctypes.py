# SPDX-License-Identifier: Apache-2.0
"""exosip2ctypes' two examples (a simple incoming call, a simple outgoing call), ported, call each other."""

import os
import re
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
EXAMPLES = os.path.join(ROOT, "examples", "exosip2ctypes")
ENV = dict(os.environ, PYTHONPATH=ROOT)


def test_outgoing_call_reaches_incoming_call():
    incoming = subprocess.Popen([sys.executable, os.path.join(EXAMPLES, "incoming_call.py")], env=ENV,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        first = incoming.stdout.readline()
        m = re.match(r"incoming: listening on 127\.0\.0\.1:(\d+)", first)
        assert m, first
        out = subprocess.run([sys.executable, os.path.join(EXAMPLES, "outgoing_call.py"),
                              "sip:callee@127.0.0.1:%s" % m.group(1)], env=ENV, capture_output=True, text=True,
                             timeout=60)
        assert out.returncode == 0, out.stdout + out.stderr
        assert out.stderr == ""
        seen = [line.split(": ", 1)[1] for line in out.stdout.splitlines()[1:]]
        # callbacks run in a thread pool (exosip2ctypes' way), so their printing order may vary
        assert {"call_ringing", "call_answered", "call_message_answered", "call_released"} <= set(seen)
        rest, err = incoming.communicate(timeout=30)
        assert incoming.returncode == 0, err
        assert err == ""
        got = [line.split(": ", 1)[1] for line in rest.splitlines()]
        assert {"call_invite", "call_ack", "call_closed", "call_released"} <= set(got)
    finally:
        if incoming.poll() is None:
            incoming.kill()
            incoming.communicate(timeout=10)
