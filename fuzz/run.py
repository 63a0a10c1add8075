#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Build and run the fuzzers of the project.

    fuzz/run.py build                      build the libFuzzer harnesses into build/fuzz/
    fuzz/run.py run [--seconds N] [NAME…]   run each harness for N seconds (default $FUZZ_SECONDS or 300)
    fuzz/run.py smoke [--total N] [NAME…]   every harness over the seed corpus, N seconds in all (default 60)
    --flags "…" (or $FUZZ_FLAGS) adds libFuzzer options, e.g. "-fork=2 -ignore_crashes=1" to go on
    past the first crash (each one still fails the run)
    fuzz/run.py list                       the harness names

Harnesses (libFuzzer, clang-14, ASan + UBSan, leak detection on):
    incoming  bytes -> ex_incoming() of core/ (UDP datagrams, or a TCP stream framed by tcp.c)
    message   osip_message_parse / osip_message_to_str round trip
    sdp       sdp_message_parse / sdp_message_to_str round trip and core/src/sdp_api.c helpers
and one atheris harness (needs `make build` first):
    python    exosip2's OsipMessage.parse and SdpMessage.parse with their round trips

Each run reads the checked-in seeds (fuzz/corpus/NAME/) and, when present, tests/data/rfc4475/ and
tests/data/{messages,sdp}/; new inputs go to build/fuzz/corpus/NAME/ (never into the checked-in
seeds), crashing inputs to build/fuzz/artifacts/NAME/. The exit status is non-zero when any harness
reported a crash, a leak, a sanitizer error or a timeout. Crashing inputs worth keeping are copied
by hand into fuzz/corpus/NAME/ with a name saying what they hit.
"""

import argparse
import fcntl
import glob
import os
import shlex
import shutil
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
OUT = os.path.join(ROOT, "build", "fuzz")
CLANG = os.environ.get("FUZZ_CC", "clang-14")
SAN = ["-fsanitize=address,undefined", "-fno-sanitize-recover=undefined", "-fno-omit-frame-pointer"]
NATIVE = ("incoming", "message", "sdp")
ALL = NATIVE + ("python",)
RFC4475 = os.path.join(ROOT, "tests", "data", "rfc4475")

# The exact failures a run can report; any of them in the output fails the run.
BAD_MARKERS = (
    "ERROR: AddressSanitizer",
    "ERROR: LeakSanitizer",
    "runtime error:",
    "ERROR: libFuzzer",
    "==ERROR:",
    "Uncaught Python exception",
    "SUMMARY: UndefinedBehaviorSanitizer",
)


def pkg_config(*args):
    try:
        return shlex.split(subprocess.check_output(["pkg-config"] + list(args) + ["libosip2"], text=True))
    except (OSError, subprocess.CalledProcessError):
        return ["-losipparser2", "-losip2"] if "--libs" in args else []


def extra_corpora(name):
    """Read-only seed directories for a harness beyond its own fuzz/corpus/NAME/."""
    dirs = []
    if name in ("incoming", "message", "python") and os.path.isdir(RFC4475):
        dirs.append(RFC4475)
    if name in ("incoming", "message", "python"):
        dirs.append(os.path.join(ROOT, "tests", "data", "messages"))
    if name in ("sdp", "python"):
        dirs.append(os.path.join(ROOT, "tests", "data", "sdp"))
    return [d for d in dirs if os.path.isdir(d)]


def newer(target, sources):
    if not os.path.exists(target):
        return True
    t = os.path.getmtime(target)
    return any(os.path.getmtime(s) > t for s in sources)


def run_cmd(cmd):
    print(" ".join(cmd), flush=True)
    subprocess.check_call(cmd)


def build():
    """Compile core/ once with coverage and sanitizers, then link one binary per harness.

    Concurrent callers (parallel test workers) take turns on a lock file, so each object is written
    by one compiler at a time."""
    os.makedirs(os.path.join(OUT, "obj"), exist_ok=True)
    with open(os.path.join(OUT, ".build.lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        return _build()


def _build():
    cflags = (["-std=gnu11", "-O1", "-g", "-pthread", "-Wall", "-Wextra", "-fsanitize=fuzzer-no-link"]
              + SAN + pkg_config("--cflags")
              + ["-DEXOSIP2_CORE_BUILD", "-DENABLE_TRACE",
                 "-I" + os.path.join(ROOT, "core", "include"), "-I" + os.path.join(ROOT, "core", "src")])
    headers = glob.glob(os.path.join(ROOT, "core", "src", "*.h")) + glob.glob(
        os.path.join(ROOT, "core", "include", "eXosip2", "*.h"))
    objects = {}
    for src in sorted(glob.glob(os.path.join(ROOT, "core", "src", "*.c"))):
        obj = os.path.join(OUT, "obj", os.path.basename(src)[:-2] + ".o")
        if newer(obj, [src] + headers):
            run_cmd([CLANG] + cflags + ["-c", src, "-o", obj])
        objects[os.path.basename(src)] = obj
    libs = pkg_config("--libs") + ["-lssl", "-lcrypto", "-pthread"]  # core/src/tls.c
    harnesses = {
        # tcp.c is #included by the harness (it needs the file's private conn_new())
        "incoming": ([os.path.join(HERE, "incoming.c")],
                     [o for n, o in sorted(objects.items()) if n != "tcp.c"],
                     ["-Wl,--wrap=connect", "-Wl,--wrap=getaddrinfo", "-Wl,--wrap=sendto"]),
        "message": ([os.path.join(HERE, "message.c")], sorted(objects.values()), []),
        "sdp": ([os.path.join(HERE, "sdp.c")], sorted(objects.values()), []),
    }
    for name, (srcs, objs, ldflags) in harnesses.items():
        target = os.path.join(OUT, "fuzz_" + name)
        deps = srcs + objs + headers + glob.glob(os.path.join(ROOT, "core", "src", "tcp.c"))
        if newer(target, deps):
            run_cmd([CLANG] + [f for f in cflags if f != "-fsanitize=fuzzer-no-link"]
                    + ["-fsanitize=fuzzer"] + srcs + objs + ldflags + libs + ["-o", target])
    return 0


def fuzzer_command(name, seconds, smoke, flags=()):
    work = os.path.join(OUT, "corpus", name)
    artifacts = os.path.join(OUT, "artifacts", name) + os.sep
    os.makedirs(work, exist_ok=True)
    os.makedirs(artifacts, exist_ok=True)
    seeds = [os.path.join(HERE, "corpus", name)] + extra_corpora(name)
    opts = ["-max_total_time=%d" % seconds, "-timeout=10", "-rss_limit_mb=2048", "-max_len=65536",
            "-artifact_prefix=" + artifacts, "-print_final_stats=1"]
    if name in ("incoming", "message"):
        opts.append("-dict=" + os.path.join(HERE, "sip.dict"))
    elif name == "sdp":
        opts.append("-dict=" + os.path.join(HERE, "sdp.dict"))
    if smoke:
        # bounded and quiet; every seed runs first, then mutation for the rest of the time
        # a fixed seed: the smoke run in the test suite replays the same mutations every time, so
        # a failure there reproduces; the open-ended search is `make fuzz` (a new seed each run)
        opts += ["-print_final_stats=0", "-close_fd_mask=1", "-seed=1"]
    opts += list(flags)
    if name == "python":
        return [sys.executable, os.path.join(HERE, "parse_py.py")] + opts + [work] + seeds
    return [os.path.join(OUT, "fuzz_" + name)] + opts + [work] + seeds


def python_env():
    env = dict(os.environ)
    env["PYTHONPATH"] = ROOT + os.pathsep + env.get("PYTHONPATH", "")
    # leaks are reported for the C harnesses; the interpreter's own are not ours
    env.setdefault("ASAN_OPTIONS", "detect_leaks=0")
    return env


def run_one(name, seconds, smoke, log_dir, flags=()):
    cmd = fuzzer_command(name, seconds, smoke, flags)
    env = python_env() if name == "python" else dict(os.environ)
    if name != "python":
        env.setdefault("ASAN_OPTIONS", "detect_leaks=1:abort_on_error=0:allocator_may_return_null=1")
        env.setdefault("UBSAN_OPTIONS", "print_stacktrace=1:halt_on_error=1")
    log = os.path.join(log_dir, name + ".log")
    print("fuzz %-8s %4d s  log %s" % (name, seconds, os.path.relpath(log, ROOT)), flush=True)
    started = time.monotonic()
    with open(log, "w") as fh:
        try:
            # a harness that ignores -max_total_time still ends: the budget plus a margin
            rc = subprocess.call(cmd, stdout=fh, stderr=subprocess.STDOUT, env=env,
                                 timeout=seconds + 120, cwd=ROOT)
        except subprocess.TimeoutExpired:
            rc = -1
            fh.write("\nfuzz/run.py: harness overran its time budget\n")
    with open(log, errors="replace") as fh:
        text = fh.read()
    bad = [m for m in BAD_MARKERS if m in text]
    ok = rc == 0 and not bad
    execs = ""
    for line in text.splitlines():
        if line.startswith("stat::number_of_executed_units:"):
            execs = line.split(":")[-1].strip()
        elif line.startswith("Done ") and " runs in " in line:
            execs = line.split()[1]
    print("fuzz %-8s %s  rc=%s  %.0f s  runs=%s%s" % (
        name, "ok  " if ok else "FAIL", rc, time.monotonic() - started, execs or "?",
        ("  (" + ", ".join(bad) + ")") if bad else ""), flush=True)
    if not ok:
        tail = text.splitlines()[-60:]
        print("\n".join("    " + t for t in tail), flush=True)
    return ok


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("command", choices=("build", "run", "smoke", "list"))
    ap.add_argument("names", nargs="*", help="harnesses (default: all)")
    ap.add_argument("--seconds", type=int, default=int(os.environ.get("FUZZ_SECONDS", "300")))
    ap.add_argument("--total", type=int, default=int(os.environ.get("FUZZ_SMOKE_SECONDS", "60")))
    ap.add_argument("--flags", default=os.environ.get("FUZZ_FLAGS", ""), help="extra libFuzzer options")
    args = ap.parse_intermixed_args(argv)
    if args.command == "list":
        print("\n".join(ALL))
        return 0
    names = args.names or list(ALL)
    unknown = [n for n in names if n not in ALL]
    if unknown:
        ap.error("unknown harness %s (one of %s)" % (", ".join(unknown), ", ".join(ALL)))
    if shutil.which(CLANG) is None:
        print("fuzz/run.py: %s not found (make deps installs clang-14 and libclang-rt-14-dev)" % CLANG,
              file=sys.stderr)
        return 2
    build()
    if args.command == "build":
        return 0
    seconds = args.seconds if args.command == "run" else max(5, args.total // len(names))
    log_dir = os.path.join(OUT, "logs")
    os.makedirs(log_dir, exist_ok=True)
    flags = shlex.split(args.flags)
    results = [run_one(n, seconds, args.command == "smoke", log_dir, flags) for n in names]
    return 0 if all(results) else 1


if __name__ == "__main__":
    sys.exit(main())
