"""Bounds on what one filter may cost: its length, its nesting and its number of checks.

A filter comes from the command line, the daemon's configuration or any local `sysmon tail` client,
so parsing and checking it must stay bounded in time and stack: `prescan` runs before the parser
(linear, no recursion) and refuses text that is too long or nested too deeply; `check_tree` does
the same for the tree after macro expansion (macros can nest). Errors are `FilterError`s with a
span, code `too-long`, `too-deep` or `too-many-checks`.
"""
from __future__ import annotations

import re

from sysmon.errors import FilterError
from sysmon.filter import ast

MAX_CHARS = 256 << 10  # characters of filter text
MAX_DEPTH = 100  # brackets and `not`s enclosing a check, as written
MAX_TREE_DEPTH = 2 * MAX_DEPTH  # nodes above a check in the expanded tree (`a or b and not c`: 3 for 1)
MAX_CHECKS = 10_000  # checks after macro expansion (a list counts once)

_QUOTED = re.compile(r""""(?:[^"\\]|\\.)*"?|'(?:[^'\\]|\\.)*'?""", re.S)
_WORD = re.compile(r"[^\s()]+|[()]")


def prescan(text: str) -> None:
    """Refuse text too long, too deeply nested or with too many checks for the parser; linear."""
    if len(text) > MAX_CHARS:
        raise FilterError(f"filter too long ({len(text)} characters; the limit is {MAX_CHARS})",
                          span=(MAX_CHARS, len(text)), code="too-long",
                          hints=["use macros (filters/*.flt) or 'in (...)' lists for long alternatives"])
    blank = _QUOTED.sub(lambda m: "Q" * len(m.group(0)), text)
    pending = [0]  # per open bracket: `not`s waiting for their operand
    depth = joins = 0
    for m in _WORD.finditer(blank):
        word = m.group(0)
        if word in ("and", "or"):
            joins += 1
            if joins >= MAX_CHECKS:
                raise _too_many((m.start(), m.end()))
        if word == "(":
            pending.append(0)
            depth += 1
        elif word == "not":
            pending[-1] += 1
            depth += 1
        elif word == ")":
            if len(pending) > 1:
                depth -= 1 + pending.pop()
            depth -= pending[-1]  # the group was the operand of the `not`s before it
            pending[-1] = 0
        else:
            depth -= pending[-1]
            pending[-1] = 0
        if depth > MAX_DEPTH:
            raise _too_deep((m.start(), m.end()))


def check_tree(node: ast.Node) -> None:
    """Refuse a tree (after macro expansion) nested too deeply or with too many checks; iterative."""
    checks = 0
    stack: list[tuple[ast.Node, int]] = [(node, 0)]
    while stack:
        n, depth = stack.pop()
        if depth > MAX_TREE_DEPTH:
            raise _too_deep(n.span.as_tuple())
        if isinstance(n, (ast.Check, ast.Name)):
            checks += 1
            if checks > MAX_CHECKS:
                raise _too_many(n.span.as_tuple())
        elif isinstance(n, ast.Not):
            stack.append((n.operand, depth + 1))
        else:
            stack.extend((o, depth + 1) for o in n.operands)


def _too_deep(span: tuple[int, int]) -> FilterError:
    return FilterError(f"filter nested too deeply (more than {MAX_DEPTH} levels of brackets and 'not')",
                       span=span, code="too-deep")


def _too_many(span: tuple[int, int]) -> FilterError:
    return FilterError(f"filter has more than {MAX_CHECKS} checks", span=span, code="too-many-checks",
                       hints=["join values with 'in (...)': a list counts as one check"])
