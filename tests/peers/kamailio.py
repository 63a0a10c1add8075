# SPDX-License-Identifier: Apache-2.0
"""A real Kamailio registrar and proxy on 127.0.0.1, started and stopped by the tests.

The configuration is written for each run into a throwaway directory: users and
passwords live in an in-memory hash table, registrations in an in-memory
location table, so no database is needed.  Every request Kamailio receives is
logged on one line starting with ``peers-seen`` so tests can count what went
over the wire.

Variants are chosen with preprocessor symbols (``-A NAME``):

``WITH_INVITE_AUTH``
    INVITE and MESSAGE from a local user must carry proxy credentials (407).
``WITH_INDIALOG_AUTH``
    in-dialog requests from a local user (re-INVITE, BYE, ...) are challenged
    too; ACK and CANCEL never are.
"""

import glob
import os
import re
import time

import pytest

from . import sipprobe
from .proc import LOOPBACK, PeerError, PeerProcess, free_port, pid_alive, require_binary, run_bounded, wait_until

DEFAULT_USERS = {"alice": "alicepw", "bob": "bobpw"}

_NAME_RE = re.compile(r"^[A-Za-z0-9_.!~*'()&=+-]+$")
_PASSWORD_RE = re.compile(r"^[\x21-\x7e]+$")

CONFIG_TEMPLATE = r'''#!KAMAILIO
#
# Registrar and proxy for the exosip2 test suite (generated; one run only).
# Digest authentication against an in-memory user table, bindings kept in
# memory, requests for local users forwarded to their registered contact.

debug=2
log_stderror=yes
fork=yes
children=2
tcp_children=2
dns=no
rev_dns=no
use_dns_cache=no
auto_aliases=no
listen=udp:@HOST@:@PORT@
listen=tcp:@HOST@:@PORT@
alias="localhost:@PORT@"
enable_tls=no
tcp_connection_lifetime=600
server_header="Server: exosip2-test-registrar"
user_agent_header="User-Agent: exosip2-test-registrar"

mpath="@MPATH@"

loadmodule "tm.so"
loadmodule "sl.so"
loadmodule "rr.so"
loadmodule "pv.so"
loadmodule "maxfwd.so"
loadmodule "usrloc.so"
loadmodule "registrar.so"
loadmodule "textops.so"
loadmodule "siputils.so"
loadmodule "xlog.so"
loadmodule "sanity.so"
loadmodule "auth.so"
loadmodule "htable.so"

modparam("tm", "fr_timer", 4000)
modparam("tm", "fr_inv_timer", 15000)
modparam("usrloc", "db_mode", 0)
modparam("usrloc", "timer_interval", 5)
modparam("registrar", "min_expires", @MIN_EXPIRES@)
modparam("registrar", "max_expires", @MAX_EXPIRES@)
modparam("registrar", "default_expires", @DEFAULT_EXPIRES@)
modparam("auth", "nonce_expire", @NONCE_EXPIRE@)
modparam("htable", "htable", "users=>size=6;")

# The user table is filled once, when the module starts.
event_route[htable:mod-init] {
@USERS@
}

request_route {
	xlog("L_NOTICE", "peers-seen method=$rm proto=$pr src=$si:$sp ruri=$ru from=$fu to=$tu callid=$ci cseq=$cs expires=$hdr(Expires) time=$TV(Sn)\n");

	if (!mf_process_maxfwd_header("10")) {
		sl_send_reply("483", "Too Many Hops");
		exit;
	}
	if (!sanity_check()) {
		xlog("L_WARN", "peers-insane src=$si:$sp callid=$ci\n");
		exit;
	}

	# Readiness probes and keep-alives: OPTIONS for the server itself.
	if (is_method("OPTIONS") && uri == myself && $rU == $null) {
		append_to_reply("X-Peer-Instance: @INSTANCE@\r\n");
		sl_send_reply("200", "OK");
		exit;
	}

	# Test hook: an OPTIONS for a local user carrying X-Peer-Lookup is answered
	# here with that user's bindings, one X-Peer-Binding header each.
	if (is_method("OPTIONS") && uri == myself && $rU != $null && is_present_hf("X-Peer-Lookup")) {
		route(REPORT_BINDINGS);
		exit;
	}

	if (is_method("CANCEL")) {
		if (t_check_trans()) {
			route(FORWARD);
		}
		exit;
	}

	if (has_totag()) {
		route(IN_DIALOG);
		exit;
	}

	if (is_method("ACK")) {
		# An ACK without a To tag belongs to a transaction we relayed, or to nothing.
		if (t_check_trans()) {
			route(FORWARD);
		}
		exit;
	}

	# A retransmission of a request already being handled ends here.
	t_check_trans();

	if (is_method("REGISTER")) {
		route(REGISTRAR);
		exit;
	}

#!ifdef WITH_INVITE_AUTH
	if (is_method("INVITE|MESSAGE") && from_uri == myself) {
		route(CREDENTIALS);
	}
#!endif

	if (is_method("INVITE|SUBSCRIBE|REFER")) {
		record_route();
	}

	if (uri == myself) {
		route(LOCATION);
	}
	route(FORWARD);
}

# Requests inside a dialog follow the route set recorded when it was formed.
route[IN_DIALOG] {
#!ifdef WITH_INDIALOG_AUTH
	if (!is_method("ACK|CANCEL") && from_uri == myself) {
		route(CREDENTIALS);
	}
#!endif
	if (loose_route()) {
		route(FORWARD);
	}
	if (is_method("ACK")) {
		if (t_check_trans()) {
			route(FORWARD);
		}
		exit;
	}
	sl_send_reply("404", "No Such Dialog Here");
	exit;
}

route[REGISTRAR] {
	if (uri != myself) {
		sl_send_reply("403", "Not Registering Foreign Domains");
		exit;
	}
	route(CREDENTIALS);
	if (!save("location")) {
		sl_reply_error();
	}
	exit;
}

# Challenge until the request carries credentials, then check them against
# the user table: a wrong password, an unknown user or credentials of another
# user than the one in To (REGISTER) or From (others) get 403.
route[CREDENTIALS] {
	if (has_totag()) {
		# Inside a dialog the To tag is the peer's, so a stateless reply could
		# not be told apart from the peer's: answer statefully, and the ACK of
		# a 407 to a re-INVITE then ends in that transaction.
		t_newtran();
	}
	if ($au == $null) {
		auth_challenge("@REALM@", "@FLAGS@");
		exit;
	}
	if ($sht(users=>$au) == $null) {
		xlog("L_NOTICE", "peers-auth user=$au result=unknown callid=$ci\n");
		send_reply("403", "Forbidden");
		exit;
	}
	pv_auth_check("@REALM@", "$sht(users=>$au)", "0", "1");
	$var(auth) = $rc;
	xlog("L_NOTICE", "peers-auth user=$au result=$var(auth) callid=$ci\n");
	if ($var(auth) == -4 || $var(auth) == -6) {
		# Right password, old nonce: a fresh challenge marked stale.
		auth_challenge("@REALM@", "@STALE_FLAGS@");
		exit;
	}
	if ($var(auth) == -5) {
		# Credentials for another realm only.
		auth_challenge("@REALM@", "@FLAGS@");
		exit;
	}
	if ($var(auth) < 0) {
		send_reply("403", "Forbidden");
		exit;
	}
	consume_credentials();
}

route[LOCATION] {
	if (!lookup("location")) {
		sl_send_reply("404", "Not Found");
		exit;
	}
}

route[REPORT_BINDINGS] {
	if (reg_fetch_contacts("location", "$ru", "peer")) {
		$var(i) = 0;
		while ($var(i) < $ulc(peer=>count)) {
			$var(left) = $(ulc(peer=>expires)[$var(i)]) - $Ts;
			if ($var(left) > 0) {
				append_to_reply("X-Peer-Binding: <$(ulc(peer=>addr)[$var(i)])>;expires=$var(left)\r\n");
			}
			$var(i) = $var(i) + 1;
		}
		reg_free_contacts("peer");
	}
	sl_send_reply("200", "Bindings Reported");
}

route[FORWARD] {
	if (!t_relay()) {
		sl_reply_error();
	}
	exit;
}

# Every request that leaves the proxy, relayed or generated (ACK, CANCEL).
onsend_route {
	if (is_request()) {
		xlog("L_NOTICE", "peers-sent method=$rm proto=$snd(proto) dst=$snd(ip):$snd(port) callid=$ci cseq=$cs\n");
	}
}
'''


def find_module_dir():
    """Directory holding Kamailio's modules (tm.so and friends)."""
    for pattern in ("/usr/lib/*/kamailio/modules", "/usr/lib/kamailio/modules",
                    "/usr/local/lib*/kamailio/modules", "/usr/lib64/kamailio/modules"):
        for d in sorted(glob.glob(pattern)):
            if os.path.exists(os.path.join(d, "tm.so")):
                return d
    raise PeerError("Kamailio modules (tm.so) not found: apt-get install -y --no-install-recommends kamailio")


def render_config(port, users, host=LOOPBACK, realm=None, qop=False, min_expires=1,
                  max_expires=3600, default_expires=3600, nonce_expire=300, module_dir=None,
                  instance="test"):
    """Return the text of a Kamailio configuration for *users* ({name: password}).

    *instance* is echoed in an ``X-Peer-Instance`` header of the replies to
    OPTIONS for the server itself, so a readiness probe can tell this instance
    from another one answering on the same port.
    """
    if not re.match(r"^[A-Za-z0-9-]+$", instance):
        raise ValueError("instance must be alphanumeric")
    lines = []
    for name, password in users.items():
        if not _NAME_RE.match(name):
            raise ValueError("user name %r is not a plain SIP user token" % (name,))
        if not _PASSWORD_RE.match(password) or '"' in password or "\\" in password or "$" in password:
            raise ValueError("password for %r must be printable ASCII without quotes, backslashes, $ or spaces"
                             % (name,))
        lines.append('\t$sht(users=>%s) = "%s";' % (name, password))
    flags = 1 if qop else 0
    values = {
        "@HOST@": host,
        "@PORT@": str(port),
        "@MPATH@": module_dir or find_module_dir(),
        "@REALM@": realm or host,
        "@FLAGS@": str(flags),
        "@STALE_FLAGS@": str(flags | 16),
        "@MIN_EXPIRES@": str(int(min_expires)),
        "@MAX_EXPIRES@": str(int(max_expires)),
        "@DEFAULT_EXPIRES@": str(int(default_expires)),
        "@NONCE_EXPIRE@": str(int(nonce_expire)),
        "@USERS@": "\n".join(lines) if lines else "\t$var(none) = 0;",
        "@INSTANCE@": instance,
    }
    text = CONFIG_TEMPLATE
    for key, value in values.items():
        text = text.replace(key, value)
    return text


_SEEN_RE = re.compile(r"peers-seen method=(\S+) proto=(\S+) src=(\S+) ruri=(\S+) from=(\S+) to=(\S+) "
                      r"callid=(\S+) cseq=(\S+) expires=(\S+) time=(\S+)")


class SeenRequest:
    """One request as Kamailio logged it on arrival.

    ``expires`` is the Expires header as an int (None when absent); ``time`` the
    arrival time in seconds since the epoch (comparable with ``time.time()``).
    """

    __slots__ = ("method", "proto", "source", "ruri", "from_uri", "to_uri", "call_id", "cseq", "expires", "time")

    def __init__(self, match):
        (self.method, self.proto, self.source, self.ruri, self.from_uri, self.to_uri,
         self.call_id, self.cseq, expires, when) = match.groups()
        self.expires = int(expires) if expires.isdigit() else None
        self.time = float(when)

    def __repr__(self):
        return "<%s %s %s from %s cseq %s>" % (self.method, self.proto, self.ruri, self.source, self.cseq)


_SENT_RE = re.compile(r"peers-sent method=(\S+) proto=(\S+) dst=(\S+) callid=(\S+) cseq=(\S+)")
_PROTO_NAMES = {"1": "udp", "2": "tcp", "3": "tls", "4": "sctp", "5": "ws", "6": "wss"}


class SentRequest:
    """One request as Kamailio logged it on leaving (relayed, or generated like a CANCEL or ACK)."""

    __slots__ = ("method", "proto", "destination", "call_id", "cseq")

    def __init__(self, match):
        self.method, proto, self.destination, self.call_id, self.cseq = match.groups()
        self.proto = _PROTO_NAMES.get(proto, proto)

    def __repr__(self):
        return "<sent %s %s to %s cseq %s>" % (self.method, self.proto, self.destination, self.cseq)


class Kamailio:
    """One Kamailio instance: ``host``, ``port``, ``users``, ``realm``, ``uri``, ``aor(user)``.

    Created with its configuration written to *rundir*; :meth:`start` runs it
    and waits until it answers, :meth:`stop` ends it by its pid.  What it saw
    is read back with :meth:`seen`, :meth:`sent`, :meth:`count`, :meth:`register_count`,
    :meth:`auth_results`, and its location table with :meth:`bindings`.
    """

    def __init__(self, rundir, users=None, host=LOOPBACK, port=None, invite_auth=False,
                 indialog_auth=False, qop=False, realm=None, min_expires=1, max_expires=3600,
                 default_expires=3600, nonce_expire=300):
        self.binary = require_binary("kamailio", "kamailio")
        self.rundir = str(rundir)
        os.makedirs(self.rundir, exist_ok=True)
        self.host = host
        self.port = port or free_port(host)
        self.users = dict(DEFAULT_USERS if users is None else users)
        self.realm = realm or host
        self.invite_auth = invite_auth
        self.indialog_auth = indialog_auth
        self.qop = qop
        self.instance = os.urandom(8).hex()
        self.config_path = os.path.join(self.rundir, "kamailio.cfg")
        self.log_path = os.path.join(self.rundir, "kamailio.log")
        self.pid_path = os.path.join(self.rundir, "kamailio.pid")
        with open(self.config_path, "w") as f:
            f.write(render_config(self.port, self.users, host=host, realm=self.realm, qop=qop,
                                  min_expires=min_expires, max_expires=max_expires,
                                  default_expires=default_expires, nonce_expire=nonce_expire,
                                  instance=self.instance))
        argv = [self.binary, "-f", self.config_path, "-DD", "-E", "-w", self.rundir, "-Y", self.rundir,
                "-P", self.pid_path, "-m", "32", "-M", "8"] + self._defines()
        self.process = PeerProcess(argv, self.log_path, cwd=self.rundir, name="kamailio")
        self.workers = []

    def _defines(self):
        """The ``-A`` options selecting the configuration's variant."""
        out = []
        if self.invite_auth:
            out += ["-A", "WITH_INVITE_AUTH"]
        if self.indialog_auth:
            out += ["-A", "WITH_INDIALOG_AUTH"]
        return out

    # --- life cycle -----------------------------------------------------------
    def check_config(self, timeout=10.0):
        """Let Kamailio parse the configuration (``-c``) and raise on errors."""
        rc, out = run_bounded([self.binary, "-c", "-f", self.config_path] + self._defines(), timeout)
        if rc != 0:
            raise PeerError("kamailio rejects its configuration:\n%s" % out[-3000:])

    def start(self, timeout=10.0):
        """Start Kamailio and return once it answers OPTIONS over UDP and TCP."""
        self.process.start()
        deadline = time.monotonic() + timeout
        ready = {"udp": False, "tcp": False}
        while time.monotonic() < deadline:
            if not self.process.running():
                raise PeerError("kamailio exited with %r during start-up:\n%s"
                                % (self.process.returncode(), self.process.log_tail()))
            for proto in ready:
                if not ready[proto]:
                    ready[proto] = self.answers(proto, timeout=0.3)
            if all(ready.values()):
                self.workers = self.process.child_pids()
                self.process.children = list(self.workers)
                return self
            time.sleep(0.05)
        self.stop()
        raise PeerError("kamailio on %s:%d not ready within %.1f s (udp=%s tcp=%s):\n%s"
                        % (self.host, self.port, timeout, ready["udp"], ready["tcp"], self.process.log_tail()))

    def answers(self, proto, timeout=0.3):
        """True when this very instance answers an OPTIONS over *proto* ("udp" or "tcp")."""
        try:
            resp = sipprobe.request(self.host, self.port, proto, "OPTIONS", timeout=timeout)
        except (sipprobe.ProbeError, OSError):
            return False
        return resp.status == 200 and resp.header("x-peer-instance") == self.instance

    def stop(self):
        """Stop Kamailio by its own pid; return its exit code."""
        return self.process.stop(term_timeout=5.0, kill_timeout=3.0)

    @property
    def pid(self):
        return self.process.pid

    def all_pids(self):
        return [self.process.pid] + list(self.workers)

    def running(self):
        return self.process.running()

    # --- what went over the wire ------------------------------------------------
    @property
    def uri(self):
        """The registrar's SIP URI, e.g. ``sip:127.0.0.1:5060``."""
        return "sip:%s:%d" % (self.host, self.port)

    def aor(self, user):
        """Address of record of *user* in this registrar's domain."""
        return "sip:%s@%s:%d" % (user, self.host, self.port)

    def log_text(self):
        return self.process.log_text()

    def bindings(self, user, timeout=2.0):
        """The registered contacts of *user*, as ``[(contact_uri, seconds_left), ...]``.

        Asked of Kamailio itself (an OPTIONS with ``X-Peer-Lookup``, answered
        from its location table), so it shows exactly what a lookup would use.
        """
        resp = sipprobe.request(self.host, self.port, "udp", "OPTIONS", uri=self.aor(user),
                                to_uri=self.aor(user), extra_headers=["X-Peer-Lookup: 1"], timeout=timeout)
        if resp.status != 200:
            raise PeerError("binding lookup for %s failed: %r" % (user, resp))
        out = []
        for value in resp.headers.get("x-peer-binding", []):
            m = re.match(r"<([^>]*)>;expires=(-?\d+)", value)
            if not m:
                raise PeerError("unexpected binding report %r" % value)
            out.append((m.group(1), int(m.group(2))))
        return out

    def seen(self, method=None, user=None, proto=None):
        """Requests Kamailio has logged, optionally filtered by method, To/R-URI user and transport."""
        out = []
        for m in _SEEN_RE.finditer(self.log_text()):
            req = SeenRequest(m)
            if method is not None and req.method != method:
                continue
            if proto is not None and req.proto.lower() != proto.lower():
                continue
            if user is not None and not (req.to_uri.startswith("sip:%s@" % user)
                                         or req.ruri.startswith("sip:%s@" % user)):
                continue
            out.append(req)
        return out

    def sent(self, method=None, call_id=None):
        """Requests Kamailio has sent on, optionally filtered by method and Call-ID."""
        out = []
        for m in _SENT_RE.finditer(self.log_text()):
            req = SentRequest(m)
            if method is not None and req.method != method:
                continue
            if call_id is not None and req.call_id != call_id:
                continue
            out.append(req)
        return out

    def count(self, method, user=None, proto=None):
        """Number of *method* requests seen (retransmissions included)."""
        return len(self.seen(method, user, proto))

    def register_count(self, user=None, proto=None):
        """Number of REGISTER requests seen, optionally for one user (by To)."""
        return self.count("REGISTER", user, proto)

    def auth_results(self, user=None):
        """Return codes of the credential checks, in order (1 success, -2 wrong password, ...)."""
        out = []
        for m in re.finditer(r"peers-auth user=(\S+) result=(\S+)", self.log_text()):
            if user is None or m.group(1) == user:
                out.append(m.group(2))
        return out

    def wait_for(self, method, count, timeout=5.0, user=None):
        """Wait until at least *count* *method* requests have been seen; return the number."""
        return wait_until(lambda: self.count(method, user) >= count, timeout) and self.count(method, user)

    def __repr__(self):
        return "<Kamailio %s:%d pid=%s>" % (self.host, self.port, self.process.pid)


def start_kamailio(rundir, **options):
    """Create, start and return a :class:`Kamailio`; see its constructor for *options*."""
    k = Kamailio(rundir, **options)
    k.start()
    return k


@pytest.fixture
def kamailio_factory(tmp_path):
    """Start Kamailio instances on demand; all are stopped, and checked gone, at teardown.

    ``kamailio_factory(users=..., invite_auth=True, qop=True, ...)`` returns a running
    :class:`Kamailio`.
    """
    started = []

    def make(**options):
        rundir = tmp_path / ("kamailio-%d" % len(started))
        k = Kamailio(rundir, **options)
        started.append(k)
        k.start()
        return k

    yield make
    problems = []
    for k in started:
        try:
            k.stop()
        except PeerError as exc:
            problems.append(str(exc))
        left = [p for p in k.all_pids() if p and pid_alive(p)]
        if left:
            problems.append("kamailio processes still alive after stop: %r" % left)
    if problems:
        pytest.fail("; ".join(problems))


@pytest.fixture
def kamailio(kamailio_factory):
    """A running Kamailio registrar with users alice/alicepw and bob/bobpw."""
    return kamailio_factory()


@pytest.fixture
def kamailio_invite_auth(kamailio_factory):
    """Like ``kamailio``, but INVITE and MESSAGE from local users need proxy credentials (407)."""
    return kamailio_factory(invite_auth=True)
