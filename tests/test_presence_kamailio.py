# SPDX-License-Identifier: Apache-2.0
"""Presence through a real Kamailio presence server (presence, presence_xml, db_sqlite): one context
publishes a PIDF for bob (digest auth on PUBLISH), another watches bob; over UDP and over TCP."""

import re
import time

import pytest

from exosip2 import notify, publish, subscribe
from exosip2.event import EventType
from peers.kamailio_presence import presence_server  # noqa: F401 (fixture)
from uapair import UA

PIDF = ('<?xml version="1.0" encoding="UTF-8"?>\r\n'
        '<presence xmlns="urn:ietf:params:xml:ns:pidf" entity="%s">\r\n'
        '<tuple id="t1"><status><basic>%s</basic></status><note>%s</note></tuple>\r\n</presence>\r\n')


def basic_of(event):
    bodies = event.request.bodies
    m = re.search(r"<basic>(\w+)</basic>", bodies[0]) if bodies else None
    return m.group(1) if m else None


def next_notify(ua, timeout=8):
    """The next NOTIFY event, skipping the answers to our refreshes."""
    while True:
        ev = ua.expect(EventType.subscription_notify, EventType.subscription_answered, timeout=timeout)
        if ev.type == EventType.subscription_notify:
            return ev


def publish_answered(ua, timeout=8):
    """The final answer to our PUBLISH: challenged once (407: auth_challenge for a request that is not a REGISTER), then 200."""
    ev = ua.expect(EventType.message_answered, EventType.message_requestfailure, timeout=timeout)
    if ev.type == EventType.message_requestfailure:
        assert ev.response.status_code in (401, 407), ev.response.status_code
        ev = ua.expect(EventType.message_answered, timeout=timeout)
    return ev


@pytest.mark.parametrize("transport", ["udp", "tcp"])
def test_publish_and_watch_through_kamailio(presence_server, transport):  # noqa: F811
    k = presence_server
    suffix = ";transport=tcp" if transport == "tcp" else ""
    bob_aor = "sip:bob@127.0.0.1:%d" % k.port
    target = bob_aor + suffix
    publisher, watcher = UA("bob", transport), UA("alice", transport)
    try:
        publisher.ctx.add_authentication_info("bob", "bob", k.users["bob"], k.realm)
        tid = publish.Publish(publisher.ctx, target, bob_aor, "presence", 60, "application/pidf+xml",
                              PIDF % (bob_aor, "open", "at my desk")).send()
        ok = publish_answered(publisher)
        assert ok.response.status_code == 200 and ok.response.get_header("SIP-ETag")
        assert tid > 0

        sid = subscribe.InitialSubscribe(watcher.ctx, target, "sip:alice@127.0.0.1:%d" % k.port, "presence",
                                         expires=60).send()
        first = next_notify(watcher)
        assert first.sid == sid and first.did > 0
        assert first.ss_status == notify.SubscriptionState.active
        assert basic_of(first) == "open" and "at my desk" in first.request.bodies[0]

        # bob changes his status: a PUBLISH with SIP-If-Match, and alice sees it
        publish.Publish(publisher.ctx, target, bob_aor, "presence", 60, "application/pidf+xml",
                        PIDF % (bob_aor, "closed", "gone home")).send()
        publish_answered(publisher)
        changed = next_notify(watcher)
        assert basic_of(changed) == "closed" and "gone home" in changed.request.bodies[0]

        # the publication is removed: the watcher is told (no tuple left, or closed)
        publish.Publish(publisher.ctx, target, bob_aor, "presence", 0).send()
        publish_answered(publisher)
        gone = next_notify(watcher)
        assert basic_of(gone) in (None, "closed")
        assert "gone home" not in (gone.request.bodies or [""])[0]

        # alice unsubscribes: the final NOTIFY says terminated
        subscribe.Refresh(watcher.ctx, first.did, expires=0).send()
        last = next_notify(watcher)
        assert last.ss_status == notify.SubscriptionState.terminated

        seen = [r.method for r in k.seen() if r.method in ("PUBLISH", "SUBSCRIBE")]
        print("%s: Kamailio saw %s" % (transport, " ".join(seen)))
        assert seen.count("PUBLISH") >= 4  # the first one challenged and sent again, then two more
        assert seen.count("SUBSCRIBE") >= 2
        assert {r.proto for r in k.seen() if r.method == "SUBSCRIBE"} == {transport}
    finally:
        publisher.close()
        watcher.close()
