# SPDX-License-Identifier: Apache-2.0
"""What every benchmark here shares: why a SIPp run is not clean, and writing a report as JSON."""

import json
import os


def sipp_unclean(result, calls):
    """Why a SIPp run of *calls* calls does not count as clean (an empty list when it does)."""
    reasons = []
    if result.returncode != 0:
        reasons.append("sipp rc %s" % result.returncode)
    if result.failed:
        reasons.append("%d failed" % result.failed)
    if result.retransmissions:
        reasons.append("%d retransmissions" % result.retransmissions)
    if result.successful != calls:
        reasons.append("%d/%d successful" % (result.successful, calls))
    return reasons


def write_report(report, path):
    """Write *report* as indented JSON to *path* (its folder made first) and say where."""
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with open(path, "w") as f:
        json.dump(report, f, indent=2)
    print("\nwrote %s" % path)
    return path
