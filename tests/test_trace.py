# SPDX-License-Identifier: Apache-2.0
"""Tracing: every SIP message sent and received, on the logger exosip2.sip and in pcap files.

Two contexts call each other over 127.0.0.1 (UDP and TCP); the log records and the pcap file
(read back with tshark) must hold exactly the messages of that call, with the right addresses.
"""

import logging
import os
import shutil
import socket
import subprocess
import time

import pytest

from exosip2 import call, trace
from exosip2.context import Context
from exosip2.trace import PcapWriter, SipTrace
from uapair import UA, EventType as T, sdp


@pytest.fixture(params=["udp", "tcp"])
def pair(request, no_leaks):
    a = UA("alice", request.param)
    b = UA("bob", request.param)
    yield a, b
    a.ctx.trace(False)
    a.ctx.trace_pcap(None)
    a.close()
    b.close()


def run_call(a, b):
    """INVITE, 180, 200, ACK, BYE, 200 from a to b; returns a's Call-ID."""
    inv = call.InitInvite(a.ctx, b.uri, a.uri)
    inv.add_body(sdp("alice", 40000))
    inv.content_type = "application/sdp"
    call_id = inv.call_id
    inv.send()
    ev = b.expect(T.call_invite)
    b.ctx.call_send_answer(ev.tid, 180)
    ok = call.Answer(b.ctx, ev.tid, 200)
    ok.add_body(sdp("bob", 41000))
    ok.content_type = "application/sdp"
    ok.send()
    ans = a.expect(T.call_ringing, T.call_answered)
    if ans.type == T.call_ringing:
        ans = a.expect(T.call_answered)
    call.Ack(a.ctx, ans.did).send()
    b.expect(T.call_ack)
    a.ctx.call_terminate(ans.cid, ans.did)
    assert b.expect(T.call_message_new).request.method == "BYE"
    b.expect(T.call_closed)
    a.expect(T.call_message_answered)
    return call_id


def wait_for(predicate, timeout=5.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.02)
    return predicate()


def first_lines(traces):
    return [(t.direction, t.first_line.split(" ")[0] if not t.first_line.startswith("SIP/") else
             t.first_line.split(" ")[1]) for t in traces]


def test_logging_of_one_call(pair, caplog):
    a, b = pair
    caplog.set_level(logging.DEBUG, logger="exosip2.sip")
    a.ctx.trace(True)
    call_id = run_call(a, b)
    # the 200 to the BYE may still be on its way: the loop logs it after its event
    wait_for(lambda: any(r.sip_trace.direction == "received" and r.sip_trace.first_line.startswith("SIP/2.0 200")
                         and r.sip_trace.header("CSeq").endswith("BYE") for r in caplog.records
                         if hasattr(r, "sip_trace")) or a.ctx.trace_drain())
    a.ctx.trace_drain()
    recs = [r for r in caplog.records if r.name == "exosip2.sip"]
    traces = [r.sip_trace for r in recs]
    seen = first_lines(traces)
    for expected in [("sent", "INVITE"), ("received", "180"), ("received", "200"), ("sent", "ACK"),
                     ("sent", "BYE")]:
        assert expected in seen, (expected, seen)
    assert seen.index(("sent", "INVITE")) < seen.index(("received", "200")) < seen.index(("sent", "ACK"))
    transport = "TCP" if b.uri.endswith("transport=tcp") else "UDP"
    for r, t in zip(recs, traces):
        assert r.levelno == logging.DEBUG
        assert isinstance(t, SipTrace)
        assert t.transport == transport
        assert t.local[0] == "127.0.0.1" and t.remote == ("127.0.0.1", b.port)
        if transport == "UDP":
            assert t.local[1] == a.port
        assert t.header("Call-ID") == call_id
        msg = r.getMessage()
        assert msg.startswith("%s %s 127.0.0.1:%d %s 127.0.0.1:%d (%d bytes)\n" % (
            t.direction, transport, t.local[1], "->" if t.direction == "sent" else "<-", b.port, len(t.data)))
        assert msg.endswith(t.text)
    assert a.ctx.trace_dropped() == 0


def test_trace_off_captures_nothing(pair, caplog):
    a, b = pair
    caplog.set_level(logging.DEBUG, logger="exosip2.sip")
    a.ctx.trace(True)
    a.ctx.trace(False)
    run_call(a, b)
    assert a.ctx.trace_drain() == []
    assert [r for r in caplog.records if r.name == "exosip2.sip"] == []


def test_info_level_filters_records_but_drain_returns_them(pair, caplog):
    a, b = pair
    caplog.set_level(logging.INFO, logger="exosip2.sip")
    a.ctx.stop()  # no loop: the messages stay queued until drained here
    a.ctx.trace(True)
    inv = call.InitInvite(a.ctx, b.uri, a.uri)
    inv.send()
    ev = b.expect(T.call_invite)
    b.ctx.call_send_answer(ev.tid, 486)
    got = wait_for(lambda: [t for t in a.ctx.trace_drain() if True] or None)
    assert got and got[0].direction == "sent" and got[0].first_line.startswith("INVITE ")
    assert [r for r in caplog.records if r.name == "exosip2.sip"] == []


def tshark_fields(path, ports):
    tshark = shutil.which("tshark")
    assert tshark is not None, "tshark is needed (Debian package tshark)"
    cmd = [tshark, "-r", str(path), "-Y", "sip", "-T", "fields", "-e", "sip.Method", "-e", "sip.Status-Code",
           "-e", "sip.Call-ID"]
    for port in ports:
        cmd += ["-d", "udp.port==%d,sip" % port]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=60, env=dict(os.environ, HOME="/tmp"))
    assert out.returncode == 0, out.stderr
    return [tuple(line.split("\t")) for line in out.stdout.splitlines() if line.strip()]


def test_pcap_of_one_call_read_by_tshark(pair, tmp_path):
    a, b = pair
    path = tmp_path / "call.pcap"
    a.ctx.trace_pcap(path)
    call_id = run_call(a, b)
    wait_for(lambda: a.ctx.trace_drain() and False, timeout=0.3)
    a.ctx.trace_pcap(None)
    rows = tshark_fields(path, (a.port, b.port))
    methods = [m for m, status, cid in rows if m]
    statuses = [status for m, status, cid in rows if status]
    assert methods[:1] == ["INVITE"] and "ACK" in methods and "BYE" in methods, rows
    assert set(methods) <= {"INVITE", "ACK", "BYE"}, rows
    assert "180" in statuses and "200" in statuses, rows
    assert {cid for m, status, cid in rows} == {call_id}, rows


def test_pcap_ipv4_header_and_udp_checksum(tmp_path):
    path = tmp_path / "one.pcap"
    w = PcapWriter(path)
    t = SipTrace("sent", "UDP", ("127.0.0.1", 5062), ("127.0.0.2", 5060), 1700000000.25,
                 b"OPTIONS sip:x@127.0.0.2 SIP/2.0\r\nCall-ID: abc\r\nCSeq: 1 OPTIONS\r\n\r\n")
    w.write(t)
    w.close()
    w.close()
    assert w.closed and w.written == 1
    with pytest.raises(ValueError, match="closed"):
        w.write(t)
    data = path.read_bytes()
    assert data[:4] == b"\xd4\xc3\xb2\xa1" and int.from_bytes(data[20:24], "little") == 101
    frame = data[24 + 16:]
    assert frame[0] == 0x45 and frame[9] == 17
    assert frame[12:16] == socket.inet_aton("127.0.0.1") and frame[16:20] == socket.inet_aton("127.0.0.2")
    assert int.from_bytes(frame[20:22], "big") == 5062 and int.from_bytes(frame[22:24], "big") == 5060
    assert frame[28:] == t.data
    assert trace._ip_checksum(frame[:20]) == 0  # a header with its checksum sums to zero
    rows = tshark_fields(path, (5060,))
    assert rows == [("OPTIONS", "", "abc")]


def test_pcap_ipv6_and_mixed_families(tmp_path):
    path = tmp_path / "six.pcap"
    w = PcapWriter(path)
    w.write(SipTrace("received", "TCP", ("::1", 5060), ("::1", 40000), 1.0,
                     b"MESSAGE sip:a@[::1] SIP/2.0\r\nCall-ID: six\r\nCSeq: 1 MESSAGE\r\n\r\n"))
    w.write(SipTrace("sent", "UDP", ("::1", 5060), ("127.0.0.1", 40000), 2.0,
                     b"SIP/2.0 200 OK\r\nCall-ID: six\r\nCSeq: 1 MESSAGE\r\n\r\n"))
    w.write(SipTrace("sent", "TCP", ("127.0.0.1", 5060), ("127.0.0.1", 1), 3.0, b"X" * 70000))
    w.close()
    assert w.truncated == 1
    rows = tshark_fields(path, (5060,))
    assert rows == [("MESSAGE", "", "six"), ("", "200", "six")]


def test_queue_full_counts_drops_and_keeps_the_oldest(no_leaks):
    with Context() as ctx:
        port = ctx.listen_on_address("127.0.0.1", port=0)
        ctx.trace(True)
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            total = trace.DEFAULT_MAX_MESSAGES + 100
            for i in range(total):
                s.sendto(b"junk datagram %06d that is not SIP" % i, ("127.0.0.1", port))
                if i % 500 == 499:
                    time.sleep(0.01)  # let the receive buffer drain
        finally:
            s.close()
        assert wait_for(lambda: ctx.trace_dropped() >= 100, timeout=10)
        got = ctx.trace_drain()
        assert len(got) == trace.DEFAULT_MAX_MESSAGES
        assert got[0].data == b"junk datagram 000000 that is not SIP" and got[0].direction == "received"
        assert ctx.trace_dropped() == total - trace.DEFAULT_MAX_MESSAGES
        ctx.trace(False)
        ctx.trace(True)
        assert ctx.trace_dropped() == 0
        ctx.trace(False)


def test_hostile_datagrams_are_traced_as_they_came(no_leaks, tmp_path, caplog):
    caplog.set_level(logging.DEBUG, logger="exosip2.sip")
    samples = [b"\xff\xfe\x00binary\x00\x80", b"INVITE sip:x SIP/2.0\r\nVia: SIP/2.0/UDP", b"A" * 60000,
               b"SIP/2.0 999 \xc3(\r\n\r\n"]
    path = tmp_path / "hostile.pcap"
    with Context() as ctx:
        port = ctx.listen_on_address("127.0.0.1", port=0)
        ctx.trace(True)
        ctx.trace_pcap(path)
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            for data in samples:
                s.sendto(data, ("127.0.0.1", port))
            got = []
            wait_for(lambda: got.extend(ctx.trace_drain()) or len(got) >= len(samples))
        finally:
            s.close()
        ctx.trace_pcap(None)
        ctx.trace(False)
    assert [t.data for t in got] == samples
    assert all(t.remote[0] == "127.0.0.1" and t.local == ("127.0.0.1", port) for t in got)
    assert len([r for r in caplog.records if r.name == "exosip2.sip"]) == len(samples)
    assert path.stat().st_size > 60000


def test_trace_pcap_argument_errors(no_leaks, tmp_path):
    with Context() as ctx:
        with pytest.raises(TypeError, match="trace_pcap: path must be"):
            ctx.trace_pcap(42)
        bad = tmp_path / "no-such-dir" / "x.pcap"
        with pytest.raises(OSError, match="trace_pcap: cannot write .*no-such-dir"):
            ctx.trace_pcap(bad)
        assert ctx.trace_drain() == []
    assert ctx.trace_drain() == []
    assert ctx.trace_dropped() == 0


def test_sip_trace_validates_its_fields():
    with pytest.raises(ValueError, match="direction"):
        SipTrace("up", "UDP", ("a", 1), ("b", 2), 0, b"")
    with pytest.raises(ValueError, match="transport"):
        SipTrace("sent", "SCTP", ("a", 1), ("b", 2), 0, b"")
    t = SipTrace("sent", "UDP", ("10.0.0.1", 5060), ("10.0.0.2", 5070), 10.5, b"BYE sip:x SIP/2.0\r\n\r\n")
    assert t.first_line == "BYE sip:x SIP/2.0" and t.header("Call-ID") is None
    assert trace.format_ladder(t, 10.0) == "    500.00 ms  --> UDP 10.0.0.2:5070  BYE sip:x SIP/2.0"
    assert "SipTrace sent UDP" in repr(t)




def test_ipv6_addresses_in_traces_and_pcap(no_leaks, tmp_path):
    path = tmp_path / "six.pcap"
    with Context() as a, Context() as b:
        pa = a.listen_on_address("::1", socket.IPPROTO_UDP, 0, socket.AF_INET6)
        pb = b.listen_on_address("::1", socket.IPPROTO_UDP, 0, socket.AF_INET6)
        a.trace(True)
        a.trace_pcap(path)
        from exosip2 import request
        request.Options(a, "sip:bob@[::1]:%d" % pb, "sip:alice@[::1]:%d" % pa).send()
        got = []
        wait_for(lambda: got.extend(a.trace_drain()) or got)
        a.trace_pcap(None)
        a.trace(False)
    assert got[0].direction == "sent" and got[0].local == ("::1", pa) and got[0].remote == ("::1", pb)
    rows = tshark_fields(path, (pb,))
    assert rows[0][0] == "OPTIONS" and rows[0][2] == got[0].header("Call-ID"), rows
