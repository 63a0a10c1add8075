# SPDX-License-Identifier: Apache-2.0
"""Type stub for exosip2.publish (compiled with Cython)."""

from typing import Optional, Union

from typing_extensions import disjoint_base

from exosip2.context import Context
from exosip2.message import ExosipMessage, OsipMessage

__all__ = ["Publish", "publish"]

_Text = Union[str, bytes]

def publish(context: Context, message: OsipMessage, to_url: _Text) -> int: ...

@disjoint_base
class Publish(ExosipMessage):
    to_url: _Text
    from_url: _Text
    event: _Text
    route: Optional[_Text]
    expires: int
    def __init__(self, context: Context, to_url: _Text, from_url: _Text, event: _Text, expires: int,
                 content_type: Optional[_Text] = ..., body: Optional[_Text] = ...,
                 route: Optional[_Text] = ...) -> None: ...
    def send(self) -> int: ...
