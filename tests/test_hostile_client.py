# SPDX-License-Identifier: Apache-2.0
"""What a hostile or broken peer must not be able to do to our side of a conversation.

- tokens (Call-ID, tags, Via branches, cnonces) are unpredictable and never repeat across fork();
- a registrar or proxy cannot make us send requests without bound (423, 401/407, stale nonces,
  redirect loops, 422): every automatic retry of one request or registration spends one budget;
- digest challenges with very long values or with qop=auth-int only are answered correctly or
  reported as failures, never answered wrongly;
- peer text copied into the headers of our default answers (the Request-URI user in the Contact)
  never makes an answer unparseable.

Every peer is a raw socket on 127.0.0.1 (or a program of the project) on a port chosen at run time;
every wait is bounded and everything started here is stopped here.
"""

import os
import re
import subprocess

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
LIB_DIR = os.path.join(ROOT, "exosip2")


def _osip_flags():
    out = subprocess.run(["pkg-config", "--cflags", "--libs", "libosip2"], capture_output=True, text=True,
                         check=True, timeout=30)
    return out.stdout.split()


def compile_c_test(tmp_path_factory, name):
    """tests/core/NAME.c compiled against core/ (public eXosip2 API only)."""
    assert os.path.exists(os.path.join(LIB_DIR, "libexosip2core.so")), "run `make build` first"
    exe = str(tmp_path_factory.mktemp(name) / name)
    cmd = ["cc", "-std=gnu11", "-Wall", "-Wextra", "-Werror", "-O1", "-g",
           "-I" + os.path.join(ROOT, "core", "include"), os.path.join(ROOT, "tests", "core", name + ".c"),
           "-o", exe, "-L" + LIB_DIR, "-lexosip2core", "-Wl,-rpath," + LIB_DIR] + _osip_flags()
    subprocess.run(cmd, check=True, timeout=120)
    return exe


# --- tokens ---------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def fork_tokens(tmp_path_factory):
    return compile_c_test(tmp_path_factory, "fork_tokens")


TOKEN = re.compile(r"^[0-9a-z]+$")


def _token_lines(exe, children):
    res = subprocess.run([exe, str(children)], capture_output=True, text=True, timeout=60)
    assert res.returncode == 0, "%s\n%s" % (res.stdout, res.stderr)
    rows = {}
    for line in res.stdout.splitlines():
        who, *pairs = line.split()
        rows[who] = dict(p.split("=", 1) for p in pairs)
    assert set(rows) == {"parent"} | {"child%d" % i for i in range(children)}, res.stdout
    return rows


def test_tokens_have_at_least_64_random_bits(fork_tokens):
    """Each token is drawn from 36 symbols: 13 characters carry 67 bits."""
    rows = _token_lines(fork_tokens, 1)
    for who, row in rows.items():
        for key in ("callid", "invite_callid", "tag", "invite_tag"):
            assert TOKEN.match(row[key]) and len(row[key]) >= 13, (who, key, row[key])
        for key in ("branch", "invite_branch"):
            assert row[key].startswith("z9hG4bK"), (who, key, row[key])
            rest = row[key][len("z9hG4bK"):]
            assert TOKEN.match(rest) and len(rest) >= 13, (who, key, row[key])


def test_parent_and_children_of_one_context_never_share_a_token(fork_tokens):
    children = 4
    rows = _token_lines(fork_tokens, children)
    values = [v for row in rows.values() for v in row.values()]
    assert len(values) == 6 * (children + 1)
    assert len(set(values)) == len(values), rows
    # and across runs: nothing carried over from one process to the next
    again = _token_lines(fork_tokens, 1)
    assert not set(values) & {v for row in again.values() for v in row.values()}
