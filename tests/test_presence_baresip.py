# SPDX-License-Identifier: Apache-2.0
"""baresip's presence module (Debian's baresip-core carries presence.so) watching one of our contexts:
a contact with ``presence=p2p`` makes baresip SUBSCRIBE to it directly; our context accepts, sends
PIDF NOTIFYs, and baresip answers them."""

import os

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
