# SPDX-License-Identifier: Apache-2.0
"""What every benchmark here shares: why a SIPp run is not clean, how long it ran, and writing a
report as JSON."""

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


def sipp_elapsed_s(sample):
    """ElapsedTime(C) of a -trace_stat row ('HH:MM:SS', sometimes with ':uuuuuu') in seconds, or None."""
    try:
        parts = [int(p) for p in sample.get("ElapsedTime(C)", "").split(":")]
        return parts[0] * 3600 + parts[1] * 60 + parts[2] + (parts[3] / 1e6 if len(parts) > 3 else 0.0)
    except (ValueError, IndexError):
        return None


def write_report(report, path):
    """Write *report* as indented JSON to *path* (its folder made first) and say where."""
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with open(path, "w") as f:
        json.dump(report, f, indent=2)
    print("\nwrote %s" % path)
    return path
