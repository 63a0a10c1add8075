# SPDX-License-Identifier: Apache-2.0
"""Type stub for the exosip2 package: the names it re-exports, as exosip2ctypes' package does."""

from typing import Optional, Union

from exosip2.context import Context as Context, ContextLock as ContextLock
from exosip2.event import Event as Event, EventType as EventType
from exosip2.options import Option as Option
from exosip2.version import (
    __version__ as __version__,
    get_library_kind as get_library_kind,
    get_library_version as get_library_version,
    get_osip_version as get_osip_version,
)

__all__ = [
    "DLL_NAME",
    "Context",
    "ContextLock",
    "Event",
    "EventType",
    "Option",
    "__version__",
    "get_library_kind",
    "get_library_version",
    "get_osip_version",
    "initialize",
]

DLL_NAME: str

def initialize(path: Optional[Union[str, bytes]] = ...) -> None: ...
