# SPDX-License-Identifier: Apache-2.0
"""The network options of eXosip2 5.3 (EXOSIP_OPT_*), each seen on the wire by a raw UDP peer on
127.0.0.1: keep-alives (CRLFCRLF and OPTIONS), DSCP, Contact display name and +sip.instance,
automatic masquerade from the Via of a REGISTER's 2xx, the pre-route set, the read batch."""

import re
import socket
import time

import pytest

from exosip2 import Option, call, register
from exosip2.error import OsipBadParameter
from test_forking import RawPeer, answer, header, ua_factory  # noqa: F401  (fixture)
from uapair import EventType as T

pytestmark = pytest.mark.peers


@pytest.fixture
def raw():
    peer = RawPeer()
    yield peer
    peer.close()


def registered(a, raw):
    """a registers at raw (answered 200, Expires 60); returns the REGISTER as received."""
    reg = register.InitialRegister(a.ctx, "sip:alice@127.0.0.1", "sip:127.0.0.1:%d" % raw.port, expires=60)
    reg.send()
    req = raw.recv()
    assert req.startswith("REGISTER ")
    return req


def answer_register(raw, req, port, via_extra=""):
    text = answer(req, 200, "reg1", raw.port)
    if via_extra:  # as a registrar fills them: rport gets its value, received is added
        text = re.sub(r"^(Via: [^\n]*)", lambda m: m.group(1).replace(";rport", "") + via_extra, text, count=1,
                      flags=re.M)
    text = text.replace("Content-Length: 0", "Expires: 60\nContent-Length: 0")
    raw.send(text, port)


def test_udp_keep_alive_sends_crlf_with_dscp(ua_factory, raw):  # noqa: F811
    a = ua_factory("alice")
    a.ctx.set_option(Option.SET_DSCP, 46)
    raw.sock.setsockopt(socket.IPPROTO_IP, socket.IP_RECVTOS, 1)
    a.ctx.set_option(Option.UDP_KEEP_ALIVE, 200)
    reg = register.InitialRegister(a.ctx, "sip:alice@127.0.0.1", "sip:127.0.0.1:%d" % raw.port, expires=60)
    reg.send()
    raw.sock.settimeout(3)
    data, anc, _, _ = raw.sock.recvmsg(65535, 64)
    assert data.startswith(b"REGISTER ")
    tos = [c[2][0] for c in anc if c[0] == socket.IPPROTO_IP and c[1] == socket.IP_TOS]
    assert tos == [46 << 2], anc
    answer_register(raw, data.decode(), a.port)
    assert a.expect(T.registration_success).rid > 0
    got = []
    end = time.monotonic() + 1.5
    while time.monotonic() < end:
        try:
            data, anc, _, _ = raw.sock.recvmsg(65535, 64)
        except socket.timeout:
            break
        raw.sock.settimeout(max(0.05, end - time.monotonic()))
        got.append((data, [c[2][0] for c in anc if c[1] == socket.IP_TOS]))
    pings = [g for g in got if g[0] == b"\r\n\r\n"]
    assert 3 <= len(pings) <= 12, got  # one each 200 ms for 1.5 s
    assert all(t == [46 << 2] for _, t in pings)
    a.ctx.set_option(Option.UDP_KEEP_ALIVE, 0)
    time.sleep(0.3)
    assert [d for d in raw.recv_all(0.6) if d == "\r\n\r\n"] == []
    a.expect_nothing()


def test_keep_alive_as_options(ua_factory, raw):  # noqa: F811
    a = ua_factory("alice")
    a.ctx.set_option(Option.KEEP_ALIVE_OPTIONS_METHOD, 1)
    a.ctx.set_option(Option.UDP_KEEP_ALIVE, 300)
    answer_register(raw, registered(a, raw), a.port)
    a.expect(T.registration_success)
    opts = []
    end = time.monotonic() + 1.2
    while time.monotonic() < end:
        try:
            m = raw.recv(max(0.05, end - time.monotonic()))
        except socket.timeout:
            break
        if m.startswith("OPTIONS "):
            opts.append(m)
            raw.send(answer(m, 200, "ka", raw.port), a.port)
    assert len({header(m, "Call-ID") for m in opts}) >= 2, opts
    assert all(header(m, "To").startswith("<sip:127.0.0.1") or "127.0.0.1" in header(m, "To") for m in opts)
    a.expect_nothing(0.3)  # the answers to keep-alives raise no event
    with pytest.raises(OsipBadParameter):
        a.ctx.set_option(Option.KEEP_ALIVE_OPTIONS_METHOD, 2)


def test_contact_display_name_and_sip_instance(ua_factory, raw):  # noqa: F811
    a = ua_factory("alice")
    a.ctx.set_option(Option.SET_DEFAULT_CONTACT_DISPLAYNAME, "Alice Smith")
    a.ctx.set_option(Option.SET_SIP_INSTANCE, "<urn:uuid:00000000-0000-1000-8000-000A95A0E128>")
    for bad in ("a\r\nX: y", 'quo"te'):
        with pytest.raises(OsipBadParameter):
            a.ctx.set_option(Option.SET_DEFAULT_CONTACT_DISPLAYNAME, bad)
    with pytest.raises(OsipBadParameter):
        a.ctx.set_option(Option.SET_SIP_INSTANCE, "x;evil=1")
    inv = call.InitInvite(a.ctx, "sip:peer@127.0.0.1:%d" % raw.port, a.uri)
    cid = inv.send()
    req = raw.recv()
    contact = header(req, "Contact")
    assert contact.startswith('"Alice Smith" <sip:alice@127.0.0.1:%d>' % a.port), contact
    assert '+sip.instance="<urn:uuid:00000000-0000-1000-8000-000A95A0E128>"' in contact
    a.ctx.set_option(Option.SET_DEFAULT_CONTACT_DISPLAYNAME, None)
    a.ctx.set_option(Option.SET_SIP_INSTANCE, "")
    inv2 = call.InitInvite(a.ctx, "sip:peer@127.0.0.1:%d" % raw.port, a.uri)
    assert inv2.contacts == ["<sip:alice@127.0.0.1:%d>" % a.port]
    a.ctx.call_terminate(cid)
    raw.send(answer(req, 180, "t1", raw.port, "Ringing"), a.port)
    a.expect(T.call_ringing)
    cancel = raw.recv()
    assert cancel.startswith("CANCEL ")


def test_auto_masquerade_learns_from_register_via(ua_factory, raw):  # noqa: F811
    a = ua_factory("alice")
    before = call.InitInvite(a.ctx, "sip:peer@127.0.0.1:%d" % raw.port, a.uri).contacts
    assert "127.0.0.1:%d" % a.port in before[0]
    a.ctx.set_option(Option.UDP_LEARN_PORT, 1)  # the older name of AUTO_MASQUERADE_CONTACT
    answer_register(raw, registered(a, raw), a.port, ";received=192.0.2.7;rport=40404")
    a.expect(T.registration_success)
    after = call.InitInvite(a.ctx, "sip:peer@127.0.0.1:%d" % raw.port, a.uri).contacts
    assert after == ["<sip:alice@192.0.2.7:40404>"], after


def test_auto_masquerade_off_ignores_via(ua_factory, raw):  # noqa: F811
    a = ua_factory("alice")
    answer_register(raw, registered(a, raw), a.port, ";received=192.0.2.7;rport=40404")
    a.expect(T.registration_success)
    contacts = call.InitInvite(a.ctx, "sip:peer@127.0.0.1:%d" % raw.port, a.uri).contacts
    assert contacts == ["<sip:alice@127.0.0.1:%d>" % a.port]


@pytest.mark.parametrize("keep", [False, True])
def test_preroute_set_kept_or_removed(keep, ua_factory, raw):  # noqa: F811
    a = ua_factory("alice")
    if keep:
        a.ctx.set_option(Option.REMOVE_PREROUTESET, 0)
    route = "<sip:127.0.0.1:%d;lr>" % raw.port
    inv = call.InitInvite(a.ctx, "sip:peer@127.0.0.1:%d" % raw.port, a.uri, route=route)
    cid = inv.send()
    req = raw.recv()
    assert header(req, "Route") == route
    raw.send(answer(req, 200, "t1", raw.port), a.port)  # no Record-Route
    ans = a.expect(T.call_answered)
    a.ctx.call_send_ack(did=ans.did)
    ack = raw.recv()
    a.ctx.call_terminate(cid, ans.did)
    bye = raw.recv()
    assert bye.startswith("BYE ")
    for m in (ack, bye):
        assert (header(m, "Route") == route) if keep else (header(m, "Route") is None), m
    raw.send(answer(bye, 200, "t1", raw.port), a.port)
    a.expect(T.call_message_answered)
    a.expect(T.call_released)


def test_max_message_to_read_one_still_serves_a_burst(ua_factory, raw):  # noqa: F811
    a = ua_factory("alice")
    a.ctx.set_option(Option.SET_MAX_MESSAGE_TO_READ, 1)
    with pytest.raises(OsipBadParameter):
        a.ctx.set_option(Option.SET_MAX_MESSAGE_TO_READ, -1)
    for i in range(30):
        raw.send("OPTIONS sip:alice@127.0.0.1:%d SIP/2.0\nVia: SIP/2.0/UDP 127.0.0.1:%d;branch=z9hG4bKburst%d\n"
                 "From: <sip:x@127.0.0.1>;tag=%d\nTo: <sip:alice@127.0.0.1>\nCall-ID: burst-%d\nCSeq: 1 OPTIONS\n"
                 "Max-Forwards: 70\nContent-Length: 0\n\n" % (a.port, raw.port, i, i, i), a.port)
    seen = set()
    for _ in range(30):
        ev = a.expect(T.message_new)
        seen.add(ev.request.call_id)
        a.ctx.options_send_answer(ev.tid, 200)
    assert len(seen) == 30
    answers = [m for m in raw.recv_all(1.0) if m.startswith("SIP/2.0 200")]
    assert len(answers) == 30


# ---- outgoing TCP connections ------------------------------------------------------------------

@pytest.fixture
def tcp_server():
    srv = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    srv.bind(("127.0.0.1", 0))
    srv.listen(4)
    srv.settimeout(5)
    yield srv
    srv.close()


def first_request(srv):
    conn, peer = srv.accept()
    conn.settimeout(5)
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = conn.recv(65535)
        if not chunk:
            break
        data += chunk
    conn.close()
    return peer, data.decode(errors="replace")


def options_to(ctx, srv, local):
    from exosip2 import request
    to = "sip:peer@127.0.0.1:%d;transport=tcp" % srv.getsockname()[1]
    return request.Options(ctx, to, local).send()


def test_outgoing_tcp_local_address_and_port_range(ua_factory, tcp_server):  # noqa: F811
    from peers.sipp import free_port
    a = ua_factory("alice", "tcp")
    low = free_port()
    low = min(low, 65000)
    a.ctx.set_option(Option.SET_OC_LOCAL_ADDRESS, "127.0.0.2")
    a.ctx.set_option(Option.SET_OC_PORT_RANGE, (low, low + 20))
    options_to(a.ctx, tcp_server, a.uri)
    peer, req = first_request(tcp_server)
    assert req.startswith("OPTIONS ")
    assert peer[0] == "127.0.0.2" and low <= peer[1] <= low + 20, peer
    for bad in ("nonsense", "999.1.1.1"):
        with pytest.raises(OsipBadParameter):
            a.ctx.set_option(Option.SET_OC_LOCAL_ADDRESS, bad)
    for bad in ((10, 5), (70000, 70001), (2000, 1000)):
        with pytest.raises(OsipBadParameter):
            a.ctx.set_option(Option.SET_OC_PORT_RANGE, bad)
    for bad in (5, (1,), (1, "2"), [1, 2], (True, 5)):
        with pytest.raises(TypeError):
            a.ctx.set_option(Option.SET_OC_PORT_RANGE, bad)
    a.ctx.set_option(Option.SET_OC_PORT_RANGE, (0, 0))
    a.ctx.set_option(Option.SET_OC_LOCAL_ADDRESS, None)


def test_outgoing_tcp_from_the_listening_port(no_leaks, tcp_server):
    from exosip2.context import Context
    ctx = Context()
    try:
        ctx.set_option(Option.ENABLE_REUSE_TCP_PORT, 1)
        port = ctx.listen_on_address("127.0.0.1", socket.IPPROTO_TCP, port=0)
        ctx.start(event_executor="inline")
        options_to(ctx, tcp_server, "sip:alice@127.0.0.1:%d;transport=tcp" % port)
        peer, req = first_request(tcp_server)
        assert req.startswith("OPTIONS ") and peer[1] == port, (peer, port)
    finally:
        ctx.close()


def test_contact_dialog_extra_params(ua_factory, raw):  # noqa: F811
    a = ua_factory("alice")
    a.ctx.set_option(Option.SET_CONTACT_DIALOG_EXTRA_PARAMS, "ob;x-site=paris")
    for bad in ("a>b", "a\r\nb", "a,b", 'q"'):
        with pytest.raises(OsipBadParameter):
            a.ctx.set_option(Option.SET_CONTACT_DIALOG_EXTRA_PARAMS, bad)
    contacts = call.InitInvite(a.ctx, "sip:peer@127.0.0.1:%d" % raw.port, a.uri).contacts
    assert contacts == ["<sip:alice@127.0.0.1:%d;ob;x-site=paris>" % a.port]
    reg = registered(a, raw)
    assert "x-site" not in header(reg, "Contact")


def test_enable_outbound_puts_ob_in_dialog_contacts(ua_factory, raw):  # noqa: F811
    a = ua_factory("alice")
    a.ctx.set_option(Option.ENABLE_OUTBOUND, 1)
    contacts = call.InitInvite(a.ctx, "sip:peer@127.0.0.1:%d" % raw.port, a.uri).contacts
    assert contacts == ["<sip:alice@127.0.0.1:%d;ob>" % a.port]
    assert ";ob" not in header(registered(a, raw), "Contact")
    with pytest.raises(OsipBadParameter):
        a.ctx.set_option(Option.ENABLE_OUTBOUND, 7)


@pytest.mark.parametrize("force", [True, False])
def test_force_connection_reuse(force, ua_factory):  # noqa: F811
    """The caller connects from an ephemeral port and names in its Contact a port nobody listens
    on: the callee's BYE reaches it on the caller's own connection only with the option."""
    from peers.sipp import free_port
    b = ua_factory("bob", "tcp")
    if force:
        b.ctx.set_option(Option.FORCE_CONNECTIONREUSE, 1)
    dead = free_port()
    c = socket.create_connection(("127.0.0.1", b.port), timeout=5)
    try:
        lport = c.getsockname()[1]
        inv = ("INVITE sip:bob@127.0.0.1:%d;transport=tcp SIP/2.0\r\n"
               "Via: SIP/2.0/TCP 127.0.0.1:%d;branch=z9hG4bKreuse1\r\n"
               "From: <sip:c@127.0.0.1>;tag=c1\r\nTo: <sip:bob@127.0.0.1>\r\nCall-ID: reuse-1\r\nCSeq: 1 INVITE\r\n"
               "Contact: <sip:c@127.0.0.1:%d;transport=tcp>\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n"
               % (b.port, lport, dead))
        c.sendall(inv.encode())
        ev = b.expect(T.call_invite)
        ok = call.Answer(b.ctx, ev.tid, 200)
        ok.add_body("v=0\r\no=b 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
                    "m=audio 4000 RTP/AVP 0\r\n")
        ok.content_type = "application/sdp"
        ok.send()
        buf = b""
        while b"m=audio" not in buf:  # the 200 with its body (a 100 Trying may come first)
            buf += c.recv(65535)
        tag = re.search(r"^To:.*tag=([^;\s]+)", buf.decode(), re.M | re.I).group(1)
        c.sendall(("ACK sip:bob@127.0.0.1:%d;transport=tcp SIP/2.0\r\n"
                   "Via: SIP/2.0/TCP 127.0.0.1:%d;branch=z9hG4bKreuse2\r\n"
                   "From: <sip:c@127.0.0.1>;tag=c1\r\nTo: <sip:bob@127.0.0.1>;tag=%s\r\nCall-ID: reuse-1\r\n"
                   "CSeq: 1 ACK\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n" % (b.port, lport, tag)).encode())
        b.expect(T.call_ack)
        b.ctx.call_terminate(ev.cid, ev.did)
        c.settimeout(1.5)
        got = b""
        try:
            while b"BYE " not in got:
                chunk = c.recv(65535)
                if not chunk:
                    break
                got += chunk
        except socket.timeout:
            pass
        assert (b"BYE sip:c@127.0.0.1:%d" % dead in got) == force, got
    finally:
        c.close()
