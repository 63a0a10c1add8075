# SPDX-License-Identifier: Apache-2.0
"""Header objects (exosip2.headers): Uri and NameAddr read from and written through oSIP2."""

import pickle
import random

import pytest

from exosip2 import headers, request
from exosip2.context import Context
from exosip2.error import OsipBadParameter, OsipSyntaxError, OsipWrongState
from exosip2.event import EventType
from exosip2.headers import MAX_PARAMS, MAX_TEXT, WILDCARD, NameAddr, Uri
from exosip2.message import OsipMessage

pytestmark = pytest.mark.timeout(60)

INVITE = (b"INVITE sip:bob@[2001:db8::1]:5062;transport=tcp SIP/2.0\r\n"
          b"Via: SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bK1\r\n"
          b"From: \"Alice \\\"A\\\" Smith\" <sip:al%40ice:pw@example.org>;tag=1928301774;x-foo=\"a;b\"\r\n"
          b"To: <sip:bob@example.org>\r\n"
          b"Contact: <sip:alice@127.0.0.1:5060;transport=udp>;expires=30;+sip.instance=\"<urn:uuid:1>\"\r\n"
          b"Contact: \"Two, with comma\" <sips:alice@[::1]>\r\n"
          b"Call-ID: a84b4c76e66710\r\n"
          b"CSeq: 314159 INVITE\r\n"
          b"Content-Length: 0\r\n\r\n")


# --- Uri ---------------------------------------------------------------------------------

def test_uri_parts():
    u = Uri.parse("sips:al%40ice:p%3aw@[::1]:5061;transport=tls;lr?Subject=hi%20there&X=1")
    assert (u.scheme, u.user, u.password, u.host, u.port) == ("sips", "al@ice", "p:w", "::1", 5061)
    assert u.params == (("transport", "tls"), ("lr", None))
    assert u.headers == (("Subject", "hi there"), ("X", "1"))
    assert u.opaque is None
    assert Uri.parse(str(u)) == u
    assert "[::1]:5061" in str(u) and "al%40ice" in str(u)


def test_uri_built_from_parts_escapes_and_round_trips():
    u = Uri("sip", "us@er;x", "p w", "2001:db8::7", 5060, [("transport", "udp"), "lr"], {"h": "a&b c"})
    text = str(u)
    assert text == "sip:us%40er;x:p%20w@[2001:db8::7]:5060;transport=udp;lr?h=a%26b%20c"
    assert Uri.parse(text) == u
    assert hash(Uri.parse(text)) == hash(u)
    assert u.replace(port=None).port is None and u.replace(port=None).host == u.host
    assert pickle.loads(pickle.dumps(u)) == u


def test_uri_percent_escapes_are_decoded():
    assert Uri.parse("sip:%61%6C%69ce@h").user == "alice"
    assert Uri.parse("sip:a@h;p=%3b%3D").params == (("p", ";="),)


def test_uri_other_schemes_are_opaque():
    u = Uri.parse("tel:+1-201-555-0123;phone-context=example.com")
    assert u.scheme == "tel" and u.host is None
    assert u.opaque == "+1-201-555-0123;phone-context=example.com"
    assert str(u) == "tel:+1-201-555-0123;phone-context=example.com"
    assert Uri("urn", opaque="uuid:f81d4fae") == Uri.parse("urn:uuid:f81d4fae")


@pytest.mark.parametrize("text", ["sip:a@h:65536", "sip:a@h:99999", "sip:a@h:-1", "sip:a@h:1e3",
                                  "sip:a@h:00000000000000005060"])
def test_uri_ports_out_of_range_are_refused_naming_the_text(text):
    with pytest.raises(OsipSyntaxError) as info:
        Uri.parse(text)
    assert repr(text) in str(info.value) or text in str(info.value)


@pytest.mark.parametrize("text", ["", "   ", "sip:", "sip:@", "sip:a@", "nocolon", "sip:a@h\x00evil",
                                  "sip:a@h\r\nX: y", "sip:a@h:"])
def test_uri_bad_text_raises_syntax_error(text):
    with pytest.raises(OsipSyntaxError):
        Uri.parse(text)


def test_uri_bounds():
    with pytest.raises(OsipSyntaxError, match="longer than|more than"):
        Uri.parse("sip:a@h" + ";p" * 10000)
    with pytest.raises(OsipSyntaxError, match="more than %d" % MAX_PARAMS):
        Uri.parse("sip:a@h" + ";p" * (MAX_PARAMS + 1))
    with pytest.raises(OsipSyntaxError, match="more than %d" % MAX_PARAMS):
        Uri.parse("sip:a@h?" + "&".join(["x=1"] * (MAX_PARAMS + 1)))
    with pytest.raises(OsipSyntaxError, match="longer than %d" % MAX_TEXT):
        Uri.parse("sip:" + "a" * (MAX_TEXT + 1) + "@h")
    assert len(Uri.parse("sip:a@h" + ";p%d" % 1 * MAX_PARAMS).params) == MAX_PARAMS
    with pytest.raises(OsipBadParameter, match="more than"):
        Uri("sip", host="h", params=[("p%d" % i, None) for i in range(10000)])


def test_uri_constructor_refuses_bad_arguments():
    with pytest.raises(OsipBadParameter, match="port"):
        Uri("sip", host="h", port=70000)
    with pytest.raises(TypeError, match="port"):
        Uri("sip", host="h", port="5060")
    with pytest.raises(TypeError, match="port"):
        Uri("sip", host="h", port=True)
    with pytest.raises(OsipBadParameter, match="host"):
        Uri("sip", user="a")
    with pytest.raises(OsipBadParameter, match="host"):
        Uri("sip", host="")
    with pytest.raises(OsipBadParameter, match="NUL"):
        Uri("sip", host="h\x00x")
    with pytest.raises(OsipBadParameter, match="scheme"):
        Uri("1sip", host="h")
    with pytest.raises(OsipBadParameter, match="opaque"):
        Uri("tel", host="h")
    with pytest.raises(TypeError, match="host"):
        Uri("sip", host=5)
    with pytest.raises(TypeError, match="params"):
        Uri("sip", host="h", params="lr")
    with pytest.raises(OsipBadParameter, match="empty"):
        Uri("sip", host="h", params=[("", "x")])
    with pytest.raises(TypeError):
        Uri.parse(None)
    with pytest.raises(TypeError, match="no part"):
        Uri.parse("sip:h").replace(colour="red")


def test_uri_is_immutable():
    u = Uri.parse("sip:a@h")
    with pytest.raises(AttributeError):
        u.host = "other"


# --- NameAddr ----------------------------------------------------------------------------

def test_name_addr_parts_and_quotes():
    n = NameAddr.parse(r'"Alice \"A\" \\ B" <sip:alice@example.org;lr>;tag=abc;expires=30;x="q;v"')
    assert n.display_name == 'Alice "A" \\ B'
    assert n.uri == Uri.parse("sip:alice@example.org;lr")
    assert n.tag == "abc"
    assert n.params == (("expires", "30"), ("x", '"q;v"'))
    assert n.param("EXPIRES") == "30" and n.param("tag") == "abc" and n.param("none", 1) == 1
    assert NameAddr.parse(str(n)) == n


@pytest.mark.parametrize("text", [
    "sip:a@h;tag=x",                             # addr-spec: the parameters are the header's
    "Alice Smith <sip:a@h>",                     # tokens, not quoted
    '"" <sip:a@h>',                              # empty display name
    '"a,b;c" <sip:a@h>',
    '"\xe9t\xe9" <sip:a@h>',                     # UTF-8 in the display name
    "<sip:a@[::1]:5060;transport=tcp>;+sip.instance=\"<urn:uuid:1>\";reg-id=1",
    "<sip:%41@h?Subject=x%20y>",
    "<tel:+123>;tag=t",
    "<sip:a@h>;flag",
])
def test_name_addr_round_trips(text):
    n = NameAddr.parse(text)
    again = NameAddr.parse(str(n))
    assert again == n
    assert str(again) == str(n)
    assert pickle.loads(pickle.dumps(n)) == n


def test_name_addr_built_from_parts():
    n = NameAddr('Bob "the builder"', "sip:bob@example.org", tag="t1", params={"expires": "30"})
    assert str(n) == '"Bob \\"the builder\\"" <sip:bob@example.org>;tag=t1;expires=30'
    assert NameAddr.parse(str(n)) == n
    assert n.replace(tag="t2").tag == "t2"
    assert n.replace(display_name=None).display_name is None
    assert NameAddr(None, Uri("sip", host="host")).uri.host == "host"
    # oSIP2 5.3 reads no name-addr whose URI is as short as "sip:h": refused, not written wrong
    with pytest.raises(OsipBadParameter, match="reads back"):
        NameAddr(None, Uri("sip", host="h"))


@pytest.mark.parametrize("text", ["", "garbage", "<sip:a@h", '"unterminated <sip:a@h>', "<sip:a@h:99999>",
                                  "<sip:a@h>;tag", "<sip:a@h>;tag=1;tag=2", "<>", "<sip:a@h>\x00;tag=1",
                                  "\"A\" <sip:a@h>\r\nX: y"])
def test_name_addr_bad_text_raises_syntax_error_naming_it(text):
    with pytest.raises(OsipSyntaxError) as info:
        NameAddr.parse(text)
    if text.strip() and "\x00" not in text and "\r" not in text:
        assert repr(text[:80]) in str(info.value) or "empty" in str(info.value)


def test_name_addr_bounds():
    with pytest.raises(OsipSyntaxError, match="longer than|more than"):
        NameAddr.parse("<sip:a@h>" + ";p=1" * 10000)
    with pytest.raises(OsipSyntaxError, match="more than %d" % MAX_PARAMS):
        NameAddr.parse("<sip:a@h>" + ";p=1" * (MAX_PARAMS + 1))
    with pytest.raises(OsipSyntaxError, match="longer than"):
        NameAddr.parse('"%s" <sip:a@h>' % ("x" * MAX_TEXT))
    with pytest.raises(OsipBadParameter, match="more than"):
        NameAddr(None, "sip:a@h", params=[("p%d" % i, "1") for i in range(10000)])


def test_name_addr_constructor_refuses_bad_arguments():
    with pytest.raises(OsipBadParameter, match="control"):
        NameAddr("a\x01b", "sip:a@h")
    with pytest.raises(OsipBadParameter, match="NUL"):
        NameAddr("a\x00b", "sip:a@h")
    with pytest.raises(TypeError, match="uri"):
        NameAddr("a", None)
    with pytest.raises(OsipSyntaxError):
        NameAddr("a", "not a uri")
    with pytest.raises(OsipBadParameter, match="tag"):
        NameAddr(None, "sip:a@h", params={"tag": "x"})
    with pytest.raises(OsipBadParameter, match="tag"):
        NameAddr(None, "sip:a@h", tag="")
    with pytest.raises(OsipBadParameter, match="read"):
        NameAddr(None, "sip:a@h", params={"x": "a;b"})    # a raw ';' in a value would split it


def test_wildcard():
    assert NameAddr.parse("*") is WILDCARD
    assert WILDCARD.uri is None and str(WILDCARD) == "*"
    assert headers.WILDCARD is WILDCARD


def test_random_round_trips():
    # built from random parts: whatever the constructor accepts writes text that parses back the same
    rng = random.Random(9)
    alphabet = "aZ09-_.!~*'()%&=+$,;?/:@[]<>\"\\ \t\xe9"
    accepted = 0
    for _ in range(2000):
        def word(n=6):
            return "".join(rng.choice(alphabet) for _ in range(rng.randint(0, n)))
        try:
            u = Uri("sip" if rng.random() < 0.8 else "sips", word() or None, None,
                    rng.choice(["h", "example.org", "::1", "10.0.0.1", word() or "h"]),
                    rng.choice([None, 0, 5060, 65535]),
                    [(word(3) or "p", rng.choice([None, word()]))], [(word(3) or "h", word())])
            n = NameAddr(rng.choice([None, word(10)]), u, rng.choice([None, "t" + word(4)]),
                         [(rng.choice(["expires", "q", "x"]), rng.choice([None, "1", word()]))])
        except (OsipBadParameter, OsipSyntaxError):
            continue
        accepted += 1
        assert NameAddr.parse(str(n)) == n
        assert Uri.parse(str(u)) == u
    assert accepted > 200


# --- on messages -------------------------------------------------------------------------

def test_message_header_objects():
    msg = OsipMessage.parse(INVITE)
    f = msg.from_header
    assert f.display_name == 'Alice "A" Smith'
    assert (f.uri.user, f.uri.password, f.uri.host) == ("al@ice", "pw", "example.org")
    assert f.tag == "1928301774" and f.params == (("x-foo", '"a;b"'),)
    assert msg.to_header.tag is None and msg.to_header.uri.user == "bob"
    c1, c2 = msg.contact_headers
    assert c1.uri.port == 5060 and c1.param("expires") == "30"
    assert c2.display_name == "Two, with comma" and c2.uri.host == "::1" and c2.uri.scheme == "sips"
    r = msg.request_uri
    assert (r.host, r.port, r.params) == ("2001:db8::1", 5062, (("transport", "tcp"),))
    # the string properties are as before
    assert msg.from_.startswith('"Alice')
    assert msg.uri == "sip:bob@[2001:db8::1]:5062;transport=tcp"
    assert len(msg.contacts) == 2


def test_message_header_objects_are_settable_on_an_owned_message():
    msg = OsipMessage.parse(INVITE)
    msg.to_header = msg.to_header.replace(tag="as83kd")
    assert msg.to_header.tag == "as83kd"
    assert "tag=as83kd" in msg.to
    msg.from_header = 'Carol <sip:carol@example.net>;tag=9'
    assert msg.from_header == NameAddr("Carol", "sip:carol@example.net", "9")
    msg.contact_headers = [NameAddr('"x, y"', "sip:c@[::1]:5070"), "<sip:d@h>;expires=0"]
    assert [c.uri.user for c in msg.contact_headers] == ["c", "d"]
    assert msg.contact_headers[0].display_name == '"x, y"'
    msg.request_uri = Uri("sip", "carol", None, "example.net", 5080)
    assert msg.uri == "sip:carol@example.net:5080"
    msg.request_uri = "sip:dave@h"
    assert msg.request_uri.user == "dave"
    again = OsipMessage.parse(bytes(msg))
    assert again.from_header == msg.from_header and again.contact_headers == msg.contact_headers
    msg.contact_headers = []
    assert msg.contact_headers == [] and msg.contacts == []
    msg.from_header = None
    assert msg.from_header is None
    with pytest.raises(TypeError, match="NameAddr"):
        msg.to_header = 5
    with pytest.raises(TypeError, match="sequence"):
        msg.contact_headers = "<sip:a@h>"
    with pytest.raises(OsipSyntaxError):
        msg.to_header = "<sip:a@h:70000>"
    with pytest.raises(OsipBadParameter, match="'\\*'"):
        msg.to_header = "*"
    with pytest.raises(TypeError, match="Uri"):
        msg.request_uri = 1
    msg.contact_headers = ["*"]
    assert msg.contact_headers == [WILDCARD]


def test_message_with_hostile_from_raises_clearly():
    bad = INVITE.replace(b"<sip:bob@example.org>", b"<sip:bob@example.org:99999>")
    msg = OsipMessage.parse(bad)
    with pytest.raises(OsipSyntaxError, match="To header.*0..65535"):
        msg.to_header
    assert msg.from_header.tag == "1928301774"
    response = OsipMessage()
    response.status_code = 200
    assert response.request_uri is None and response.from_header is None and response.contact_headers == []


def test_event_messages_are_borrowed_and_refuse_changes():
    with Context() as a, Context() as b:
        a.listen_on_address("127.0.0.1", port=0)
        port = b.listen_on_address("127.0.0.1", port=0)
        msg = request.Message(a, "sip:bob@127.0.0.1:%d" % port, "Alice <sip:alice@127.0.0.1>")
        # a built message is the program's own: settable
        msg.from_header = msg.from_header.replace(display_name="Alice A")
        msg.add_body("hi")
        msg.content_type = "text/plain"
        msg.send()
        ev = None
        for _ in range(100):
            ev = b.event_wait(0, 50)
            if ev is not None and ev.type == EventType.message_new:
                break
        assert ev is not None and ev.type == EventType.message_new
        got = ev.request
        assert got.from_header.display_name == "Alice A"
        assert got.from_header.tag
        assert got.request_uri.port == port
        with pytest.raises(OsipWrongState, match="borrowed"):
            got.from_header = got.from_header.replace(tag="x")
        with pytest.raises(OsipWrongState, match="borrowed"):
            got.request_uri = "sip:x@h"
        with pytest.raises(OsipWrongState, match="borrowed"):
            got.contact_headers = []
        mine = got.copy()
        mine.to_header = mine.to_header.replace(tag="local")
        assert mine.to_header.tag == "local"
        b.message_send_answer(ev.tid, 200)
