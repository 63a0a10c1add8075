# SPDX-License-Identifier: Apache-2.0
"""Sphinx directive ``.. capi-coverage::``: the eXosip2 5.3 C API as core/ declares it, read at build time.

For each public header under ``core/include/eXosip2/`` (which keep eXosip2 5.3's names and leave out
what is not implemented), one table: every function the header declares, whether ``core/src`` defines
it, and which binding modules (``exosip2/*.pyx``) call it. A summary table counts them per header, and
the ``EXOSIP_OPT_*`` options and ``EXOSIP_*`` event types are listed with the same check. The tables
are computed from the files every time the documentation is built, so they cannot go stale.
"""

import glob
import os
import re

from docutils import nodes
from docutils.parsers.rst import Directive

# The headers of eXosip2 5.3's public API, in its own order.
HEADERS_5_3 = ["eXosip.h", "eX_setup.h", "eX_call.h", "eX_register.h", "eX_message.h", "eX_options.h",
               "eX_subscribe.h", "eX_publish.h"]

_COMMENT = re.compile(r"/\*.*?\*/|//[^\n]*", re.S)
_FUNC = re.compile(r"(?:^|[;}\n])\s*(?:extern\s+)?[A-Za-z_][\w\s\*]*?\b((?:eXosip|osip)_\w+)\s*\(", re.S)
_DEFINE = re.compile(r"^\s*#\s*define\s+(EXOSIP_(?:OPT|CORE_OPT)_\w+)\b", re.M)
_EVENT = re.compile(r"\b(EXOSIP_[A-Z_]+)\s*(?:=\s*\d+\s*)?,")


def read(path):
    with open(path, encoding="utf-8", errors="replace") as f:
        return f.read()


def declared_functions(text):
    """Names of the functions a header declares (prototypes, not macros or typedefs of pointers)."""
    text = _COMMENT.sub(" ", text)
    text = re.sub(r"^\s*#.*(?:\\\n.*)*$", " ", text, flags=re.M)
    names = []
    for m in _FUNC.finditer(text):
        name = m.group(1)
        head = text[max(0, m.start(1) - 20):m.start(1)]
        if "(*" in head or "typedef" in head or name in names:
            continue
        names.append(name)
    return names


def defined_functions(src_dir):
    """Names of the functions core/src defines (a name followed by its parameter list and a body)."""
    found = set()
    for path in glob.glob(os.path.join(src_dir, "*.c")):
        text = _COMMENT.sub(" ", read(path))
        found.update(re.findall(r"^[A-Za-z_][\w \*]*?\b((?:eXosip|osip)_\w+)\s*\([^;{]*\)\s*\{", text, re.M))
    return found


def binding_uses(binding_dir):
    """``{C name: [binding module, ...]}`` for every name the .pyx files mention."""
    uses = {}
    for path in sorted(glob.glob(os.path.join(binding_dir, "*.pyx"))):
        module = "exosip2." + os.path.basename(path)[:-4]
        for name in set(re.findall(r"\b((?:eXosip|EXOSIP)_\w+)\b", read(path))):
            uses.setdefault(name, []).append(module)
    return uses


def coverage(headers_dir, src_dir, binding_dir):
    """The data behind the tables: ``[(header, [(function, defined, [modules])]), ...]``, options, events."""
    defined = defined_functions(src_dir)
    uses = binding_uses(binding_dir)
    present = sorted(os.path.basename(p) for p in glob.glob(os.path.join(headers_dir, "*.h")))
    order = [h for h in HEADERS_5_3 if h in present] + [h for h in present if h not in HEADERS_5_3]
    per_header, options, events = [], [], []
    for header in order:
        text = read(os.path.join(headers_dir, header))
        rows = [(f, f in defined, uses.get(f, [])) for f in declared_functions(text)]
        per_header.append((header, rows))
        options += [(o, header, uses.get(o, [])) for o in _DEFINE.findall(text)]
        if "eXosip_event_type" in text:
            body = text[text.index("eXosip_event_type"):]
            body = body[:body.index("}")]
            events += [(e, uses.get(e, [])) for e in _EVENT.findall(_COMMENT.sub(" ", body))]
    missing = [h for h in HEADERS_5_3 if h not in present]
    return per_header, options, events, missing


def _table(header_cells, rows, widths):
    table = nodes.table()
    group = nodes.tgroup(cols=len(widths))
    table += group
    for w in widths:
        group += nodes.colspec(colwidth=w)
    thead = nodes.thead()
    group += thead
    thead += _row(header_cells)
    tbody = nodes.tbody()
    group += tbody
    for r in rows:
        tbody += _row(r)
    return table


def _row(cells):
    row = nodes.row()
    for cell in cells:
        entry = nodes.entry()
        para = nodes.paragraph()
        para += nodes.literal(text=cell[1:]) if cell.startswith("`") else nodes.Text(cell)
        entry += para
        row += entry
    return row


class CapiCoverage(Directive):
    has_content = False

    def run(self):
        config = self.state.document.settings.env.config
        env = self.state.document.settings.env
        per_header, options, events, missing = coverage(config.capi_headers, config.capi_sources,
                                                        config.capi_binding)
        for path in glob.glob(os.path.join(config.capi_headers, "*.h")) + \
                glob.glob(os.path.join(config.capi_sources, "*.c")) + \
                glob.glob(os.path.join(config.capi_binding, "*.pyx")):
            env.note_dependency(path)
        out = []
        summary = []
        for header, rows in per_header:
            summary.append(["`" + header, str(len(rows)), str(sum(1 for r in rows if r[1])),
                            str(sum(1 for r in rows if r[2]))])
        total = [sum(int(s[i]) for s in summary) for i in (1, 2, 3)]
        summary.append(["all headers"] + [str(t) for t in total])
        out.append(_table(["header", "functions declared", "defined in core/src", "called by the binding"],
                          summary, [3, 2, 2, 2]))
        if missing:
            out.append(nodes.paragraph(text="eXosip2 5.3 headers not present in core/: %s." % ", ".join(missing)))
        for header, rows in per_header:
            section = nodes.section(ids=["capi-" + header.replace(".", "-").lower()])
            section += nodes.title(text=header)
            if rows:
                section += _table(["function", "core/src", "binding"],
                                  [["`" + f, "yes" if d else "no", ", ".join(m) or "—"] for f, d, m in rows],
                                  [4, 1, 3])
            else:
                section += nodes.paragraph(text="No function of this header is implemented yet; the header "
                                                "only keeps eXosip2 5.3's layout.")
            out.append(section)
        section = nodes.section(ids=["capi-options"])
        section += nodes.title(text="Options (EXOSIP_OPT_*, EXOSIP_CORE_OPT_*)")
        section += _table(["option", "header", "binding"],
                          [["`" + o, h, ", ".join(m) or "—"] for o, h, m in options], [4, 2, 3])
        out.append(section)
        section = nodes.section(ids=["capi-events"])
        section += nodes.title(text="Event types (eXosip_event_type_t)")
        section += _table(["event type", "binding"], [["`" + e, ", ".join(m) or "—"] for e, m in events], [4, 3])
        out.append(section)
        return out


def setup(app):
    app.add_config_value("capi_headers", "", "env")
    app.add_config_value("capi_sources", "", "env")
    app.add_config_value("capi_binding", "", "env")
    app.add_directive("capi-coverage", CapiCoverage)
    return {"version": "1", "parallel_read_safe": True, "parallel_write_safe": True}
