# SPDX-License-Identifier: Apache-2.0
"""The stubs match the compiled modules (mypy.stubtest), and user code typed against them passes --strict."""

import os
import re
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ALLOWLIST = os.path.join(ROOT, "tests", "stubtest-allowlist.txt")
ENV = dict(os.environ, MYPYPATH=ROOT, PYTHONPATH=ROOT)

pytestmark = pytest.mark.timeout(240)


def mypy(tmp_path, *args):
    return subprocess.run([sys.executable, "-m", "mypy", "--no-incremental", "--cache-dir", str(tmp_path / "cache")]
                          + list(args), cwd=ROOT, env=ENV, capture_output=True, text=True, timeout=200)


def test_stubtest_is_clean(tmp_path):
    # stubtest also fails on an allowlist entry that matches nothing, so the allowlist cannot go stale
    out = subprocess.run([sys.executable, "-m", "mypy.stubtest", "--mypy-config-file", os.devnull,
                          "--allowlist", ALLOWLIST, "exosip2"], cwd=str(tmp_path), env=ENV,
                         capture_output=True, text=True, timeout=200)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "Success: no issues found" in out.stdout


def test_every_allowlist_entry_is_explained():
    lines = open(ALLOWLIST).read().splitlines()
    entries = [i for i, line in enumerate(lines) if line.strip() and not line.startswith("#")]
    assert entries
    for i in entries:
        assert lines[i - 1].startswith("# "), "allowlist line %d has no comment above it: %s" % (i + 1, lines[i])
        re.compile(lines[i])


def test_every_module_has_a_stub():
    pkg = os.path.join(ROOT, "exosip2")
    compiled = {name[:-4] for name in os.listdir(pkg) if name.endswith(".pyx")}
    stubs = {name[:-4] for name in os.listdir(pkg) if name.endswith(".pyi")}
    assert compiled <= stubs, sorted(compiled - stubs)
    assert "__init__" in stubs and os.path.exists(os.path.join(pkg, "py.typed"))


def readme_blocks():
    text = open(os.path.join(ROOT, "README.rst"), encoding="utf-8").read()
    blocks = re.findall(r"\.\. code-block:: python\n\n((?:    .*\n|\n)+)", text)
    return ["\n".join(line[4:] for line in block.splitlines()) + "\n" for block in blocks]


TYPED = '''
from typing import Dict, Literal, Optional
import exosip2
from exosip2 import DLL_NAME, Context, ContextLock, Event, EventType, get_library_version, initialize
from exosip2 import utils, version

class Named(utils.LoggerMixin):
    pass

raw: bytes = utils.to_bytes("x")
text: str = utils.to_str(b"x") + utils.to_unicode(bytearray(b"y"))
Named().logger.debug("typed")
def on_event(ctx: Context, ev: Event) -> None:
    kind: EventType = ev.type
    if kind is EventType.registration_success:
        print(kind.name)

initialize()
initialize("/usr/lib/libeXosip2.so")
name: str = DLL_NAME + get_library_version() + version.get_osip_version() + exosip2.__version__
kind: Literal["core", "system"] = version.get_library_kind()
with Context(on_event) as ctx:
    lock: ContextLock = ctx.lock
    with lock:
        ctx.add_authentication_info("alice", "alice", "secret", "example.org")
        ctx.add_authentication_info("bob", None, None, None, ha1="0" * 32)
        ctx.remove_authentication_info("alice", "example.org")
        ctx.clear_authentication_info()
'''

WRONG = '''
from exosip2 import Context, Event, initialize
from exosip2.event import EventType
initialize(5)
def on_event(ctx: Context, ev: Event) -> None:
    n: str = ev.type
Context().add_authentication_info("alice", "alice", "secret")
'''


def test_readme_and_package_names_pass_mypy_strict(tmp_path):
    paths = []
    for i, code in enumerate(readme_blocks() + [TYPED]):
        path = tmp_path / ("typed_%d.py" % i)
        path.write_text(code)
        paths.append(str(path))
    assert len(paths) == 3
    out = mypy(tmp_path, "--strict", *paths)
    assert out.returncode == 0, out.stdout + out.stderr


def test_wrong_types_are_reported(tmp_path):
    path = tmp_path / "wrong.py"
    path.write_text(WRONG)
    out = mypy(tmp_path, "--strict", str(path))
    assert out.returncode == 1
    errors = {int(m.group(1)) for m in re.finditer(r"wrong\.py:(\d+): error", out.stdout)}
    assert errors == {4, 6, 7}, out.stdout
