# SPDX-License-Identifier: Apache-2.0
"""exosip2 workers (``python -m exosip2 serve``) behind Kamailio's dispatcher, with failover.

Kamailio runs examples/kamailio/dispatcher.cfg (Call-ID hash, OPTIONS probing every second,
failover to the next worker on timeout or 5xx, record-route); SIPp calls through it; each worker's
counters come from its ``--stats-dir`` file. Probing is kept short (1 s, 1 s fr_timer) so the
failover test stays within seconds.
"""

import json
import os
import signal
import subprocess
import sys
import time

import pytest

from exosip2 import serve

from peers.dispatcher import ROOT, Dispatcher, Serve, group_pids
from peers.proc import PeerError, free_port, free_ports, pid_alive, run_bounded, wait_until
from peers.sipp import Sipp

pytestmark = [pytest.mark.peers, pytest.mark.timeout(90)]

SCENARIOS = os.path.join(ROOT, "tests", "scenarios")
UAC = os.path.join(SCENARIOS, "kamailio_uac_call.xml")
BYE_FROM_UAS = os.path.join(SCENARIOS, "call_bye_uas.xml")


@pytest.fixture
def cluster(tmp_path):
    """``make(workers, **serve/dispatcher options)`` -> (Serve, Dispatcher); both stopped at teardown,
    with a check that no process of either is left."""
    made = []

    def make(workers=2, extra=(), ping_interval=1, fr_timer=1000):
        s = Serve(tmp_path / ("serve-%d" % len(made)), workers=workers, extra=extra)
        made.append(s)
        s.start()
        d = Dispatcher(tmp_path / ("kamailio-%d" % len(made)), s.addresses, ping_interval=ping_interval,
                       fr_timer=fr_timer)
        made.append(d)
        d.start()
        return s, d

    yield make
    problems = []
    for peer in reversed(made):
        try:
            peer.stop()
        except PeerError as exc:
            problems.append(str(exc))
        if isinstance(peer, Dispatcher):
            left = [p for p in peer.all_pids() if p and pid_alive(p)]
        else:
            left = group_pids(peer.pid) if peer.popen is not None else []
        if left:
            problems.append("%r left %r running" % (peer, left))
    if problems:
        pytest.fail("; ".join(problems))


@pytest.fixture
def sipps():
    """A list the tests put their SIPp processes in: each is stopped (by its pid) at teardown."""
    started = []
    yield started
    for sipp in started:
        sipp.stop()


def sipp_uac(tmp_path, d, calls, rate, pause_ms=200, timeout_s=30, name="uac", track=None):
    sipp = Sipp(UAC, d.address, calls=calls, rate=rate, pause_ms=pause_ms, service="service",
                keys={"caller": "sipp"}, timeout_s=timeout_s, workdir=str(tmp_path / name), name=name)
    if track is not None:
        track.append(sipp)
    return sipp


def assert_all_ok(result, calls):
    """SIPp exited 0 with *calls* successful calls and none failed. (Its error log is not read: the
    scenario's optional trailing 180, given up after 200 ms on purpose, is logged there.)"""
    assert result.returncode == 0 and result.failed == 0 and result.successful == calls, result.describe()
    assert all("receive timeout" in e or "Failed to delete FD" in e for e in result.errors), result.describe()


# --- arguments ----------------------------------------------------------------------------------

def run_serve(*args, timeout=20):
    return subprocess.run([sys.executable, "-m", "exosip2", "serve"] + list(args), cwd=ROOT,
                          env=dict(os.environ, PYTHONPATH=ROOT), capture_output=True, text=True, timeout=timeout)


@pytest.mark.parametrize("args, message", [
    (["--workers", "0"], "--workers must be in 1..256"),
    (["--workers", "-3"], "--workers must be in 1..256"),
    (["--workers", "100000"], "--workers must be in 1..256"),
    (["--workers", "3", "--port", "65534"], "outside 1..65535"),
    (["--port", "0", "-n", "1"], "outside 1..65535"),
    (["-n", "1", "--handler", "nope"], "--handler must be 'uas'"),
    (["-n", "1", "--handler", "no_such_module_here:f"], "cannot import no_such_module_here"),
    (["-n", "1", "--handler", "os.path:no_such_function"], "has no callable 'no_such_function'"),
    (["-n", "1", "--handler", "os.path:"], "expected module:function"),
    (["-n", "1", "--handler", "/nonexistent/h.py:f"], "no file /nonexistent/h.py"),
    (["-n", "1", "--handler-arg", "novalue"], "--handler-arg must be KEY=VALUE"),
    (["-n", "1", "--handler-arg", "=x"], "--handler-arg must be KEY=VALUE"),
    (["-n", "1", "--address", "not an address"], "--address must be a numeric IP address"),
    (["-n", "1", "--stop-timeout", "0"], "--stop-timeout > 0"),
    (["-n", "1", "--restart-delay", "-1"], "--restart-delay"),
    (["-n", "x"], "invalid int value"),
    (["--transport", "sctp"], "invalid choice"),
])
def test_serve_bad_arguments_exit_2(args, message):
    out = run_serve(*args)
    assert out.returncode == 2, out
    assert message in out.stderr, out.stderr
    assert "Traceback" not in out.stderr


@pytest.mark.parametrize("argv", [[], ["--worker"], ["--worker", "{"], ["--worker", "[]"], ["--worker", "{}"],
                                  ["--worker", '{"index": 0}'], ["--other", "{}"]])
def test_worker_entry_refuses_what_serve_would_not_pass(argv):
    out = subprocess.run([sys.executable, "-m", "exosip2.serve"] + argv, cwd=ROOT,
                         env=dict(os.environ, PYTHONPATH=ROOT), capture_output=True, text=True, timeout=20)
    assert out.returncode == 2, out
    assert "Traceback" not in out.stderr and out.stderr.strip()


def test_serve_busy_port_and_broken_handler_file(tmp_path):
    port = free_port()
    import socket
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", port + 1))
        out = run_serve("-n", "2", "--port", str(port))
    assert out.returncode == 2 and "port %d already in use" % (port + 1) in out.stderr, out
    broken = tmp_path / "broken.py"
    broken.write_text("def handler(ctx, worker:\n")
    out = run_serve("-n", "1", "--port", str(free_port()), "--handler", "%s:handler" % broken)
    assert out.returncode == 2 and "loading %s failed: SyntaxError" % broken in out.stderr, out


def test_a_handler_factory_that_raises_stops_serve_without_restarts(tmp_path):
    h = tmp_path / "bad_handler.py"
    h.write_text("def handler(ctx, worker):\n    raise RuntimeError('no target configured')\n")
    out = run_serve("-n", "2", "--port", str(free_ports(2)), "--handler", "%s:handler" % h)
    assert out.returncode == 1, out
    assert "RuntimeError: no target configured" in out.stderr
    assert out.stdout.count("started worker") == 2     # no restart loop


def test_resolve_handler_and_worker_objects(tmp_path):
    assert serve.resolve_handler("uas") is serve.uas_handler
    assert serve.resolve_handler("exosip2.serve:uas_handler") is serve.uas_handler
    h = tmp_path / "my-handler.py"
    h.write_text("def make(ctx, worker):\n    return lambda ctx, ev: None\n")
    assert serve.resolve_handler("%s:make" % h)(None, None) is not None
    for bad in ("", ":", "x", "exosip2.serve:EXIT_OK", "exosip2.serve:1bad"):
        with pytest.raises(serve.ServeError):
            serve.resolve_handler(bad)
    w = serve.Worker(2, "127.0.0.1", 5072, "tcp", {"a": "b"})
    assert w.contact == "sip:exosip2@127.0.0.1:5072;transport=tcp" and w.args == {"a": "b"} and not w.stopping
    w.stats.add("invites", 3)
    d = w.stats.as_dict()
    assert d["invites"] == 3 and d["active"] == 0 and set(serve.WorkerStats.FIELDS) <= set(d)
    sup = serve.Supervisor(3, 6000)
    assert sup.ports() == [6000, 6001, 6002]


def test_example_config_passes_kamailio_check(tmp_path):
    d = Dispatcher(tmp_path, [("127.0.0.1", 5999)])
    rc, out = run_bounded([d.binary, "-c", "-f", os.path.join(ROOT, "examples", "kamailio", "dispatcher.cfg")]
                          + d.defines, 10)
    assert rc == 0, out
    assert "dispatcher" in open(os.path.join(ROOT, "examples", "kamailio", "dispatcher.cfg")).read()


# --- through the dispatcher ------------------------------------------------------------------------

def test_every_worker_takes_a_share_and_dialogs_stay_on_their_worker(tmp_path, cluster, sipps):
    s, d = cluster(workers=3)
    calls = 90
    result = sipp_uac(tmp_path, d, calls, rate=30, track=sipps).start(wait_bound=False).wait()
    assert_all_ok(result, calls)
    stats = s.wait_stats(lambda st: sum(x["byes"] for x in st) == calls and all(x["active"] == 0 for x in st))
    shares = [x["invites"] for x in stats]
    print("per-worker shares of %d calls: %s" % (calls, shares))
    assert sum(shares) == calls, stats
    for x in stats:
        assert x["invites"] > 0, stats             # every worker took a share
        # every ACK and BYE of a call reached the worker that answered its INVITE
        assert x["answered"] == x["acks"] == x["byes"] == x["invites"], stats
        assert x["options"] >= 1, stats            # the dispatcher's probes were answered
        assert x["handler_errors"] == 0
    picks = d.picks()
    assert len(picks) == calls and not any(retry for _, _, retry, _ in picks)
    per_dst = {"%s:%d" % a: 0 for a in s.addresses}
    for dst, _, _, _ in picks:
        per_dst[dst] += 1
    assert sorted(per_dst.values()) == sorted(shares)
    assert d.failovers() == []


def test_failover_sigkill_one_worker_during_a_run(tmp_path, cluster, sipps):
    # restart delayed 4 s so that the dispatcher sees the worker gone, then back
    s, d = cluster(workers=3, extra=["--restart-delay", "4"])
    rate, calls = 20, 240
    sipp = sipp_uac(tmp_path, d, calls, rate=rate, pause_ms=300, timeout_s=40, track=sipps).start(wait_bound=False)
    victim = 1
    host_port = "%s:%d" % s.addresses[victim]
    assert wait_until(lambda: (s.stats(victim) or {}).get("active", 0) > 0, 10), s.all_stats()
    old_pid = s.listening()[victim]
    time.sleep(1.0)
    held = (s.stats(victim) or {}).get("active", 0)
    killed_at = time.time()
    os.kill(old_pid, signal.SIGKILL)
    result = sipp.wait()
    downs = [(t, how) for state, dst, t, how in d.states() if state == "down" and dst == host_port]
    ups = [t for state, dst, t, _ in d.states() if state == "up" and dst == host_port]
    assert downs, d.log_text()[-3000:]
    detection, detected_by = downs[0][0] - killed_at, downs[0][1]
    listening = s.listening()
    assert listening[victim] != old_pid, s.log_text()       # restarted
    assert ups and ups[-1] > downs[0][0], d.states()           # ... and taken back into rotation
    stats = s.wait_stats(lambda st: all(x["active"] == 0 for x in st))
    new = stats[victim]
    assert new["pid"] == listening[victim] and new["invites"] > 0, stats   # new calls reached it again
    failed = result.failed
    # while it was down, no new call was sent to it; retries went to the others
    picks = d.picks()
    while_down = [c for dst, c, _, t in picks if dst == host_port and downs[0][0] < t < ups[-1]]
    assert while_down == [], while_down
    retried = [dst for dst, _, retry, _ in picks if retry]
    assert retried and host_port not in retried, retried
    print("failover: %d calls, %d failed %s (victim held ~%d), %d failovers by the dispatcher, detection %.2f s by %s "
          "(ping interval %d s, fr_timer %d ms), taken back %.2f s after the kill; shares after restart %s"
          % (result.created, failed, result.failure_reasons(), held, len(d.failovers()), detection, detected_by,
             d.ping_interval, d.fr_timer,
             ups[-1] - killed_at, [x["invites"] for x in stats]))
    assert result.successful + failed == calls, result.describe()
    # only the calls the killed worker held (a rate of 20/s times ~0.5 s each, a third of them)
    # can fail: new INVITEs sent to it time out after fr_timer and go to the next worker
    assert failed <= min(12, held + 6), (held, result.describe())
    assert 0 < detection <= d.ping_interval + d.fr_timer / 1000.0 + 1.0, (detection, d.states())
    # the survivors kept every dialog they had
    for i, x in enumerate(stats):
        if i != victim:
            assert x["acks"] == x["byes"] == x["invites"] == x["answered"], stats


def test_sigterm_ends_calls_with_bye_and_leaves_nothing(tmp_path, cluster, sipps):
    s, d = cluster(workers=2)
    calls = 6
    sipp = Sipp(BYE_FROM_UAS, d.address, calls=calls, rate=20, limit=calls, service="service", timeout_s=30,
                workdir=str(tmp_path / "held"), name="held")
    sipps.append(sipp)
    sipp.start(wait_bound=False)
    held = s.wait_stats(lambda st: sum(x["active"] for x in st) == calls and sum(x["acks"] for x in st) == calls,
                        timeout=10)
    assert sum(x["active"] for x in held) == calls, held
    pids = list(s.listening().values())
    t0 = time.monotonic()
    rc = s.terminate(timeout=15)
    took = time.monotonic() - t0
    assert rc == 0, s.log_text()
    result = sipp.wait()
    result.assert_clean(calls=calls)          # every call got its BYE, and SIPp's 200 reached the worker
    final = s.all_stats()
    assert [x["state"] for x in final] == ["stopped", "stopped"], final
    assert sum(x["torn_down"] for x in final) == calls, final
    assert sum(x["torn_down_answered"] for x in final) == calls, final
    assert all(x["active"] == 0 for x in final), final
    assert not [p for p in pids if pid_alive(p)] and not group_pids(s.pid)
    assert took < 10, took
    assert "serve: stopped" in s.log_text()


def test_b2bua_workers_bridge_calls_through_the_dispatcher(tmp_path, cluster, sipps):
    callee = Sipp("uas", port=None, timeout_s=30, workdir=str(tmp_path / "callee"), name="callee")
    sipps.append(callee)
    callee.start()
    target = "sip:service@127.0.0.1:%d" % callee.port
    s, d = cluster(workers=2, extra=["--handler", os.path.join(ROOT, "examples", "kamailio", "b2bua_worker.py")
                                     + ":handler", "--handler-arg", "target=" + target])
    calls = 20
    result = sipp_uac(tmp_path, d, calls, rate=20, track=sipps).start(wait_bound=False).wait()
    assert_all_ok(result, calls)
    stats = s.wait_stats(lambda st: sum(x["byes"] for x in st) == calls and all(x["active"] == 0 for x in st))
    assert all(x["invites"] > 0 for x in stats) and sum(x["invites"] for x in stats) == calls, stats
    assert all(x["handler_errors"] == 0 for x in stats), stats


def test_worker_that_exits_is_restarted_and_serves_again(tmp_path, cluster, sipps):
    s, d = cluster(workers=2, extra=["--restart-delay", "0.2"])
    old = s.listening()[0]
    os.kill(old, signal.SIGTERM)           # a clean exit is restarted too
    assert wait_until(lambda: s.listening().get(0) not in (None, old), 10), s.log_text()
    assert "worker 0 pid %d exited with 0" % old in s.log_text()
    # the new worker answers the probe and takes its share again
    assert wait_until(lambda: (s.stats(0) or {}).get("pid") == s.listening()[0]
                      and s.stats(0)["options"] > 0, 5), s.all_stats()
    result = sipp_uac(tmp_path, d, 20, rate=20, track=sipps).start(wait_bound=False).wait()
    assert_all_ok(result, 20)
    stats = s.wait_stats(lambda st: sum(x["byes"] for x in st) == 20)
    assert stats[0]["invites"] > 0 and stats[1]["invites"] > 0, stats
    assert json.loads(json.dumps(stats))     # plain JSON


def test_workers_end_when_their_supervisor_is_killed(tmp_path):
    s = Serve(tmp_path / "serve", workers=2).start()
    try:
        workers = list(s.listening().values())
        os.kill(s.pid, signal.SIGKILL)
        s.popen.wait(timeout=5)
        # each worker sees its parent gone within a tick, ends its context and exits
        assert wait_until(lambda: not [p for p in workers if pid_alive(p)], 10), workers
        assert [x["state"] for x in s.all_stats()] == ["stopped", "stopped"]
    finally:
        s.stop()


def test_a_worker_that_keeps_dying_is_restarted_with_a_growing_delay(tmp_path):
    h = tmp_path / "dies.py"
    h.write_text("import os\n\ndef handler(ctx, worker):\n    os._exit(7)\n")
    s = Serve(tmp_path / "serve", workers=1, extra=["--handler", "%s:handler" % h, "--restart-delay", "0.1"])
    with open(s.log_path, "ab") as log:
        s.popen = subprocess.Popen(s.argv, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, cwd=ROOT,
                                   start_new_session=True, env=dict(os.environ, PYTHONPATH=ROOT))
    try:
        time.sleep(3.0)
        assert s.terminate(timeout=15) == 0, s.log_text()
    finally:
        s.stop()
    starts = s.log_text().count("started worker 0")
    # delays 0.2, 0.4, 0.8, 1.6 s (doubled while it dies within a second): about 4 starts in 3 s,
    # where a fixed 0.1 s delay would give some 15
    assert 2 <= starts <= 7, s.log_text()
    assert s.log_text().count("exited with 7") >= starts - 1
