# SPDX-License-Identifier: Apache-2.0
"""Kamailio as a presence server (presence, presence_xml on db_sqlite) on 127.0.0.1, for the tests.

Debian's ``kamailio-presence-modules`` and ``kamailio-sqlite-modules``: the fixture creates a
throwaway SQLite file with the tables Kamailio's own schema scripts define, then runs the same
:class:`~peers.kamailio.Kamailio` machinery (readiness probe, ``peers-seen`` log lines, stop by pid)
with a configuration of its own: PUBLISH must carry credentials of the presentity's user (digest
against an in-memory table), REGISTER too (bindings in memory, for user agents such as baresip that
publish once registered), SUBSCRIBE is handled by the presence module.
"""

import os
import sqlite3

import pytest

from .kamailio import Kamailio, find_module_dir
from .proc import LOOPBACK, PeerError

SCHEMA_DIR = "/usr/share/kamailio/db_sqlite"
SCHEMAS = ("standard-create.sql", "presence-create.sql")

CONFIG = r'''#!KAMAILIO
debug=2
log_stderror=yes
fork=yes
# one worker per transport: db_sqlite sets no busy timeout, so two workers writing the presentity
# table at once make one of them fail ("database is locked") and answer 500
children=1
tcp_children=1
dns=no
rev_dns=no
use_dns_cache=no
auto_aliases=no
listen=udp:@HOST@:@PORT@
listen=tcp:@HOST@:@PORT@
enable_tls=no

mpath="@MPATH@"

loadmodule "tm.so"
loadmodule "sl.so"
loadmodule "rr.so"
loadmodule "pv.so"
loadmodule "maxfwd.so"
loadmodule "textops.so"
loadmodule "siputils.so"
loadmodule "xlog.so"
loadmodule "sanity.so"
loadmodule "auth.so"
loadmodule "htable.so"
loadmodule "usrloc.so"
loadmodule "registrar.so"
loadmodule "db_sqlite.so"
loadmodule "presence.so"
loadmodule "presence_xml.so"

modparam("htable", "htable", "users=>size=6;")
modparam("usrloc", "db_mode", 0)
modparam("presence", "db_url", "sqlite:///@DB@")
modparam("presence", "server_address", "sip:@HOST@:@PORT@")
modparam("presence", "clean_period", 5)
modparam("presence", "min_expires", 0)
modparam("presence", "subs_db_mode", 0)
modparam("presence_xml", "db_url", "sqlite:///@DB@")
modparam("presence_xml", "force_active", 1)

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
		exit;
	}
	if (is_method("OPTIONS") && uri == myself && $rU == $null) {
		append_to_reply("X-Peer-Instance: @INSTANCE@\r\n");
		sl_send_reply("200", "OK");
		exit;
	}
	if (is_method("REGISTER")) {
		route(CREDENTIALS);
		if (!save("location")) {
			sl_reply_error();
		}
		exit;
	}
	if (is_method("PUBLISH")) {
		route(CREDENTIALS);
		if (!t_newtran()) {
			sl_reply_error();
			exit;
		}
		handle_publish();
		t_release();
		exit;
	}
	if (is_method("SUBSCRIBE")) {
		if (!t_newtran()) {
			sl_reply_error();
			exit;
		}
		handle_subscribe();
		t_release();
		exit;
	}
	sl_send_reply("405", "Method Not Allowed");
}

route[CREDENTIALS] {
	if ($au == $null) {
		auth_challenge("@REALM@", "0");
		exit;
	}
	if ($sht(users=>$au) == $null || $au != $tU) {
		send_reply("403", "Forbidden");
		exit;
	}
	pv_auth_check("@REALM@", "$sht(users=>$au)", "0", "0");
	if ($rc < 0) {
		send_reply("403", "Forbidden");
		exit;
	}
	consume_credentials();
}

onsend_route {
	if (is_request()) {
		xlog("L_NOTICE", "peers-sent method=$rm proto=$snd(proto) dst=$snd(ip):$snd(port) callid=$ci cseq=$cs\n");
	}
}
'''


def create_database(path):
    """The tables presence and presence_xml use (Kamailio's own SQLite schema scripts)."""
    missing = [s for s in SCHEMAS if not os.path.exists(os.path.join(SCHEMA_DIR, s))]
    if missing:
        raise PeerError("Kamailio SQLite schemas missing (%s): apt-get install -y --no-install-recommends "
                        "kamailio-sqlite-modules kamailio-presence-modules" % ", ".join(missing))
    with sqlite3.connect(path) as db:
        db.execute("PRAGMA journal_mode=WAL")  # kept in the file: readers never block the writer
        for name in SCHEMAS:
            with open(os.path.join(SCHEMA_DIR, name)) as f:
                db.executescript(f.read())


class KamailioPresence(Kamailio):
    """A Kamailio presence server; ``uri``, ``aor(user)``, ``seen()``, ``sent()`` as in Kamailio."""

    def __init__(self, rundir, users=None, host=LOOPBACK, port=None):
        super().__init__(rundir, users=users, host=host, port=port)
        module_dir = find_module_dir()
        for mod in ("presence.so", "presence_xml.so", "db_sqlite.so"):
            if not os.path.exists(os.path.join(module_dir, mod)):
                raise PeerError("Kamailio module %s missing: apt-get install -y --no-install-recommends "
                                "kamailio-presence-modules kamailio-sqlite-modules" % mod)
        self.db_path = os.path.join(self.rundir, "presence.sqlite")
        create_database(self.db_path)
        users = "\n".join('\t$sht(users=>%s) = "%s";' % kv for kv in self.users.items())
        text = CONFIG
        for key, value in {"@HOST@": host, "@PORT@": str(self.port), "@MPATH@": module_dir, "@DB@": self.db_path,
                           "@REALM@": self.realm, "@USERS@": users, "@INSTANCE@": self.instance}.items():
            text = text.replace(key, value)
        with open(self.config_path, "w") as f:
            f.write(text)

    def _defines(self):
        return []


@pytest.fixture
def presence_server(tmp_path):
    """A started Kamailio presence server, stopped (by its pid) after the test."""
    k = KamailioPresence(str(tmp_path / "presence"))
    k.check_config()
    k.start()
    yield k
    k.stop()
