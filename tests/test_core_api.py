# SPDX-License-Identifier: Apache-2.0
"""core/'s C API exercised by a C program: two contexts in one process over 127.0.0.1 and ::1.

tests/core/two_contexts.c checks OPTIONS and MESSAGE outside dialogs, a call with ringing,
answer, ACK, INFO, re-INVITE, Replaces lookup and BYE, a cancelled and a declined call, the
event descriptor and the statistics; it exits non-zero on the first failed check.
"""

import os
import shutil
import subprocess

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CORE_LIB_DIR = os.path.join(ROOT, "exosip2")


def _osip_flags():
    out = subprocess.run(["pkg-config", "--cflags", "--libs", "libosip2"], capture_output=True, text=True,
                         check=True)
    return out.stdout.split()


def under_memcheck(argv, timeout=300):
    """argv run under valgrind's memcheck (definite leaks are errors): the completed process."""
    valgrind = shutil.which("valgrind")
    assert valgrind, "valgrind is part of `make deps`"
    return subprocess.run([valgrind, "-q", "--error-exitcode=3", "--leak-check=full",
                           "--errors-for-leak-kinds=definite"] + list(argv),
                          capture_output=True, text=True, timeout=timeout)


@pytest.fixture(scope="module")
def two_contexts(tmp_path_factory):
    assert os.path.exists(os.path.join(CORE_LIB_DIR, "libexosip2core.so")), "run `make build` first"
    exe = str(tmp_path_factory.mktemp("core") / "two_contexts")
    cmd = ["cc", "-std=gnu11", "-Wall", "-Wextra", "-Werror", "-O1", "-g",
           "-I" + os.path.join(ROOT, "core", "include"), os.path.join(ROOT, "tests", "core", "two_contexts.c"),
           "-o", exe, "-L" + CORE_LIB_DIR, "-lexosip2core", "-Wl,-rpath," + CORE_LIB_DIR] + _osip_flags()
    subprocess.run(cmd, check=True, timeout=120)
    return exe


def _has_ipv6_loopback():
    import socket
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_DGRAM) as s:
            s.bind(("::1", 0))
        return True
    except OSError:
        return False


@pytest.mark.parametrize("args", [["udp"], ["tcp"], ["udp", "ipv6"], ["tcp", "ipv6"]],
                         ids=["udp", "tcp", "udp-ipv6", "tcp-ipv6"])
def test_two_contexts(two_contexts, args):
    if "ipv6" in args:
        assert _has_ipv6_loopback(), "this machine has no ::1"
    res = subprocess.run([two_contexts] + args, capture_output=True, text=True, timeout=90)
    assert res.returncode == 0, res.stderr
    assert "all checks passed" in res.stdout


@pytest.mark.parametrize("transport", ["udp", "tcp"])
def test_two_contexts_under_valgrind(two_contexts, transport):
    res = under_memcheck([two_contexts, transport])
    assert res.returncode == 0, res.stderr[-4000:]
