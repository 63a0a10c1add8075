# SPDX-License-Identifier: Apache-2.0
"""Type stub for exosip2._debug (compiled with Cython): counters of live native wrappers."""

import enum
from typing import Dict

class LiveKind(enum.IntEnum):
    LIVE_MESSAGE = 0
    LIVE_SDP = 1
    LIVE_CONTEXT = 2
    LIVE_EVENT = 3
    LIVE_KINDS = 8

def enabled() -> bool: ...
def live_objects() -> Dict[str, int]: ...
