# SPDX-License-Identifier: Apache-2.0
"""An exosip2 user agent for the tests: one Context, its event loop, and bounded waits on its events.

Events are received by an inline callback (in the loop thread, in order) and
kept in a list; :meth:`Agent.wait` returns the first one, from a given index
on, that matches, or fails after a bounded time listing what came.
"""

import socket
import threading
import time

import pytest

from exosip2 import call, register, request
from exosip2.context import Context
from exosip2.event import EventType

from .proc import LOOPBACK

SDP = ("v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=exosip2\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
       "m=audio %d RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\na=sendrecv\r\n")


class AgentTimeout(AssertionError):
    """An awaited event did not come in time."""


def _status(event):
    resp = event.response
    return resp.status_code if resp is not None else None


class Agent:
    """A listening Context with an inline event loop; ``events`` holds every event received."""

    def __init__(self, transport="udp", host=LOOPBACK, user_agent="exosip2-tests"):
        self.transport = transport
        self.host = host
        self.ctx = Context(event_callback=self._on_event)
        proto = socket.IPPROTO_TCP if transport == "tcp" else socket.IPPROTO_UDP
        self.port = self.ctx.listen_on_address(host, transport=proto, port=0)
        self.ctx.user_agent = user_agent
        self.events = []
        self.cond = threading.Condition()
        self.auto_answer = None          # (status, with_sdp) answers incoming INVITEs in the loop
        self.auto_answer_messages = None  # status answering incoming MESSAGEs in the loop
        self.ctx.start(event_executor="inline")

    # --- events ----------------------------------------------------------------------------
    def _on_event(self, ctx, event):
        t = event.type
        if t == EventType.call_invite and self.auto_answer is not None:
            status, with_sdp = self.auto_answer
            self.answer(event.tid, status, with_sdp)
        elif t == EventType.message_new and self.auto_answer_messages is not None:
            ctx.message_send_answer(event.tid, self.auto_answer_messages)
        with self.cond:
            self.events.append(event)
            self.cond.notify_all()

    def mark(self):
        """The index the next event will have (to wait for events after this point)."""
        with self.cond:
            return len(self.events)

    def wait(self, types, timeout=5.0, since=0, **match):
        """Return the first event at index >= *since* of one of *types* whose attributes equal *match*.

        ``status=N`` matches the status of the event's response.
        """
        if isinstance(types, int):
            types = (types,)
        deadline = time.monotonic() + timeout
        with self.cond:
            while True:
                for event in self.events[since:]:
                    if event.type in types and self._matches(event, match):
                        return event
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AgentTimeout("no %s %s within %.1f s; seen: %s" % (
                        "/".join(EventType(t).name for t in types), match, timeout, self.describe(since)))
                self.cond.wait(min(left, 0.2))

    def wait_count(self, etype, count, timeout=5.0, **match):
        """Wait until *count* events of type *etype* matching *match* were received; return them."""
        deadline = time.monotonic() + timeout
        with self.cond:
            while True:
                found = [e for e in self.events if e.type == etype and self._matches(e, match)]
                if len(found) >= count:
                    return found
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AgentTimeout("%d of %d %s within %.1f s; seen: %s" % (
                        len(found), count, EventType(etype).name, timeout, self.describe()))
                self.cond.wait(min(left, 0.2))

    @staticmethod
    def _matches(event, match):
        for key, value in match.items():
            got = _status(event) if key == "status" else getattr(event, key)
            if got != value:
                return False
        return True

    def describe(self, since=0):
        with self.cond:
            return ["%s(%s)" % (EventType(e.type).name, _status(e)) for e in self.events[since:]]

    def types(self, since=0):
        with self.cond:
            return [e.type for e in self.events[since:]]

    # --- registration ---------------------------------------------------------------------
    def registrar_uri(self, k):
        uri = k.uri
        return uri + ";transport=tcp" if self.transport == "tcp" else uri

    def route(self, k):
        return "<%s;lr%s>" % (k.uri, ";transport=tcp" if self.transport == "tcp" else "")

    def register(self, k, user, password, expires=60, timeout=5.0):
        """Register *user* at Kamailio *k*; return (rid, success event)."""
        self.ctx.add_authentication_info(user, user, password, k.realm)
        since = self.mark()
        reg = register.InitialRegister(self.ctx, k.aor(user), self.registrar_uri(k), expires=expires)
        rid = reg.rid
        reg.send()
        ok = self.wait(EventType.registration_success, timeout, since, rid=rid)
        return rid, ok

    def unregister(self, rid, timeout=5.0):
        since = self.mark()
        register.Register(self.ctx, rid, 0).send()
        return self.wait(EventType.registration_success, timeout, since, rid=rid)

    # --- calls ------------------------------------------------------------------------------
    def sdp(self):
        return SDP % (self.port + 1000 if self.port < 64000 else self.port - 1000)

    def answer(self, tid, status, with_sdp=True):
        ans = call.Answer(self.ctx, tid, status)
        if with_sdp and 200 <= status < 300:
            ans.add_body(self.sdp())
            ans.content_type = "application/sdp"
        ans.send()

    def invite(self, to_url, from_url, route=None):
        inv = call.InitInvite(self.ctx, to_url, from_url, route)
        inv.add_body(self.sdp())
        inv.content_type = "application/sdp"
        return inv.send()

    def message(self, to_url, from_url, text, route=None):
        msg = request.Message(self.ctx, to_url, from_url, route)
        msg.add_body(text)
        msg.content_type = "text/plain"
        return msg.send()

    def close(self):
        self.ctx.close()


@pytest.fixture
def agent_factory():
    """Make :class:`Agent` objects; every one is closed at teardown."""
    made = []

    def make(**options):
        a = Agent(**options)
        made.append(a)
        return a

    yield make
    for a in made:
        a.close()
