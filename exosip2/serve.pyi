# SPDX-License-Identifier: Apache-2.0
import argparse
import subprocess
import threading
from typing import Any, Callable, Dict, List, Optional

__all__ = ["Worker", "WorkerStats", "Supervisor", "ServeError", "resolve_handler", "uas_handler", "check_args",
           "add_serve_parser", "cmd_serve", "worker_main"]

EXIT_OK: int
EXIT_FAIL: int
EXIT_USAGE: int
EXIT_NO_LISTEN: int
EXIT_HANDLER: int
MAX_WORKERS: int
MAX_RESTART_DELAY: float
STATS_PERIOD: float

_Callback = Callable[[Any, Any], Any]

class ServeError(ValueError): ...

class WorkerStats:
    FIELDS: tuple[str, ...]
    lock: threading.Lock
    active: int
    invites: int
    answered: int
    refused: int
    acks: int
    byes: int
    cancels: int
    options: int
    other: int
    torn_down: int
    torn_down_answered: int
    handler_errors: int
    def __init__(self) -> None: ...
    def add(self, name: str, n: int = ...) -> None: ...
    def as_dict(self) -> Dict[str, int]: ...

class Worker:
    index: int
    address: str
    port: int
    transport: str
    args: Dict[str, str]
    stats: WorkerStats
    stopping: bool
    contact: str
    def __init__(self, index: int, address: str, port: int, transport: str, args: Dict[str, str]) -> None: ...

def uas_handler(ctx: Any, worker: Worker) -> _Callback: ...
def resolve_handler(spec: str) -> Callable[..., Any]: ...
def worker_main(config: Dict[str, Any]) -> int: ...

class Supervisor:
    count: int
    port: int
    handler: str
    address: str
    transport: str
    handler_args: Dict[str, str]
    stats_dir: Optional[str]
    restart_delay: float
    stop_timeout: float
    drain: float
    procs: List[Optional[subprocess.Popen[bytes]]]
    started_at: List[float]
    delay: List[float]
    next_start: List[float]
    restarts: List[int]
    stopping: bool
    def __init__(self, workers: int, port: int, handler: str = ..., address: str = ..., transport: str = ...,
                 handler_args: Optional[Dict[str, str]] = ..., stats_dir: Optional[str] = ...,
                 restart_delay: float = ..., stop_timeout: float = ..., drain: float = ...) -> None: ...
    def ports(self) -> List[int]: ...
    def start_worker(self, index: int) -> subprocess.Popen[bytes]: ...
    def start(self) -> None: ...
    def poll(self) -> Optional[int]: ...
    def stop(self) -> None: ...
    def run(self) -> int: ...

def check_args(args: argparse.Namespace) -> Dict[str, str]: ...
def cmd_serve(args: argparse.Namespace) -> int: ...
def add_serve_parser(sub: Any) -> argparse.ArgumentParser: ...
