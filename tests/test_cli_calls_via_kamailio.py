# SPDX-License-Identifier: Apache-2.0
"""``python -m exosip2 answer --register …`` and ``call … --password …`` through a real
Kamailio that challenges every INVITE from a local user with 407."""

import pytest

from peers.kamailio import kamailio_factory, kamailio_invite_auth  # noqa: F401 (fixtures)
from peers.proc import free_port
from test_cli_register import cli  # noqa: F401 (fixture)

pytestmark = [pytest.mark.peers, pytest.mark.timeout(60)]


@pytest.mark.parametrize("transport", ["udp", "tcp"])
def test_call_with_credentials_reaches_a_registered_answerer(kamailio_invite_auth, cli, transport):
    k = kamailio_invite_auth
    bob = cli("answer", "--port", free_port(), "--transport", transport, "--count", "1",
              "--register", k.aor("bob"), "--password", k.users["bob"], "--expires", "60")
    bob.wait_line("registered %s" % k.aor("bob"), timeout=10)
    alice = cli("call", k.aor("bob"), "--transport", transport, "--from", k.aor("alice"),
                "--password", k.users["alice"], "--duration", "0.5", "--timeout", "10")
    assert alice.finish(20) == 0, (alice.lines, alice.err)
    assert any("call_answered" in line for line in alice.lines), alice.lines
    assert "call ended" in alice.lines
    assert bob.finish(20) == 0, (bob.lines, bob.err)
    assert "unregistered" in bob.lines, bob.lines
    assert "stopped after 1 calls" in bob.lines
    assert bob.err == "" and alice.err == ""
    # The proxy challenged alice's INVITE once and accepted the retry: two INVITEs from alice.
    invites = [r for r in k.seen("INVITE") if "alice" in r.from_uri]
    assert len(invites) == 2, invites
    assert k.bindings("bob") == []


def test_call_with_a_wrong_password_fails_after_two_invites(kamailio_invite_auth, cli):
    k = kamailio_invite_auth
    alice = cli("call", k.aor("bob"), "--from", k.aor("alice"), "--password", "not-the-password",
                "--timeout", "10")
    assert alice.finish(20) == 1, (alice.lines, alice.err)
    assert any("403" in line for line in alice.lines), alice.lines
    assert len(k.seen("INVITE")) == 2


def test_answer_rejects_a_malformed_aor(cli):
    bad = cli("answer", "--port", free_port(), "--register", "alice")
    assert bad.finish(10) == 2
    assert "address of record" in bad.err
