# SPDX-License-Identifier: Apache-2.0
"""Type stub for exosip2.subscribe (compiled with Cython)."""

from typing import Optional, Union

from typing_extensions import disjoint_base

from exosip2.context import Context
from exosip2.message import ExosipMessage, OsipMessage

__all__ = ["InitialSubscribe", "InitialRefer", "Refresh", "remove"]

_Text = Union[str, bytes]

def send_initial_request(context: Context, message: OsipMessage) -> int: ...
def send_refresh_request(context: Context, did: int, message: OsipMessage) -> None: ...
def remove(context: Context, did: int) -> None: ...

@disjoint_base
class InitialSubscribe(ExosipMessage):
    to_url: _Text
    from_url: _Text
    event: _Text
    route: Optional[_Text]
    expires: int
    def __init__(self, context: Context, to_url: _Text, from_url: _Text, event: _Text, expires: int = ...,
                 route: Optional[_Text] = ...) -> None: ...
    def send(self) -> int: ...

@disjoint_base
class InitialRefer(ExosipMessage):
    to_url: _Text
    from_url: _Text
    refer_to: _Text
    route: Optional[_Text]
    def __init__(self, context: Context, to_url: _Text, from_url: _Text, refer_to: _Text,
                 route: Optional[_Text] = ...) -> None: ...
    def send(self) -> int: ...

@disjoint_base
class Refresh(ExosipMessage):
    did: int
    def __init__(self, context: Context, did: int, expires: Optional[int] = ...) -> None: ...
    def send(self) -> None: ...
