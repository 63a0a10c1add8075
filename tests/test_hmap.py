# SPDX-License-Identifier: Apache-2.0
"""core/'s hash map (core/src/hmap.c), the index of transactions, calls and dialogs, on its own:
tests/core/hmap_unit.c puts, finds, replaces and deletes string and integer keys (prefixes of one
another, the empty key, a 4 000-byte key, keys that differ only in their last byte, the integer
extremes), grows a table from 16 buckets to 65 536 keys, and checks that the seeded SipHash-1-3 of
string keys (which come from the network) spreads sequential SIP-like keys: no chain longer than 12.
Built plain and under AddressSanitizer with UndefinedBehaviorSanitizer."""

import os
import subprocess

import pytest

from test_core_api import ROOT, _osip_flags

SRC = os.path.join(ROOT, "core", "src")
UNIT = os.path.join(ROOT, "tests", "core", "hmap_unit.c")
VARIANTS = {
    "plain": ["-O2"],
    "asan-ubsan": ["-O1", "-fsanitize=address,undefined", "-fno-sanitize-recover=all"],
}


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_hmap_unit(tmp_path, variant):
    exe = str(tmp_path / ("hmap_" + variant))
    cflags = [f for f in _osip_flags() if f.startswith("-I")]
    res = subprocess.run(["cc", "-std=gnu11", "-g", "-Wall", "-Wextra", "-Werror", "-pthread"] + VARIANTS[variant]
                         + ["-I" + SRC, "-I" + os.path.join(ROOT, "core", "include"), "-I" + os.path.dirname(UNIT)]
                         + cflags + ["-o", exe, UNIT, os.path.join(SRC, "hmap.c")],
                         capture_output=True, text=True, timeout=180)
    assert res.returncode == 0, res.stderr
    run = subprocess.run([exe], capture_output=True, text=True, timeout=120,
                         env=dict(os.environ, ASAN_OPTIONS="detect_leaks=1"))
    assert run.returncode == 0, (run.returncode, run.stdout, run.stderr)
    assert run.stdout.strip() == "hmap: ok", run.stdout
    assert "runtime error" not in run.stderr and "ERROR" not in run.stderr, run.stderr
