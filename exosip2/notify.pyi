# SPDX-License-Identifier: Apache-2.0
"""Type stub for exosip2.notify (compiled with Cython)."""

import enum
from typing import Optional, Union

from typing_extensions import disjoint_base

from exosip2.context import Context
from exosip2.message import ExosipMessage, OsipMessage

__all__ = ["SubscriptionState", "SubscriptionReason", "Answer", "Notify", "Request", "remove"]

_Text = Union[str, bytes]

class SubscriptionState(enum.IntEnum):
    unknown = 0
    pending = 1
    active = 2
    terminated = 3

class SubscriptionReason(enum.IntEnum):
    deactivated = 0
    probation = 1
    rejected = 2
    timeout = 3
    giveup = 4
    noresource = 5

def send_answer(context: Context, tid: int, status: Optional[int] = ...,
                answer: Optional[OsipMessage] = ...) -> None: ...
def send_request(context: Context, did: int, request: OsipMessage) -> None: ...
def remove(context: Context, did: int) -> None: ...

@disjoint_base
class Answer(ExosipMessage):
    tid: int
    status: int
    def __init__(self, context: Context, tid: int, status: int) -> None: ...
    def send(self) -> None: ...

@disjoint_base
class Notify(ExosipMessage):
    did: int
    state: SubscriptionState
    reason: Optional[SubscriptionReason]
    def __init__(self, context: Context, did: int, state: int, reason: Optional[int] = ...) -> None: ...
    def send(self) -> None: ...

@disjoint_base
class Request(ExosipMessage):
    did: int
    method_name: str
    def __init__(self, context: Context, did: int, method: _Text) -> None: ...
    def send(self) -> None: ...
