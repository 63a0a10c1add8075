# SPDX-License-Identifier: Apache-2.0
"""Sphinx configuration for the exosip2 documentation (``make docs``).

The API reference is read from the compiled package: by default the in-place build of this
checkout (``make build``), or, with ``EXOSIP2_DOCS_INSTALLED=1``, whatever ``import exosip2``
finds (an installed wheel).
"""

import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(HERE, "_ext"))
if os.environ.get("EXOSIP2_DOCS_INSTALLED", "") != "1":
    sys.path.insert(0, ROOT)

# Document the compiled modules themselves (their docstrings carry the embedded signatures), not the
# .pyi stubs Sphinx would otherwise load for a native module not yet imported.
os.environ["SPHINX_AUTODOC_IGNORE_NATIVE_MODULE_TYPE_STUBS"] = "1"

import importlib  # noqa: E402

import exosip2  # noqa: E402  (after the path is set)

PUBLIC_MODULES = ["context", "event", "call", "request", "register", "message", "sdp", "error", "utils", "version"]
for _name in PUBLIC_MODULES:
    importlib.import_module("exosip2." + _name)

project = "exosip2"
author = "the exosip2 authors"
copyright = "the exosip2 authors; Apache-2.0"
release = exosip2.__version__
version = ".".join(release.split(".")[:2])

extensions = ["sphinx.ext.autodoc", "capi_coverage", "shortnames"]
exclude_patterns = ["_build", "tutorials/*.py"]
html_theme = "furo"
html_title = "exosip2 %s" % release
html_static_path = []

# The Cython modules embed their signatures in the first docstring line; autodoc reads them there.
autodoc_docstring_signature = True
autodoc_member_order = "bysource"
autodoc_default_options = {"members": True, "undoc-members": False, "show-inheritance": True}
add_module_names = False

# Built offline, so the standard library is not linked (no intersphinx inventory); every other
# reference must resolve (-n).
nitpicky = True
nitpick_ignore_regex = [
    (r"py:(class|exc|func|meth|mod|obj|data|attr)",
     r"(concurrent|threading|asyncio|socket|logging|enum|typing|collections|queue)(\..*)?"),
    (r"py:(class|exc|obj)", r"(str|bytes|bytearray|memoryview|int|float|bool|None|object|dict|list|tuple|"
                           r"callable|RuntimeError|ValueError|TypeError|MemoryError|TimeoutError|KeyError|"
                           r"LookupError|OSError|PermissionError|FileNotFoundError|ResourceWarning|"
                           r"StopAsyncIteration|Exception)"),
    # exosip2.call's module docstring says each class "sends it with :meth:`send`": every class there
    # has its own send(), so the short name has no single target.
    (r"py:meth", r"send"),
]

# C API coverage table (docs/_ext/capi_coverage.py): what it reads.
capi_headers = os.path.join(ROOT, "core", "include", "eXosip2")
capi_sources = os.path.join(ROOT, "core", "src")
capi_binding = os.path.join(ROOT, "exosip2")
