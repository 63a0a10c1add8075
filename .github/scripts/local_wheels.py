#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""``make wheels``: build, repair and test a wheel for every CPython 3.9-3.13 on this machine.

    local_wheels.py [--pythons all|oldest|newest|3.X ...] [--out DIR] [--work DIR] [--jobs N]

Without containers, this proves what cibuildwheel does in CI, on the host's glibc: one sdist; for each
interpreter (found under pyenv, ``$(pyenv root)/versions/3.X.Y``) a build venv outside the tree, a
wheel built from the unpacked sdist, ``auditwheel repair`` (grafting oSIP2 into ``exosip2.libs/``),
oSIP2's licence added next to it, then a fresh venv outside the tree with only that wheel installed,
``ldd`` run with a loader environment free of LD_LIBRARY_PATH to check that oSIP2 and OpenSSL
resolve from ``exosip2.libs/`` and the core from ``exosip2/``, and the fast subset of the suite
(``tests/test_wheels.py -k Installed``: parsing, UDP/TCP/TLS calls) run from outside the tree with
the system's oSIP2 and OpenSSL hidden from the loader: in a private mount namespace (``unshare
--mount``, root needed) each of their shared objects known to ``ldconfig`` has /dev/null bound over
it, and a probe checks that ``dlopen`` of them fails there before the subset runs. Prints one line
per interpreter and exits non-zero if any step failed.
"""

import argparse
import glob
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
SUPPORTED = [(3, 9), (3, 10), (3, 11), (3, 12), (3, 13)]
BUILD_REQUIRES = ["Cython>=3.0", "setuptools>=64", "wheel"]
TEST_REQUIRES = ["pytest>=7", "pytest-timeout"]


def log(msg):
    print("wheels: " + msg, flush=True)


def run(cmd, env=None, cwd=None, timeout=900):
    proc = subprocess.run(cmd, env=env, cwd=cwd, capture_output=True, text=True, timeout=timeout)
    if proc.returncode != 0:
        raise RuntimeError("%s failed (%d):\n%s%s" % (" ".join(cmd), proc.returncode, proc.stdout[-4000:],
                                                      proc.stderr[-4000:]))
    return proc.stdout


def clean_env(**extra):
    """The environment for building and testing: nothing that points the loader or Python at the tree."""
    env = {k: v for k, v in os.environ.items()
           if k not in ("LD_LIBRARY_PATH", "LD_PRELOAD", "PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV",
                        "EXOSIP2_COUNT_LIVE", "EXOSIP2_SANITIZE", "EXOSIP2_TRACE", "EXOSIP2_ANNOTATE",
                        "PIP_REQUIRE_VIRTUALENV")}
    env.update(PIP_DISABLE_PIP_VERSION_CHECK="1")
    env.update(extra)
    return env


def find_pythons():
    root = os.environ.get("PYENV_ROOT") or os.path.expanduser("~/.pyenv")
    try:
        root = subprocess.run(["pyenv", "root"], capture_output=True, text=True, timeout=30).stdout.strip() or root
    except (OSError, subprocess.SubprocessError):
        pass
    found = {}
    for path in glob.glob(os.path.join(root, "versions", "3.*", "bin", "python3")):
        m = re.match(r"3\.(\d+)\.(\d+)$", os.path.basename(os.path.dirname(os.path.dirname(path))))
        if m and (3, int(m.group(1))) in SUPPORTED:
            key = (3, int(m.group(1)))
            patch = int(m.group(2))
            if key not in found or patch > found[key][0]:
                found[key] = (patch, path)
    return {key: path for key, (_, path) in sorted(found.items())}


def select(pythons, wanted):
    keys = sorted(pythons)
    if not keys:
        raise SystemExit("wheels: no CPython 3.9-3.13 found under pyenv")
    chosen = []
    for w in wanted:
        if w == "all":
            chosen += keys
        elif w == "oldest":
            chosen.append(keys[0])
        elif w == "newest":
            chosen.append(keys[-1])
        else:
            m = re.match(r"3\.(\d+)$", w)
            if not m or (3, int(m.group(1))) not in pythons:
                raise SystemExit("wheels: no interpreter %s here (have %s)" % (
                    w, ", ".join("3.%d" % k[1] for k in keys)))
            chosen.append((3, int(m.group(1))))
    return [k for i, k in enumerate(chosen) if k not in chosen[:i]]


# What never goes into an sdist; left out of the copy it is built from.
BUILD_LEFTOVERS = shutil.ignore_patterns(".git", "build", "dist", "wheelhouse", "_build", "*.egg-info", "*.so",
                                         "*.o", "__pycache__", ".mypy_cache", ".pytest_cache")


def make_sdist(work):
    # Built from a copy, so that the source tree gets no egg-info and parallel builds cannot collide.
    copy = os.path.join(work, "tree")
    shutil.copytree(ROOT, copy, ignore=BUILD_LEFTOVERS, symlinks=True)
    out = os.path.join(work, "sdist")
    run([sys.executable, "-m", "build", "--sdist", "--no-isolation", "--outdir", out, copy], env=clean_env())
    (sdist,) = glob.glob(os.path.join(out, "*.tar.gz"))
    src = os.path.join(work, "src")
    with tarfile.open(sdist) as tar:
        top = tar.getnames()[0].split("/")[0]
        tar.extractall(work)
    os.rename(os.path.join(work, top), src)
    # Cython's output does not depend on the interpreter that compiles it: generate it once here.
    run([sys.executable, "setup.py", "--name"], env=clean_env(), cwd=src)
    return sdist, src


def venv(python, path, packages, env):
    run([python, "-m", "venv", "--clear", path], env=env)
    vpy = os.path.join(path, "bin", "python")
    if packages:
        run([vpy, "-m", "pip", "install", "-q"] + packages, env=env)
    return vpy


# The system libraries a repaired wheel must not need: oSIP2 and OpenSSL (both grafted).
HIDDEN = ("libosip2.so", "libosipparser2.so", "libssl.so", "libcrypto.so")
OPENSSL = ("libssl", "libcrypto")


def system_copies():
    """Real paths of the system's shared objects named in HIDDEN, from ldconfig's cache."""
    out = subprocess.run(["ldconfig", "-p"], capture_output=True, text=True, timeout=60).stdout
    found = set()
    for line in out.splitlines():
        name, _, path = line.strip().partition(" => ")
        if path and name.split()[0].startswith(HIDDEN):
            found.add(os.path.realpath(path.strip()))
    return sorted(p for p in found if os.path.isfile(p))


def hidden(cmd, libs):
    """*cmd* run in a private mount namespace where the system's copies of oSIP2 read as empty files
    and those of OpenSSL as the wheel's own grafted copies (from *libs*, its exosip2.libs/).

    OpenSSL is swapped rather than emptied because Context.set_tls checks certificate files with the
    interpreter's ``ssl`` module, whose _ssl links libssl.so.3: with the wheel's bytes behind that
    name the loader finds the already mapped grafted copy (same file), so the process holds exactly
    one OpenSSL, the wheel's, and nothing of the system's. Returns (command, {system file: what is
    bound over it})."""
    files = system_copies()
    if not files:
        raise RuntimeError("no system oSIP2/OpenSSL found by ldconfig -p: nothing to hide")
    binds = {}
    for f in files:
        base = os.path.basename(f)
        lib = next((n for n in OPENSSL if base.startswith(n + ".so")), None)
        if lib is None:
            binds[f] = "/dev/null"
            continue
        ours = glob.glob(os.path.join(libs, lib + "-*.so*"))
        if len(ours) != 1:
            raise RuntimeError("%s: expected one grafted %s, found %s" % (libs, lib, ours))
        binds[f] = ours[0]
    script = " && ".join("mount --bind '%s' '%s'" % (src, dst) for dst, src in sorted(binds.items()))
    return ["unshare", "--mount", "--propagation", "private", "sh", "-c", script + ' && exec "$@"',
            "hide"] + list(cmd), binds


# Run inside hidden(): oSIP2's system files no longer load, OpenSSL's are the grafted bytes, and after
# a TLS context is made no system file of either is mapped.
PROBE = r"""
import ctypes, os, sys
binds = dict(a.split("=", 1) for a in sys.argv[1:])
for dst, src in binds.items():
    if src == "/dev/null":
        try:
            ctypes.CDLL(dst)
        except OSError:
            continue
        sys.exit("the system's %s still loads" % dst)
    elif open(dst, "rb").read() != open(src, "rb").read():
        sys.exit("%s is not the grafted %s here" % (dst, src))
import socket
from exosip2.context import Context
ctx = Context()
ctx.set_tls()
ctx.close()
# by file identity: a system path bound to a grafted file is that file
libs = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(sys.modules["exosip2"].__file__))),
                    "exosip2.libs")
ours = {(st.st_dev, st.st_ino) for st in (os.stat(os.path.join(libs, n)) for n in os.listdir(libs))}
mapped = {line.split()[-1] for line in open("/proc/self/maps") if "/lib" in line}
bad = sorted(m for m in mapped if os.path.basename(m).startswith(("libosip", "libssl", "libcrypto"))
             and (os.stat(m).st_dev, os.stat(m).st_ino) not in ours)
if len(ours) < 4 or bad:
    sys.exit("mapped from outside the wheel: %s" % bad)
"""


def binds_of(libs):
    return hidden([], libs)[1]


def ldd_check(vpy, env):
    """Every libosip* of the installed extension modules resolves inside exosip2.libs/, the core in exosip2/."""
    site = run([vpy, "-c", "import sysconfig; print(sysconfig.get_paths()['platlib'])"], env=env).strip()
    site = os.path.realpath(site)
    pkg = os.path.join(site, "exosip2")
    libs = os.path.join(site, "exosip2.libs")
    modules = glob.glob(os.path.join(pkg, "*.so"))
    assert modules, "no extension module in %s" % pkg
    for so in modules:
        out = run(["ldd", so], env=env)
        for line in out.splitlines():
            if any(n in line for n in ("libosip", "exosip2core", "libssl", "libcrypto")):
                target = os.path.realpath(line.split("=>")[-1].split("(")[0].strip())
                wanted = pkg if "exosip2core" in line else libs
                if not target.startswith(wanted + os.sep):
                    raise RuntimeError("%s: %s resolves outside the wheel: %s" % (so, line.split()[0], target))
    return sorted(os.path.basename(p) for p in glob.glob(os.path.join(libs, "*")))


def one(key, python, src, work, out, jobs, cflags=""):
    tag = "%d.%d" % key
    started = time.monotonic()
    env = clean_env(CFLAGS=cflags) if cflags else clean_env()
    tree = os.path.join(work, "src-" + tag)
    shutil.copytree(src, tree)
    bpy = venv(python, os.path.join(work, "build-" + tag), BUILD_REQUIRES, env)
    dist = os.path.join(work, "dist-" + tag)
    run([bpy, "setup.py", "-q", "build_ext", "-j", str(jobs), "bdist_wheel", "-d", dist], env=env, cwd=tree)
    (wheel,) = glob.glob(os.path.join(dist, "*.whl"))
    house = os.path.join(work, "house-" + tag)
    run([sys.executable, "-m", "auditwheel", "repair", "--wheel-dir", house, wheel], env=env)
    (repaired,) = glob.glob(os.path.join(house, "*.whl"))
    run([sys.executable, os.path.join(HERE, "add_licences.py"), repaired], env=env)
    tpy = venv(python, os.path.join(work, "test-" + tag), TEST_REQUIRES, env)
    run([tpy, "-m", "pip", "install", "-q", "--no-deps", "--no-index", repaired], env=env)
    where = run([tpy, "-c", "import exosip2; print(exosip2.__file__)"], env=env, cwd=work).strip()
    if not where.startswith(os.path.join(work, "test-" + tag) + os.sep):
        raise RuntimeError("exosip2 imported from %s, not from the test venv" % where)
    grafted = ldd_check(tpy, env)
    site = os.path.realpath(run([tpy, "-c", "import sysconfig; print(sysconfig.get_paths()['platlib'])"],
                                env=env).strip())
    libs = os.path.join(site, "exosip2.libs")
    probe, binds = hidden([tpy, "-c", PROBE] + ["%s=%s" % kv for kv in sorted(binds_of(libs).items())], libs)
    run(probe, env=env, cwd=work)
    subset, _ = hidden([tpy, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                        os.path.join(ROOT, "tests", "test_wheels.py"), "-k", "Installed"], libs)
    report = run(subset, env=env, cwd=work).strip().splitlines()[-1] + ", %d system files hidden" % len(binds)
    os.makedirs(out, exist_ok=True)
    final = os.path.join(out, os.path.basename(repaired))
    shutil.copy2(repaired, final)
    return {"python": tag, "wheel": os.path.basename(final), "grafted": grafted, "tests": report,
            "seconds": round(time.monotonic() - started, 1)}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pythons", nargs="+", default=["all"])
    parser.add_argument("--out", default=os.path.join(ROOT, "wheelhouse"))
    parser.add_argument("--work", default=None, help="scratch directory (default: a new one under /tmp)")
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--cflags", default="", help="extra CFLAGS for the extension modules (e.g. -O0 for a "
                        "quick check of the pipeline; release wheels use the interpreter's own flags)")
    args = parser.parse_args(argv)
    pythons = find_pythons()
    chosen = select(pythons, args.pythons)
    work = args.work or tempfile.mkdtemp(prefix="exosip2-wheels-")
    work = os.path.abspath(work)
    if work.startswith(ROOT + os.sep):
        raise SystemExit("wheels: the scratch directory must be outside the source tree")
    os.makedirs(work, exist_ok=True)
    log("interpreters: %s; scratch: %s" % (", ".join(pythons[k] for k in chosen), work))
    sdist, src = make_sdist(work)
    log("sdist: %s" % os.path.basename(sdist))
    failed = 0
    for key in chosen:
        try:
            r = one(key, pythons[key], src, work, os.path.abspath(args.out), args.jobs, args.cflags)
            log("%(python)s ok %(wheel)s [%(tests)s] exosip2.libs: %(grafted)s (%(seconds)ss)" % dict(
                r, grafted=" ".join(r["grafted"])))
        except Exception as exc:  # report every interpreter, then fail
            failed += 1
            log("%d.%d FAILED: %s" % (key[0], key[1], exc))
    if not args.work:
        shutil.rmtree(work, ignore_errors=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
