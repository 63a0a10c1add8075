# SPDX-License-Identifier: Apache-2.0
"""Network fuzzing of the example UASes on 127.0.0.1 (the mutator is fuzz/netfuzz.py).

Targets: examples/c/uas built with AddressSanitizer (on an ASan build of core/: ``c-asan``), the
same program as built by ``make`` (``c``), and examples/python/uas.py (``NETFUZZ_PY_DISPATCH``,
default asyncio: the mode that one bad packet used to stop), each over UDP and over TCP. Each test sends mutated SIP for ``NETFUZZ_SECONDS`` (default 40; at most
``NETFUZZ_MAX`` messages, default 200 000), then checks that:

* the UAS process is still alive and AddressSanitizer printed nothing (nor at exit);
* a valid OPTIONS is answered 200 and ``sipp -sn uac -m 5`` completes every call;
* its RSS stayed under baseline + ``NETFUZZ_RSS_PEAK_MB`` (default 128 MB) during the whole run, and
  after the retention period it is back within ``NETFUZZ_RSS_AFTER_MB`` (default 8 MB) of the
  baseline taken before fuzzing. The retention period is what RFC 3261 lets a peer make us keep
  after its last message: a 2xx that is never acknowledged is retransmitted for 64*T1 (32 s) and
  then ended with a BYE whose transaction lasts up to 64*T1 more, so 64 s plus a 6 s margin.
* on the C UAS (``c``), after the same period, the stack holds no transaction and no call: counted
  (SIGUSR1 makes examples/c/uas print them), not inferred from RSS.

Why no call may be left, with the default CALL_IDLE_TIMEOUT (7200 s): a call is kept past the
retention period only once a dialog is confirmed by 2xx + ACK (RFC 3261 13.3.1.4), and the fuzzer
never reads our answers, so its ACKs cannot carry our To tag and never confirm one (the UAS counts
EXOSIP_CALL_ACK events: ``acked`` must be 0 when the fuzz ends). Every call it makes must therefore
end within the retention period under the defaults a deployment runs, so the test counts what is
left instead of allowing for it, and does not shorten CALL_IDLE_TIMEOUT (which would test a setting,
and would not have ended the calls this count caught: an INVITE whose TCP connection was gone
before the 100 Trying kept a call with an unconfirmed dialog for ever, which no timer ends;
``test_invite_on_a_closed_tcp_connection_leaves_no_call`` pins that down alone).

The RSS-after check is not made on the ASan build: ASan's allocator keeps freed memory in its
quarantine and size-class regions, so its RSS measures ASan, not the core (the peak bound still
applies there). The Python UAS has no way to print the counts: RSS only.

With the defaults one test takes about 60 s (c-asan) or 2 min (c, python). The figures (messages sent, RSS baseline/peak/after)
are printed; every check is evaluated and all failures are reported together.
"""

import os
import re
import signal
import socket
import struct
import sys
import threading
import time

import pytest

from peers.sipp import rss_kib
from peers.sipp_fixtures import program_factory, sipp_factory, uas_asan  # noqa: F401

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "fuzz"))
import netfuzz  # noqa: E402

pytestmark = pytest.mark.peers

SECONDS = float(os.environ.get("NETFUZZ_SECONDS", "40"))
MAX_MESSAGES = int(os.environ.get("NETFUZZ_MAX", "200000"))
SEED = int(os.environ.get("NETFUZZ_SEED", "1"))
PEAK_MB = float(os.environ.get("NETFUZZ_RSS_PEAK_MB", "128"))
AFTER_MB = float(os.environ.get("NETFUZZ_RSS_AFTER_MB", "8"))
PY_DISPATCH = os.environ.get("NETFUZZ_PY_DISPATCH", "asyncio")
RETENTION_S = 2 * 32 + 6
ASAN_ENV = {
    # a small quarantine: freed memory must not look like growth; any report ends the process
    "ASAN_OPTIONS": "detect_leaks=1:halt_on_error=1:abort_on_error=0:exitcode=86:quarantine_size_mb=16",
    "LSAN_OPTIONS": "exitcode=87",
}

class RssSampler(threading.Thread):
    """Samples VmRSS of one pid every 0.2 s; keeps the peak."""

    def __init__(self, pid):
        super().__init__(daemon=True)
        self.pid = pid
        self.peak = 0
        self.stopping = threading.Event()

    def run(self):
        while not self.stopping.is_set():
            rss = rss_kib(self.pid)
            if rss is None:
                return
            self.peak = max(self.peak, rss)
            self.stopping.wait(0.2)

    def stop(self):
        self.stopping.set()
        self.join(timeout=5)


def start_target(kind, transport, uas_asan, program_factory):  # noqa: F811
    args = ["-a", "127.0.0.1", "-p", "0", "-t", transport, "-q"]
    if kind == "c-asan":
        uas = program_factory(uas_asan, args, env=ASAN_ENV, name="uas-asan-" + transport)
    elif kind == "c":
        uas = program_factory(os.path.join(ROOT, "examples", "c", "uas"), args, name="uas-c-" + transport)
    else:
        uas = program_factory(os.path.join(ROOT, "examples", "python", "uas.py"), args + ["--dispatch", PY_DISPATCH],
                              wrapper=[sys.executable], env={"PYTHONPATH": ROOT}, name="uas-py-" + transport)
        uas.prefix = "uas"
    uas.start(timeout=30)
    assert uas.transport == transport, uas.describe()
    return uas


def held_state(uas, timeout=5.0):
    """What examples/c/uas holds now: SIGUSR1 makes it print one ``uas: stats`` line (its own counts
    and the stack's live transactions and calls); returns that line as a dict of ints."""
    before = uas.stdout.count("uas: stats ")
    os.kill(uas.pid, signal.SIGUSR1)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        lines = [l for l in uas.stdout.splitlines() if l.startswith("uas: stats ")]
        if len(lines) > before:
            return {k: int(v) for k, v in re.findall(r"(\w+)=(-?\d+)", lines[-1])}
        time.sleep(0.05)
    raise AssertionError("no stats line %.0f s after SIGUSR1\n%s" % (timeout, uas.describe()))


def sanitizer_report(text):
    return [line for line in text.splitlines() if "Sanitizer" in line or "runtime error:" in line]


@pytest.fixture
def c_uas_build(request):
    """The ASan uas for the c-asan target only (the others do not need the build)."""
    if request.node.callspec.params["kind"] == "c-asan":
        return request.getfixturevalue("uas_asan")
    return None


@pytest.mark.parametrize("transport", ["udp", "tcp"])
@pytest.mark.parametrize("kind", ["c-asan", "c", "python"])
def test_uas_survives_mutated_sip(kind, transport, c_uas_build, program_factory, sipp_factory):  # noqa: F811
    uas = start_target(kind, transport, c_uas_build, program_factory)
    failures = []
    figures = {"target": "%s uas over %s" % (kind if kind != "python" else "python (%s)" % PY_DISPATCH, transport),
               "seconds": SECONDS, "seed": SEED}

    assert netfuzz.options_answered(uas.port, transport) is not None, "no answer to OPTIONS before fuzzing\n" + uas.describe()
    time.sleep(1.0)
    baseline = rss_kib(uas.pid)
    figures["rss_baseline_mb"] = round(baseline / 1024.0, 1)
    sampler = RssSampler(uas.pid)
    sampler.start()

    run = netfuzz.run_udp if transport == "udp" else netfuzz.run_tcp
    figures["sent"] = run(uas.port, SECONDS, MAX_MESSAGES, SEED, alive=lambda: uas.proc.poll() is None)

    alive = uas.proc.poll() is None
    if not alive:
        failures.append("the UAS died during fuzzing (rc %s)" % uas.proc.returncode)
    report = sanitizer_report(uas.stderr)
    if report:
        failures.append("AddressSanitizer reported during fuzzing: %s" % report[:3])
    if alive and kind == "c":
        fuzzed = held_state(uas)  # before SIPp's calls, whose ACKs confirm theirs
        figures["held_at_end"] = fuzzed
        if fuzzed["acked"] != 0:
            failures.append("%d fuzzer ACKs confirmed a call: they cannot carry our To tag" % fuzzed["acked"])
    if alive:
        status = netfuzz.options_answered(uas.port, transport)
        figures["options_after"] = status
        if status is None or not status.startswith("SIP/2.0 200"):
            failures.append("OPTIONS after fuzzing answered %r, not 200" % status)
        calls = sipp_factory("uac", "127.0.0.1:%d" % uas.port, transport=transport, calls=5, rate=5, limit=5,
                             pause_ms=0, timeout_s=40).start(wait_bound=False).wait()
        figures["sipp_rc"] = calls.returncode
        figures["sipp_successful"] = calls.successful
        if calls.returncode != 0 or calls.successful != 5:
            failures.append("sipp -sn uac -m 5 after fuzzing: rc %s, %s successful\n%s"
                            % (calls.returncode, calls.successful, calls.describe()[-2000:]))
        if kind != "c-asan":
            time.sleep(RETENTION_S)
            after = rss_kib(uas.pid)
            figures["rss_after_mb"] = round((after or 0) / 1024.0, 1)
            if kind == "c":
                held = held_state(uas)
                figures["held_after"] = held
                if held["live_transactions"] != 0 or held["live_calls"] != 0:
                    failures.append("%d transactions and %d calls still held %d s after fuzzing (%d calls, "
                                    "%d answered, %d acknowledged, %d closed)"
                                    % (held["live_transactions"], held["live_calls"], RETENTION_S, held["calls"],
                                       held["answered"], held["acked"], held["closed"]))
    sampler.stop()
    figures["rss_peak_mb"] = round(sampler.peak / 1024.0, 1)
    if sampler.peak > baseline + PEAK_MB * 1024:
        failures.append("RSS peak %.1f MB above baseline %.1f MB + %.0f MB"
                        % (sampler.peak / 1024.0, baseline / 1024.0, PEAK_MB))
    if alive and kind != "c-asan" and (after is None or after > baseline + AFTER_MB * 1024):
        failures.append("RSS %.1f MB %d s after fuzzing, not within %.0f MB of baseline %.1f MB"
                        % ((after or 0) / 1024.0, RETENTION_S, AFTER_MB, baseline / 1024.0))

    if uas.proc.poll() is None:
        rc = uas.stop(check=False)
        figures["exit_rc"] = rc
        if rc != 0:
            failures.append("the UAS exited %s after SIGTERM" % rc)
    report = sanitizer_report(uas.stderr)
    figures["sanitizer_lines"] = len(report)
    if report and not any(f.startswith("AddressSanitizer") for f in failures):
        failures.append("AddressSanitizer reported: %s" % report[:3])
    if "Traceback" in uas.stderr:
        failures.append("the Python UAS printed a traceback")
    print("netfuzz figures: %r" % figures)
    assert not failures, "%s\nfigures: %r\n%s" % ("\n".join(failures), figures, uas.describe())


@pytest.mark.parametrize("close", ["reset", "half-close"])
def test_invite_on_a_closed_tcp_connection_leaves_no_call(close, program_factory):  # noqa: F811
    """An INVITE whose TCP connection is gone before the 100 Trying (or the answer) can be sent: its
    transaction ends without any final answer, and nothing can reach the caller any more. The call
    must go with it. It used to stay for the life of the process (no dialog was confirmed, so no
    timer applied), 4 KiB each, until MAX_CALLS was full and every new INVITE got 503: this was
    what the TCP fuzzer left behind, not calls it had confirmed (it never acknowledges a 2xx)."""
    uas = program_factory(os.path.join(ROOT, "examples", "c", "uas"), ["-a", "127.0.0.1", "-p", "0", "-t", "tcp", "-q"],
                          name="uas-c-closed-" + close)
    uas.start(timeout=30)
    count = 40
    for i in range(count):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            sock.settimeout(2.0)
            sock.bind((netfuzz.HOST, 0))
            mut = netfuzz.Mutator(uas.port, sock.getsockname()[1], "tcp", seed=i)
            sock.connect((netfuzz.HOST, uas.port))
            sock.sendall(mut.fill(netfuzz.make_corpus.REQUESTS["invite"]))
            if close == "half-close":
                sock.shutdown(socket.SHUT_WR)
                time.sleep(0.02)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    # every INVITE reached the program; the ones it answered 200 end with the 64*T1 2xx timer
    deadline = time.monotonic() + 10
    while held_state(uas)["calls"] < count and time.monotonic() < deadline:
        time.sleep(0.2)
    state = held_state(uas)
    assert state["calls"] == count, (state, uas.describe())
    deadline = time.monotonic() + 2 * 32 + 6
    while (state["live_calls"] or state["live_transactions"]) and time.monotonic() < deadline:
        time.sleep(1.0)
        state = held_state(uas)
    assert state["live_calls"] == 0 and state["live_transactions"] == 0, (state, uas.describe())
    assert state["acked"] == 0, state
    assert netfuzz.options_answered(uas.port, "tcp").startswith("SIP/2.0 200"), uas.describe()
    assert uas.stop(check=False) == 0, uas.describe()


@pytest.mark.parametrize("transport", ["udp", "tcp"])
def test_invite_without_from_tag_leaves_no_call(transport, program_factory):  # noqa: F811
    """An INVITE whose From has no tag (RFC 2543 style, or a tag the fuzzer mangled) is answered 200
    but makes no dialog: there is nothing to acknowledge, refresh or end, and the call must go when
    its INVITE transaction does. It used to stay for the life of the process."""
    uas = program_factory(os.path.join(ROOT, "examples", "c", "uas"),
                          ["-a", "127.0.0.1", "-p", "0", "-t", transport, "-q"], name="uas-c-notag-" + transport)
    uas.start(timeout=30)
    kind = socket.SOCK_DGRAM if transport == "udp" else socket.SOCK_STREAM
    with socket.socket(socket.AF_INET, kind) as sock:
        sock.settimeout(5.0)
        sock.bind((netfuzz.HOST, 0))
        mut = netfuzz.Mutator(uas.port, sock.getsockname()[1], transport, seed=7)
        msg = re.sub(rb"(From: [^\r]*);tag=\w+", rb"\1", mut.fill(netfuzz.make_corpus.REQUESTS["invite"]))
        assert b"tag=" not in msg.split(b"\r\nTo:")[0]
        if transport == "udp":
            sock.sendto(msg, (netfuzz.HOST, uas.port))
        else:
            sock.connect((netfuzz.HOST, uas.port))
            sock.sendall(msg)
        got = b""
        while b"SIP/2.0 200" not in got:
            got += sock.recv(65536)
        deadline = time.monotonic() + 10
        state = held_state(uas)
        while state["live_calls"] and time.monotonic() < deadline:
            time.sleep(0.2)
            state = held_state(uas)
    assert state["calls"] == 1 and state["answered"] == 1, (state, uas.describe())
    assert state["live_calls"] == 0 and state["live_transactions"] == 0, (state, uas.describe())
    assert netfuzz.options_answered(uas.port, transport).startswith("SIP/2.0 200"), uas.describe()
    assert uas.stop(check=False) == 0, uas.describe()


def _header(msg, name):
    for line in msg.split(b"\r\n"):
        if line.lower().startswith(name.lower() + b":"):
            return line
    raise AssertionError("no %r in %r" % (name, msg[:400]))


def test_confirmed_call_is_held_until_idle_timeout(program_factory):  # noqa: F811
    """The other side of the count above: ACKs with a wrong To tag, no To tag, another Call-ID or
    another CSeq confirm nothing; the ACK that carries our To tag confirms the call (``acked`` 1), which is then kept with no transaction until CALL_IDLE_TIMEOUT (``uas -i 2``)
    ends it with a BYE; answered 200, the BYE releases the call."""
    uas = program_factory(os.path.join(ROOT, "examples", "c", "uas"),
                          ["-a", "127.0.0.1", "-p", "0", "-t", "udp", "-q", "-i", "2"], name="uas-c-idle")
    uas.start(timeout=30)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(5.0)
        sock.bind((netfuzz.HOST, 0))
        mut = netfuzz.Mutator(uas.port, sock.getsockname()[1], "udp", seed=3)
        invite = mut.fill(netfuzz.make_corpus.REQUESTS["invite"])
        sock.sendto(invite, (netfuzz.HOST, uas.port))
        ok = b""
        while not ok.startswith(b"SIP/2.0 200"):
            ok = sock.recv(65536)
        assert b";tag=" in _header(ok, b"To")
        ack = b"\r\n".join([
            invite.split(b"\r\n")[0].replace(b"INVITE", b"ACK", 1),
            _header(invite, b"Via").replace(b";branch=z9hG4bK", b";branch=z9hG4bKack", 1),
            b"Max-Forwards: 70", _header(ok, b"From"), _header(ok, b"To"), _header(ok, b"Call-ID"),
            _header(ok, b"CSeq").replace(b"INVITE", b"ACK"), b"Content-Length: 0", b"", b""])
        to_tag = _header(ok, b"To").split(b";tag=")[1].split(b";")[0]
        for wrong in (ack.replace(b";tag=" + to_tag, b";tag=x" + to_tag), ack.replace(b";tag=" + to_tag, b""),
                      ack.replace(b"Call-ID: ", b"Call-ID: x"), ack.replace(b"CSeq: 1 ACK", b"CSeq: 2 ACK")):
            sock.sendto(wrong, (netfuzz.HOST, uas.port))  # none of these is the ACK of our 2xx
        time.sleep(0.3)
        assert held_state(uas)["acked"] == 0
        sock.sendto(ack, (netfuzz.HOST, uas.port))
        time.sleep(0.5)
        state = held_state(uas)
        assert (state["acked"], state["live_calls"], state["live_transactions"]) == (1, 1, 0), state
        bye = b""
        while not bye.startswith(b"BYE "):  # about 2 s after the ACK
            bye = sock.recv(65536)
        answer = b"\r\n".join([b"SIP/2.0 200 OK", _header(bye, b"Via"), _header(bye, b"From"), _header(bye, b"To"),
                               _header(bye, b"Call-ID"), _header(bye, b"CSeq"), b"Content-Length: 0", b"", b""])
        sock.sendto(answer, (netfuzz.HOST, uas.port))
        deadline = time.monotonic() + 5
        state = held_state(uas)
        while (state["live_calls"] or not state["closed"]) and time.monotonic() < deadline:
            time.sleep(0.1)  # the stack releases the call, then the program reads EXOSIP_CALL_RELEASED
            state = held_state(uas)
    assert (state["closed"], state["live_calls"]) == (1, 0), (state, uas.describe())
    assert uas.stop(check=False) == 0, uas.describe()
