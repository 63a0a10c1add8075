# SPDX-License-Identifier: Apache-2.0
"""``EXOSIP2_PREFIX=DIR``: the binding builds against an eXosip2 installed under DIR, with no
pkg-config file (eXosip2 5.3 installs none).

The installed library here is core/ itself, laid out as ``make install`` of eXosip2 lays out its
own (DIR/include/eXosip2/*.h, DIR/lib/libeXosip2.so), in a copy of the sources outside the tree;
pkg-config is pointed at an empty directory. The build must then be a "system" one that loads
the library from DIR/lib and works (two contexts exchange a MESSAGE).
"""

import os
import shutil
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CORE_SO = os.path.join(ROOT, "exosip2", "libexosip2core.so")

CHECK = r"""
import socket, sys, time
from exosip2 import request, version
from exosip2.context import Context
from exosip2.event import EventType as T
assert version.get_library_kind() == "system", version.get_library_kind()
a, b = Context(), Context()
pa = a.listen_on_address("127.0.0.1", socket.IPPROTO_UDP, port=0)
pb = b.listen_on_address("127.0.0.1", socket.IPPROTO_UDP, port=0)
request.Message(a, "sip:b@127.0.0.1:%d" % pb, "sip:a@127.0.0.1:%d" % pa).send()
deadline = time.monotonic() + 5
while True:
    ev = b.event_wait(0, 100)
    if ev is not None and ev.type == T.message_new:
        b.message_send_answer(ev.tid, 200)
        break
    assert time.monotonic() < deadline, "no MESSAGE"
while True:
    ev = a.event_wait(0, 100)
    if ev is not None and ev.type == T.message_answered:
        break
    assert time.monotonic() < deadline, "no answer"
a.close(); b.close()
print("system build ok")
"""


@pytest.mark.core_only  # the "installed" library is core/'s
def test_prefix_build_without_pkg_config(tmp_path):
    assert os.path.exists(CORE_SO), "run `make build` first"
    prefix = tmp_path / "prefix"
    shutil.copytree(os.path.join(ROOT, "core", "include", "eXosip2"), prefix / "include" / "eXosip2")
    (prefix / "lib").mkdir()
    shutil.copy(CORE_SO, prefix / "lib" / "libexosip2core.so")       # its soname
    os.symlink("libexosip2core.so", prefix / "lib" / "libeXosip2.so")  # what -leXosip2 finds
    src = tmp_path / "src"
    shutil.copytree(os.path.join(ROOT, "exosip2"), src / "exosip2",
                    ignore=shutil.ignore_patterns("*.so", "*.c", "*.html", "__pycache__"))
    shutil.copy(os.path.join(ROOT, "setup.py"), src / "setup.py")
    (tmp_path / "no-pkgconfig").mkdir()
    env = dict(os.environ, EXOSIP2_PREFIX=str(prefix), PKG_CONFIG_LIBDIR=str(tmp_path / "no-pkgconfig"),
               EXOSIP2_WERROR="1")
    env.pop("EXOSIP2_SYSTEM", None)
    env.pop("PKG_CONFIG_PATH", None)
    build = subprocess.run([sys.executable, "setup.py", "-q", "build_ext", "--inplace", "-j", "2"], cwd=src,
                           env=env, capture_output=True, text=True, timeout=900)
    assert build.returncode == 0, build.stdout[-3000:] + build.stderr[-3000:]
    assert not (src / "exosip2" / "libexosip2core.so").exists(), "core/ was built: not a system build"
    context_so = [p for p in os.listdir(src / "exosip2") if p.startswith("context.") and p.endswith(".so")]
    assert len(context_so) == 1
    ldd = subprocess.run(["ldd", str(src / "exosip2" / context_so[0])], capture_output=True, text=True,
                         timeout=60).stdout
    assert str(prefix / "lib" / "libexosip2core.so") in ldd, ldd
    run = subprocess.run([sys.executable, "-c", CHECK], cwd=src, env=dict(env, PYTHONPATH=str(src)),
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 0 and run.stdout.strip() == "system build ok", run.stdout + run.stderr
