# SPDX-License-Identifier: Apache-2.0
"""Type stub for exosip2.call (compiled with Cython)."""

from typing import Any, Optional, Union

from typing_extensions import disjoint_base

from exosip2.context import Context
from exosip2.message import ExosipMessage, OsipMessage

__all__ = ["InitInvite", "Ack", "Answer", "Request", "ReInvite", "Info", "Options", "Update", "Refer",
           "Notify", "Prack"]

_Text = Union[str, bytes]

@disjoint_base
class InitInvite(ExosipMessage):
    to_url: _Text
    from_url: _Text
    route: Optional[_Text]
    subject: Optional[_Text]
    def __init__(self, context: Context, to_url: _Text, from_url: _Text, route: Optional[_Text] = ...,
                 subject: Optional[_Text] = ...) -> None: ...
    def send(self, reference: Any = ...) -> int: ...

@disjoint_base
class Ack(ExosipMessage):
    did: int
    tid: int
    def __init__(self, context: Context, did: Optional[int] = ..., tid: Optional[int] = ...) -> None: ...
    def send(self) -> None: ...

@disjoint_base
class Answer(ExosipMessage):
    tid: int
    status: int
    def __init__(self, context: Context, tid: int, status: int) -> None: ...
    def send(self, reference: Any = ...) -> None: ...

@disjoint_base
class Prack(ExosipMessage):
    tid: int
    def __init__(self, context: Context, tid: int, response: OsipMessage) -> None: ...
    def send(self) -> None: ...

@disjoint_base
class Request(ExosipMessage):
    did: int
    method_name: str
    def __init__(self, context: Context, did: int, method: _Text) -> None: ...
    def send(self) -> int: ...

class ReInvite(Request):
    def __init__(self, context: Context, did: int) -> None: ...

class Info(Request):
    def __init__(self, context: Context, did: int) -> None: ...

class Options(Request):
    def __init__(self, context: Context, did: int) -> None: ...

class Update(Request):
    def __init__(self, context: Context, did: int) -> None: ...

@disjoint_base
class Refer(Request):
    refer_to: _Text
    def __init__(self, context: Context, did: int, refer_to: _Text) -> None: ...

@disjoint_base
class Notify(Request):
    subscription_status: int
    def __init__(self, context: Context, did: int, subscription_status: int) -> None: ...
