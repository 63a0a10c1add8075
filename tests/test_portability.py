# SPDX-License-Identifier: Apache-2.0
"""What the built core asks of the C library: the wheels are built for glibc 2.17
(manylinux2014) and for musl, so core/ may call nothing that glibc added later
(getrandom() came in 2.25: tokens and DNS ids use the system call instead), and
needs no libresolv (musl has none of res_ninit/res_nquery)."""

import os
import re
import subprocess

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CORE = os.path.join(ROOT, "exosip2", "libexosip2core.so")

# Built here on a newer glibc, these functions carry the version where glibc last
# moved them (2.33/2.34 folded libpthread into libc); each exists in glibc 2.17 under
# an older version, which is what a manylinux2014 build links.
MOVED_NOT_NEW = {
    "stat", "fstat", "lstat",
    "pthread_create", "pthread_join", "pthread_once", "pthread_attr_setstacksize",
    "pthread_mutexattr_init", "pthread_mutexattr_destroy", "pthread_mutexattr_settype",
    "pthread_condattr_setclock", "pthread_detach", "pthread_key_create", "pthread_sigmask",
    "pthread_kill", "pthread_setspecific", "pthread_getspecific",
}


def _dynamic_symbols():
    out = subprocess.run(["objdump", "-T", CORE], check=True, capture_output=True, text=True, timeout=60).stdout
    for line in out.splitlines():
        m = re.search(r"\((GLIBC_[0-9.]+)\)\s+(\S+)$", line)
        if m and " *UND*" in line:
            yield m.group(1), m.group(2)


def _version(tag):
    return tuple(int(x) for x in tag[len("GLIBC_"):].split("."))


def test_core_calls_nothing_newer_than_glibc_2_17():
    symbols = list(_dynamic_symbols())
    assert symbols, "objdump listed no versioned glibc symbol in " + CORE
    newer = sorted({name for tag, name in symbols if _version(tag) > (2, 17) and name not in MOVED_NOT_NEW})
    assert newer == [], "core/ calls glibc functions newer than 2.17: %s" % newer


def test_core_needs_no_libresolv():
    out = subprocess.run(["readelf", "-d", CORE], check=True, capture_output=True, text=True, timeout=60).stdout
    needed = re.findall(r"\(NEEDED\)\s+Shared library: \[([^\]]+)\]", out)
    assert any(n.startswith("libosip2") for n in needed), needed
    assert not [n for n in needed if n.startswith("libresolv")], needed
    names = {name for _, name in _dynamic_symbols()}
    assert not {n for n in names if n.startswith(("__res_", "res_n", "ns_"))}, sorted(names)
