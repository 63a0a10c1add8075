# SPDX-License-Identifier: Apache-2.0
"""The SIPp call scenarios of tests/scenarios, as data shared by the tests and their self-checks.

Each :class:`Case` names the client scenario SIPp plays, the options ``examples/c/uas`` needs to play
the other side, and the SIPp model of that side (a built-in scenario or a ``uas_*.xml``) that the
scenario is validated against. ``check`` runs extra assertions on the client's
:class:`~peers.sipp.SippResult`; ``uas_stats`` is what uas must report at exit (for a refused call only ``calls``: whether a 486
counts as answered is uas's own choice; a cancelled call was never answered).
"""

import re


def _step_counter(result, status, kind):
    """The per-message counter of the first scenario step that receives *status* (``-trace_counts``)."""
    pattern = re.compile(r"^(\d+)_%s_%s$" % (status, kind))
    steps = sorted((int(m.group(1)), key) for key in result.counts for m in [pattern.match(key)] if m)
    assert steps, "no %s/%s counter in %s\n%s" % (status, kind, sorted(result.counts), result.describe())
    return int(result.counts[steps[0][1]])


def received_times(result, status, cseq_method):
    """Times (seconds) at which SIPp received a *status* response for *cseq_method*, from -trace_msg."""
    cseq = re.compile(r"^CSeq:\s*\d+\s+%s\s*$" % cseq_method, re.M | re.I)
    return [t for t, direction, text in result.messages
            if direction == "received" and text.startswith("SIP/2.0 %d " % status) and cseq.search(text)]


def check_200_retransmitted(result):
    """The unacknowledged 200 came back at least twice, and the second gap was about twice the first
    (T1 = 500 ms, then 2*T1: RFC 3261 13.3.1.4)."""
    retrans = _step_counter(result, "200", "Retrans")
    assert retrans >= 2, "the 200 was retransmitted %d times before the ACK\n%s" % (retrans, result.describe())
    times = received_times(result, 200, "INVITE")
    assert len(times) >= 3, "received the 200 only %d times: %r" % (len(times), times)
    first, second = times[1] - times[0], times[2] - times[1]
    assert 0.35 <= first <= 0.9, "first retransmission after %.3f s, expected ~0.5 s (T1)" % first
    assert 1.5 <= second / first <= 2.7, "gaps %.3f s then %.3f s: the interval did not double" % (first, second)


def check_486_not_retransmitted(result):
    """The 486 was received once per call: the UAS took SIPp's ACK and stopped retransmitting (UDP;
    nothing is retransmitted over TCP)."""
    if result.transport != "udp":
        return
    assert _step_counter(result, "486", "Retrans") == 0, result.describe()


class Case:
    def __init__(self, id, scenario, transports=("udp", "tcp"), uas_args=(), model="uas", model_extra=(),
                 keys=None, calls=3, rate=10, check=None, uas_stats=None):
        self.id = id
        self.scenario = scenario
        self.transports = transports
        self.uas_args = list(uas_args)
        self.model = model
        self.model_extra = list(model_extra)
        self.keys = keys or {}
        self.calls = calls
        self.rate = rate
        self.check = check
        self.uas_stats = uas_stats if uas_stats is not None else {"calls": calls, "answered": calls, "closed": calls}

    def __repr__(self):
        return "<Case %s>" % self.id


CASES = [
    Case("bye-from-sipp", "call_bye_sipp", model="uas_basic"),
    Case("reinvite", "call_reinvite", model="uas_reinvite"),
    Case("info", "call_info", model="uas_info"),
    Case("options", "call_options", model="uas_options"),
    Case("update", "call_update", model="uas_update"),
    Case("bye-from-uas", "call_bye_uas", uas_args=["-b", "500"], model="uas_bye"),
    Case("busy-486", "call_busy", uas_args=["-s", "486"], model="uas_busy",
         check=check_486_not_retransmitted, uas_stats={"calls": 3}),
    Case("cancel", "call_cancel", uas_args=["-r", "-D", "5000"], model="uas_cancel",
         uas_stats={"calls": 3, "answered": 0}),
    Case("retransmitted-200", "call_retrans_200", transports=("udp",), model="uas_basic",
         calls=1, check=check_200_retransmitted),
]


def params():
    """``(case, transport)`` pairs with readable ids, for ``pytest.mark.parametrize``."""
    import pytest

    return [pytest.param(case, transport, id="%s-%s" % (case.id, transport))
            for case in CASES for transport in case.transports]
