# SPDX-License-Identifier: Apache-2.0
"""``python -m exosip2 call|answer|register --tls --ca --cert --key [--no-verify]`` as real subprocesses."""

import signal
import subprocess
import sys

import pytest

from test_cli_calls import ENV, ROOT, free_port, run, wait_for_line
from test_tls_kamailio import kamailio_tls, pki  # noqa: F401 (fixtures)


def tls_args(pki, who="alice", ca="ca", verify=True):
    out = ["--tls", "--cert", pki[who][0], "--key", pki[who][1], "--ca", pki[ca]]
    return out if verify else out + ["--no-verify"]


def start_answer(pki, port, *extra):
    proc = subprocess.Popen([sys.executable, "-m", "exosip2", "answer", "--port", str(port),
                             *tls_args(pki, "bob"), *extra], cwd=ROOT, env=ENV, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    wait_for_line(proc, r"answering on tls 127\.0\.0\.1:%d" % port)
    return proc


def stop(proc):
    if proc.poll() is None:
        proc.send_signal(signal.SIGINT)
        try:
            return proc.communicate(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
    return proc.communicate(timeout=10)


def test_call_and_answer_over_tls_with_verification(pki):
    port = free_port()
    answer = start_answer(pki, port)
    try:
        proc = run("call", "sip:someone@127.0.0.1:%d" % port, "--duration", "0.2", *tls_args(pki), timeout=30)
        assert proc.returncode == 0, proc.stdout + proc.stderr
        assert "event: call_answered 200 OK" in proc.stdout and "event: call_released" in proc.stdout
        assert proc.stderr == ""
        wait_for_line(answer, r"event: call_released")
    finally:
        out, err = stop(answer)
    assert answer.returncode == 0 and err == "", err
    assert "stopped after 1 calls" in out


def test_call_refuses_a_server_of_another_ca_unless_no_verify(pki):
    port = free_port()
    answer = start_answer(pki, port)
    try:
        proc = run("call", "sip:someone@127.0.0.1:%d" % port, "--duration", "0.1", "--timeout", "5",
                   *tls_args(pki, ca="other_ca"), timeout=30)
        assert proc.returncode != 0, proc.stdout
        assert "call_noanswer" in proc.stdout and "call_answered" not in proc.stdout
        proc = run("call", "sip:someone@127.0.0.1:%d" % port, "--duration", "0.1",
                   *tls_args(pki, ca="other_ca", verify=False), timeout=30)
        assert proc.returncode == 0, proc.stdout + proc.stderr
        assert "event: call_answered 200 OK" in proc.stdout
    finally:
        stop(answer)


@pytest.mark.parametrize("argv, message", [
    (["--tls"], "--tls needs --cert and --key"),
    (["--cert", "x.pem"], "go with --tls"),
    (["--tls", "--cert", "/nonexistent.pem", "--key", "/nonexistent.key"], "not found"),
])
def test_tls_usage_errors(argv, message):
    proc = run("call", "sip:someone@127.0.0.1:9", *argv, timeout=30)
    assert proc.returncode != 0
    assert message in proc.stdout + proc.stderr


def test_register_over_tls_with_kamailio(kamailio_tls, pki):  # noqa: F811
    k = kamailio_tls()
    proc = run("register", "sip:alice@127.0.0.1:%d" % k.tls_port, "--password", "alicepw", "--duration", "0.5",
               *tls_args(pki), timeout=60)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "registered" in proc.stdout, proc.stdout
    assert [r.proto for r in k.seen("REGISTER", user="alice")][:2] == ["tls", "tls"]
