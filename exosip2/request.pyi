# SPDX-License-Identifier: Apache-2.0
"""Type stub for exosip2.request (compiled with Cython)."""

from typing import Optional, Union

from typing_extensions import disjoint_base

from exosip2.context import Context
from exosip2.message import ExosipMessage

__all__ = ["Message", "Options", "MessageAnswer", "OptionsAnswer"]

_Text = Union[str, bytes]

@disjoint_base
class Message(ExosipMessage):
    to_url: _Text
    from_url: _Text
    route: Optional[_Text]
    method_name: str
    def __init__(self, context: Context, to_url: _Text, from_url: _Text, route: Optional[_Text] = ...,
                 method: _Text = ...) -> None: ...
    def send(self) -> int: ...

@disjoint_base
class Options(ExosipMessage):
    to_url: _Text
    from_url: _Text
    route: Optional[_Text]
    def __init__(self, context: Context, to_url: _Text, from_url: _Text,
                 route: Optional[_Text] = ...) -> None: ...
    def send(self) -> int: ...

@disjoint_base
class MessageAnswer(ExosipMessage):
    tid: int
    status: int
    def __init__(self, context: Context, tid: int, status: int) -> None: ...
    def send(self) -> None: ...

@disjoint_base
class OptionsAnswer(ExosipMessage):
    tid: int
    status: int
    def __init__(self, context: Context, tid: int, status: int) -> None: ...
    def send(self) -> None: ...
