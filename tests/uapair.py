# SPDX-License-Identifier: Apache-2.0
"""Two user agents in one process, each a Context on its own free 127.0.0.1 port, for the tests."""

import queue
import socket

from exosip2.context import Context
from exosip2.event import EventType

SDP = ("v=0\r\no=%s 1 %d IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
       "m=audio %d RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n")
WAIT = 5.0


def sdp(name, port, version=1):
    return SDP % (name, version, port)


class UA:
    """A Context with an inline event loop whose events land in a queue."""

    def __init__(self, name, transport="udp", executor="inline"):
        self.name = name
        self.events = queue.Queue()
        self.ctx = Context(self._on_event)
        proto = socket.IPPROTO_TCP if transport == "tcp" else socket.IPPROTO_UDP
        self.port = self.ctx.listen_on_address("127.0.0.1", proto, port=0)
        self.uri = "sip:%s@127.0.0.1:%d" % (name, self.port)
        if transport == "tcp":
            self.uri += ";transport=tcp"
        self.ctx.start(event_executor=executor)

    def _on_event(self, ctx, event):
        assert ctx is self.ctx
        self.events.put(event)

    def expect(self, *types, timeout=WAIT, skip=(EventType.call_proceeding, EventType.call_message_proceeding)):
        """The next event, which must be of one of *types* (bounded wait); provisional-answer events
        (100 Trying, whose arrival depends on timing) are passed over unless asked for."""
        while True:
            try:
                event = self.events.get(timeout=timeout)
            except queue.Empty:
                raise AssertionError("%s: no event within %.0f s (expected %s)" % (self.name, timeout, types))
            if event.type in types or event.type not in skip:
                break
            assert event.response is not None and 100 <= event.response.status_code < 200
        assert event.type in types, "%s: got %r, expected %s" % (self.name, event, types)
        return event

    def expect_bye(self, timeout=WAIT):
        """A BYE from the peer as eXosip2 5.3 reports it: call_message_new (the BYE, which the stack
        has answered 200) and then call_closed; returns the call_closed event."""
        bye = self.expect(EventType.call_message_new, timeout=timeout)
        assert bye.request is not None and bye.request.method == "BYE", "%s: %r" % (self.name, bye)
        closed = self.expect(EventType.call_closed, timeout=timeout)
        assert (closed.cid, closed.did) == (bye.cid, bye.did), "%s: %r after %r" % (self.name, closed, bye)
        return closed

    def expect_nothing(self, timeout=0.3):
        try:
            event = self.events.get(timeout=timeout)
        except queue.Empty:
            return
        raise AssertionError("%s: unexpected %r" % (self.name, event))

    def close(self):
        self.ctx.close()
        # drop events (and their messages) so live counters fall back
        while not self.events.empty():
            self.events.get_nowait()


__all__ = ["UA", "EventType", "sdp", "WAIT"]
