# SPDX-License-Identifier: Apache-2.0
"""Type stub for exosip2.utils."""

import logging
from typing import List, NamedTuple, Optional, TypeVar, Union, overload

__all__ = ["to_bytes", "to_str", "to_unicode", "LoggerMixin", "DnsTarget", "resolve"]

_T = TypeVar("_T")

@overload
def to_bytes(s: str, encoding: str = ...) -> bytes: ...
@overload
def to_bytes(s: _T, encoding: str = ...) -> _T: ...
@overload
def to_str(s: bytes | bytearray, encoding: str = ...) -> str: ...
@overload
def to_str(s: _T, encoding: str = ...) -> _T: ...
@overload
def to_unicode(s: bytes | bytearray, encoding: str = ...) -> str: ...
@overload
def to_unicode(s: _T, encoding: str = ...) -> _T: ...

class LoggerMixin:
    @classmethod
    def _get_logger(cls) -> logging.Logger: ...
    @property
    def logger(self) -> logging.Logger: ...

class DnsTarget(NamedTuple):
    transport: str
    host: str
    port: int
    ip: str
    priority: int = ...
    weight: int = ...
    ttl: int = ...

def resolve(uri: Union[str, bytes], dns_server: Optional[str] = ..., timeout_ms: int = ...,
            capabilities: int = ...) -> List[DnsTarget]: ...
