# SPDX-License-Identifier: Apache-2.0
"""Type stub for exosip2.event (compiled with Cython)."""

import enum
from typing import Any, Optional, Union, final

from typing_extensions import disjoint_base

from exosip2.message import OsipMessage

__all__ = ["Event", "EventType"]

class EventType(enum.IntEnum):
    registration_success = 0
    registration_failure = 1
    call_invite = 2
    call_reinvite = 3
    call_noanswer = 4
    call_proceeding = 5
    call_ringing = 6
    call_answered = 7
    call_redirected = 8
    call_requestfailure = 9
    call_serverfailure = 10
    call_globalfailure = 11
    call_ack = 12
    call_cancelled = 13
    call_message_new = 14
    call_message_proceeding = 15
    call_message_answered = 16
    call_message_redirected = 17
    call_message_requestfailure = 18
    call_message_serverfailure = 19
    call_message_globalfailure = 20
    call_closed = 21
    call_released = 22
    message_new = 23
    message_proceeding = 24
    message_answered = 25
    message_redirected = 26
    message_requestfailure = 27
    message_serverfailure = 28
    message_globalfailure = 29
    subscription_noanswer = 30
    subscription_proceeding = 31
    subscription_answered = 32
    subscription_redirected = 33
    subscription_requestfailure = 34
    subscription_serverfailure = 35
    subscription_globalfailure = 36
    subscription_notify = 37
    in_subscription_new = 38
    notification_noanswer = 39
    notification_proceeding = 40
    notification_answered = 41
    notification_redirected = 42
    notification_requestfailure = 43
    notification_serverfailure = 44
    notification_globalfailure = 45

@final
class Event:
    def __init__(self, *args: Any, **kwargs: Any) -> None: ...
    @property
    def context(self) -> Any: ...
    @property
    def type(self) -> EventType: ...
    @property
    def textinfo(self) -> str: ...
    @property
    def tid(self) -> int: ...
    @property
    def did(self) -> int: ...
    @property
    def cid(self) -> int: ...
    @property
    def rid(self) -> int: ...
    @property
    def sid(self) -> int: ...
    @property
    def nid(self) -> int: ...
    @property
    def reference(self) -> Any: ...
    @property
    def ss_status(self) -> int: ...
    @property
    def ss_reason(self) -> int: ...
    @property
    def request(self) -> Optional[OsipMessage]: ...
    @property
    def response(self) -> Optional[OsipMessage]: ...
    @property
    def ack(self) -> Optional[OsipMessage]: ...
    @property
    def disposed(self) -> bool: ...
    def dispose(self) -> None: ...
