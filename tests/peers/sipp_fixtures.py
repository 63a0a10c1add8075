# SPDX-License-Identifier: Apache-2.0
"""pytest fixtures around :mod:`peers.sipp`: SIPp and the C example programs, stopped at teardown.

Load them with ``pytest_plugins = ["peers.sipp_fixtures"]`` in tests/conftest.py, or import the
fixture names into a test module.
"""

import fcntl
import glob
import os
import re
import shlex
import shutil
import subprocess
import sys

import pytest

from peers.sipp import PeerError, Program, Sipp

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SCENARIOS = os.path.join(ROOT, "tests", "scenarios")
# EXOSIP2_EXAMPLES_C points the tests at uas/uac built elsewhere (for instance against an installed
# libeXosip2, to compare core/ with it); that directory must have a Makefile too.
EXAMPLES_C = os.environ.get("EXOSIP2_EXAMPLES_C") or os.path.join(ROOT, "examples", "c")


def scenario(name):
    """Absolute path of ``tests/scenarios/NAME.xml``."""
    path = os.path.join(SCENARIOS, name if name.endswith(".xml") else name + ".xml")
    assert os.path.isfile(path), "no scenario %s" % path
    return path


@pytest.fixture
def sipp_factory(tmp_path):
    """``sipp_factory(scenario, remote=None, **options)`` → a :class:`~peers.sipp.Sipp`, not started,
    working in its own directory under the test's tmp_path; every one is stopped at teardown."""
    started = []

    def make(scen, remote=None, **options):
        options.setdefault("workdir", str(tmp_path / ("sipp-%d" % len(started))))
        sipp = Sipp(scen, remote, **options)
        started.append(sipp)
        return sipp

    yield make
    for sipp in started:
        sipp.stop()


@pytest.fixture
def program_factory(tmp_path):
    """``program_factory(path, args, wrapper=(), env=None)`` → a :class:`~peers.sipp.Program`, not
    started; any still running at teardown is stopped by its pid (the test itself should have stopped
    it and checked the exit code)."""
    made = []

    def make(program, args=(), **options):
        options.setdefault("workdir", str(tmp_path / ("prog-%d" % len(made))))
        prog = Program(program, args, **options)
        made.append(prog)
        return prog

    yield make
    for prog in made:
        prog.cleanup()


def _run(cmd, cwd=ROOT, env=None, timeout=600):
    try:
        proc = subprocess.run(cmd, cwd=cwd, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, text=True, timeout=timeout)
    except subprocess.TimeoutExpired as exc:
        raise PeerError("%s took more than %d s:\n%s" % (" ".join(cmd), timeout, exc.output or ""))
    if proc.returncode != 0:
        raise PeerError("%s failed (rc %d):\n%s" % (" ".join(cmd), proc.returncode, proc.stdout[-6000:]))
    return proc.stdout


@pytest.fixture(scope="session")
def c_examples():
    """``{'uas': path, 'uac': path}``: examples/c built with ``make -C examples/c`` (once per session)."""
    if not os.path.isfile(os.path.join(EXAMPLES_C, "Makefile")):
        raise PeerError("examples/c/Makefile is missing: the C example programs are not in this tree")
    _run(["make", "-C", EXAMPLES_C], timeout=300)
    paths = {name: os.path.join(EXAMPLES_C, name) for name in ("uas", "uac")}
    for name, path in paths.items():
        if not os.access(path, os.X_OK):
            raise PeerError("make -C examples/c did not produce %s" % path)
    return paths


def _is_program(path):
    """True for a C file with its own main() (another example program, such as register.c)."""
    with open(path, errors="replace") as f:
        return re.search(r"^int\s+main\s*\(", f.read(), re.M) is not None


def build_asan_uas(out_dir):
    """Build an AddressSanitizer copy of core/ and of examples/c/uas into *out_dir*; return the path
    of ``uas-asan``.

    core/ is built by setup.py itself (``EXOSIP2_SANITIZE=address``) into ``out_dir/lib/exosip2`` with
    its own build-temp, so the in-place development build is left alone. uas is compiled from
    examples/c/uas.c plus every other examples/c/*.c that is not a program (not uas.c, not uac.c),
    with -fsanitize=address, linked against that libexosip2core.so through an absolute rpath.
    """
    main = os.path.join(EXAMPLES_C, "uas.c")
    if not os.path.isfile(main):
        raise PeerError("examples/c/uas.c is missing: the C example programs are not in this tree")
    lib_root = os.path.join(out_dir, "lib")
    # EXOSIP2_CORE_ONLY=1 asks setup.py to build core/ alone (no extension modules); a setup.py
    # without that switch ignores it and builds the modules too, into the same temporary tree.
    env = dict(os.environ, EXOSIP2_SANITIZE="address", EXOSIP2_CORE_ONLY="1")
    env.pop("EXOSIP2_WERROR", None)
    _run([sys.executable, "setup.py", "-q", "build_ext", "--build-lib", lib_root,
          "--build-temp", os.path.join(out_dir, "temp"), "-j", "2"], env=env, timeout=900)
    core_dir = os.path.join(lib_root, "exosip2")
    if not os.path.isfile(os.path.join(core_dir, "libexosip2core.so")):
        raise PeerError("setup.py did not build %s/libexosip2core.so" % core_dir)
    helpers = [p for p in sorted(glob.glob(os.path.join(EXAMPLES_C, "*.c")))
               if os.path.basename(p) not in ("uas.c", "uac.c") and not _is_program(p)]
    cflags = shlex.split(_run(["pkg-config", "--cflags", "libosip2"]))
    libs = shlex.split(_run(["pkg-config", "--libs", "libosip2"]))
    target = os.path.join(out_dir, "uas-asan")
    cc = shlex.split(os.environ.get("CC", "cc"))
    _run(cc + ["-std=gnu11", "-O1", "-g", "-fsanitize=address", "-fno-omit-frame-pointer", "-pthread",
               "-Wall", "-Wextra", "-I" + os.path.join(ROOT, "core", "include"), "-I" + EXAMPLES_C]
         + cflags + [main] + helpers
         + ["-o", target, "-L" + core_dir, "-lexosip2core", "-Wl,-rpath," + core_dir] + libs,
         timeout=300)
    return target


@pytest.fixture(scope="session")
def uas_asan(tmp_path_factory):
    """Path of an AddressSanitizer build of examples/c/uas on an AddressSanitizer build of core/.

    Under pytest-xdist the workers of one run share one build (build/asan-uas/, made by the first
    worker that needs it while the others wait on a lock file); a plain run builds into a temporary
    folder of its own."""
    run_id = os.environ.get("PYTEST_XDIST_TESTRUNUID")
    if not run_id:
        return build_asan_uas(str(tmp_path_factory.mktemp("asan")))
    out_dir = os.path.join(ROOT, "build", "asan-uas")
    os.makedirs(out_dir, exist_ok=True)
    stamp = os.path.join(out_dir, "run-id")
    with open(os.path.join(out_dir, ".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        target = os.path.join(out_dir, "uas-asan")
        if os.path.isfile(target) and os.path.isfile(stamp) and open(stamp).read() == run_id:
            return target
        if os.path.isfile(stamp):
            os.unlink(stamp)
        target = build_asan_uas(out_dir)
        with open(stamp, "w") as f:
            f.write(run_id)
        return target


@pytest.fixture(scope="session")
def valgrind():
    path = shutil.which("valgrind")
    if path is None:
        raise PeerError("valgrind is not installed (`make deps` installs it)")
    return path
