"""`-cl` (chisels by category) and `-i NAME` (one chisel and its arguments), in sysdig's layout."""
from __future__ import annotations

import textwrap
from collections.abc import Iterable

from sysmon.chisel.api import Chisel
from sysmon.chisel.loader import Found

NAME_WIDTH = 16
TEXT_WIDTH = 63  # libsinsp chisel_fields_info.cpp: CONSOLE_LINE_LEN 79 - DESCRIPTION_TEXT_START 16


def _wrapped(name: str, text: str) -> list[str]:
    """`name            text` with text cut into 63-character rows under column 16 (as sysdig)."""
    rows = [text[i : i + TEXT_WIDTH] for i in range(0, len(text), TEXT_WIDTH)] or [""]
    lines = []
    if len(name) >= NAME_WIDTH:
        lines.append(name)
        lines += [" " * NAME_WIDTH + r for r in rows]
    else:
        lines.append(name.ljust(NAME_WIDTH) + rows[0])
        lines += [" " * NAME_WIDTH + r for r in rows[1:]]
    return lines


def list_chisels(found: Iterable[Found]) -> str:
    by_category: dict[str, list[type[Chisel]]] = {}
    for f in found:
        if not f.cls.hidden:
            by_category.setdefault(f.cls.category, []).append(f.cls)
    out = [""]
    for category in sorted(by_category, key=str.lower):
        title = f"Category: {category}"
        out += [title, "-" * len(title)]
        for cls in sorted(by_category[category], key=lambda c: c.name):
            out += _wrapped(cls.name, cls.summary())
        out.append("")
    out.append("Use the -i flag to get detailed information about a specific chisel")
    return "\n".join(out) + "\n"


def describe(found: Found) -> str:
    cls = found.cls
    title = f"Category: {cls.category}"
    out = [title, "-" * len(title)]
    out += _wrapped(cls.name, cls.summary())
    if cls.description.strip() and cls.description.strip() != cls.summary():
        out += [" " * NAME_WIDTH + line for line in textwrap.wrap(cls.description.strip(), TEXT_WIDTH)]
    out.append("Args:")
    if not cls.args:
        out.append("(none)")
    for arg in cls.args:
        extra = []
        if arg.optional:
            extra.append("optional")
        if arg.default is not None:
            extra.append(f"default {arg.default}")
        suffix = f" ({', '.join(extra)})" if extra else ""
        out.append(f"[{arg.type}] {arg.name} - {arg.description}{suffix}")
    out.append(f"From: {found.origin}")
    return "\n".join(out) + "\n"
