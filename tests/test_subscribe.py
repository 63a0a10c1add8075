# SPDX-License-Identifier: Apache-2.0
"""Subscriptions, notifications and publications (exosip2.subscribe, exosip2.notify, exosip2.publish):
two of our contexts on 127.0.0.1, and a raw UDP socket playing a scripted peer for the races,
challenges and hostile input."""

import queue
import re
import socket
import time

import pytest

from exosip2 import notify, publish, subscribe
from exosip2.error import OsipBadParameter, OsipNotFound
from exosip2.event import EventType
from exosip2.request import MessageAnswer
from uapair import UA

PIDF = ('<?xml version="1.0" encoding="UTF-8"?>\r\n'
        '<presence xmlns="urn:ietf:params:xml:ns:pidf" entity="sip:bob@127.0.0.1">'
        '<tuple id="t1"><status><basic>%s</basic></status></tuple></presence>\r\n')


@pytest.fixture
def pair(no_leaks):
    a, b = UA("alice"), UA("bob")
    yield a, b
    a.close()
    b.close()


@pytest.fixture
def alice(no_leaks):
    a = UA("alice")
    yield a
    a.close()


class RawPeer:
    """A UDP socket on a free port that reads and writes SIP text."""

    def __init__(self):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.uri = "sip:peer@127.0.0.1:%d" % self.port

    def recv(self, timeout=5.0, want=None):
        """The next message (str); want: a start-line prefix, others are skipped (bounded)."""
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError("raw peer: nothing%s within %.0f s" % (" like %r" % want if want else "", timeout))
            self.sock.settimeout(left)
            try:
                data, self.last_addr = self.sock.recvfrom(65535)
            except socket.timeout:
                continue
            text = data.decode("utf-8", "replace")
            if want is None or text.startswith(want):
                return text

    def send(self, text, port):
        self.sock.sendto(text.replace("\n", "\r\n").encode(), ("127.0.0.1", port))

    def close(self):
        self.sock.close()


@pytest.fixture
def raw():
    r = RawPeer()
    yield r
    r.close()


def header(msg, name):
    m = re.search(r"^%s:\s*(.*?)\r$" % re.escape(name), msg, re.M | re.I)
    return m.group(1) if m else None


def answer_to(req, status, reason, to_tag=None, extra=""):
    """A response to the raw request text req."""
    lines = ["SIP/2.0 %d %s" % (status, reason)]
    for name in ("Via", "From", "Call-ID", "CSeq"):
        for m in re.finditer(r"^(%s):\s*(.*?)\r$" % name, req, re.M | re.I):
            lines.append("%s: %s" % (name, m.group(2)))
    to = header(req, "To")
    if to_tag and ";tag=" not in to:
        to += ";tag=" + to_tag
    lines.append("To: " + to)
    if extra:
        lines.append(extra.rstrip("\n"))
    lines.append("Content-Length: 0")
    return "\n".join(lines) + "\n\n"


def tag_of(value):
    m = re.search(r";\s*tag=([^;>\s]+)", value or "")
    return m.group(1) if m else None


def notify_from_raw(sub, port, peer_port, cseq, state="active;expires=60", event="presence", body="",
                    from_tag="n1", callid=None, to_tag=None):
    """A NOTIFY from the raw peer in the dialog of the SUBSCRIBE text sub."""
    to_hdr = header(sub, "From")  # the subscriber, with its tag
    if to_tag is not None:
        to_hdr = re.sub(r";tag=[^;>\s]+", ";tag=" + to_tag, to_hdr)
    lines = ["NOTIFY sip:alice@127.0.0.1:%d SIP/2.0" % port,
             "Via: SIP/2.0/UDP 127.0.0.1:%d;branch=z9hG4bKn%d%s" % (peer_port, cseq, from_tag),
             "From: <sip:peer@127.0.0.1:%d>;tag=%s" % (peer_port, from_tag),
             "To: " + to_hdr,
             "Call-ID: " + (callid or header(sub, "Call-ID")),
             "CSeq: %d NOTIFY" % cseq,
             "Contact: <sip:peer@127.0.0.1:%d>" % peer_port,
             "Max-Forwards: 70"]
    if event is not None:
        lines.append("Event: " + event)
    if state is not None:
        lines.append("Subscription-State: " + state)
    if body:
        lines.append("Content-Type: application/pidf+xml")
    lines.append("Content-Length: %d" % len(body.encode()))
    return "\n".join(lines) + "\n\n" + body


def subscribe_from_raw(raw, port, callid, cseq, expires, event="presence", to_tag=None, from_tag="s1",
                       branch=None):
    lines = ["SUBSCRIBE sip:bob@127.0.0.1:%d SIP/2.0" % port,
             "Via: SIP/2.0/UDP 127.0.0.1:%d;branch=z9hG4bK%s" % (raw.port, branch or "%s%d" % (callid, cseq)),
             "From: <%s>;tag=%s" % (raw.uri, from_tag),
             "To: <sip:bob@127.0.0.1:%d>%s" % (port, ";tag=" + to_tag if to_tag else ""),
             "Call-ID: " + callid,
             "CSeq: %d SUBSCRIBE" % cseq,
             "Contact: <%s>" % raw.uri,
             "Max-Forwards: 70"]
    if event is not None:
        lines.append("Event: " + event)
    if expires is not None:
        lines.append("Expires: %s" % expires)
    lines.append("Content-Length: 0")
    return "\n".join(lines) + "\n\n"


# ---- two contexts ---------------------------------------------------------------------------

def test_subscribe_notify_refresh_unsubscribe(pair):
    """Every step of both sides: SUBSCRIBE, 200, NOTIFY active with a body, refresh through the
    automatic actions (Expires of 4 s), unsubscribe with Expires: 0, final NOTIFY, freed."""
    a, b = pair
    msg = subscribe.InitialSubscribe(a.ctx, b.uri, a.uri, "presence", expires=4)
    sid = msg.send()
    assert sid > 0
    new = b.expect(EventType.in_subscription_new)
    assert new.nid > 0 and new.did > 0 and new.tid > 0
    assert new.request.get_header("Event") == "presence"
    notify.Answer(b.ctx, new.tid, 200).send()
    ans = a.expect(EventType.subscription_answered)
    assert ans.sid == sid and ans.did > 0
    assert ans.response.get_header("Expires") == "4"
    n = notify.Notify(b.ctx, new.did, notify.SubscriptionState.active)
    n.set_body(PIDF % "open", "application/pidf+xml")
    b.ctx.insubscription_send_request(new.did, n)
    got = a.expect(EventType.subscription_notify)
    assert got.sid == sid and got.did == ans.did
    assert got.ss_status == notify.SubscriptionState.active
    assert "<basic>open</basic>" in got.request.bodies[0]
    assert re.match(r"active;expires=[34]$", got.request.get_header("Subscription-State"))
    done = b.expect(EventType.notification_answered)
    assert done.did == new.did and done.nid == new.nid and done.response.status_code == 200

    # refresh: sent by alice's automatic actions about half-way, on the same dialog
    again = b.expect(EventType.in_subscription_new, timeout=6)
    assert again.did == new.did and again.nid == new.nid
    assert again.request.get_header("Expires") == "4"
    b.ctx.insubscription_send_answer(again.tid, 200)
    assert a.expect(EventType.subscription_answered).did == ans.did

    # unsubscribe
    subscribe.Refresh(a.ctx, ans.did, expires=0).send()
    bye = b.expect(EventType.in_subscription_new)
    assert bye.did == new.did and bye.request.get_header("Expires") == "0"
    notify.Answer(b.ctx, bye.tid, 200).send()
    a.expect(EventType.subscription_answered)
    final = notify.Notify(b.ctx, new.did, notify.SubscriptionState.terminated, notify.SubscriptionReason.timeout)
    assert final.get_header("Subscription-State") == "terminated;reason=timeout"
    final.send()
    last = a.expect(EventType.subscription_notify)
    assert last.ss_status == notify.SubscriptionState.terminated
    assert last.ss_reason == notify.SubscriptionReason.timeout
    b.expect(EventType.notification_answered)
    # both sides have forgotten it
    with pytest.raises(OsipNotFound):
        subscribe.Refresh(a.ctx, ans.did)
    with pytest.raises(OsipNotFound):
        notify.Notify(b.ctx, new.did, notify.SubscriptionState.active)


def test_subscription_refused_and_removed(pair):
    a, b = pair
    sid = a.ctx.subscription_send_initial_request(subscribe.InitialSubscribe(a.ctx, b.uri, a.uri, "dialog"))
    new = b.expect(EventType.in_subscription_new)
    b.ctx.insubscription_send_answer(new.tid, 403)
    fail = a.expect(EventType.subscription_requestfailure)
    assert fail.sid == sid and fail.response.status_code == 403
    with pytest.raises(OsipNotFound):
        notify.Notify(b.ctx, new.did, notify.SubscriptionState.active)
    # a second one, accepted, then removed on both sides without a word on the wire
    sub = subscribe.InitialSubscribe(a.ctx, b.uri, a.uri, "presence", expires=60)
    sub.send()
    new = b.expect(EventType.in_subscription_new)
    notify.Answer(b.ctx, new.tid, 202).send()
    ans = a.expect(EventType.subscription_answered)
    subscribe.remove(a.ctx, ans.did)
    notify.remove(b.ctx, new.did)
    with pytest.raises(OsipNotFound):
        subscribe.remove(a.ctx, ans.did)
    with pytest.raises(OsipNotFound):
        notify.remove(b.ctx, new.did)
    a.expect_nothing(0.5)
    b.expect_nothing(0.1)


def test_notify_481_ends_incoming_subscription(pair):
    """A subscriber that forgot the subscription answers our NOTIFY 481: the core frees it."""
    a, b = pair
    subscribe.InitialSubscribe(a.ctx, b.uri, a.uri, "presence", expires=60).send()
    new = b.expect(EventType.in_subscription_new)
    b.ctx.insubscription_send_answer(new.tid, 200)
    ans = a.expect(EventType.subscription_answered)
    subscribe.remove(a.ctx, ans.did)
    notify.Notify(b.ctx, new.did, notify.SubscriptionState.active).send()
    failed = b.expect(EventType.notification_requestfailure)
    assert failed.response.status_code == 481 and failed.did == new.did
    with pytest.raises(OsipNotFound):
        notify.Notify(b.ctx, new.did, notify.SubscriptionState.active)


def test_refer_outside_dialog(pair):
    a, b = pair
    # a Refer-To that would smuggle in a second header line is refused before anything is built
    with pytest.raises(OsipBadParameter):
        subscribe.InitialRefer(a.ctx, b.uri, a.uri, "sip:carol@127.0.0.1:1\r\nX-Evil: 1")
    sid = subscribe.InitialRefer(a.ctx, b.uri, a.uri, "sip:carol@127.0.0.1:1").send()
    assert sid > 0
    new = b.expect(EventType.message_new)  # eXosip2: a REFER outside dialogs is a request for the program
    assert new.request.method == "REFER"
    assert new.request.get_header("Refer-To") == "sip:carol@127.0.0.1:1"
    b.ctx.message_send_answer(new.tid, 603)
    assert a.expect(EventType.subscription_globalfailure).sid == sid


def test_publish_etag_and_412(pair):
    """SIP-ETag of a 2xx is sent back as SIP-If-Match; a 412 forgets it; Expires: 0 removes."""
    a, b = pair
    first = publish.Publish(a.ctx, b.uri, a.uri, "presence", 60, "application/pidf+xml", PIDF % "open")
    tid = first.send()
    assert tid > 0
    new = b.expect(EventType.message_new)
    assert new.request.method == "PUBLISH" and new.request.get_header("SIP-If-Match") is None
    assert new.request.get_header("Event") == "presence" and "open" in new.request.bodies[0]
    ok = MessageAnswer(b.ctx, new.tid, 200)
    ok.add_header("SIP-ETag", "etag-1")
    ok.add_header("Expires", "60")
    ok.send()
    assert a.expect(EventType.message_answered).tid == tid
    a.ctx.publish(publish.Publish(a.ctx, b.uri, a.uri, "presence", 60, "application/pidf+xml", PIDF % "closed"))
    second = b.expect(EventType.message_new)
    assert second.request.get_header("SIP-If-Match") == "etag-1"
    assert int(second.request.cseq.number) > int(new.request.cseq.number)
    b.ctx.message_send_answer(second.tid, 412)
    assert a.expect(EventType.message_requestfailure).response.status_code == 412
    publish.Publish(a.ctx, b.uri, a.uri, "presence", 60, "application/pidf+xml", PIDF % "open").send()
    third = b.expect(EventType.message_new)
    assert third.request.get_header("SIP-If-Match") is None  # a new publication
    ok = MessageAnswer(b.ctx, third.tid, 200)
    ok.add_header("SIP-ETag", "etag-2")
    ok.send()
    a.expect(EventType.message_answered)
    publish.Publish(a.ctx, b.uri, a.uri, "presence", 0).send()
    gone = b.expect(EventType.message_new)
    assert gone.request.get_header("SIP-If-Match") == "etag-2" and gone.request.get_header("Expires") == "0"
    b.ctx.message_send_answer(gone.tid, 200)
    a.expect(EventType.message_answered)
    publish.Publish(a.ctx, b.uri, a.uri, "presence", 60, "text/plain", "x").send()
    assert b.expect(EventType.message_new).request.get_header("SIP-If-Match") is None


def test_publish_refreshed_by_automatic_action(pair):
    a, b = pair
    publish.Publish(a.ctx, b.uri, a.uri, "presence", 2, "application/pidf+xml", PIDF % "open").send()
    new = b.expect(EventType.message_new)
    ok = MessageAnswer(b.ctx, new.tid, 200)
    ok.add_header("SIP-ETag", "e1")
    ok.add_header("Expires", "2")
    ok.send()
    a.expect(EventType.message_answered)
    refresh = b.expect(EventType.message_new, timeout=4)
    assert refresh.request.get_header("SIP-If-Match") == "e1"
    assert refresh.request.bodies == [] and refresh.request.get_header("Expires") == "2"
    b.ctx.message_send_answer(refresh.tid, 200)


def test_argument_checks(alice):
    with pytest.raises(TypeError):
        subscribe.InitialSubscribe(alice.ctx, alice.uri, alice.uri, None)
    with pytest.raises(ValueError):
        subscribe.InitialSubscribe(alice.ctx, alice.uri, alice.uri, "presence", expires=-1)
    with pytest.raises(ValueError):
        publish.Publish(alice.ctx, alice.uri, alice.uri, "presence", 60, body="x")
    with pytest.raises(ValueError):
        notify.Notify(alice.ctx, 1, 7)
    with pytest.raises(OsipNotFound):
        notify.Answer(alice.ctx, 12345, 200)
    with pytest.raises(OsipNotFound):
        subscribe.Refresh(alice.ctx, 12345)
    msg = subscribe.InitialSubscribe(alice.ctx, alice.uri, alice.uri, "presence")
    assert msg.get_header("Expires") == "3600"
    with pytest.raises(OsipBadParameter):
        alice.ctx.publish(msg, "sip:x@127.0.0.1")  # not a PUBLISH
    assert [int(v) for v in notify.SubscriptionState] == [0, 1, 2, 3]
    assert notify.SubscriptionReason.noresource == 5
    alice.ctx.close()
    with pytest.raises(Exception):
        subscribe.InitialSubscribe(alice.ctx, alice.uri, alice.uri, "presence")


# ---- a scripted peer ------------------------------------------------------------------------

def test_notify_before_200_makes_the_dialog(alice, raw):
    """RFC 6665 4.1.2.4: the NOTIFY overtakes the 2xx; the subscription's dialog exists from it."""
    sid = subscribe.InitialSubscribe(alice.ctx, raw.uri, alice.uri, "presence", expires=60).send()
    sub = raw.recv(want="SUBSCRIBE")
    raw.send(notify_from_raw(sub, alice.port, raw.port, 1, body=PIDF % "open"), alice.port)
    assert raw.recv(want="SIP/2.0").startswith("SIP/2.0 200")
    got = alice.expect(EventType.subscription_notify)
    assert got.sid == sid and got.did > 0 and got.ss_status == notify.SubscriptionState.active
    raw.send(answer_to(sub, 200, "OK", to_tag="n1", extra="Expires: 60\nContact: <%s>" % raw.uri), alice.port)
    ans = alice.expect(EventType.subscription_answered)
    assert ans.did == got.did and ans.sid == sid
    # a refresh goes inside that dialog: To tag of the notifier, to its Contact
    subscribe.Refresh(alice.ctx, got.did).send()
    ref = raw.recv(want="SUBSCRIBE")
    assert tag_of(header(ref, "To")) == "n1" and header(ref, "Call-ID") == header(sub, "Call-ID")


def test_subscribe_challenged_is_sent_again_with_credentials(alice, raw):
    alice.ctx.add_authentication_info("alice", "alice", "secret", realm="test")
    sid = subscribe.InitialSubscribe(alice.ctx, raw.uri, alice.uri, "presence", expires=60).send()
    sub = raw.recv(want="SUBSCRIBE")
    raw.send(answer_to(sub, 401, "Unauthorized", to_tag="x1",
                       extra='WWW-Authenticate: Digest realm="test", nonce="abc123", algorithm=MD5'), alice.port)
    assert alice.expect(EventType.subscription_requestfailure).sid == sid
    again = raw.recv(want="SUBSCRIBE", timeout=5)
    assert 'Digest username="alice"' in header(again, "Authorization")
    assert header(again, "Call-ID") == header(sub, "Call-ID")
    assert int(header(again, "CSeq").split()[0]) == int(header(sub, "CSeq").split()[0]) + 1
    raw.send(answer_to(again, 200, "OK", to_tag="x2", extra="Expires: 60\nContact: <%s>" % raw.uri), alice.port)
    assert alice.expect(EventType.subscription_answered).sid == sid


def test_hostile_notify(alice, raw):
    """No Event (489), no Subscription-State (400), an unknown state (200, ss_status unknown),
    a NOTIFY for no subscription (481), a NOTIFY from a second notifier (481): never a crash."""
    subscribe.InitialSubscribe(alice.ctx, raw.uri, alice.uri, "presence", expires=60).send()
    sub = raw.recv(want="SUBSCRIBE")
    raw.send(answer_to(sub, 200, "OK", to_tag="n1", extra="Expires: 60\nContact: <%s>" % raw.uri), alice.port)
    alice.expect(EventType.subscription_answered)
    raw.send(notify_from_raw(sub, alice.port, raw.port, 1, event=None), alice.port)
    assert raw.recv(want="SIP/2.0").startswith("SIP/2.0 489")
    raw.send(notify_from_raw(sub, alice.port, raw.port, 2, state=None), alice.port)
    assert raw.recv(want="SIP/2.0").startswith("SIP/2.0 400")
    raw.send(notify_from_raw(sub, alice.port, raw.port, 3, state="bogus;expires=99999999999999999999;;=;reason"),
             alice.port)
    assert raw.recv(want="SIP/2.0").startswith("SIP/2.0 200")
    assert alice.expect(EventType.subscription_notify).ss_status == notify.SubscriptionState.unknown
    raw.send(notify_from_raw(sub, alice.port, raw.port, 4, callid="nobody@127.0.0.1"), alice.port)
    assert raw.recv(want="SIP/2.0").startswith("SIP/2.0 481")
    raw.send(notify_from_raw(sub, alice.port, raw.port, 5, from_tag="other"), alice.port)
    assert raw.recv(want="SIP/2.0").startswith("SIP/2.0 481")
    raw.send(notify_from_raw(sub, alice.port, raw.port, 6, to_tag="not-ours"), alice.port)
    assert raw.recv(want="SIP/2.0").startswith("SIP/2.0 481")
    # still working afterwards
    raw.send(notify_from_raw(sub, alice.port, raw.port, 7, state="terminated;reason=noresource"), alice.port)
    assert raw.recv(want="SIP/2.0").startswith("SIP/2.0 200")
    ended = alice.expect(EventType.subscription_notify)
    assert ended.ss_status == notify.SubscriptionState.terminated
    assert ended.ss_reason == notify.SubscriptionReason.noresource


def test_hostile_subscribe(alice, raw):
    """No Event (489), Expires: 0 for an unknown dialog (481), a huge Expires (bounded to a day)."""
    raw.send(subscribe_from_raw(raw, alice.port, "h1", 1, 60, event=None), alice.port)
    assert raw.recv(want="SIP/2.0").startswith("SIP/2.0 489")
    raw.send(subscribe_from_raw(raw, alice.port, "h2", 1, 0, to_tag="unknown"), alice.port)
    assert raw.recv(want="SIP/2.0").startswith("SIP/2.0 481")
    raw.send(subscribe_from_raw(raw, alice.port, "h3", 1, "99999999999999999999999"), alice.port)
    new = alice.expect(EventType.in_subscription_new)
    alice.ctx.insubscription_send_answer(new.tid, 200)
    ok = raw.recv(want="SIP/2.0")
    assert ok.startswith("SIP/2.0 200") and header(ok, "Expires") == "86400"
    assert header(ok, "Contact") is not None and tag_of(header(ok, "To"))


def test_incoming_subscription_expires_with_final_notify(alice, raw):
    """A subscriber that never refreshes: at expiry the core sends NOTIFY terminated;reason=timeout,
    and once that is answered the subscription is gone (a refresh in its dialog gets 481)."""
    raw.send(subscribe_from_raw(raw, alice.port, "exp1", 1, 1), alice.port)
    new = alice.expect(EventType.in_subscription_new)
    alice.ctx.insubscription_send_answer(new.tid, 200)
    ok = raw.recv(want="SIP/2.0 200")
    final = raw.recv(want="NOTIFY", timeout=5)
    assert header(final, "Subscription-State") == "terminated;reason=timeout"
    assert header(final, "Event") == "presence"
    raw.send(answer_to(final, 200, "OK"), alice.port)
    alice.expect(EventType.notification_answered)
    time.sleep(0.2)
    raw.send(subscribe_from_raw(raw, alice.port, "exp1", 2, 60, to_tag=tag_of(header(ok, "To"))), alice.port)
    assert raw.recv(want="SIP/2.0").startswith("SIP/2.0 481")


def test_answers_retransmitted_are_reported_once(alice, raw):
    """A subscriber that answers our NOTIFY twice (a retransmitted 200): one notification_answered."""
    raw.send(subscribe_from_raw(raw, alice.port, "dup1", 1, 60), alice.port)
    new = alice.expect(EventType.in_subscription_new)
    alice.ctx.insubscription_send_answer(new.tid, 200)
    raw.recv(want="SIP/2.0 200")
    notify.Notify(alice.ctx, new.did, notify.SubscriptionState.active).send()
    n = raw.recv(want="NOTIFY")
    raw.send(answer_to(n, 200, "OK"), alice.port)
    raw.send(answer_to(n, 200, "OK"), alice.port)
    assert alice.expect(EventType.notification_answered).did == new.did
    alice.expect_nothing(0.5)
    # and the next NOTIFY may go (none is in flight any more)
    notify.Notify(alice.ctx, new.did, notify.SubscriptionState.active).send()
    raw.send(answer_to(raw.recv(want="NOTIFY"), 200, "OK"), alice.port)
    alice.expect(EventType.notification_answered)


def test_many_subscribes_from_one_peer_are_freed(alice, raw):
    """10 000 SUBSCRIBEs (Expires: 3) from one source: those beyond the per-source transaction limit
    are refused 503 without holding anything, the others are accepted and counted held; at expiry each
    gets its final NOTIFY, and once the peer has answered those, none is held."""
    n = 10000
    raw.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
    for i in range(n):
        raw.send(subscribe_from_raw(raw, alice.port, "m%d" % i, 1, 3, branch="m%d" % i), alice.port)
    seen = 0
    while True:
        try:
            ev = alice.events.get(timeout=1.0)
        except queue.Empty:
            break
        assert ev.type == EventType.in_subscription_new
        alice.ctx.insubscription_send_answer(ev.tid, 202)
        seen += 1
    held = alice.ctx.get_statistics().allocated_insubscriptions
    assert held == seen and seen >= 1000
    refused, answered, finals = 0, set(), set()
    deadline = time.monotonic() + 40
    while len(finals) < seen and time.monotonic() < deadline:
        msg = raw.recv(timeout=10)
        if msg.startswith("SIP/2.0 503"):
            refused += 1
        elif msg.startswith("SIP/2.0 202"):
            answered.add(header(msg, "Call-ID"))
        elif msg.startswith("NOTIFY"):
            assert header(msg, "Subscription-State") == "terminated;reason=timeout"
            raw.send(answer_to(msg, 200, "OK"), alice.port)
            finals.add(header(msg, "Call-ID"))
    assert len(finals) == seen
    deadline = time.monotonic() + 10
    while alice.ctx.get_statistics().allocated_insubscriptions and time.monotonic() < deadline:
        time.sleep(0.1)
    stats = alice.ctx.get_statistics()
    print("SUBSCRIBEs: %d sent, %d accepted and held, %d refused 503 so far; held after expiry: %d"
          % (n, held, refused, stats.allocated_insubscriptions))
    assert stats.allocated_insubscriptions == 0
    # a branch of its own: "m72" is the branch of the flood's 72nd SUBSCRIBE, whose transaction may
    # still be kept (32 s) and would take this request as its retransmission
    raw.send(subscribe_from_raw(raw, alice.port, "m7", 2, 60, to_tag="whatever", branch="after-flood"),
             alice.port)
    assert raw.recv(want="SIP/2.0 481", timeout=5)


def test_statistics_count_subscriptions_and_publications(pair):
    a, b = pair
    subscribe.InitialSubscribe(a.ctx, b.uri, a.uri, "presence", expires=60).send()
    new = b.expect(EventType.in_subscription_new)
    b.ctx.insubscription_send_answer(new.tid, 200)
    a.expect(EventType.subscription_answered)
    publish.Publish(a.ctx, b.uri, a.uri, "presence", 60, "text/plain", "x").send()
    b.ctx.message_send_answer(b.expect(EventType.message_new).tid, 200)
    a.expect(EventType.message_answered)
    sa, sb = a.ctx.get_statistics(), b.ctx.get_statistics()
    assert (sa.allocated_subscriptions, sa.allocated_publications, sa.allocated_insubscriptions) == (1, 1, 0)
    assert (sb.allocated_subscriptions, sb.allocated_insubscriptions) == (0, 1)


@pytest.mark.parametrize("transport", ["udp", "tcp"])
def test_notify_before_200_scripted_with_sipp(transport):
    """The same race, from SIPp (tests/scenarios/notify_before_200.xml): both events carry one did."""
    import os

    from peers.sipp import Sipp

    a = UA("alice", transport)
    scenario = os.path.join(os.path.dirname(__file__), "scenarios", "notify_before_200.xml")
    sipp = Sipp(scenario, transport=transport, calls=1, timeout_s=20, keys={"subscriber_port": a.port})
    try:
        sipp.start()
        target = "sip:peer@127.0.0.1:%d" % sipp.port + (";transport=tcp" if transport == "tcp" else "")
        sid = subscribe.InitialSubscribe(a.ctx, target, a.uri, "presence", expires=60).send()
        got = a.expect(EventType.subscription_notify, timeout=10)
        assert got.sid == sid and got.did > 0 and got.ss_status == notify.SubscriptionState.active
        assert "<basic>open</basic>" in got.request.bodies[0]
        ans = a.expect(EventType.subscription_answered, timeout=10)
        assert (ans.sid, ans.did) == (sid, got.did)
        result = sipp.wait(timeout=20)
        result.assert_clean(calls=1)
    finally:
        sipp.stop()
        sipp.cleanup()
        a.close()


# ---- the C API, as a C program written for eXosip2 5.3 ----------------------------------------

@pytest.fixture(scope="module")
def subscribe_publish_c(tmp_path_factory):
    from test_core_register import _compile

    return _compile(tmp_path_factory, "subscribe_publish")


@pytest.mark.parametrize("transport", ["udp", "tcp"])
def test_c_program_under_valgrind(subscribe_publish_c, transport):
    """tests/core/subscribe_publish.c: every step of the C API (refresh by eXosip_automatic_action,
    unsubscribe, final NOTIFY, PUBLISH with SIP-If-Match, REFER refused, the dialog package handled by
    eXosip_insubscription_automatic, a subscription freed by eXosip_quit) under valgrind."""
    import subprocess

    from test_core_register import VALGRIND, _valgrind

    res = subprocess.run([_valgrind()] + VALGRIND + [subscribe_publish_c, transport], capture_output=True,
                         text=True, timeout=120)
    assert res.returncode == 0, "%s\n%s" % (res.stdout, res.stderr[-6000:])
    assert "all checks passed" in res.stdout


def test_subscribe_to_a_closed_port_is_noanswer(alice):
    """ICMP port unreachable ends the SUBSCRIBE at once: subscription_noanswer, and nothing is held."""
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    sid = subscribe.InitialSubscribe(alice.ctx, "sip:nobody@127.0.0.1:%d" % port, alice.uri, "presence").send()
    ev = alice.expect(EventType.subscription_noanswer, timeout=10)
    assert ev.sid == sid and ev.response is None
    assert alice.ctx.get_statistics().allocated_subscriptions == 0


@pytest.mark.timeout(90)
def test_a_subscribe_the_program_never_answers_is_closed_and_freed(alice, raw):
    """A program that ignores in_subscription_new (an old program, or one too busy): after 64*T1 the
    core closes the SUBSCRIBE's transaction with 500 and Retry-After, and frees the subscription
    with it, instead of holding it until its Expires (here an hour)."""
    raw.send(subscribe_from_raw(raw, alice.port, "ignored1", 1, 3600), alice.port)
    new = alice.expect(EventType.in_subscription_new)
    assert new.did > 0
    assert alice.ctx.get_statistics().allocated_insubscriptions == 1
    closed = raw.recv(want="SIP/2.0", timeout=45)
    assert closed.startswith("SIP/2.0 500") and header(closed, "Retry-After") == "5"
    deadline = time.monotonic() + 5
    while alice.ctx.get_statistics().allocated_insubscriptions and time.monotonic() < deadline:
        time.sleep(0.1)
    assert alice.ctx.get_statistics().allocated_insubscriptions == 0
    # too late now: the program's answer finds nothing to answer
    with pytest.raises(OsipNotFound):
        alice.ctx.insubscription_send_answer(new.tid, 200)
