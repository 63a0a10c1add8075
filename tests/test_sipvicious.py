# SPDX-License-Identifier: Apache-2.0
"""sipvicious (PyPI) as a real attacker's tool against the example UASes on 127.0.0.1.

svmap finds a SIP device from its answer to one request; svwar learns which users exist by
comparing the answer for each candidate with the answer for a random user (first line, and the
Reason header for INVITE: any difference means "exists"); svcrack sends REGISTERs with guessed
passwords and reports the one answered 200 after a challenge. Against examples/c/uas (an
AddressSanitizer build) and examples/python/uas.py (asyncio dispatch), over UDP, with small ranges
and short timeouts, these tests check that:

* the UAS survives every scan: still running, AddressSanitizer silent, no traceback, a valid OPTIONS
  answered 200 afterwards;
* svwar (REGISTER, INVITE and OPTIONS) learns no extension: every user, numeric or hostile (``>``,
  ``<``, a space, a quote, a comma, a 200-character name), gets the same answer as a random one;
* svcrack finds no password.
"""

import os
import shutil
import subprocess
import sys

import pytest

from peers.sipp_fixtures import program_factory, uas_asan  # noqa: F401
from peers.sipp import free_port

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "fuzz"))
import netfuzz  # noqa: E402

pytestmark = pytest.mark.peers

ASAN_ENV = {"ASAN_OPTIONS": "detect_leaks=1:halt_on_error=1:abort_on_error=0:exitcode=86",
            "LSAN_OPTIONS": "exitcode=87"}
USERS = [str(n) for n in range(100, 116)] + ["alice", "bob", "admin", "root", ">", "<", "a b", '"', ",", "%3E",
                                              "x" * 200]
SIPVICIOUS_FOUND = 40  # sipvicious' exit code when it found something


def tool(name):
    path = shutil.which("sipvicious_" + name)
    if path is None:
        pytest.fail("sipvicious_%s is not installed (pip install sipvicious; `make deps` does it)" % name)
    return path


def run_tool(name, args, timeout=90):
    proc = subprocess.run([tool(name)] + args, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, text=True, timeout=timeout, errors="replace")
    return proc.returncode, proc.stdout


@pytest.fixture
def target(request, program_factory):  # noqa: F811
    """A UAS on UDP (kind 'c': the ASan build of examples/c/uas; 'python': examples/python/uas.py)."""
    kind = request.param
    args = ["-a", "127.0.0.1", "-p", "0", "-t", "udp", "-q"]
    if kind == "c":
        uas = program_factory(request.getfixturevalue("uas_asan"), args, env=ASAN_ENV, name="uas-asan")
    else:
        uas = program_factory(os.path.join(ROOT, "examples", "python", "uas.py"), args + ["--dispatch", "asyncio"],
                              wrapper=[sys.executable], env={"PYTHONPATH": ROOT}, name="uas-py")
        uas.prefix = "uas"
    uas.start(timeout=30)
    yield uas
    uas.cleanup()


def assert_survived(uas):
    assert uas.proc.poll() is None, "the UAS died\n" + uas.describe()
    status = netfuzz.options_answered(uas.port, "udp")
    assert status is not None and status.startswith("SIP/2.0 200"), "OPTIONS answered %r\n%s" % (
        status, uas.describe())
    assert "Sanitizer" not in uas.stderr, uas.describe()
    assert "Traceback" not in uas.stderr, uas.describe()
    assert uas.stop(check=False) == 0, uas.describe()
    assert "Sanitizer" not in uas.stderr, uas.describe()


def common(uas):
    """Options every tool takes: bind to loopback on a free port, report our address as loopback."""
    return ["-b", "127.0.0.1", "-P", str(free_port()), "-x", "127.0.0.1", "-v", "127.0.0.1", "-p", str(uas.port)]


@pytest.mark.parametrize("target", ["c", "python"], indirect=True)
@pytest.mark.parametrize("method", ["OPTIONS", "INVITE"])
def test_svmap_sees_the_uas_and_it_survives(target, method):
    rc, out = run_tool("svmap", ["-m", method, "-b", "127.0.0.1", "-P", str(free_port()), "-x", "127.0.0.1", "-v",
                                 "-p", str(target.port), "127.0.0.1"])
    assert "127.0.0.1:%d" % target.port in out, "svmap did not see the UAS (rc %d)\n%s" % (rc, out[-4000:])
    assert_survived(target)


@pytest.mark.parametrize("target", ["c", "python"], indirect=True)
@pytest.mark.parametrize("method", ["REGISTER", "INVITE", "OPTIONS"])
def test_svwar_learns_no_extension(target, method, tmp_path):
    users = tmp_path / "users.txt"
    users.write_text("\n".join(USERS) + "\n")
    rc, out = run_tool("svwar", ["-m", method, "-d", str(users), "--maximumtime", "3"] + common(target))
    assert "Ok SIP device found" in out, "svwar got no answer for a random user (rc %d)\n%s" % (rc, out[-4000:])
    assert rc != SIPVICIOUS_FOUND and "found nothing" in out and "exists" not in out, (
        "svwar told users apart by the answers (rc %d)\n%s" % (rc, out[-4000:]))
    rc, out = run_tool("svwar", ["-m", method, "-e", "1000-1030", "--maximumtime", "3"] + common(target))
    assert rc != SIPVICIOUS_FOUND and "found nothing" in out, "rc %d\n%s" % (rc, out[-4000:])
    assert_survived(target)


@pytest.mark.parametrize("target", ["c", "python"], indirect=True)
def test_svcrack_finds_no_password(target):
    for user in ("100", "alice", ">"):
        rc, out = run_tool("svcrack", ["-u", user, "-r", "1-40", "--maximumtime", "3"] + common(target))
        assert "The password for" not in out, "svcrack found a password for %r (rc %d)\n%s" % (user, rc, out[-4000:])
        if user != ">":
            # svcrack's From for ">" is <sip:>@host>, which does not parse: silence is the answer there
            assert "no server response" not in out, "no answer to the REGISTER of %r\n%s" % (user, out[-4000:])
    assert_survived(target)
