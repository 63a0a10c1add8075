# SPDX-License-Identifier: Apache-2.0
"""exosip2.sdp: SdpMessage and SdpMedia over oSIP2's SDP parser."""

import copy
import gc
import os
import pickle
import random
import subprocess
import sys
import threading
import weakref

import pytest

from exosip2 import error, sdp
from exosip2.message import OsipMessage
from exosip2.sdp import (
    DIRECTIONS, MAX_LINES, MAX_SIZE, Attribute, Bandwidth, Connection, Origin, RtpMap, SdpMedia,
    SdpMessage, Timing)

pytestmark = pytest.mark.usefixtures("no_leaks")

DATA = os.path.join(os.path.dirname(__file__), "data", "sdp")
SAMPLES = sorted(name for name in os.listdir(DATA) if name.endswith(".sdp"))


def load(name):
    with open(os.path.join(DATA, name), "rb") as f:
        return f.read()


def fields(s):
    """Everything the binding reads from a body, as plain data."""
    return {
        "version": s.version, "origin": s.origin, "session_name": s.session_name,
        "session_info": s.session_info, "uri": s.uri, "emails": s.emails, "phones": s.phones,
        "connection": s.connection, "bandwidths": s.bandwidths, "times": s.times,
        "attributes": s.attributes, "direction": s.direction,
        "media": [{
            "type": m.type, "port": m.port, "number_of_ports": m.number_of_ports,
            "protocol": m.protocol, "formats": m.formats, "info": m.info,
            "connections": m.connections, "bandwidths": m.bandwidths, "attributes": m.attributes,
            "direction": m.direction, "on_hold": m.on_hold,
            "rtpmaps": {f: m.rtpmap(f) for f in m.formats}, "fmtps": {f: m.fmtp(f) for f in m.formats},
        } for m in s.media],
    }


def sip_invite(body, content_type="application/sdp", extra_headers=""):
    head = (
        "INVITE sip:bob@example.com SIP/2.0\r\n"
        "Via: SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bK776asdhds\r\n"
        "Max-Forwards: 70\r\n"
        "To: <sip:bob@example.com>\r\n"
        "From: <sip:alice@example.com>;tag=1928301774\r\n"
        "Call-ID: a84b4c76e66710@pc33.example.com\r\n"
        "CSeq: 314159 INVITE\r\n"
        "Contact: <sip:alice@192.0.2.1>\r\n"
        + extra_headers
    )
    if body is None:
        return (head + "Content-Length: 0\r\n\r\n").encode()
    return (head + "Content-Type: %s\r\nContent-Length: %d\r\n\r\n" % (content_type, len(body))).encode() + body


# --- real-world bodies -----------------------------------------------------------------------

@pytest.mark.parametrize("name", SAMPLES)
def test_sample_round_trips_exactly(name):
    raw = load(name)
    s = SdpMessage.parse(raw)
    assert s.to_bytes() == raw
    assert bytes(s) == raw
    assert str(s) == raw.decode()
    again = SdpMessage.parse(bytes(s))
    assert fields(again) == fields(s)


@pytest.mark.parametrize("name", SAMPLES)
def test_sample_with_bare_lf_and_str_input(name):
    raw = load(name)
    s = SdpMessage.parse(raw.decode().replace("\r\n", "\n"))
    assert bytes(s) == raw  # serialised with CRLF


def test_audio_offer_accessors():
    s = SdpMessage.parse(load("audio_offer.sdp"))
    assert s.version == 0
    assert s.origin == Origin("alice", "2890844526", "2890844527", "IN", "IP4", "198.51.100.10")
    assert s.origin.session_version == "2890844527"
    assert s.session_name == "Talk"
    assert s.session_info is None and s.uri is None
    assert s.emails == [] and s.phones == []
    assert s.connection == Connection("IN", "IP4", "198.51.100.10")
    assert s.times == [Timing(0, 0)]
    assert s.bandwidths == []
    assert s.attributes == []
    (audio,) = s.media
    assert isinstance(audio, SdpMedia)
    assert audio.type == "audio" and audio.port == 49170 and audio.number_of_ports is None
    assert audio.protocol == "RTP/AVP"
    assert audio.formats == ["0", "8", "9", "18", "111", "101"]
    assert audio.rtpmap(0) == RtpMap("PCMU", 8000, None)
    assert audio.rtpmap("8") == ("PCMA", 8000, None)
    assert audio.rtpmap(111) == RtpMap("opus", 48000, 2)
    assert audio.rtpmap(101).encoding == "telephone-event"
    assert audio.rtpmap(102) is None
    assert audio.fmtp(111) == "minptime=10;useinbandfec=1"
    assert audio.fmtp(18) == "annexb=no"
    assert audio.fmtp(101) == "0-16"
    assert audio.fmtp(0) is None
    assert audio.attribute("ptime") == "20"
    assert audio.attribute("maxptime") == "150"
    assert audio.attribute("nothing") is None
    assert audio.has_attribute("sendrecv") and audio.attribute("sendrecv") is None
    assert audio.direction == "sendrecv" and not audio.on_hold
    assert audio.connections == [] and audio.connection is None
    assert audio.effective_connection == s.connection
    assert audio.message is s and audio.index == 0
    assert len(audio.attribute_values("rtpmap")) == 6


def test_audio_video_accessors():
    s = SdpMessage.parse(load("audio_video.sdp"))
    assert s.bandwidths == [Bandwidth("AS", 2048)]
    audio, video = s.media
    assert audio.bandwidths == [("AS", 64)]
    assert audio.rtpmap(96) == ("opus", 48000, 2)
    assert audio.rtpmap(101) == ("telephone-event", 48000, None)
    assert audio.attribute("rtcp") == "50001"
    assert video.type == "video" and video.port == 50002 and video.formats == ["97", "98"]
    assert video.bandwidths == [Bandwidth("AS", 1920), Bandwidth("TIAS", 1920000)]
    assert video.rtpmap(97) == ("H264", 90000, None)
    assert video.fmtp(97) == "profile-level-id=42e01f;packetization-mode=1"
    assert video.rtpmap(98) == ("VP8", 90000, None)
    assert video.fmtp(98) is None
    assert video.attribute_values("rtcp-fb") == ["97 nack", "97 nack pli", "98 ccm fir"]
    assert video.attribute("imageattr") == "97 send [x=1280,y=720] recv [x=1280,y=720]"
    assert [m.index for m in s.media] == [0, 1]


def test_ice_candidates_and_dtls():
    s = SdpMessage.parse(load("ice_webrtc.sdp"))
    assert s.origin.session_id == "4611731400430051336"
    assert s.connection is None
    assert s.attribute("group") == "BUNDLE 0 1"
    assert s.attribute("ice-options") == "trickle"
    audio, video = s.media
    assert audio.protocol == "UDP/TLS/RTP/SAVPF" and audio.port == 9
    assert audio.connection == Connection("IN", "IP4", "0.0.0.0")
    candidates = audio.attribute_values("candidate")
    assert len(candidates) == 5
    assert candidates[0] == "1467250027 1 udp 2122260223 192.168.0.196 46243 typ host generation 0"
    assert any(" typ srflx " in c for c in candidates) and any(" typ relay " in c for c in candidates)
    assert audio.has_attribute("end-of-candidates")
    assert audio.attribute("ice-ufrag") == "Oyef7uvBlwafI3hT"
    assert audio.attribute("ice-pwd") == "T0teqPLNQQOf+5W+ls+P2p16"
    assert audio.attribute("fingerprint").startswith("sha-256 49:66:12:17:")
    assert audio.attribute("setup") == "actpass" and audio.attribute("mid") == "0"
    assert audio.has_attribute("rtcp-mux") and audio.attribute("rtcp-mux") is None
    assert audio.rtpmap(111) == ("opus", 48000, 2)
    assert audio.rtpmap(63) == ("red", 48000, 2)
    assert audio.fmtp(63) == "111/111"
    assert audio.rtpmap(126) == ("telephone-event", 8000, None)
    assert audio.direction == "sendrecv"
    # a 0.0.0.0 connection with ICE is not a hold: the direction says so
    assert video.direction == "recvonly"
    assert video.fmtp(97) == "apt=96" and video.rtpmap(97) == ("rtx", 90000, None)


def test_srtp_crypto_lines():
    s = SdpMessage.parse(load("srtp_crypto.sdp"))
    (audio,) = s.media
    assert audio.protocol == "RTP/SAVP"
    crypto = audio.attribute_values("crypto")
    assert [c.split()[1] for c in crypto] == [
        "AES_CM_128_HMAC_SHA1_80", "AES_CM_128_HMAC_SHA1_32", "AES_256_CM_HMAC_SHA1_80"]
    assert crypto[0].endswith("inline:WVNfX19zZW1jdGwgKCkgewkyMjA7fQp9CnVubGVz|2^20|1:4")
    assert audio.remove_attribute("crypto", crypto[1]) == 1
    assert [c.split()[0] for c in audio.attribute_values("crypto")] == ["1", "3"]


def test_ipv6_connection():
    s = SdpMessage.parse(load("ipv6.sdp"))
    assert s.origin.address_type == "IP6" and s.origin.address == "2001:db8::1"
    assert s.connection == ("IN", "IP6", "2001:db8::1")
    audio, video = s.media
    assert audio.effective_connection == ("IN", "IP6", "2001:db8::1")
    assert video.connection == Connection("IN", "IP6", "2001:db8:0:1::2")
    assert video.rtpmap(34) == ("H263", 90000, None)
    assert audio.rtpmap(0) == ("PCMU", 8000, None)


def test_times_bandwidths_and_session_lines():
    s = SdpMessage.parse(load("times_bandwidths.sdp"))
    assert s.session_info == "A Seminar on the session description protocol"
    assert s.uri == "http://www.example.com/seminars/sdp.pdf"
    assert s.emails == ["j.doe@example.com (Jane Doe)", "seminars@example.com"]
    assert s.phones == ["+1 617 555-6011"]
    assert s.connection == ("IN", "IP4", "224.2.17.12/127")
    assert s.bandwidths == [("CT", 1024), ("AS", 512)]
    assert s.times == [(2873397496, 2873404696), (2873404696, 2873411896), (0, 0)]
    assert s.direction == "recvonly"
    assert s.attribute("tool") == "sdp-builder 1.0"
    audio, video = s.media
    assert audio.direction == "recvonly"  # inherited from the session
    assert audio.rtpmap(0) == ("PCMU", 8000, None)  # static payload type, no rtpmap line
    assert video.number_of_ports == 2 and video.port == 51372
    assert video.bandwidths == [("AS", 384), ("TIAS", 384000)]
    assert video.rtpmap(99) == ("h263-1998", 90000, None)
    assert b"r=604800 3600 0 90000\r\n" in bytes(s)


def test_hold_sendonly_and_zero_address():
    held = SdpMessage.parse(load("hold_sendonly.sdp"))
    assert held.media[0].direction == "sendonly" and held.media[0].on_hold
    zero = SdpMessage.parse(load("hold_zero_address.sdp"))
    assert zero.connection.address == "0.0.0.0"
    assert zero.media[0].direction == "sendrecv" and zero.media[0].on_hold
    live = SdpMessage.parse(load("audio_offer.sdp"))
    live.media[0].direction = "inactive"
    assert live.media[0].on_hold
    live.media[0].direction = None
    assert live.media[0].direction == "sendrecv" and not live.media[0].on_hold


def test_multicast_connection_keeps_ttl_and_count():
    s = SdpMessage.parse(
        b"v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\ns=-\r\nc=IN IP4 224.2.1.1/127/3\r\nt=0 0\r\n"
        b"m=video 0 RTP/AVP 31\r\nc=IN IP6 ff15::101/3\r\n")
    assert s.connection.address == "224.2.1.1/127/3"
    assert s.media[0].connection.address == "ff15::101/3"
    assert s.media[0].port == 0
    assert SdpMessage.parse(bytes(s)).connection == s.connection


# --- setters -----------------------------------------------------------------------------------

def test_session_setters_round_trip():
    s = SdpMessage.parse(load("audio_offer.sdp"))
    s.version = 0
    s.origin = ("bob", 42, "43", "IN", "IP6", "2001:db8::7")
    s.session_name = "Renamed call ñ"
    s.session_info = "with info"
    s.uri = b"https://example.com/x"
    s.emails = ["a@example.com"]
    s.add_email("b@example.com (B)")
    s.phones = ["+44 20 7946 0000"]
    s.add_phone(b"+1 555 0100")
    s.connection = "2001:db8::7"
    s.bandwidths = [("CT", 100)]
    s.add_bandwidth("AS", "64")
    s.times = [(0, 0)]
    s.add_time(3000000000, 3000003600)
    s.attributes = [("tool", "test"), ("recvonly", None)]
    s.add_attribute("cat", "voice")
    assert s.origin == Origin("bob", "42", "43", "IN", "IP6", "2001:db8::7")
    assert s.connection == Connection("IN", "IP6", "2001:db8::7")
    assert s.session_name == "Renamed call ñ"
    assert s.emails == ["a@example.com", "b@example.com (B)"]
    assert s.phones == ["+44 20 7946 0000", "+1 555 0100"]
    assert s.bandwidths == [("CT", 100), ("AS", 64)]
    assert s.times == [(0, 0), (3000000000, 3000003600)]
    assert s.attributes == [Attribute("tool", "test"), Attribute("recvonly", None), ("cat", "voice")]
    assert s.direction == "recvonly"
    s.direction = "sendonly"
    assert s.attributes == [("tool", "test"), ("cat", "voice"), ("sendonly", None)]
    again = SdpMessage.parse(bytes(s))
    assert fields(again) == fields(s)
    assert "s=Renamed call ñ\r\n" in str(again)
    # clearing
    s.session_info = None
    s.uri = None
    s.connection = None
    s.emails = []
    assert s.session_info is None and s.uri is None and s.connection is None and s.emails == []
    assert fields(SdpMessage.parse(bytes(s))) == fields(s)


def test_media_setters_round_trip():
    s = SdpMessage.parse(load("audio_video.sdp"))
    audio, video = s.media
    audio.port = 40000
    audio.protocol = "RTP/SAVP"
    audio.info = "main audio"
    audio.formats = [0, "8"]
    audio.add_format(101)
    audio.connection = ("IN", "IP4", "192.0.2.55")
    audio.add_connection(Connection("IN", "IP4", "192.0.2.56"))
    audio.bandwidths = [("TIAS", 64000)]
    audio.add_bandwidth("AS", 80)
    audio.attributes = [("ptime", "30")]
    audio.add_attribute("sendonly")
    video.type = "video"
    video.number_of_ports = 2
    video.port = 0
    assert audio.port == 40000 and audio.protocol == "RTP/SAVP" and audio.info == "main audio"
    assert audio.formats == ["0", "8", "101"]
    assert audio.connections == [("IN", "IP4", "192.0.2.55"), ("IN", "IP4", "192.0.2.56")]
    assert audio.connection == ("IN", "IP4", "192.0.2.55")
    assert audio.bandwidths == [("TIAS", 64000), ("AS", 80)]
    assert audio.attributes == [("ptime", "30"), ("sendonly", None)]
    assert audio.direction == "sendonly"
    assert video.port == 0 and video.number_of_ports == 2
    assert fields(SdpMessage.parse(bytes(s))) == fields(s)
    video.number_of_ports = None
    audio.connection = None
    assert video.number_of_ports is None and audio.connections == []


def test_largest_numbers_still_parse_back():
    s = SdpMessage.parse(MINIMAL)
    s.add_time(2 ** 64 - 1, 2 ** 64 - 1)
    s.add_bandwidth("TIAS", 2 ** 64 - 1)
    s.add_media("audio", 65535, "RTP/AVP", [127], number_of_ports=2 ** 64 - 1)
    again = SdpMessage.parse(bytes(s))
    assert again.times[-1] == (2 ** 64 - 1, 2 ** 64 - 1)
    assert again.bandwidths == [("TIAS", 2 ** 64 - 1)]
    assert again.media[0].port == 65535 and again.media[0].number_of_ports == 2 ** 64 - 1
    assert fields(again) == fields(s)


def test_remove_format_drops_its_rtpmap_and_fmtp():
    s = SdpMessage.parse(load("audio_offer.sdp"))
    audio = s.media[0]
    assert audio.remove_format(111) is True
    assert audio.formats == ["0", "8", "9", "18", "101"]
    assert audio.rtpmap(111) is None and audio.fmtp(111) is None
    assert audio.rtpmap(101) is not None  # "101" is not touched by removing "1…"
    assert audio.remove_format(111) is False


@pytest.mark.parametrize("attr, value, exc", [
    ("session_name", "a\r\nm=audio 1 RTP/AVP 0", ValueError),
    ("session_name", "nul\0byte", ValueError),
    ("session_name", "", ValueError),
    ("session_name", 5, TypeError),
    ("uri", "has space", ValueError),
    ("version", -1, ValueError),
    ("version", "zero", ValueError),
    ("version", 1.0, TypeError),
    ("origin", ("a", 1, 1, "IN", "IP4"), ValueError),
    ("origin", "- 1 1 IN IP4 1.2.3.4", TypeError),
    ("origin", ("a b", 1, 1, "IN", "IP4", "1.2.3.4"), ValueError),
    ("origin", ("a", -1, 1, "IN", "IP4", "1.2.3.4"), ValueError),
    ("connection", ("IN", "IP4"), ValueError),
    ("connection", 3232235777, TypeError),
    ("connection", "1.2.3.4\n", ValueError),
    ("emails", "a@b", TypeError),
    ("bandwidths", [("AS", -5)], ValueError),
    ("bandwidths", [("AS:1", 5)], ValueError),
    ("bandwidths", [("AS",)], ValueError),
    ("times", [(0, "later")], ValueError),
    ("times", [(0, 2 ** 64)], ValueError),
    ("version", 2 ** 64, ValueError),
    ("bandwidths", [("AS", "1" * 21)], ValueError),
    ("attributes", [("a:b", "c")], ValueError),
    ("attributes", [("flag", "")], ValueError),
    ("direction", "sideways", ValueError),
    ("direction", 1, TypeError),
])
def test_session_setter_rejects(attr, value, exc):
    s = SdpMessage.parse(load("audio_offer.sdp"))
    before = bytes(s)
    with pytest.raises(exc):
        setattr(s, attr, value)
    assert bytes(s) == before  # nothing half-changed


@pytest.mark.parametrize("attr, value, exc", [
    ("port", 65536, ValueError),
    ("port", -1, ValueError),
    ("port", True, TypeError),
    ("port", "80 81", ValueError),
    ("type", "audio video", ValueError),
    ("protocol", "", ValueError),
    ("formats", [128], ValueError),
    ("formats", ["0 8"], ValueError),
    ("formats", "0 8", TypeError),
    ("connections", [("IN", "IP4", "1.2.3.4"), None], TypeError),
    ("info", "two\nlines", ValueError),
    ("number_of_ports", "x", ValueError),
])
def test_media_setter_rejects(attr, value, exc):
    s = SdpMessage.parse(load("audio_offer.sdp"))
    before = bytes(s)
    with pytest.raises(exc):
        setattr(s.media[0], attr, value)
    assert bytes(s) == before


def test_attribute_add_remove_lookup():
    s = SdpMessage.parse(load("audio_offer.sdp"))
    audio = s.media[0]
    audio.add_attribute("x-note", "one")
    audio.add_attribute("x-note", "two")
    audio.add_attribute(b"x-flag")
    assert audio.attribute("x-note") == "one"
    assert audio.attribute_values("x-note") == ["one", "two"]
    assert audio.has_attribute("x-flag") and audio.attribute("x-flag") is None
    assert audio.remove_attribute("x-note", "two") == 1
    assert audio.attribute_values("x-note") == ["one"]
    assert audio.remove_attribute("x-note") == 1
    assert audio.remove_attribute("x-note") == 0
    assert not audio.has_attribute("x-note")
    s.add_attribute("s-flag")
    s.add_attribute("s-val", "v")
    assert s.has_attribute("s-flag") and s.attribute("s-val") == "v"
    assert s.remove_attribute("s-flag") == 1 and s.attributes == [("s-val", "v")]
    with pytest.raises(TypeError):
        audio.attribute(None)
    with pytest.raises(ValueError):
        audio.add_attribute("bad name", "x")


@pytest.mark.parametrize("direction", DIRECTIONS)
def test_direction_setter_replaces(direction):
    s = SdpMessage.parse(load("hold_sendonly.sdp"))
    audio = s.media[0]
    audio.direction = direction
    assert audio.direction == direction
    assert sum(audio.has_attribute(d) for d in DIRECTIONS) == 1
    assert SdpMessage.parse(bytes(s)).media[0].direction == direction


def test_rtpmap_malformed_and_arguments():
    s = SdpMessage.parse(
        b"v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\ns=-\r\nt=0 0\r\n"
        b"m=audio 1 RTP/AVP 96 97 98\r\na=rtpmap:96 opus\r\na=rtpmap:97 x/fast\r\na=rtpmap:98 L16/8000/2\r\n"
        b"a=fmtp:98\r\n")
    audio = s.media[0]
    with pytest.raises(ValueError):
        audio.rtpmap(96)
    with pytest.raises(ValueError):
        audio.rtpmap(97)
    assert audio.rtpmap(98) == ("L16", 8000, 2)
    assert audio.fmtp(98) == ""
    with pytest.raises(TypeError):
        audio.rtpmap(None)
    with pytest.raises(ValueError):
        audio.rtpmap(500)
    # a static payload type not listed in the formats is unknown
    assert audio.rtpmap(0) is None


# --- building an offer ------------------------------------------------------------------------

EXPECTED_OFFER = (
    b"v=0\r\n"
    b"o=- 3900000000 3900000000 IN IP4 192.0.2.10\r\n"
    b"s=exosip2\r\n"
    b"c=IN IP4 192.0.2.10\r\n"
    b"t=0 0\r\n"
    b"m=audio 8000 RTP/AVP 0 8 101\r\n"
    b"a=rtpmap:0 PCMU/8000\r\n"
    b"a=rtpmap:8 PCMA/8000\r\n"
    b"a=rtpmap:101 telephone-event/8000\r\n"
    b"a=fmtp:101 0-16\r\n"
    b"a=ptime:20\r\n"
    b"a=sendrecv\r\n"
)


def test_build_audio_offer():
    offer = SdpMessage.create("192.0.2.10", session_name="exosip2", session_id=3900000000)
    audio = offer.add_media("audio", 8000, "RTP/AVP")
    audio.add_codec(0, "PCMU", 8000)
    audio.add_codec(8, "PCMA", 8000)
    audio.add_codec(101, "telephone-event", 8000, fmtp="0-16")
    audio.add_attribute("ptime", "20")
    audio.direction = "sendrecv"
    assert bytes(offer) == EXPECTED_OFFER
    parsed = SdpMessage.parse(EXPECTED_OFFER)
    assert fields(parsed) == fields(offer)
    assert parsed.media[0].rtpmap(101) == ("telephone-event", 8000, None)


def test_build_from_empty_message():
    s = SdpMessage()
    assert repr(s).startswith("<SdpMessage")
    assert s.version is None and s.origin is None and s.media == [] and s.times == []
    with pytest.raises(error.OsipSyntaxError) as info:
        bytes(s)
    assert "o= (origin)" in str(info.value) and info.value.code == -5
    with pytest.raises(error.OsipSyntaxError):
        s.copy()
    s.version = 0
    s.origin = Origin("-", "1", "1", "IN", "IP4", "192.0.2.20")
    s.session_name = "-"
    s.add_time()
    video = s.add_media("video", 9000, "RTP/AVP", formats=[96], number_of_ports=None)
    video.add_attribute("rtpmap", "96 VP8/90000")
    audio = s.add_media("audio", 9002, "RTP/AVP", formats=("0",))
    audio.connection = "192.0.2.21"
    assert [m.type for m in s.media] == ["video", "audio"]
    text = str(s)
    assert "m=video 9000 RTP/AVP 96\r\na=rtpmap:96 VP8/90000\r\nm=audio 9002 RTP/AVP 0\r\nc=IN IP4 192.0.2.21\r\n" in text
    assert fields(SdpMessage.parse(text)) == fields(s)


def test_add_media_rejects_bad_arguments():
    s = SdpMessage.create("192.0.2.1", session_id=1)
    with pytest.raises(ValueError):
        s.add_media("audio", 70000, "RTP/AVP")
    with pytest.raises(TypeError):
        s.add_media("audio", None, "RTP/AVP")
    with pytest.raises(ValueError):
        s.add_media("au dio", 1, "RTP/AVP")
    with pytest.raises(TypeError):
        s.add_media("audio", 1, "RTP/AVP", formats=0)
    with pytest.raises(ValueError):
        s.add_media("audio", 1, "RTP/AVP", formats=[0, "a\nb"])
    assert s.media == []
    audio = s.add_media("audio", 1, "RTP/AVP")
    with pytest.raises(ValueError):
        audio.add_codec(0, "PC/MU", 8000)
    with pytest.raises(ValueError):
        audio.add_codec(0, "PCMU", 8000, fmtp="a\r\nb")
    assert audio.formats == [] and audio.attributes == []


def test_create_ipv6_and_defaults():
    s = SdpMessage.create("2001:db8::5")
    assert s.origin.address_type == "IP6" and s.connection == ("IN", "IP6", "2001:db8::5")
    assert int(s.origin.session_id) > 3_900_000_000  # an NTP timestamp
    assert s.origin.session_version == s.origin.session_id
    assert s.times == [(0, 0)] and s.version == 0 and s.session_name == "-"


# --- media objects ------------------------------------------------------------------------------

def test_media_wrappers_are_shared_and_invalidated_on_removal():
    s = SdpMessage.parse(load("times_bandwidths.sdp"))
    audio, video = s.media
    assert s.media[0] is audio
    s.remove_media(audio)
    with pytest.raises(RuntimeError):
        audio.port
    with pytest.raises(RuntimeError):
        audio.add_attribute("x")
    assert repr(audio) == "<SdpMedia (removed)>"
    assert video.index == 0 and s.media == [video]
    with pytest.raises(ValueError):
        s.remove_media(audio)
    s.remove_media(-1)
    with pytest.raises(RuntimeError):
        video.formats
    assert s.media == []
    with pytest.raises(IndexError):
        s.remove_media(0)
    with pytest.raises(TypeError):
        s.remove_media("0")
    assert fields(SdpMessage.parse(bytes(s)))["media"] == []


def test_media_of_another_message_is_refused():
    a = SdpMessage.parse(load("audio_offer.sdp"))
    b = a.copy()
    with pytest.raises(ValueError):
        a.remove_media(b.media[0])
    assert len(a.media) == 1 and len(b.media) == 1


def test_media_keeps_its_message_alive():
    s = SdpMessage.parse(load("audio_offer.sdp"))
    ref = weakref.ref(s)
    audio = s.media[0]
    del s
    gc.collect()
    assert ref() is not None
    assert audio.rtpmap(0) == ("PCMU", 8000, None)
    assert audio.message is ref()


def test_media_cannot_be_made_directly():
    with pytest.raises(TypeError):
        SdpMedia()
    orphan = SdpMedia.__new__(SdpMedia)
    with pytest.raises(RuntimeError):
        orphan.port


# --- construction, identity, copies ----------------------------------------------------------------

def test_constructor_refuses_native_address():
    for value in (0, 140234567890, True):
        with pytest.raises(TypeError, match="native address"):
            SdpMessage(value)
        with pytest.raises(TypeError):
            SdpMessage.parse(value)


def test_constructor_parses_and_cannot_be_reinitialised():
    s = SdpMessage(load("audio_offer.sdp"))
    assert s.session_name == "Talk"
    with pytest.raises(RuntimeError):
        s.__init__()
    blank = SdpMessage.__new__(SdpMessage)
    with pytest.raises(RuntimeError):
        blank.to_bytes()
    with pytest.raises(RuntimeError):
        blank.ptr
    assert "empty" in repr(blank)


def test_ptr_is_a_read_only_address():
    s = SdpMessage.parse(load("audio_offer.sdp"))
    assert isinstance(s.ptr, int) and s.ptr != 0 and s.ptr == s.ptr
    assert s.copy().ptr != s.ptr
    with pytest.raises(AttributeError):
        s.ptr = 1


def test_copy_is_independent_and_pickles():
    s = SdpMessage.parse(load("ice_webrtc.sdp"))
    for c in (s.copy(), copy.copy(s), copy.deepcopy(s), pickle.loads(pickle.dumps(s))):
        assert isinstance(c, SdpMessage) and c is not s
        assert bytes(c) == bytes(s)
        c.session_name = "changed"
        c.media[0].port = 1
        assert s.session_name == "-" and s.media[0].port == 9


def test_repr_and_str():
    s = SdpMessage.parse(load("audio_video.sdp"))
    assert repr(s) == "<SdpMessage origin=203.0.113.7 media=[audio:50000 video:50002]>"
    assert repr(s.media[1]) == "<SdpMedia video 50002 RTP/AVP 97 98>"
    assert str(s) == bytes(s).decode()


def test_module_exports_and_docstrings():
    for name in sdp.__all__:
        assert hasattr(sdp, name), name
    public = [SdpMessage, SdpMedia, Origin, Connection, Bandwidth, Timing, Attribute, RtpMap]
    for cls in public:
        assert cls.__doc__, cls
    for cls in (SdpMessage, SdpMedia):
        for name, member in vars(cls).items():
            if not name.startswith("_"):
                assert getattr(member, "__doc__", None), "%s.%s has no docstring" % (cls.__name__, name)
    assert sdp.__doc__


# --- hostile input --------------------------------------------------------------------------------

MINIMAL = b"v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\ns=-\r\nt=0 0\r\n"


@pytest.mark.parametrize("data", [
    b"", b"   \r\n", b"hello world", b"\xff\xfe\x00\x01", b"v=0", b"v=0\r\n", b"=\r\n=\r\n",
    b"v=0\r\no=- 1\r\ns=-\r\nt=0 0\r\n",                               # short origin
    MINIMAL.replace(b"s=-\r\n", b""),                                   # no session name
    MINIMAL.replace(b"t=0 0\r\n", b""),                                 # no time
    MINIMAL.replace(b"v=0", b"v=x"),                                    # version not a number
    MINIMAL.replace(b"t=0 0", b"t=now later"),                          # times not numbers
    MINIMAL + b"m=audio port RTP/AVP 0\r\n",                            # port not a number
    MINIMAL + b"m=audio 99999 RTP/AVP 0\r\n",                           # port out of range
    MINIMAL + b"m=audio 1/x RTP/AVP 0\r\n",                             # number of ports
    MINIMAL + b"b=AS:fast\r\n",                                         # bandwidth not a number
    MINIMAL + b"x=unknown\r\n",
    MINIMAL + b"a=\r\n",
    MINIMAL + b"a=x:\r\n",
    MINIMAL[:-2] + b"\0" + b"\r\nm=audio 1 RTP/AVP 0\r\n",               # NUL byte
    b"\0" + MINIMAL,
    MINIMAL + b"m=aud",                                                 # truncated
], ids=lambda d: repr(d[:24]))
def test_hostile_bytes_raise_syntax_error(data):
    with pytest.raises(error.OsipSyntaxError) as info:
        SdpMessage.parse(data)
    assert info.value.code == -5
    assert isinstance(info.value, ValueError)


@pytest.mark.parametrize("data", [None, 1.5, [MINIMAL], {"v": 0}, object(), 42])
def test_hostile_types_raise_type_error(data):
    with pytest.raises(TypeError):
        SdpMessage.parse(data)


def test_every_truncation_of_a_real_body():
    raw = load("ice_webrtc.sdp")
    parsed = 0
    for n in range(len(raw) + 1):
        try:
            s = SdpMessage.parse(raw[:n])
        except error.OsipSyntaxError:
            continue
        parsed += 1
        assert SdpMessage.parse(bytes(s)).to_bytes() == bytes(s)
    assert parsed > len(raw) // 2  # every cut after t= still parses


def test_non_utf8_text_survives_round_trip():
    raw = MINIMAL.replace(b"s=-", b"s=caf\xe9 \xff") + b"a=tool:\x80\x81\r\n"
    s = SdpMessage.parse(raw)
    assert s.session_name == "caf\udce9 \udcff"
    assert s.attribute("tool") == "\udc80\udc81"
    assert bytes(s) == raw
    s.session_name = s.session_name  # written back unchanged
    assert bytes(s) == raw
    with pytest.raises(UnicodeError):
        s.session_name = "\ud800"


def test_limits_on_size_and_lines():
    assert MAX_SIZE == 65536 and MAX_LINES == 4096
    many = MINIMAL + b"a=x\r\n" * (MAX_LINES - 10)
    s = SdpMessage.parse(many)
    assert len(s.attributes) == MAX_LINES - 10
    assert bytes(s) == many
    with pytest.raises(error.OsipSyntaxError, match="MAX_LINES"):
        SdpMessage.parse(MINIMAL + b"a=x\r\n" * MAX_LINES)
    with pytest.raises(error.OsipSyntaxError, match="MAX_LINES"):
        SdpMessage.parse(MINIMAL + b"\n" * (MAX_LINES + 1))
    with pytest.raises(error.OsipSyntaxError, match="MAX_SIZE"):
        SdpMessage.parse(MINIMAL + b"a=x:" + b"y" * MAX_SIZE + b"\r\n")
    long_line = MINIMAL + b"a=x:" + b"y" * (MAX_SIZE - 200) + b"\r\n"
    assert len(SdpMessage.parse(long_line).attribute("x")) == MAX_SIZE - 200


def test_last_line_without_line_break():
    s = SdpMessage.parse(MINIMAL + b"m=audio 1 RTP/AVP 0")
    assert s.media[0].formats == ["0"]
    assert SdpMessage.parse(bytearray(MINIMAL)).times == [(0, 0)]
    assert SdpMessage.parse(memoryview(MINIMAL)).version == 0


def test_random_mutations_never_crash():
    seeds = [load(name) for name in SAMPLES]
    rng = random.Random(20261127)
    alphabet = b"v=osticbamrkz :/0123456789\r\n\t\x00\x80\xff-"
    accepted = rejected = 0
    for _ in range(3000):
        data = bytearray(rng.choice(seeds))
        for _ in range(rng.randint(1, 6)):
            pos = rng.randrange(len(data) + 1)
            op = rng.randrange(4)
            if op == 0:
                del data[pos:pos + rng.randint(1, 16)]
            elif op == 1:
                data[pos:pos] = bytes(rng.choice(alphabet) for _ in range(rng.randint(1, 4)))
            elif op == 2 and data:
                data[min(pos, len(data) - 1)] = rng.randrange(256)
            else:
                start = rng.randrange(len(data) + 1)
                data[pos:pos] = data[start:start + rng.randint(0, 40)]
        try:
            s = SdpMessage.parse(bytes(data))
        except error.OsipSyntaxError:
            rejected += 1
            continue
        accepted += 1
        out = bytes(s)
        assert SdpMessage.parse(out).to_bytes() == out
        fields_or_error(s)
    assert accepted > 100 and rejected > 100


def fields_or_error(s):
    try:
        return fields(s)
    except ValueError:  # a malformed rtpmap is reported, not crashed on
        return None


def test_parse_releases_the_gil_and_is_thread_safe():
    raw = load("ice_webrtc.sdp")
    failures = []

    def work():
        try:
            for _ in range(300):
                s = SdpMessage.parse(raw)
                if bytes(s) != raw:
                    failures.append("mismatch")
        except Exception as exc:  # pragma: no cover - reported below
            failures.append(repr(exc))

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not any(t.is_alive() for t in threads)
    assert failures == []


def test_changes_while_another_thread_serialises_are_refused_not_raced():
    # to_bytes() runs without the GIL; a change made meanwhile from another thread
    # must raise RuntimeError instead of racing oSIP2's serialiser.
    s = SdpMessage.parse(MINIMAL + b"a=x:1\r\n" * 3000)
    outputs, refused, other = [], [], []
    stop = threading.Event()

    def serialise():
        try:
            for _ in range(15):
                outputs.append(s.to_bytes())
        finally:
            stop.set()

    def mutate():
        while not stop.is_set():
            try:
                s.add_attribute("y", "2")
                s.remove_attribute("y")
            except RuntimeError as exc:
                refused.append(str(exc))
            except Exception as exc:  # pragma: no cover - reported below
                other.append(repr(exc))

    threads = [threading.Thread(target=serialise), threading.Thread(target=mutate)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not any(t.is_alive() for t in threads)
    assert other == [] and len(outputs) == 15
    assert all("serialised in another thread" in r for r in refused)
    for out in outputs:
        assert len(SdpMessage.parse(out).attributes) in (3000, 3001)


# --- from a SIP message -------------------------------------------------------------------------------

def test_from_message_reads_the_sdp_body():
    body = load("audio_offer.sdp")
    msg = OsipMessage.parse(sip_invite(body))
    s = SdpMessage.from_message(msg)
    assert bytes(s) == body
    del msg
    gc.collect()
    assert s.media[0].rtpmap(0) == ("PCMU", 8000, None)  # independent of the message


def test_from_message_picks_the_sdp_part_of_a_multipart_body():
    sdp_body = load("ipv6.sdp")
    multipart = (
        b"--boundary42\r\nContent-Type: text/plain\r\n\r\nnot an SDP body\r\n"
        b"--boundary42\r\nContent-Type: application/sdp\r\n\r\n" + sdp_body +
        b"\r\n--boundary42--\r\n")
    msg = OsipMessage.parse(sip_invite(multipart, "multipart/mixed;boundary=boundary42",
                                       "MIME-Version: 1.0\r\n"))
    s = SdpMessage.from_message(msg)
    assert s.origin.address == "2001:db8::1"
    assert len(s.media) == 2


def test_from_message_without_body_or_with_another_body():
    with pytest.raises(error.OsipNotFound):
        SdpMessage.from_message(OsipMessage.parse(sip_invite(None)))
    with pytest.raises(error.OsipSyntaxError):
        SdpMessage.from_message(OsipMessage.parse(sip_invite(b"just text\r\n", "text/plain")))
    with pytest.raises(TypeError):
        SdpMessage.from_message(load("audio_offer.sdp"))
    with pytest.raises(TypeError):
        SdpMessage.from_message(None)


# --- memory --------------------------------------------------------------------------------------------

def rss_bytes():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def test_100k_parse_free_cycles_keep_rss_flat():
    raw = load("audio_video.sdp")

    def cycles(n):
        for _ in range(n):
            s = SdpMessage.parse(raw)
            s.media[1].add_attribute("x", "y")
            s.to_bytes()

    cycles(10_000)
    gc.collect()
    before = rss_bytes()
    cycles(100_000)
    gc.collect()
    after = rss_bytes()
    assert after - before < 2 * 1024 * 1024, "RSS grew by %d bytes" % (after - before)


# --- stubs ----------------------------------------------------------------------------------------------

def test_stub_type_checks(tmp_path):
    program = tmp_path / "use_sdp.py"
    program.write_text(
        "from typing import List, Optional\n"
        "from exosip2.sdp import SdpMessage, SdpMedia, RtpMap, Connection\n"
        "s: SdpMessage = SdpMessage.create('192.0.2.1', session_id=1)\n"
        "m: SdpMedia = s.add_media('audio', 4000, 'RTP/AVP', formats=[0])\n"
        "m.add_codec(101, 'telephone-event', 8000, fmtp='0-16')\n"
        "r: Optional[RtpMap] = m.rtpmap(0)\n"
        "c: Optional[Connection] = m.effective_connection\n"
        "names: List[str] = m.formats\n"
        "s.connection = ('IN', 'IP4', '192.0.2.2')\n"
        "data: bytes = bytes(s)\n"
        "port: int = m.port\n")
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    env = dict(os.environ, MYPYPATH=root)
    result = subprocess.run(
        [sys.executable, "-m", "mypy", "--strict", "--no-incremental", "--follow-imports=silent",
         "--cache-dir", str(tmp_path / "cache"), str(program)],
        cwd=root, env=env, capture_output=True, text=True, timeout=240)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("end", [b"\n", b"\r", b"\r\n"])
def test_last_m_line_without_formats_and_a_lone_line_break(end):
    """oSIP2 5.3 reads past the text when the last line is an m= line ended by a lone LF or CR
    (fuzz/corpus/sdp/crash-osip-sdp-*): the body reaches it with CRLF line breaks only, so the
    line parses as an m= line with no formats, whatever the line break."""
    body = b"v=0\ro=- 0 0 IN IP4 0.0.0.0\ns=-\r\nt=0 0" + end + b"m=audio 0 RTP/AVP" + end
    sdp = SdpMessage.parse(body)
    assert [m.type for m in sdp.media] == ["audio"]
    assert b"\r\n\r\n" not in sdp.to_bytes() and b"\n\n" not in sdp.to_bytes()
