# SPDX-License-Identifier: Apache-2.0
"""The README's code examples run as written."""

import os
import re
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def python_blocks():
    text = open(os.path.join(ROOT, "README.rst"), encoding="utf-8").read()
    blocks = re.findall(r"\.\. code-block:: python\n\n((?:    .*\n|\n)+)", text)
    return ["\n".join(line[4:] for line in block.splitlines()) for block in blocks]


def test_readme_starts_with_the_two_commands():
    text = open(os.path.join(ROOT, "README.rst"), encoding="utf-8").read()
    assert text.index("make run") < text.index("make test") < text.index(".. code-block::")


def run_block(code):
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, timeout=60)
    assert proc.returncode == 0, proc.stderr.decode()
    assert proc.stderr == b""
    return proc.stdout.decode()


def test_readme_python_examples_run():
    parse_example, call_example = python_blocks()
    out = run_block(parse_example)
    assert "INVITE sip:bob@127.0.0.1:5062" in out
    assert "m=audio 40000 RTP/AVP 0 8 101" in out
    assert "a=sendonly" in out
    assert "Subject: hello" in out
    out = run_block(call_example)
    assert out.splitlines()[-1] == "call_answered 200"
