# SPDX-License-Identifier: Apache-2.0
"""Type stub for exosip2.version (compiled with Cython)."""

from typing import Literal

__version__: str

def get_library_version() -> str: ...
def get_osip_version() -> str: ...
def get_library_kind() -> Literal["core", "system"]: ...
