# SPDX-License-Identifier: Apache-2.0
"""``python -m exosip2 watch`` and ``publish`` as real subprocesses, against Kamailio's presence server
and against one of our contexts."""

import signal
import subprocess
import sys

import pytest

from exosip2._cli_presence import describe_notify, pidf
from exosip2.event import EventType
from peers.kamailio_presence import presence_server  # noqa: F401 (fixture)
from test_cli_calls import ENV, ROOT, run, wait_for_line
from uapair import UA


def start(*args):
    return subprocess.Popen([sys.executable, "-m", "exosip2", *args], cwd=ROOT, env=ENV, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def stop(proc, timeout=20):
    if proc.poll() is None:
        proc.send_signal(signal.SIGINT)
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, err = proc.communicate()
    return out, err


@pytest.mark.parametrize("transport", ["udp", "tcp"])
def test_watch_and_publish_through_kamailio(presence_server, transport):  # noqa: F811
    k = presence_server
    bob = "sip:bob@127.0.0.1:%d" % k.port
    pub = run("publish", bob, "--status", "open", "--note", "in <the> office", "--password", k.users["bob"],
              "--transport", transport, timeout=30)
    assert pub.returncode == 0, pub.stdout + pub.stderr
    assert "publish: challenged 407" in pub.stdout
    assert "publish: published status=open" in pub.stdout and pub.stderr == ""
    watch = start("watch", bob, "--from", "sip:alice@127.0.0.1:%d" % k.port, "--transport", transport)
    try:
        lines = wait_for_line(watch, r"watch: NOTIFY active .*basic=open note=in &lt;the&gt; office")
        assert any("watch: subscribing to %s (presence, %s" % (bob, transport) in line for line in lines)
        closed = run("publish", bob, "--status", "closed", "--password", k.users["bob"], "--transport", transport,
                     timeout=30)
        assert closed.returncode == 0, closed.stdout + closed.stderr
        wait_for_line(watch, r"watch: NOTIFY active .*basic=closed")
    finally:
        out, err = stop(watch)
    assert watch.returncode == 0, out + err
    assert "watch: unsubscribing" in out and out.rstrip().endswith("watch: unsubscribed")
    assert "watch: NOTIFY terminated" in out
    assert err == ""


def test_publish_refused_and_bad_arguments(presence_server):  # noqa: F811
    k = presence_server
    bob = "sip:bob@127.0.0.1:%d" % k.port
    wrong = run("publish", bob, "--status", "open", "--password", "not-the-password", timeout=30)
    assert wrong.returncode == 1 and "publish: failed 403" in wrong.stdout, wrong.stdout + wrong.stderr
    none = run("publish", bob, "--status", "open", timeout=30)
    assert none.returncode == 1 and "publish: failed 407" in none.stdout, none.stdout + none.stderr
    bad = run("publish", "bob@nowhere", "--status", "open")
    assert bad.returncode == 2 and "error: the address of record must be a sip: URI" in bad.stderr
    bad = run("watch", bob, "--expires", "-1")
    assert bad.returncode == 2 and "--expires" in bad.stderr
    bad = run("publish", bob)
    assert bad.returncode == 2 and "--status" in bad.stderr


def test_watch_our_own_notifier_until_it_terminates():
    """The notifier is one of our contexts: it accepts, notifies twice, then terminates the subscription."""
    from exosip2 import notify

    b = UA("bob")
    watch = start("watch", b.uri, "--event", "dialog", "--expires", "30")
    try:
        new = b.expect(EventType.in_subscription_new, timeout=15)
        assert new.request.get_header("Event") == "dialog"
        b.ctx.insubscription_send_answer(new.tid, 200)
        n = notify.Notify(b.ctx, new.did, notify.SubscriptionState.active)
        n.set_body("<dialog-info/>", "application/dialog-info+xml")
        n.send()
        b.expect(EventType.notification_answered)
        wait_for_line(watch, r"watch: NOTIFY active \(expires=\d+\)")
        notify.Notify(b.ctx, new.did, notify.SubscriptionState.terminated, notify.SubscriptionReason.rejected).send()
        b.expect(EventType.notification_answered)
        out, err = watch.communicate(timeout=15)
    finally:
        if watch.poll() is None:
            stop(watch)
        b.close()
    assert watch.returncode == 0, out + err
    assert "watch: NOTIFY terminated (reason=rejected)" in out
    assert out.rstrip().endswith("watch: terminated by the notifier")


def test_watch_refused():
    b = UA("bob")
    watch = start("watch", b.uri)
    try:
        new = b.expect(EventType.in_subscription_new, timeout=15)
        b.ctx.insubscription_send_answer(new.tid, 489)
        out, err = watch.communicate(timeout=15)
    finally:
        if watch.poll() is None:
            stop(watch)
        b.close()
    assert watch.returncode == 1 and "watch: failed 489" in out, out + err


def test_pidf_escapes_and_describe():
    doc = pidf('sip:a"b@x', "open", "1 < 2 & 3")
    assert "<note>1 &lt; 2 &amp; 3</note>" in doc and 'entity="sip:a&quot;b@x"' in doc
    assert "<basic>open</basic>" in doc
