# SPDX-License-Identifier: Apache-2.0
"""The clients benchmarks/cpu_per_call.py measures in its ``uac`` and ``register`` roles, and the SIPp
servers they load.

A client target places COUNT requests at RATE per second against a SIPp server started for that run and
exits by itself: examples/c/uac and examples/python/uac.py (calls, BYE at once) and examples/c/register
in its load mode (one REGISTER per binding), with SIPp's own ``-sn uac`` and a REGISTER client scenario
as the anchors. ``start(port, count, rate, args, workdir)`` returns a handle with ``.pid``,
``.reap(timeout)`` (after the process has exited) and ``.outcome()``.
"""

import os
import sys

import cps  # (puts tests/ on sys.path too)
from results_io import sipp_elapsed_s, sipp_unclean
from peers.sipp import Program, Sipp

ROOT = cps.ROOT
SCENARIOS = os.path.join(ROOT, "benchmarks", "scenarios")
REGISTRAR = os.path.join(SCENARIOS, "registrar.xml")
REGISTER_CLIENT = os.path.join(SCENARIOS, "register_client.xml")


def _int(value):
    try:
        return int(value)
    except (TypeError, ValueError):
        return 0


def counter_total(result, kind):
    """Sum of SIPp's per-message ``-trace_counts`` counters of *kind* ('Retrans', 'Unexp', 'Timeout')."""
    return sum(_int(v) for k, v in result.counts.items() if k.endswith("_" + kind))


# -- clients -------------------------------------------------------------------------------------
class ClientProgram:
    """A client that binds, prints ``PREFIX: listening on …``, waits ``-s START_DELAY_MS``, sends its load
    and prints ``PREFIX: key=N …`` with ``ok=N`` (examples/c/uac, examples/python/uac.py,
    examples/c/register -n). *load_args(port, count, rate, args)* gives its load arguments."""

    def __init__(self, name, argv, load_args, description, prefix, env=None):
        self.name = name
        self.argv = list(argv)
        self.load_args = load_args
        self.description = description
        self.prefix = prefix
        self.env = env

    def start(self, port, count, rate, args, workdir):
        extra = self.load_args(port, count, rate, args)
        prog = Program(self.argv[0], self.argv[1:] + extra, name=self.name, workdir=workdir, env=self.env)
        prog.prefix = self.prefix
        prog.start(timeout=15.0)  # its listening line: it waits -s ms before its first request now
        return _ProgramClientHandle(prog, count)


class _ProgramClientHandle:
    def __init__(self, prog, count):
        self.prog = prog
        self.pid = prog.pid
        self.count = count

    def reap(self, timeout):
        self.prog.wait(timeout)

    def outcome(self):
        stats = self.prog.stats()
        reasons = []
        if self.prog.returncode != 0:
            reasons.append("client exit %s" % self.prog.returncode)
        if stats.get("ok") != self.count:
            reasons.append("%s/%d successful" % (stats.get("ok"), self.count))
        if stats.get("failed"):
            reasons.append("%d failed" % stats["failed"])
        elapsed_ms = stats.get("elapsed_ms")
        out = {"successful": stats.get("ok", 0), "failed": stats.get("failed"), "client_retransmissions": None,
               "client_rc": self.prog.returncode, "client_stats": stats,
               "load_s": elapsed_ms / 1000.0 if elapsed_ms else None, "why_unclean": reasons}
        if reasons and self.prog.stderr.strip():
            out["client_stderr_tail"] = self.prog.stderr[-2000:]
        return out


class SippClient:
    """SIPp as the client: ``-sn uac -d 0`` or the REGISTER client scenario."""

    def __init__(self, name, scenario, description, pause_ms=None):
        self.name = name
        self.scenario = scenario
        self.description = description
        self.pause_ms = pause_ms

    def start(self, port, count, rate, args, workdir):
        sipp = Sipp(self.scenario, "127.0.0.1:%d" % port, transport="udp", calls=count, rate=rate,
                    limit=max(200, rate), pause_ms=self.pause_ms, timeout_s=args.duration + args.grace,
                    stat_freq_s=1, workdir=workdir)
        sipp.start(wait_bound=False)
        return _SippClientHandle(sipp, count)


class _SippClientHandle:
    def __init__(self, sipp, count):
        self.sipp = sipp
        self.pid = sipp.pid
        self.count = count
        self.result = None

    def reap(self, timeout):
        self.result = self.sipp.wait(timeout)

    def outcome(self):
        r = self.result
        return {"successful": r.successful, "failed": r.failed, "client_retransmissions": r.retransmissions,
                "failure_reasons": r.failure_reasons(), "client_rc": r.returncode,
                "load_s": sipp_elapsed_s(r.stats) if r.stats else None,
                "why_unclean": sipp_unclean(r, self.count)}


def _uac_args(port, count, rate, args):
    return ["-a", "127.0.0.1", "-p", "0", "-t", "udp", "-n", count, "-r", rate, "-l", max(200, rate), "-d", "0",
            "-T", args.duration + args.grace, "-s", int(args.settle * 1000), "sip:service@127.0.0.1:%d" % port]


def _register_args(port, count, rate, args):
    return ["-a", "127.0.0.1", "-p", "0", "-n", count, "-R", rate, "-x", args.duration + args.grace,
            "-s", int(args.settle * 1000), "sip:bench@127.0.0.1:%d" % port]


PYTHON_UAC = os.path.join(ROOT, "examples", "python", "uac.py")

#: name -> (role, factory of args)
CLIENTS = {
    "uac-c": ("uac", lambda a: ClientProgram("uac-c", [a.uac], _uac_args, "examples/c/uac (core/)", "uac")),
    "uac-py": ("uac", lambda a: ClientProgram("uac-py", [sys.executable, PYTHON_UAC], _uac_args,
                                              "examples/python/uac.py (event_wait in its main thread)",
                                              "uac", env={"PYTHONPATH": ROOT})),
    "sipp-uac": ("uac", lambda a: SippClient("sipp-uac", "uac", "sipp -sn uac -d 0", pause_ms=0)),
    "register-c": ("register", lambda a: ClientProgram("register-c", [a.register], _register_args,
                                                       "examples/c/register -n (core/)", "register")),
    "sipp-register": ("register", lambda a: SippClient("sipp-register", REGISTER_CLIENT,
                                                       "sipp -sf benchmarks/scenarios/register_client.xml")),
}


# -- the server each client role loads -----------------------------------------------------------
class SippServer:
    """SIPp answering a client role: ``-sn uas`` (calls) or registrar.xml (registrations), its
    per-message counters on so that retransmissions and unexpected messages on its side are seen."""

    def __init__(self, scenario, every_call_completes):
        self.scenario = scenario
        # the built-in uas keeps each call 4 s in timewait after its BYE: stopped right after the
        # client, it has not counted them successful yet; the registrar ends each call with its 200
        self.every_call_completes = every_call_completes

    def start(self, workdir):
        self.sipp = Sipp(self.scenario, transport="udp", timeout_s=24 * 3600, stat_freq_s=1,
                         trace_counts=True, workdir=workdir)
        self.sipp.start()
        return self

    @property
    def port(self):
        return self.sipp.port

    def stop(self, count):
        """Stop it and say what its side saw: a dict, with ``why_unclean``."""
        r = self.sipp.stop()
        # the per-message counters hold the retransmissions SIPp sent (its Retransmissions statistic)
        # and the ones it received (a request of the client sent again)
        seen = {"server_rc": r.returncode, "server_created": r.created, "server_successful": r.successful,
                "server_failed": r.failed, "server_retransmissions_sent": r.retransmissions,
                "server_retransmissions": counter_total(r, "Retrans"),
                "server_unexpected": counter_total(r, "Unexp"), "server_timeouts": counter_total(r, "Timeout")}
        reasons = ["%s %s" % (k.replace("_", " "), seen[k])
                   for k in ("server_failed", "server_retransmissions", "server_unexpected", "server_timeouts")
                   if seen[k]]
        if r.returncode not in (0, None):
            reasons.append("server rc %s" % r.returncode)
        if r.created != count:
            reasons.append("server saw %d calls, not %d" % (r.created, count))
        if self.every_call_completes and r.successful != count:
            reasons.append("server completed %d/%d" % (r.successful, count))
        seen["why_unclean"] = reasons
        return seen


SERVERS = {
    "uac": lambda: SippServer("uas", every_call_completes=False),
    "register": lambda: SippServer(REGISTRAR, every_call_completes=True),
}
