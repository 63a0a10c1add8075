# SPDX-License-Identifier: Apache-2.0
"""The documentation builds warning-free with every reference resolved, documents every public name,
and its tutorials run as written against real peers (SIPp, Kamailio, a second context)."""

import glob
import html
import importlib
import os
import re
import subprocess
import sys

import pytest

from peers.kamailio import kamailio, kamailio_factory  # noqa: F401 (fixtures)
from peers.sipp_fixtures import sipp_factory  # noqa: F401 (fixture)

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DOCS = os.path.join(ROOT, "docs")
TUTORIALS = os.path.join(DOCS, "tutorials")
ENV = dict(os.environ, PYTHONPATH=ROOT)
PUBLIC_MODULES = ["context", "event", "call", "request", "register", "message", "headers", "sdp", "error", "utils",
                  "options", "trace", "version",
                  "subscribe", "notify", "publish", "serve"]

pytestmark = pytest.mark.timeout(180)


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    out = tmp_path_factory.mktemp("docs")
    proc = subprocess.run([sys.executable, "-m", "sphinx", "-b", "html", "-W", "--keep-going", "-n", "-q",
                           "-d", str(out / "doctrees"), DOCS, str(out / "html")], cwd=ROOT, env=ENV,
                          capture_output=True, text=True, timeout=170)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stderr == ""
    return out / "html"


def text_of(built, page):
    raw = (built / page).read_text(encoding="utf-8")
    return html.unescape(re.sub(r"<[^>]+>", "", raw)), raw


def test_every_source_page_is_built(built):
    sources = {os.path.relpath(p, DOCS)[:-4] for p in glob.glob(os.path.join(DOCS, "**", "*.rst"), recursive=True)}
    assert {"index", "porting", "threading", "capi", "install", "changelog", "tutorials/index",
            "api/index", "api/exosip2"} <= sources
    for source in sources:
        assert (built / (source + ".html")).is_file(), source


def test_api_reference_documents_every_public_name_with_its_signature(built):
    for name in PUBLIC_MODULES:
        module = importlib.import_module("exosip2." + name)
        _, raw = text_of(built, "api/%s.html" % name)
        public = getattr(module, "__all__", None) or [n for n in vars(module) if not n.startswith("_")
                                                      and getattr(vars(module)[n], "__module__", None)
                                                      == module.__name__]
        for attr in public:
            assert 'id="exosip2.%s.%s"' % (name, attr) in raw, "exosip2.%s.%s is not documented" % (name, attr)
    _, raw = text_of(built, "api/exosip2.html")
    for attr in ("initialize", "DLL_NAME"):
        assert 'id="exosip2.%s"' % attr in raw
    text, _ = text_of(built, "api/context.html")
    # the signatures Cython embeds in the docstrings are what the reference shows
    assert "add_authentication_info(self, user_name, user_id, password, realm, ha1=None)" in text
    assert "call_send_ack(self, did=None, ack=None, tid=None)" in text


def test_capi_table_lists_every_declared_function(built):
    sys.path.insert(0, os.path.join(DOCS, "_ext"))
    try:
        import capi_coverage
    finally:
        sys.path.pop(0)
    per_header, options, events, missing = capi_coverage.coverage(
        os.path.join(ROOT, "core", "include", "eXosip2"), os.path.join(ROOT, "core", "src"),
        os.path.join(ROOT, "exosip2"))
    assert missing == []
    functions = [f for _, rows in per_header for f, _, _ in rows]
    assert "eXosip_call_send_ack" in functions and "eXosip_register_build_initial_register" in functions
    text, _ = text_of(built, "capi.html")
    for name in functions + [o for o, _, _ in options] + [e for e, _ in events]:
        assert name in text, name
    # what the binding calls is read from the .pyx files
    calls = dict((f, m) for _, rows in per_header for f, _, m in rows)
    assert calls["eXosip_call_send_ack"] == ["exosip2.context"]


def included_programs():
    found = set()
    for path in glob.glob(os.path.join(TUTORIALS, "*.rst")):
        for target in re.findall(r"^\.\. literalinclude:: (\S+)", open(path).read(), re.M):
            found.add(os.path.normpath(os.path.join(TUTORIALS, target)))
    return found


def run_tutorial(name, *args, timeout=60):
    return subprocess.run([sys.executable, os.path.join(TUTORIALS, name)] + list(args), env=ENV, cwd=TUTORIALS,
                          capture_output=True, text=True, timeout=timeout)


RUN_HERE = {"uas.py", "uac.py", "register.py", "asyncio_call.py"}


def test_every_included_program_is_run_by_this_file():
    assert {os.path.basename(p) for p in included_programs()} == RUN_HERE
    assert all(os.path.dirname(p) == TUTORIALS for p in included_programs())


@pytest.mark.peers
def test_tutorial_uas_answers_sipp(sipp_factory):  # noqa: F811
    uas = subprocess.Popen([sys.executable, os.path.join(TUTORIALS, "uas.py"), "0", "2"], env=ENV,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        m = re.match(r"uas: listening on 127\.0\.0\.1:(\d+)", uas.stdout.readline())
        assert m
        uac = sipp_factory("uac", "127.0.0.1:%s" % m.group(1), calls=2, rate=10, pause_ms=100, timeout_s=30)
        result = uac.start(wait_bound=False).wait()
        result.assert_clean(2)
        out, err = uas.communicate(timeout=30)
        assert uas.returncode == 0 and err == "", err
        assert out.strip() == "uas: 2 calls released"
    finally:
        if uas.poll() is None:
            uas.kill()
            uas.communicate(timeout=10)


@pytest.mark.peers
def test_tutorial_uac_calls_sipp(sipp_factory):  # noqa: F811
    uas = sipp_factory("uas", calls=1, timeout_s=30)
    uas.start()
    out = run_tutorial("uac.py", "sip:service@127.0.0.1:%d" % uas.port)
    assert out.returncode == 0, out.stdout + out.stderr
    assert out.stderr == ""
    assert out.stdout.splitlines()[-1] == "uac: [('answered', 200)]"
    result = uas.wait()
    assert result.returncode == 0 and result.successful == 1, result.describe()


@pytest.mark.peers
def test_tutorial_register_with_kamailio(kamailio):  # noqa: F811
    out = run_tutorial("register.py", kamailio.uri, "alice", "alicepw")
    assert out.returncode == 0, out.stdout + out.stderr
    assert out.stderr == ""
    assert out.stdout.splitlines() == ["register: registration_failure 401", "register: registration_success 200",
                                       "register: registration_success 200"]
    assert [r.expires for r in kamailio.seen("REGISTER", user="alice")] == [300, 300, 0]
    assert kamailio.bindings("alice") == []


@pytest.mark.peers
def test_tutorial_register_reports_a_wrong_password(kamailio):  # noqa: F811
    out = run_tutorial("register.py", kamailio.uri, "alice", "not-the-password")
    assert out.returncode == 1
    assert out.stdout.splitlines()[-1] == "register: registration_failure 403"


def test_tutorial_asyncio_call():
    out = run_tutorial("asyncio_call.py")
    assert out.returncode == 0, out.stdout + out.stderr
    assert out.stderr == ""
    lines = out.stdout.splitlines()
    bob = [line for line in lines if line.startswith("bob:")]
    alice = [line for line in lines if line.startswith("alice:")]
    # the BYE is reported (answered by the stack) before the call's end, as in eXosip2 5.3
    assert bob == ["bob: message_new", "bob: call_invite", "bob: call_ack", "bob: call_message_new",
                   "bob: call_closed", "bob: call_released"]
    assert alice[0] == "alice: MESSAGE answered 200"
    assert "alice: call_answered" in alice and alice[-1] == "alice: call_released"
    # the page shows the same events, in the same order for each side
    page = open(os.path.join(TUTORIALS, "asyncio.rst")).read()
    shown = re.findall(r"^    ((?:alice|bob): (?:\w+|MESSAGE answered \d+))$", page, re.M)
    assert [s for s in shown if s.startswith("bob:")] == bob
    assert [s for s in shown if s.startswith("alice:")] == alice


def test_limits_page_names_every_core_option():
    """docs/limits.rst has a row for every EXOSIP_CORE_OPT_* limit of eX_core.h, by its Option name."""
    import re

    from exosip2.options import Option

    header = open(os.path.join(ROOT, "core", "include", "eXosip2", "eX_core.h")).read()
    page = open(os.path.join(DOCS, "limits.rst")).read()
    names = re.findall(r"#define EXOSIP_CORE_OPT_(\w+) \(EXOSIP_CORE_OPT_BASE \+", header)
    assert len(names) >= 14
    for name in names:
        assert "``%s``" % name in page, "docs/limits.rst does not list %s" % name
        assert Option[name] == Option[name].value  # the Python name exists
