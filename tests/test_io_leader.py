# SPDX-License-Identifier: Apache-2.0
"""Who waits on the sockets: a program thread inside eXosip_event_wait/get runs core/'s I/O loop
itself (no thread switch between reading a message and handing its event over), and the I/O thread
takes the loop back while the program is away from its wait.

tests/core/io_leader.c, against a raw UDP socket on 127.0.0.1, checks each case on its own: a
program that sleeps after answering an INVITE still has its 200 retransmitted and the ACK and an
OPTIONS read meanwhile; eXosip_wakeup_event and an event emitted by an API call on another thread
end a long wait at once; four threads that wait together answer 300 OPTIONS, each once; and
eXosip_quit while a thread is inside eXosip_event_get returns, as does the wait; and a program
that works 300 us on each event between its waits has the loop passed between it and the I/O thread
without ping-pong (at most 4 context switches per event in the process; handing the lead back at
once cost 200). The same program
runs under valgrind (memcheck) for the cases that hand the loop between threads and end a context.
"""

import subprocess

import pytest

from test_core_api import under_memcheck
from test_core_register import _compile

CASES = ["busy", "wakeup", "wakeup-get", "api", "workers", "quit", "handback"]


@pytest.fixture(scope="module")
def io_leader(tmp_path_factory):
    return _compile(tmp_path_factory, "io_leader")


@pytest.mark.parametrize("case", CASES)
def test_io_leader(io_leader, case):
    res = subprocess.run([io_leader, case], capture_output=True, text=True, timeout=60)
    assert res.returncode == 0, res.stdout + res.stderr
    assert "%s: ok" % case in res.stdout
    assert "all checks passed" in res.stdout


@pytest.mark.parametrize("case", ["workers", "quit", "api"])
def test_io_leader_under_valgrind(io_leader, case):
    res = under_memcheck([io_leader, case])
    assert res.returncode == 0, (res.stdout + res.stderr)[-4000:]
