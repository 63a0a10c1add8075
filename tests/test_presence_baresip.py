# SPDX-License-Identifier: Apache-2.0
"""baresip's presence module (Debian's baresip-core carries presence.so): watching one of our contexts, and
a contact with ``presence=p2p`` makes baresip SUBSCRIBE to it directly; our context accepts, sends
PIDF NOTIFYs, and baresip answers them."""

import os
import re

from exosip2 import notify
from exosip2.event import EventType
from peers.baresip import Baresip
from uapair import UA

PIDF = ('<?xml version="1.0" encoding="UTF-8"?>\r\n'
        '<presence xmlns="urn:ietf:params:xml:ns:pidf" entity="%s">\r\n'
        '<tuple id="t1"><status><basic>%s</basic></status></tuple>\r\n</presence>\r\n')


def test_baresip_watches_our_context(tmp_path):
    bob = UA("bob")
    # baresip's own account never registers (regint=0): it only needs a user agent to subscribe from
    b = Baresip(tmp_path / "baresip", "carol", "carolpw", ("127.0.0.1", bob.port + 7), regint=0)
    with open(os.path.join(b.confdir, "contacts"), "w") as f:
        f.write("\"Bob\" <%s>;presence=p2p\n" % bob.uri)
    with open(os.path.join(b.confdir, "config"), "a") as f:
        f.write("module_app           presence.so\n")
    try:
        b.start()
        new = bob.expect(EventType.in_subscription_new, timeout=15)
        assert new.request.get_header("Event") == "presence"
        assert "baresip" in (new.request.get_header("User-Agent") or "").lower()
        bob.ctx.insubscription_send_answer(new.tid, 200)
        n = notify.Notify(bob.ctx, new.did, notify.SubscriptionState.active)
        n.set_body(PIDF % (bob.uri, "open"), "application/pidf+xml")
        n.send()
        ok = bob.expect(EventType.notification_answered, timeout=10)
        assert ok.did == new.did and ok.response.status_code == 200
        n = notify.Notify(bob.ctx, new.did, notify.SubscriptionState.active)
        n.set_body(PIDF % (bob.uri, "closed"), "application/pidf+xml")
        n.send()
        assert bob.expect(EventType.notification_answered, timeout=10).response.status_code == 200
    finally:
        b.stop()
        bob.close()


def test_baresip_publishes_to_kamailio_and_we_watch(tmp_path):
    """baresip (account with pubint) registers with Kamailio's presence server and publishes its status;
    one of our contexts subscribes to baresip's AoR there and receives the PIDF baresip published."""
    from exosip2 import subscribe
    from peers.kamailio_presence import KamailioPresence

    k = KamailioPresence(str(tmp_path / "presence"), users={"carol": "carolpw", "alice": "alicepw"})
    k.check_config()
    k.start()
    watcher = UA("alice")
    b = Baresip(tmp_path / "baresip", "carol", "carolpw", (k.host, k.port), regint=60,
                extra_account_params=";pubint=60")
    with open(os.path.join(b.confdir, "config"), "a") as f:
        f.write("module_app           presence.so\n")
    try:
        b.start()
        b.wait_registered(timeout=15)
        carol = "sip:carol@127.0.0.1:%d" % k.port
        assert k.wait_for("PUBLISH", 1, timeout=15), "baresip published nothing"
        subscribe.InitialSubscribe(watcher.ctx, carol, "sip:alice@127.0.0.1:%d" % k.port, "presence",
                                   expires=60).send()
        while True:
            ev = watcher.expect(EventType.subscription_notify, EventType.subscription_answered, timeout=10)
            if ev.type == EventType.subscription_notify and ev.request.bodies:
                break
        assert ev.ss_status == notify.SubscriptionState.active
        assert re.search(r"<(\w+:)?basic>\s*open\s*</", ev.request.bodies[0]), ev.request.bodies[0]
        print("Kamailio saw: %s" % " ".join(r.method for r in k.seen() if r.method != "OPTIONS"))
    finally:
        b.stop()
        watcher.close()
        k.stop()
