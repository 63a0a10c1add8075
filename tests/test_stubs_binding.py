# SPDX-License-Identifier: Apache-2.0
"""mypy --strict on the stubs of context/event/call/request, on examples/python and a misuse."""

import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

USE = '''
import asyncio
from typing import List, Optional
from exosip2 import call, request
from exosip2.context import Context, ContextClosedError
from exosip2.event import Event, EventType
from exosip2.message import OsipMessage

def on_event(ctx: Context, ev: Event) -> None:
    if ev.type == EventType.call_invite:
        ans = call.Answer(ctx, ev.tid, 200)
        ans.add_body("v=0")
        ans.send()
    req: Optional[OsipMessage] = ev.request
    ids: List[int] = [ev.cid, ev.did, ev.tid]

with Context(on_event) as ctx:
    port: int = ctx.listen_on_address("127.0.0.1", port=0)
    inv = ctx.build_message(call.InitInvite, "sip:b@h", "sip:a@h")
    cid: int = inv.send()
    tid: int = call.Info(ctx, 1).send() + request.Message(ctx, "sip:b@h", "sip:a@h").send()
    ctx.start(event_executor="inline").join(0.1)
    with ctx.lock:
        ctx.call_terminate(cid, 0)

async def consume(ctx: Context) -> None:
    async for ev in ctx.events():
        t: int = ev.type
    e: Event = await ctx.wait_event(1.0)
'''

BAD = '''
from exosip2 import call
from exosip2.context import Context
ctx = Context()
cid: str = call.InitInvite(ctx, "sip:b@h", "sip:a@h").send()
'''


def mypy(tmp_path, *paths):
    cmd = [sys.executable, "-m", "mypy", "--strict", "--follow-imports=silent", "--no-incremental",
           "--cache-dir", str(tmp_path / "cache")] + list(paths)
    return subprocess.run(cmd, cwd=ROOT, env=dict(os.environ, MYPYPATH=ROOT), capture_output=True, text=True,
                          timeout=180)


def test_stubs_and_examples_type_check(tmp_path):
    use = tmp_path / "use_binding.py"
    use.write_text(USE)
    examples = [os.path.join(ROOT, "examples", "python", n) for n in ("uas.py", "uac.py", "b2bua.py")]
    ok = mypy(tmp_path, str(use), *examples)
    assert ok.returncode == 0, ok.stdout + ok.stderr


def test_misuse_is_reported(tmp_path):
    bad = tmp_path / "bad_binding.py"
    bad.write_text(BAD)
    ko = mypy(tmp_path, str(bad))
    assert ko.returncode == 1 and "bad_binding.py:5: error" in ko.stdout, ko.stdout
