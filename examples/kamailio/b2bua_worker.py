# SPDX-License-Identifier: Apache-2.0
"""The B2BUA of examples/python/b2bua.py as a ``python -m exosip2 serve`` handler.

    python -m exosip2 serve --workers 2 --port 5070 \\
        --handler examples/kamailio/b2bua_worker.py:handler --handler-arg target=sip:service@10.0.0.20:5080

Each worker bridges every call it gets to ``target`` (a ``--handler-arg``), with its own address as
the From of the outgoing leg. The bridge of a call lives in the worker that took it, like the call.
"""

import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "python"))

from b2bua import B2bua  # noqa: E402


def handler(ctx, worker):
    """Return the event callback of a :class:`B2bua` bridging to ``worker.args['target']``."""
    target = worker.args.get("target")
    if not target:
        raise ValueError("the b2bua handler needs --handler-arg target=sip:...")
    b2b = B2bua(ctx, target, worker.contact.replace("sip:exosip2@", "sip:b2bua@"), quiet=True)
    return b2b.on_event
