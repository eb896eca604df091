"""`sysmon --explain FILTER`: every stage of a filter, as text (cf. Wireshark's dftest).

    parsed        the tree as written, showing how `and`/`or`/`not` grouped (macros by name)
    expanded      the tree after macro expansion (only when the filter uses macros)
    typed checks  each check with its field's type and coerced values, in evaluation order
    kernel plan   what the probe may drop (types, pids, tids, comms, uids)
"""
from __future__ import annotations

import re
from typing import Any

from sysmon.fields.catalogue import Catalogue
from sysmon.filter import ast
from sysmon.filter.check import Typed, TypedAnd, TypedCheck, TypedNot
from sysmon.filter.compile import cost
from sysmon.filter.macros import MacroLibrary
from sysmon.filter.pushdown import Analysis, analyze


def explain(text: str, catalogue: Catalogue | None = None, library: MacroLibrary | None = None) -> str:
    """Raises `FilterError` for a bad filter, like compiling it would."""
    a = analyze(text, catalogue or Catalogue.default(), library=library)
    return render(a)


def render(a: Analysis) -> str:
    out = [f"filter: {a.text}", "", "parsed (not > and > or):"]
    out += _tree(a.tree, "  ")
    if a.expanded != a.tree:
        out += ["", "after macro expansion:"]
        out += _tree(a.expanded, "  ")
    out += ["", "typed checks (in evaluation order; `and`/`or` stop at the first decisive operand):"]
    out += _typed(a.checked.typed, "  ")
    out += ["", "kernel plan (the probe drops events outside it; state syscalls are always delivered):"]
    out += ["  " + line for line in a.plan.describe()]
    return "\n".join(out) + "\n"


def check_text(c: ast.Check) -> str:
    """A check as filter text (values quoted where they need it)."""
    vals = [_value(v) for v in c.values]
    if c.op == "exists":
        return f"{c.field.name} exists"
    if c.op in ast.LIST_OPS:
        return f"{c.field.name} {c.op} ({', '.join(vals)})"
    sep = "" if c.op in ast.CMP_OPS else " "
    return f"{c.field.name}{sep}{c.op}{sep}{vals[0]}"


def _value(v: ast.Value) -> str:
    if v.text and re.fullmatch(r"[^\s()'\",]+", v.text):
        return v.text
    return '"' + v.text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _tree(node: ast.Node, pad: str) -> list[str]:
    if isinstance(node, ast.Check):
        return [pad + check_text(node)]
    if isinstance(node, ast.Name):
        return [pad + f"{node.name}  (macro)"]
    if isinstance(node, ast.Not):
        return [pad + "not"] + _tree(node.operand, pad + "  ")
    word = "and" if isinstance(node, ast.And) else "or"
    lines = [pad + word]
    for n in node.operands:
        lines += _tree(n, pad + "  ")
    return lines


def _typed(t: Typed, pad: str) -> list[str]:
    if isinstance(t, TypedCheck):
        f = t.field
        name = f.name + (f"[{t.arg}]" if t.arg is not None else "")
        notes = [f.type.value] + (["any of its values"] if f.multi else [])
        ops = ", ".join(_operand(o) for o in t.operands)
        return [pad + f"{name} {t.op}{' ' + ops if ops else ''}    [{'; '.join(notes)}]"]
    if isinstance(t, TypedNot):
        return [pad + "not"] + _typed(t.operand, pad + "  ")
    lines = [pad + ("and" if isinstance(t, TypedAnd) else "or")]
    for o in sorted(t.operands, key=cost):
        lines += _typed(o, pad + "  ")
    return lines


def _operand(o: Any) -> str:
    if isinstance(o, re.Pattern):
        return f"regex {o.pattern!r}"
    if isinstance(o, ast.Value):
        return repr(o.text)
    return repr(o) if isinstance(o, (str, bytes)) else str(o)
