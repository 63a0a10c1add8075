# SPDX-License-Identifier: Apache-2.0
"""A 2xx ends a non-INVITE client transaction at once (core/src/osip_glue.c, ex_tx_execute): nothing
is kept for Timer K, copies of the 2xx are dropped without a second event, and a challenge, a
redirect or a failure still keeps the transaction, since the program may act on it. Against a raw
UDP server that answers on purpose: twice, late, and with answers that belong to nobody."""

import re
import threading
import time

import pytest

from exosip2 import request
from exosip2.event import EventType
from udppeer import UdpPeer
from uapair import UA, WAIT

pytestmark = pytest.mark.core_only  # eXosip2 5.3 keeps the transaction for Timer K


def answer(req, status, reason, extra=""):
    """The answer to *req* (bytes): its Via, From, Call-ID and CSeq, a To with a tag."""
    text = req.decode("latin-1")
    head = {}
    for line in text.split("\r\n")[1:]:
        name, _, value = line.partition(":")
        head.setdefault(name.strip().lower(), value.strip())
    return ("SIP/2.0 %d %s\r\nVia: %s\r\nFrom: %s\r\nTo: %s;tag=srv\r\nCall-ID: %s\r\nCSeq: %s\r\n%s"
            "Content-Length: 0\r\n\r\n" % (status, reason, head["via"], head["from"], head["to"],
                                             head["call-id"], head["cseq"], extra)).encode()


class Server(UdpPeer):
    """Answers each MESSAGE by its body: 'ok' with 200 sent twice (a copy after 0.2 s), 'auth' with
    401 and a challenge, 'moved' with 302, 'gone' with 404."""

    def __init__(self):
        super().__init__()
        self.seen = []
        self.start()

    def handle(self, data, peer):
        self.seen.append(data)
        body = data.split(b"\r\n\r\n", 1)[1]
        if body == b"ok":
            ok = answer(data, 200, "OK")
            self.reply(ok, peer)
            # 0.2 s later, a copy of it, and an answer to no request at all (a branch nobody sent)
            nobody = re.sub(rb"branch=[^;\r]+", b"branch=z9hG4bKnobody", ok)
            later = threading.Timer(0.2, lambda: (self.reply(ok, peer), self.reply(nobody, peer)))
            later.daemon = True
            later.start()
        elif body == b"auth":
            self.reply(answer(data, 401, "Unauthorized",
                              'WWW-Authenticate: Digest realm="r", nonce="n1", algorithm=MD5\r\n'), peer)
        elif body == b"moved":
            self.reply(answer(data, 302, "Moved", "Contact: <sip:elsewhere@127.0.0.1:9>\r\n"), peer)
        elif body == b"gone":
            self.reply(answer(data, 404, "Not Found"), peer)


@pytest.fixture
def pair():
    srv, ua = Server(), UA("alice")
    try:
        yield srv, ua
    finally:
        ua.close()
        srv.close()


def send(ua, srv, body):
    msg = request.Message(ua.ctx, "sip:bob@127.0.0.1:%d" % srv.port, ua.uri)
    msg.set_body(body, "text/plain")
    return msg.send()


def transactions(ua):
    return ua.ctx.get_statistics().allocated_transactions


def test_a_2xx_ends_the_transaction_and_its_copies_are_dropped(pair):
    srv, ua = pair
    tid = send(ua, srv, "ok")
    ev = ua.expect(EventType.message_answered)
    assert (ev.tid, ev.response.status_code) == (tid, 200)
    # ended right after its 2xx, not T4 (5 s) later
    deadline = time.monotonic() + 1.0
    while transactions(ua) and time.monotonic() < deadline:
        time.sleep(0.02)
    assert transactions(ua) == 0
    # the copy of the 2xx and the answer to nobody come 0.2 s later: no event for either
    ua.expect_nothing(timeout=0.8)
    assert len(srv.seen) == 1  # and no request was sent again


@pytest.mark.parametrize("body,status,event", [
    ("auth", 401, EventType.message_requestfailure),
    ("moved", 302, EventType.message_redirected),
    ("gone", 404, EventType.message_requestfailure),
])
def test_a_challenge_a_redirect_or_a_failure_keeps_the_transaction(pair, body, status, event):
    srv, ua = pair
    tid = send(ua, srv, body)
    ev = ua.expect(event)
    assert (ev.tid, ev.response.status_code) == (tid, status)
    time.sleep(0.3)
    assert transactions(ua) == 1  # for Timer K, and for what the program may do with it


def test_many_requests_leave_no_transaction(pair):
    srv, ua = pair
    tids = [send(ua, srv, "ok") for _ in range(20)]
    got = {ua.expect(EventType.message_answered).tid for _ in tids}
    assert got == set(tids)
    deadline = time.monotonic() + 2.0
    while transactions(ua) and time.monotonic() < deadline:
        time.sleep(0.02)
    assert transactions(ua) == 0
    ua.expect_nothing(timeout=0.5)
    assert len(srv.seen) == 20
