# SPDX-License-Identifier: Apache-2.0
"""The command line, run as a real subprocess: ``python -m exosip2 …``."""

import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
EXAMPLE = os.path.join(ROOT, "examples", "invite.sip")


def run(*args, stdin=None):
    return subprocess.run(
        [sys.executable, "-m", "exosip2", *args],
        input=stdin, capture_output=True, timeout=60, cwd=ROOT,
    )


def test_version():
    proc = run("--version")
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.decode().splitlines()
    assert lines[0].startswith("exosip2 0.")
    assert lines[1] == "eXosip2 API 5.3.0 (core)"
    assert lines[2].startswith("oSIP2 5.")
    assert proc.stderr == b""


def test_parse_file_prints_start_line_headers_and_sdp():
    proc = run("parse", EXAMPLE)
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout.decode()
    assert out.startswith("Request: INVITE sip:bob@127.0.0.1:5062\n")
    assert "  Call-ID: 3848276298220188511@127.0.0.1\n" in out
    assert "  CSeq: 1 INVITE\n" in out
    assert "SDP:\n" in out
    assert "  media 0: audio 49170 RTP/AVP 0 8 101\n" in out
    assert "    rtpmap 8: PCMA/8000\n" in out
    assert "    attribute: fmtp:101 0-15\n" in out


def test_parse_stdin_response():
    data = (b"SIP/2.0 486 Busy Here\r\nVia: SIP/2.0/UDP 127.0.0.1:5061;branch=z9hG4bK77\r\n"
            b"From: <sip:a@127.0.0.1>;tag=1\r\nTo: <sip:b@127.0.0.1>;tag=2\r\nCall-ID: x@y\r\n"
            b"CSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n")
    proc = run("parse", "-", stdin=data)
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout.decode()
    assert out.startswith("Response: 486 Busy Here\n")
    assert "  Call-ID: x@y\n" in out
    assert "SDP:" not in out


def test_parse_malformed_exits_2_with_clear_error():
    proc = run("parse", "-", stdin=b"this is not SIP\r\n\r\n")
    assert proc.returncode == 2
    assert b"not a valid SIP message" in proc.stderr
    assert b"Traceback" not in proc.stderr


def test_parse_missing_file_exits_2():
    proc = run("parse", "/nonexistent/message.sip")
    assert proc.returncode == 2
    assert b"cannot read" in proc.stderr


def test_no_command_prints_usage_and_exits_2():
    proc = run()
    assert proc.returncode == 2
    assert b"usage" in proc.stderr
