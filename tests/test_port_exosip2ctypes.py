# SPDX-License-Identifier: Apache-2.0
"""Porting from exosip2ctypes in one line: the package re-exports its names, and programs written
against its API (examples/exosip2ctypes/) run against SIPp and Kamailio with only the import changed."""

import ast
import os
import re
import subprocess
import sys

import pytest

import exosip2
from peers.kamailio import kamailio, kamailio_factory  # noqa: F401 (fixtures)
from peers.sipp_fixtures import sipp_factory  # noqa: F401 (fixture)

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
EXAMPLES = os.path.join(ROOT, "examples", "exosip2ctypes")
ENV = dict(os.environ, PYTHONPATH=ROOT)

# What `from exosip2ctypes import …` offers (its package: DLL_NAME, initialize, and the public names of
# context, event and version), and its modules with the public names each defines.
CTYPES_PACKAGE = {"DLL_NAME", "initialize", "Context", "ContextLock", "Event", "EventType",
                  "get_library_version"}
CTYPES_MODULES = {
    "call": {"InitInvite", "Ack", "Answer"},
    "context": {"Context", "ContextLock"},
    "error": set(),
    "event": {"Event", "EventType"},
    "message": {"OsipMessage", "ExosipMessage"},
    "register": {"InitialRegister", "Register"},
    "sdp": {"SdpMessage"},
    "utils": {"to_bytes", "to_str", "to_unicode", "LoggerMixin"},
    "version": {"get_library_version"},
}

pytestmark = pytest.mark.timeout(120)


def run_example(name, *args, timeout=60):
    return subprocess.run([sys.executable, os.path.join(EXAMPLES, name)] + list(args), env=ENV,
                          capture_output=True, text=True, timeout=timeout)


def test_package_reexports_what_exosip2ctypes_does():
    ns = {}
    exec("from exosip2 import " + ", ".join(sorted(CTYPES_PACKAGE)), ns)
    from exosip2.context import Context, ContextLock
    from exosip2.event import Event, EventType
    assert (ns["Context"], ns["ContextLock"], ns["Event"], ns["EventType"]) == (Context, ContextLock, Event,
                                                                              EventType)
    assert ns["DLL_NAME"] == "eXosip2"
    assert ns["get_library_version"]() == "5.3.0"
    assert ns["initialize"]() is None and ns["initialize"]("/ignored/libeXosip2.so") is None
    star = {}
    exec("from exosip2 import *", star)
    assert CTYPES_PACKAGE <= set(star)
    assert CTYPES_PACKAGE <= set(dir(exosip2))
    with pytest.raises(ImportError, match="NoSuchName"):
        exec("from exosip2 import NoSuchName", {})
    with pytest.raises(TypeError, match="path must be a str or None, not int"):
        exosip2.initialize(5)


def test_import_exosip2_loads_context_only_on_first_use():
    code = ("import sys, exosip2; before = 'exosip2.context' in sys.modules; from exosip2 import Context; "
            "print(before, 'exosip2.context' in sys.modules, Context.__module__)")
    out = subprocess.run([sys.executable, "-c", code], env=ENV, capture_output=True, text=True, timeout=60)
    assert out.stdout.split() == ["False", "True", "exosip2.context"], out.stderr


@pytest.mark.parametrize("name", sorted(n for n in os.listdir(EXAMPLES) if n.endswith(".py")))
def test_example_uses_only_names_exosip2ctypes_has(name):
    """Renaming `exosip2` to `exosip2ctypes` in the example gives a program whose every name exists there."""
    tree = ast.parse(open(os.path.join(EXAMPLES, name)).read())
    modules = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            assert all(not a.name.startswith("exosip2") for a in node.names), "use from-imports, as there"
        elif isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == "exosip2":
            sub = node.module.split(".")[1:]
            for alias in node.names:
                if sub:
                    assert alias.name in CTYPES_MODULES[sub[0]], (node.module, alias.name)
                elif alias.name in CTYPES_MODULES:
                    modules[alias.asname or alias.name] = alias.name
                else:
                    assert alias.name in CTYPES_PACKAGE, alias.name
    assert modules or name != "register.py"
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id in modules:
            assert node.attr in CTYPES_MODULES[modules[node.value.id]], "%s.%s" % (node.value.id, node.attr)


@pytest.mark.peers
def test_incoming_call_answers_sipp_uac(sipp_factory):  # noqa: F811
    incoming = subprocess.Popen([sys.executable, os.path.join(EXAMPLES, "incoming_call.py")], env=ENV,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        m = re.match(r"incoming: listening on 127\.0\.0\.1:(\d+)", incoming.stdout.readline())
        assert m
        uac = sipp_factory("uac", "127.0.0.1:%s" % m.group(1), calls=1, pause_ms=200, timeout_s=30)
        uac.start(wait_bound=False)
        result = uac.wait()
        assert result.returncode == 0, result.describe()
        rest, err = incoming.communicate(timeout=30)
        assert incoming.returncode == 0 and err == "", err
        assert {"call_invite", "call_ack", "call_closed", "call_released"} <= {
            line.split(": ", 1)[1] for line in rest.splitlines()}
    finally:
        if incoming.poll() is None:
            incoming.kill()
            incoming.communicate(timeout=10)


@pytest.mark.peers
def test_outgoing_call_reaches_sipp_uas(sipp_factory):  # noqa: F811
    uas = sipp_factory("uas", calls=1, timeout_s=30)
    uas.start()
    out = run_example("outgoing_call.py", "sip:service@127.0.0.1:%d" % uas.port)
    assert out.returncode == 0, out.stdout + out.stderr
    assert out.stderr == ""
    assert {"call_ringing", "call_answered", "call_released"} <= {
        line.split(": ", 1)[1] for line in out.stdout.splitlines()[1:]}
    result = uas.wait()
    assert result.returncode == 0, result.describe()
    assert result.successful == 1


@pytest.mark.peers
def test_register_with_digest_auth_at_kamailio(kamailio):  # noqa: F811
    out = run_example("register.py", kamailio.uri, "alice", "alicepw")
    assert out.returncode == 0, out.stdout + out.stderr
    assert out.stderr == ""
    assert out.stdout.splitlines() == ["register: registration_failure 401", "register: registration_success 200",
                                       "register: registration_success 200"]
    assert [r.expires for r in kamailio.seen("REGISTER", user="alice")][-1] == 0
    assert kamailio.auth_results("alice")[0] == "1"
    assert kamailio.bindings("alice") == []


@pytest.mark.peers
def test_register_with_a_wrong_password_fails(kamailio):  # noqa: F811
    out = run_example("register.py", kamailio.uri, "alice", "wrong", timeout=60)
    assert out.returncode == 1
    assert "register: registration_failure 403" in out.stdout.splitlines()
    assert kamailio.bindings("alice") == []
