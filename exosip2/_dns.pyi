# SPDX-License-Identifier: Apache-2.0
"""Type stub for exosip2._dns."""

from typing import List, Optional, Tuple, Union

def lookup(name: Union[str, bytes], server: Optional[Union[str, bytes]], timeout_ms: int,
           capabilities: int) -> List[Tuple[str, str, str, int, int, int, int]]: ...
