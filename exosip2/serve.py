# SPDX-License-Identifier: Apache-2.0
"""``python -m exosip2 serve``: N worker processes, each one :class:`~exosip2.context.Context` on its
own port, meant to sit behind a SIP load balancer such as Kamailio's ``dispatcher`` module
(see ``docs/cluster.rst`` and ``examples/kamailio/dispatcher.cfg``).

One process runs the supervisor (:class:`Supervisor`); it starts *workers* processes (default: one
per core), worker *i* listening on ``--port`` + *i*. Each worker answers out-of-dialog OPTIONS
(the balancer's keep-alive probes) itself and hands every other event to its handler:

``uas``
    answers every call (180, then 200 with an SDP body), every in-dialog request with 200;
``module:function`` or ``path/to/file.py:function``
    user code: ``function(ctx, worker)`` is called once in each worker with its
    :class:`~exosip2.context.Context` and its :class:`Worker`, and returns the event callback
    ``callback(ctx, event)``; ``examples/kamailio/b2bua_worker.py:handler`` runs the B2BUA of
    ``examples/python/b2bua.py`` this way.

A worker that exits is started again (after ``--restart-delay``, doubled while it keeps dying
within a second of its start, up to 5 s). SIGTERM or SIGINT to the supervisor stops every worker:
each one refuses new calls (503, so the balancer tries another worker), ends its calls (BYE for
the answered ones), waits a bounded time for their answers, stops its context and exits 0; a
worker still running after ``--stop-timeout`` seconds is killed. A worker also ends when its
supervisor is gone.

Each worker keeps counters (:class:`WorkerStats`) and, with ``--stats-dir``, writes them as JSON to
``worker-<i>.json`` twice a second and at its exit; it prints them at exit in any case.
Bad arguments exit 2 with a message.
"""

import importlib
import importlib.util
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from typing import Any, Callable, Dict, List, Optional, Set

__all__ = ["Worker", "WorkerStats", "Supervisor", "ServeError", "resolve_handler", "uas_handler", "check_args",
           "add_serve_parser", "cmd_serve", "worker_main"]

EXIT_OK = 0
EXIT_FAIL = 1
EXIT_USAGE = 2
#: a worker that cannot listen on its port exits with this status; it is not restarted
EXIT_NO_LISTEN = 3
#: a worker whose handler factory raised exits with this status; it is not restarted either
EXIT_HANDLER = 4
MAX_WORKERS = 256
MAX_RESTART_DELAY = 5.0
STATS_PERIOD = 0.5

_SDP = ("v=0\r\no=exosip2 1 1 IN IP4 %s\r\ns=exosip2 serve\r\nc=IN IP4 %s\r\nt=0 0\r\n"
        "m=audio %d RTP/AVP 0 8\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:8 PCMA/8000\r\n")


class ServeError(ValueError):
    """A bad ``serve`` argument (unknown handler, bad port range, busy port...); the command exits 2."""


class WorkerStats:
    """The counters of one worker; :meth:`as_dict` is what goes into ``worker-<i>.json``.

    ``invites`` new INVITEs received, ``answered`` 2xx sent for them (counted by the ``uas``
    handler; a handler of yours counts them with ``worker.stats.add("answered")``), ``refused`` INVITEs refused
    while stopping (503), ``acks`` ACKs of calls this worker holds, ``byes`` BYEs received for them,
    ``cancels`` CANCELs, ``options`` keep-alive OPTIONS answered, ``other`` other out-of-dialog
    requests, ``active`` calls held now, ``torn_down`` calls ended by this worker at shutdown (BYE
    sent) and ``torn_down_answered`` those BYEs answered; ``handler_errors`` exceptions raised by the
    handler's callback.
    """

    FIELDS = ("invites", "answered", "refused", "acks", "byes", "cancels", "options", "other",
              "torn_down", "torn_down_answered", "handler_errors")

    def __init__(self) -> None:
        self.lock = threading.Lock()
        for name in self.FIELDS:
            setattr(self, name, 0)
        self.active = 0

    def add(self, name: str, n: int = 1) -> None:
        """Add *n* to the counter *name*."""
        with self.lock:
            setattr(self, name, getattr(self, name) + n)

    def as_dict(self) -> Dict[str, int]:
        """All counters as a dict (``active`` included)."""
        with self.lock:
            out = {name: getattr(self, name) for name in self.FIELDS}
            out["active"] = self.active
        return out


class Worker:
    """What a handler factory learns about the worker it runs in.

    ``index`` (0-based), ``address``, ``port``, ``transport`` (``"udp"`` or ``"tcp"``), ``contact``
    (``sip:exosip2@ADDRESS:PORT``), ``args`` (the ``--handler-arg KEY=VALUE`` pairs as a dict),
    ``stats`` (its :class:`WorkerStats`) and ``stopping`` (true once shutdown has begun).
    """

    def __init__(self, index: int, address: str, port: int, transport: str, args: Dict[str, str]) -> None:
        self.index = index
        self.address = address
        self.port = port
        self.transport = transport
        self.args = dict(args)
        self.stats = WorkerStats()
        self.stopping = False
        self.contact = "sip:exosip2@%s:%d%s" % (address, port, ";transport=tcp" if transport == "tcp" else "")

    def __repr__(self) -> str:
        return "<Worker %d %s %s:%d>" % (self.index, self.transport, self.address, self.port)


# --- handlers ---------------------------------------------------------------------------------

def uas_handler(ctx: Any, worker: Worker) -> Callable[[Any, Any], None]:
    """The built-in ``uas`` handler: answer every call (180, 200 with SDP), every re-INVITE with
    200 and SDP, every other in-dialog request with 200 (the stack itself answers BYE)."""
    from exosip2 import call
    from exosip2.event import EventType as T

    sdp = _SDP % (worker.address, worker.address, 40000 + 2 * worker.index)

    def on_event(ctx: Any, ev: Any) -> None:
        t = ev.type
        if t in (T.call_invite, T.call_reinvite):
            if t == T.call_invite:
                ctx.call_send_answer(ev.tid, 180)
            ok = call.Answer(ctx, ev.tid, 200)
            ok.add_body(sdp)
            ok.content_type = "application/sdp"
            ok.send()
            if t == T.call_invite:
                worker.stats.add("answered")
        elif t == T.call_message_new and ev.request is not None and ev.request.method != "BYE":
            call.Answer(ctx, ev.tid, 200).send()
        elif t == T.message_new:
            ctx.message_send_answer(ev.tid, 200)

    return on_event


def resolve_handler(spec: str) -> Callable[..., Any]:
    """The handler factory named by *spec*: ``uas``, ``module:function`` or ``file.py:function``.

    :raises ServeError: when the module or file cannot be loaded or has no such callable.
    """
    if spec == "uas":
        return uas_handler
    if ":" not in spec:
        raise ServeError("--handler must be 'uas', 'module:function' or 'file.py:function', not %r" % spec)
    where, _, name = spec.rpartition(":")
    if not where or not name.isidentifier():
        raise ServeError("--handler %r: expected module:function" % spec)
    if where.endswith(".py"):
        path = os.path.abspath(where)
        if not os.path.isfile(path):
            raise ServeError("--handler %r: no file %s" % (spec, path))
        mod_name = "_exosip2_serve_handler_%s" % os.path.basename(path)[:-3].replace("-", "_")
        loader_spec = importlib.util.spec_from_file_location(mod_name, path)
        if loader_spec is None or loader_spec.loader is None:
            raise ServeError("--handler %r: cannot load %s" % (spec, path))
        module = importlib.util.module_from_spec(loader_spec)
        sys.modules[mod_name] = module
        try:
            loader_spec.loader.exec_module(module)
        except Exception as exc:
            raise ServeError("--handler %r: loading %s failed: %s: %s" % (spec, path, type(exc).__name__, exc))
    else:
        try:
            module = importlib.import_module(where)
        except Exception as exc:
            raise ServeError("--handler %r: cannot import %s: %s: %s" % (spec, where, type(exc).__name__, exc))
    factory: Any = getattr(module, name, None)
    if not callable(factory):
        raise ServeError("--handler %r: %s has no callable %r" % (spec, where, name))
    found: Callable[..., Any] = factory
    return found


# --- one worker -------------------------------------------------------------------------------

class _Calls:
    """The calls a worker holds: cid -> did (0 until a dialog exists); touched from the loop thread
    and, at shutdown, from the main thread."""

    def __init__(self, stats: WorkerStats) -> None:
        self.lock = threading.Lock()
        self.calls: Dict[int, int] = {}
        self.tearing: Set[int] = set()         # cids whose BYE was sent at shutdown
        self.stats = stats

    def put(self, cid: int, did: int) -> None:
        with self.lock:
            if did > 0 or cid not in self.calls:
                self.calls[cid] = did
            self.stats.active = len(self.calls)

    def drop(self, cid: int) -> None:
        with self.lock:
            self.calls.pop(cid, None)
            self.stats.active = len(self.calls)

    def snapshot(self) -> Dict[int, int]:
        with self.lock:
            return dict(self.calls)


def _write_stats(path: Optional[str], data: Dict[str, Any]) -> None:
    if not path:
        return
    tmp = "%s.%d.tmp" % (path, os.getpid())
    with open(tmp, "w") as f:
        json.dump(data, f)
    os.replace(tmp, path)


def worker_main(config: Dict[str, Any]) -> int:
    """Run one worker as *config* says (the JSON the supervisor passes); return its exit status.

    Keys: ``index``, ``address``, ``port``, ``transport``, ``handler``, ``handler_args``,
    ``stats_path`` (or None), ``parent`` (the supervisor's pid), ``drain`` (seconds to wait for the
    answers of the BYEs sent at shutdown).
    """
    from exosip2.context import Context
    from exosip2.error import OsipError
    from exosip2.event import EventType as T

    worker = Worker(int(config["index"]), config["address"], int(config["port"]), config["transport"],
                    config.get("handler_args") or {})
    stats = worker.stats
    calls = _Calls(stats)
    stats_path = config.get("stats_path")
    parent = int(config.get("parent") or 0)
    drain = float(config.get("drain", 2.0))
    stop_flag: List[int] = []
    started = time.time()

    def on_signal(signum: int, _frame: Any) -> None:
        stop_flag.append(signum)

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)

    def snapshot(state: str) -> Dict[str, Any]:
        data: Dict[str, Any] = dict(stats.as_dict())
        data.update(index=worker.index, pid=os.getpid(), port=worker.port, state=state, started=started,
                    time=time.time())
        return data

    factory = resolve_handler(config["handler"])
    proto = socket.IPPROTO_TCP if worker.transport == "tcp" else socket.IPPROTO_UDP
    with Context() as ctx:
        try:
            ctx.listen_on_address(worker.address, proto, port=worker.port)
        except (OsipError, ValueError) as exc:
            print("serve: worker %d cannot listen on %s %s:%d: %s"
                  % (worker.index, worker.transport, worker.address, worker.port, exc), file=sys.stderr, flush=True)
            return EXIT_NO_LISTEN
        ctx.user_agent = "exosip2-serve/%d" % worker.index
        try:
            handler = factory(ctx, worker)
        except Exception as exc:
            print("serve: worker %d: handler %r failed: %s: %s" % (worker.index, config["handler"],
                                                                  type(exc).__name__, exc), file=sys.stderr, flush=True)
            return EXIT_HANDLER
        if not callable(handler):
            print("serve: handler %r returned %r, not a callback" % (config["handler"], handler), file=sys.stderr)
            return EXIT_HANDLER

        def on_event(ctx: Any, ev: Any) -> None:
            t = ev.type
            try:
                if t == T.message_new and ev.request is not None and ev.request.method == "OPTIONS":
                    # the balancer's probe: 200 while serving, 503 once stopping (marks us down)
                    ctx.options_send_answer(ev.tid, 503 if worker.stopping else 200)
                    stats.add("options")
                    return
                if t == T.call_invite:
                    stats.add("invites")
                    if worker.stopping:
                        ctx.call_send_answer(ev.tid, 503)
                        stats.add("refused")
                        return
                    calls.put(ev.cid, ev.did)
                elif t == T.call_ack:
                    stats.add("acks")
                elif t == T.call_cancelled:
                    stats.add("cancels")
                    calls.drop(ev.cid)
                elif t == T.call_closed:
                    stats.add("byes")
                    calls.drop(ev.cid)
                elif t == T.call_released:
                    calls.drop(ev.cid)
                elif t == T.call_answered and ev.cid > 0:
                    calls.put(ev.cid, ev.did)     # an outgoing leg (a B2BUA's)
                elif t == T.message_new:
                    stats.add("other")
                elif t in (T.call_message_answered, T.call_message_requestfailure, T.call_message_serverfailure,
                           T.call_message_globalfailure) and ev.request is not None \
                        and ev.request.method == "BYE":
                    with calls.lock:
                        ours = ev.cid in calls.tearing
                        calls.tearing.discard(ev.cid)
                    if ours:
                        stats.add("torn_down_answered")
                        calls.drop(ev.cid)
                        return
                if ev.cid > 0 and ev.did > 0 and t not in (T.call_closed, T.call_released, T.call_cancelled):
                    with calls.lock:
                        if ev.cid in calls.calls:
                            calls.calls[ev.cid] = ev.did
            except OsipError as exc:
                print("serve: worker %d: %s" % (worker.index, exc), file=sys.stderr)
            try:
                handler(ctx, ev)
            except Exception as exc:     # a handler bug never stops the worker
                stats.add("handler_errors")
                print("serve: worker %d: handler raised %s: %s" % (worker.index, type(exc).__name__, exc),
                      file=sys.stderr)

        ctx.event_callback = on_event
        ctx.start(s=0, ms=50, event_executor="inline")
        print("serve: worker %d pid %d listening on %s %s:%d"
              % (worker.index, os.getpid(), worker.transport, worker.address, worker.port), flush=True)
        next_write = 0.0
        while not stop_flag:
            if parent and os.getppid() != parent:
                break                       # the supervisor is gone
            now = time.monotonic()
            if now >= next_write:
                _write_stats(stats_path, snapshot("running"))
                next_write = now + STATS_PERIOD
            time.sleep(0.05)
        # Shutdown: refuse new calls, end the ones held, wait (bounded) for the BYEs' answers.
        worker.stopping = True
        for cid, did in calls.snapshot().items():
            if did > 0:
                with calls.lock:
                    calls.tearing.add(cid)
            try:
                ctx.call_terminate(cid, did)
                stats.add("torn_down")
            except OsipError:
                with calls.lock:
                    calls.tearing.discard(cid)
                calls.drop(cid)
                continue
            if did <= 0:
                calls.drop(cid)
        deadline = time.monotonic() + drain
        while time.monotonic() < deadline and calls.snapshot():
            time.sleep(0.02)
        try:
            ctx.stop(timeout=5.0)
        except OsipError as exc:
            print("serve: worker %d: stop: %s" % (worker.index, exc), file=sys.stderr)
        _write_stats(stats_path, snapshot("stopped"))
        print("serve: worker %d stats %s" % (worker.index, json.dumps(stats.as_dict(), sort_keys=True)), flush=True)
        ctx.close(timeout=5.0)
    return EXIT_OK


# --- the supervisor -----------------------------------------------------------------------------

class Supervisor:
    """Starts the workers, restarts one that exits, stops them all on :meth:`stop` (or SIGTERM in
    :meth:`run`); one per ``serve`` command.

    :param workers: how many worker processes.
    :param port: worker *i* listens on ``port + i``.
    """

    def __init__(self, workers: int, port: int, handler: str = "uas", address: str = "127.0.0.1",
                 transport: str = "udp", handler_args: Optional[Dict[str, str]] = None,
                 stats_dir: Optional[str] = None, restart_delay: float = 0.5, stop_timeout: float = 10.0,
                 drain: float = 2.0) -> None:
        self.count = workers
        self.port = port
        self.handler = handler
        self.address = address
        self.transport = transport
        self.handler_args = dict(handler_args or {})
        self.stats_dir = stats_dir
        self.restart_delay = restart_delay
        self.stop_timeout = stop_timeout
        self.drain = drain
        self.procs: List[Any] = [None] * workers   # subprocess.Popen of each worker, None between two runs
        self.started_at = [0.0] * workers
        self.delay = [restart_delay] * workers
        self.next_start = [0.0] * workers
        self.restarts = [0] * workers
        self.stopping = False

    def ports(self) -> List[int]:
        """The port of each worker."""
        return [self.port + i for i in range(self.count)]

    def _config(self, index: int) -> Dict[str, Any]:
        return {"index": index, "address": self.address, "port": self.port + index, "transport": self.transport,
                "handler": self.handler, "handler_args": self.handler_args, "parent": os.getpid(),
                "drain": self.drain,
                "stats_path": os.path.join(self.stats_dir, "worker-%d.json" % index) if self.stats_dir else None}

    def start_worker(self, index: int) -> Any:
        """Start worker *index* (a ``python -m exosip2.serve --worker CONFIG`` process)."""
        argv = [sys.executable, "-m", "exosip2.serve", "--worker", json.dumps(self._config(index))]
        # the workers import the same exosip2 as this process, wherever it was found
        env = dict(os.environ)
        top = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
        env["PYTHONPATH"] = top + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
        proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, env=env)
        self.procs[index] = proc
        self.started_at[index] = time.monotonic()
        print("serve: started worker %d pid %d port %d" % (index, proc.pid, self.port + index), flush=True)
        return proc

    def start(self) -> None:
        """Start every worker."""
        for i in range(self.count):
            self.start_worker(i)

    def poll(self) -> Optional[int]:
        """Restart the workers that exited (after their delay); return an exit status when the
        supervisor must give up (a worker could not listen), else None."""
        now = time.monotonic()
        for i, proc in enumerate(self.procs):
            if proc is None:
                if self.next_start[i] and now >= self.next_start[i]:
                    self.next_start[i] = 0.0
                    self.restarts[i] += 1
                    self.start_worker(i)
                continue
            rc = proc.poll()
            if rc is None:
                continue
            print("serve: worker %d pid %d exited with %d" % (i, proc.pid, rc), flush=True)
            self.procs[i] = None
            if rc in (EXIT_NO_LISTEN, EXIT_HANDLER):
                return EXIT_FAIL
            if now - self.started_at[i] < 1.0:
                self.delay[i] = min(self.delay[i] * 2, MAX_RESTART_DELAY)
            else:
                self.delay[i] = self.restart_delay
            self.next_start[i] = now + self.delay[i]
        return None

    def stop(self) -> None:
        """SIGTERM every worker, wait up to ``stop_timeout`` seconds, SIGKILL those left."""
        self.stopping = True
        live = [p for p in self.procs if p is not None and p.poll() is None]
        for p in live:
            try:
                p.send_signal(signal.SIGTERM)
            except ProcessLookupError:
                pass
        deadline = time.monotonic() + self.stop_timeout
        for p in live:
            try:
                p.wait(timeout=max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                print("serve: worker pid %d did not stop in %.1f s: killed" % (p.pid, self.stop_timeout),
                      file=sys.stderr, flush=True)
                p.kill()
                p.wait(timeout=5.0)
        print("serve: stopped (restarts %s)" % ",".join(str(r) for r in self.restarts), flush=True)

    def run(self) -> int:
        """Start the workers and supervise them until SIGTERM/SIGINT; return the exit status."""
        flag: List[int] = []

        def on_signal(signum: int, _frame: Any) -> None:
            flag.append(signum)

        old = {s: signal.signal(s, on_signal) for s in (signal.SIGTERM, signal.SIGINT)}
        try:
            self.start()
            status = EXIT_OK
            while not flag:
                rc = self.poll()
                if rc is not None:
                    status = rc
                    break
                time.sleep(0.05)
            self.stop()
            return status
        finally:
            for s, h in old.items():
                signal.signal(s, h)


# --- the command line ---------------------------------------------------------------------------

def _default_workers() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


def _port_free(address: str, port: int, transport: str) -> bool:
    kind = socket.SOCK_STREAM if transport == "tcp" else socket.SOCK_DGRAM
    s = socket.socket(socket.AF_INET6 if ":" in address else socket.AF_INET, kind)
    try:
        s.bind((address, port))
        return True
    except OSError:
        return False
    finally:
        s.close()


def check_args(args: Any) -> Dict[str, str]:
    """Validate the ``serve`` arguments; return the handler arguments as a dict.

    :raises ServeError: with a message naming the bad argument.
    """
    if args.workers is not None and not 1 <= args.workers <= MAX_WORKERS:
        raise ServeError("--workers must be in 1..%d, not %d" % (MAX_WORKERS, args.workers))
    n = args.workers or _default_workers()
    if not 1 <= args.port or args.port + n - 1 > 65535:
        raise ServeError("--port %d with %d workers needs ports %d..%d, outside 1..65535"
                         % (args.port, n, args.port, args.port + n - 1))
    if args.restart_delay < 0 or args.stop_timeout <= 0 or args.drain < 0:
        raise ServeError("--restart-delay and --drain must be >= 0, --stop-timeout > 0")
    try:
        socket.getaddrinfo(args.address, None, 0, socket.SOCK_DGRAM, 0, socket.AI_NUMERICHOST)
    except socket.gaierror:
        raise ServeError("--address must be a numeric IP address, not %r" % args.address)
    pairs = {}
    for item in args.handler_arg:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise ServeError("--handler-arg must be KEY=VALUE, not %r" % item)
        pairs[key] = value
    resolve_handler(args.handler)
    busy = [p for p in range(args.port, args.port + n) if not _port_free(args.address, p, args.transport)]
    if busy:
        raise ServeError("port%s %s already in use on %s (%s)"
                         % ("s" if len(busy) > 1 else "", ",".join(map(str, busy)), args.address, args.transport))
    if args.stats_dir is not None:
        try:
            os.makedirs(args.stats_dir, exist_ok=True)
        except OSError as exc:
            raise ServeError("--stats-dir %s: %s" % (args.stats_dir, exc.strerror or exc))
    args.workers = n
    return pairs


def cmd_serve(args: Any) -> int:
    """The ``serve`` command: check the arguments (exit 2 on a bad one), then run a :class:`Supervisor`."""
    try:
        pairs = check_args(args)
    except ServeError as exc:
        print("error: %s" % exc, file=sys.stderr)
        return EXIT_USAGE
    sup = Supervisor(args.workers, args.port, handler=args.handler, address=args.address, transport=args.transport,
                     handler_args=pairs, stats_dir=args.stats_dir, restart_delay=args.restart_delay,
                     stop_timeout=args.stop_timeout, drain=args.drain)
    print("serve: %d worker%s (%s) on %s %s:%d-%d" % (args.workers, "s" if args.workers > 1 else "", args.handler,
                                                      args.transport, args.address, args.port,
                                                      args.port + args.workers - 1), flush=True)
    return sup.run()


def add_serve_parser(sub: Any) -> Any:
    """Add the ``serve`` sub-command to the sub-parsers *sub* of ``python -m exosip2``."""
    p = sub.add_parser(
        "serve", help="run N worker processes, one context each, behind a SIP load balancer")
    p.add_argument("--workers", "-n", type=int, default=None, help="how many workers (default: one per core)")
    p.add_argument("--port", type=int, default=5070, help="worker i listens on PORT+i (default 5070)")
    p.add_argument("--address", default="127.0.0.1", help="address every worker binds (default 127.0.0.1)")
    p.add_argument("--transport", choices=("udp", "tcp"), default="udp")
    p.add_argument("--handler", default="uas",
                   help="uas (answer every call), or module:function / file.py:function returning the "
                        "event callback (see docs/cluster.rst)")
    p.add_argument("--handler-arg", action="append", default=[], metavar="KEY=VALUE",
                   help="passed to the handler as worker.args (repeatable)")
    p.add_argument("--stats-dir", default=None, help="write each worker's counters to DIR/worker-<i>.json")
    p.add_argument("--restart-delay", type=float, default=0.5, help="seconds before a worker that exited is "
                   "started again (doubled while it keeps dying at once)")
    p.add_argument("--stop-timeout", type=float, default=10.0, help="seconds a worker may take to stop at "
                   "SIGTERM before it is killed")
    p.add_argument("--drain", type=float, default=2.0, help="seconds a stopping worker waits for the answers "
                   "to the BYEs that end its calls")
    p.set_defaults(func=cmd_serve)
    return p


def _worker_entry(argv: List[str]) -> int:
    if len(argv) != 2 or argv[0] != "--worker":
        print("usage: python -m exosip2 serve ... (this module's own entry is for the workers it starts)",
              file=sys.stderr)
        return EXIT_USAGE
    try:
        config = json.loads(argv[1])
        if not isinstance(config, dict) or not {"index", "address", "port", "transport", "handler"} <= set(config):
            raise ValueError("not a worker configuration")
    except ValueError as exc:
        print("error: --worker takes the JSON configuration serve passes: %s" % exc, file=sys.stderr)
        return EXIT_USAGE
    try:
        return worker_main(config)
    except ServeError as exc:
        print("error: %s" % exc, file=sys.stderr)
        return EXIT_HANDLER


if __name__ == "__main__":
    sys.exit(_worker_entry(sys.argv[1:]))
