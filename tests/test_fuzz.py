# SPDX-License-Identifier: Apache-2.0
"""The fuzzers of fuzz/ as tests: each harness runs for a bounded time over the checked-in seed
corpus (fuzz/corpus/NAME/, plus tests/data/rfc4475/ and tests/data/{messages,sdp}/ where they
apply), with AddressSanitizer, UndefinedBehaviorSanitizer and leak detection; any crash, leak,
sanitizer report, timeout or (for the atheris harness) undocumented exception fails the test.

``FUZZ_TEST_SECONDS`` (default 15) is the time per harness: four harnesses, about 60 s together.
A failing run leaves the harness log in build/fuzz/logs/NAME.log and the input in
build/fuzz/artifacts/NAME/; the assertion message carries the end of the log.
"""

import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RUN = os.path.join(ROOT, "fuzz", "run.py")
SECONDS = int(os.environ.get("FUZZ_TEST_SECONDS", "15"))
HARNESSES = ("incoming", "message", "sdp", "python")


def corpus_files(name):
    folder = os.path.join(ROOT, "fuzz", "corpus", name)
    return [f for f in os.listdir(folder) if os.path.isfile(os.path.join(folder, f))]


@pytest.mark.parametrize("name", HARNESSES)
def test_seed_corpus_is_checked_in(name):
    files = corpus_files(name)
    assert len(files) >= 8, "fuzz/corpus/%s holds only %d seeds" % (name, len(files))


def test_seed_corpus_has_every_method():
    names = " ".join(corpus_files("message")).upper()
    for method in ("INVITE", "ACK", "BYE", "CANCEL", "OPTIONS", "REGISTER", "MESSAGE", "INFO", "UPDATE",
                   "REFER", "SUBSCRIBE", "NOTIFY", "PUBLISH", "PRACK"):
        assert "REQ_" + method in names, "no %s seed in fuzz/corpus/message" % method


@pytest.mark.parametrize("name", HARNESSES)
def test_harness_finds_nothing(name):
    cmd = [sys.executable, RUN, "smoke", "--total", str(SECONDS), name]
    proc = subprocess.run(cmd, cwd=ROOT, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          text=True, timeout=SECONDS + 600)
    assert proc.returncode == 0, "%s failed (rc %d):\n%s" % (" ".join(cmd), proc.returncode, proc.stdout[-12000:])
    assert "fuzz %-8s ok" % name in proc.stdout, proc.stdout[-4000:]
