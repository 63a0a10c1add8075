# SPDX-License-Identifier: Apache-2.0
"""Resolve the short names the docstrings use (``:class:`OsipSyntaxError``` in exosip2.message) to the
one object of that name the API reference documents, so every reference links and ``-n`` stays strict.

A name documented in several places stays unresolved (and ``-n`` reports it).
"""

from sphinx.util.nodes import make_refnode


def _resolve(app, env, node, contnode):
    if node.get("refdomain") != "py":
        return None
    target = node.get("reftarget", "")
    short = target.rsplit(".", 1)[-1]
    domain = env.get_domain("py")
    matches = [(name, obj) for name, obj in domain.objects.items()
               if name.startswith("exosip2.") and name.rsplit(".", 1)[-1] == short
               and not obj.aliased]
    if len(matches) != 1:
        return None
    name, obj = matches[0]
    if "." in target and not target.startswith("exosip2."):
        return None  # a qualified name elsewhere (e.g. another library): not ours to guess
    return make_refnode(app.builder, node["refdoc"], obj.docname, obj.node_id, contnode, name)


def _bases(app, name, obj, options, bases):
    # A namedtuple made inside a compiled module cannot tell its module ("importlib._bootstrap"):
    # show what it is, a tuple, instead of that name.
    for i, base in enumerate(bases):
        if getattr(base, "__module__", "") == "importlib._bootstrap" and issubclass(base, tuple):
            bases[i] = tuple


def setup(app):
    app.connect("missing-reference", _resolve)
    app.connect("autodoc-process-bases", _bases)
    return {"version": "1", "parallel_read_safe": True, "parallel_write_safe": True}
