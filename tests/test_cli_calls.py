# SPDX-License-Identifier: Apache-2.0
"""``python -m exosip2 demo``, ``call URI`` and ``answer --port N``, run as real subprocesses."""

import os
import re
import signal
import socket
import subprocess
import sys
import time

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ENV = dict(os.environ, PYTHONPATH=ROOT)


def run(*args, timeout=60):
    return subprocess.run([sys.executable, "-m", "exosip2", *args], capture_output=True, text=True,
                          timeout=timeout, cwd=ROOT, env=ENV)


@pytest.mark.parametrize("transport", ["udp", "tcp"])
def test_demo_prints_the_ladder(transport):
    proc = run("demo", "--transport", transport)
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == ""
    ladder = [line.split("ms", 1)[1].strip() for line in proc.stdout.splitlines() if re.match(r"\s*[\d.]+ ms", line)]
    steps = [re.sub(r"[-<> ]{3,}", " ", s).strip() for s in ladder]
    steps = [s for s in steps if s != "100 Trying"]
    assert steps == ["INVITE (SDP)", "180 Ringing", "200 OK (SDP)", "ACK", "INFO", "200 OK (INFO)", "BYE",
                     "200 OK (BYE)"], proc.stdout
    times = [float(line.split()[0]) for line in proc.stdout.splitlines() if re.match(r"\s*[\d.]+ ms", line)]
    assert times == sorted(times)
    assert "done in" in proc.stdout.splitlines()[-1]


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_line(proc, pattern, timeout=15):
    deadline = time.monotonic() + timeout
    lines = []
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        lines.append(line)
        if re.search(pattern, line):
            return lines
    raise AssertionError("no %r within %.0f s: %r" % (pattern, timeout, lines))


def test_call_and_answer_then_ctrl_c():
    port = free_port()
    answer = subprocess.Popen([sys.executable, "-m", "exosip2", "answer", "--port", str(port)], cwd=ROOT,
                              env=ENV, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        wait_for_line(answer, r"answering on udp 127\.0\.0\.1:%d" % port)
        proc = run("call", "sip:someone@127.0.0.1:%d" % port, "--duration", "0.2", timeout=30)
        assert proc.returncode == 0, proc.stdout + proc.stderr
        assert "event: call_ringing 180 Ringing" in proc.stdout
        assert "event: call_answered 200 OK" in proc.stdout
        assert "event: call_released" in proc.stdout and proc.stdout.rstrip().endswith("call ended")
        assert proc.stderr == ""
        wait_for_line(answer, r"event: call_released")
        answer.send_signal(signal.SIGINT)      # Ctrl-C
        out, err = answer.communicate(timeout=15)
        assert answer.returncode == 0, err
        assert err == ""
        assert "stopped after 1 calls" in out
    finally:
        if answer.poll() is None:
            answer.kill()
            answer.communicate(timeout=10)


def test_call_ctrl_c_while_ringing_cancels():
    # a socket that reads nothing: the INVITE is retransmitted until Ctrl-C (a closed port would
    # answer with an ICMP error, and the call would fail at once)
    silent = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    silent.bind(("127.0.0.1", 0))
    port = silent.getsockname()[1]
    proc = subprocess.Popen([sys.executable, "-m", "exosip2", "call", "sip:x@127.0.0.1:%d" % port],
                            cwd=ROOT, env=ENV, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        wait_for_line(proc, r"calling sip:x@")
        time.sleep(0.3)
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=15)
        assert proc.returncode == 0, err
        assert err == "" and "cancelled" in out
    finally:
        silent.close()
        if proc.poll() is None:
            proc.kill()
            proc.communicate(timeout=10)


def test_answer_needs_a_port():
    proc = run("answer")
    assert proc.returncode == 2 and "--port" in proc.stderr


# Runs ``python -m exosip2 ARGS`` with a trace function that sends SIGINT while cmd_call's main
# thread is inside the interrupt flag's clear() (holding its lock, if the flag has one).
_SIGINT_INSIDE_CLEAR = r"""
import os, runpy, signal, sys
fired = []

def inside(frame, event, arg):
    cond = getattr(frame.f_locals.get("self"), "_cond", None)
    if not fired and event == "line" and (cond is None or cond._lock.locked()):
        fired.append(1)
        print("probe: SIGINT sent inside clear()", flush=True)
        os.kill(os.getpid(), signal.SIGINT)
        return None
    return inside

def calls(frame, event, arg):
    if (not fired and event == "call" and frame.f_code.co_name == "clear" and frame.f_back is not None
            and frame.f_back.f_code.co_name == "cmd_call"):
        return inside
    return None

sys.argv = ["exosip2"] + sys.argv[1:]
sys.settrace(calls)
runpy.run_module("exosip2", run_name="__main__", alter_sys=True)
"""


def test_call_survives_a_ctrl_c_that_lands_while_it_clears_its_interrupt_flag(tmp_path):
    # The flag was a threading.Event: a SIGINT handled while the main thread held the Event's lock
    # in clear() (the hang-up step) called Event.set() on that lock and blocked for ever.
    probe = tmp_path / "probe.py"
    probe.write_text(_SIGINT_INSIDE_CLEAR)
    port = free_port()
    answer = subprocess.Popen([sys.executable, "-m", "exosip2", "answer", "--port", str(port)], cwd=ROOT,
                              env=ENV, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        wait_for_line(answer, r"answering on udp 127\.0\.0\.1:%d" % port)
        proc = subprocess.Popen([sys.executable, str(probe), "call", "sip:someone@127.0.0.1:%d" % port,
                                 "--duration", "0.2"], cwd=ROOT, env=ENV, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True)
        try:
            out, err = proc.communicate(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            out, err = proc.communicate(timeout=10)
            pytest.fail("call still ran 20 s later\nstdout:\n%s\nstderr:\n%s" % (out, err))
        assert "probe: SIGINT sent inside clear()" in out, (out, err)
        assert proc.returncode == 0, (out, err)
        assert out.rstrip().endswith("call ended") and err == "", (out, err)
    finally:
        if answer.poll() is None:
            answer.kill()
        answer.communicate(timeout=10)
