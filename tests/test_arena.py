# SPDX-License-Identifier: Apache-2.0
"""core/src/arena.c, the chunks oSIP2's small blocks come from while core parses, copies, builds or
serialises a message: tests/core/arena_unit.c compiled with it, plain, under AddressSanitizer with
UndefinedBehaviorSanitizer, under ThreadSanitizer (blocks freed by two threads while a third allocates),
and statically against musl.

What the unit checks: nothing comes from an arena outside a scope or above EX_ARENA_MAX_BLOCK; blocks are
8-aligned, keep their size and content, and share a chunk until it is full (to the byte); a chunk
outlives its blocks while its scope is open and each scope starts a new one; a chunk goes back to the
free stack when its last block is freed, from whichever thread; free chunks past the warm ones give
their pages back and are handed out again. The arenas under real traffic are exercised by every test
that runs a non-sanitized core (the hostile corpus, the network fuzz, the memory-after-burst test).
"""

import os
import subprocess

import pytest

from test_dns_wire import musl_gcc

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SRC = os.path.join(ROOT, "core", "src")
UNIT = os.path.join(ROOT, "tests", "core", "arena_unit.c")

VARIANTS = {
    "plain": ["-O2"],
    "asan-ubsan": ["-O1", "-fsanitize=address,undefined", "-fno-sanitize-recover=all"],
    "tsan": ["-O1", "-fsanitize=thread"],
}


def build_and_run(tmp_path, cc, flags, name):
    exe = str(tmp_path / name)
    res = subprocess.run([cc, "-std=gnu11", "-g", "-Wall", "-Wextra", "-Werror", "-pthread"] + flags
                         + ["-I" + SRC, "-I" + os.path.dirname(UNIT), "-o", exe, UNIT, os.path.join(SRC, "arena.c"),
                            os.path.join(SRC, "blockstack.c")],
                         capture_output=True, text=True, timeout=180)
    assert res.returncode == 0, res.stderr
    env = dict(os.environ, TSAN_OPTIONS="halt_on_error=1", ASAN_OPTIONS="detect_leaks=1")
    run = subprocess.run([exe], capture_output=True, text=True, timeout=240, env=env)
    assert run.returncode == 0, (run.returncode, run.stdout, run.stderr)
    assert run.stdout.strip() == "arena: ok", run.stdout
    assert "WARNING" not in run.stderr and "ERROR" not in run.stderr, run.stderr


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_arena_unit(tmp_path, variant):
    build_and_run(tmp_path, "cc", VARIANTS[variant], "arena_" + variant)


def test_arena_unit_static_musl(tmp_path):
    build_and_run(tmp_path, musl_gcc(), ["-O2", "-static"], "arena_musl")


@pytest.fixture(scope="module")
def allocator_hooks(tmp_path_factory):
    from test_core_register import _compile
    return _compile(tmp_path_factory, "allocator_hooks")


@pytest.mark.parametrize("mode,expected", [("core", "hooks: core"), ("optout", "hooks: malloc")])
def test_allocator_hooks_are_core_s_unless_the_program_set_its_own(allocator_hooks, mode, expected):
    """docs/capi.rst: eXosip_init points oSIP2's hooks at core's pool and arenas, unless the program set
    malloc/realloc/free first (then it keeps them). Not under valgrind or a sanitizer: plain build."""
    res = subprocess.run([allocator_hooks, mode], capture_output=True, text=True, timeout=30)
    assert res.returncode == 0, (res.returncode, res.stdout, res.stderr)
    assert res.stdout.strip() == expected


@pytest.mark.parametrize("libc", ["glibc", "musl"])
def test_arena_loads_with_dlopen(tmp_path, libc):
    """The binding loads core with dlopen: arena.c's thread-local state must be accepted by the loader
    (musl refuses initial-exec TLS in a dlopened library, so there it uses the general model)."""
    cc = "cc" if libc == "glibc" else musl_gcc()
    lib, exe = str(tmp_path / "libarena.so"), str(tmp_path / "arena_dlopen")
    for cmd in ([cc, "-std=gnu11", "-O2", "-Wall", "-Wextra", "-Werror", "-shared", "-fPIC", "-pthread",
                 "-I" + SRC, "-o", lib, os.path.join(SRC, "arena.c"), os.path.join(SRC, "blockstack.c")],
                [cc, "-std=gnu11", "-O2", "-Wall", "-Wextra", "-Werror", "-pthread", "-o", exe,
                 os.path.join(ROOT, "tests", "core", "arena_dlopen.c"), "-ldl"]):
        res = subprocess.run(cmd, capture_output=True, text=True, timeout=180)
        assert res.returncode == 0, res.stderr
    run = subprocess.run([exe, lib], capture_output=True, text=True, timeout=60)
    assert (run.returncode, run.stdout.strip()) == (0, "dlopen: ok"), (run.returncode, run.stdout, run.stderr)
