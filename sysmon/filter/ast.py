"""Filter syntax tree: frozen dataclasses, every node with the `Span` of its source text.

The tree is what `parse` returns and what `check` consumes; it knows nothing about fields or
types (that is `check.py`'s typed tree). `And`/`Or` are n-ary (chains are flattened).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Union


@dataclass(frozen=True, slots=True)
class Span:
    """Half-open character range [start, end) in the filter text (0-based columns)."""

    start: int
    end: int

    def as_tuple(self) -> tuple[int, int]:
        return (self.start, self.end)

    def cover(self, other: Span) -> Span:
        return Span(min(self.start, other.start), max(self.end, other.end))


# Operator vocabulary (the spelling is the identity).
CMP_OPS = ("=", "!=", "<", "<=", ">", ">=")
RELATIONAL_OPS = frozenset({"<", "<=", ">", ">="})
WORD_OPS = ("contains", "icontains", "bcontains", "startswith", "bstartswith", "endswith", "glob", "regex")
LIST_OPS = ("in", "intersects", "pmatch")
UNARY_OPS = ("exists",)
ALL_OPS = CMP_OPS + WORD_OPS + LIST_OPS + UNARY_OPS


@dataclass(frozen=True, slots=True)
class FieldRef:
    """A field as written: `proc.aname[2]`, `evt.arg.fd` (resolution is check's job)."""

    name: str
    span: Span


@dataclass(frozen=True, slots=True)
class Value:
    """A literal. `text` has the escapes applied (\\xNN bytes decoded as UTF-8 with surrogateescape);
    `raw` is the exact byte string (for buffer comparisons); `quoted` tells 'x' from x."""

    text: str
    raw: bytes
    quoted: bool
    span: Span


@dataclass(frozen=True, slots=True)
class Check:
    """`field op value`, `field exists` (no values) or `field in (v, ...)` (one or more values)."""

    field: FieldRef
    op: str
    values: tuple[Value, ...]
    op_span: Span
    span: Span

    @property
    def value(self) -> Value:
        """The single operand of a binary check."""
        return self.values[0]


@dataclass(frozen=True, slots=True)
class Name:
    """A bare name used as a term: a macro reference (`spawned_process and proc.name=bash`).
    `macros.expand` replaces known macros; `check` reports whatever is left."""

    name: str
    span: Span


@dataclass(frozen=True, slots=True)
class Not:
    operand: Node
    span: Span


@dataclass(frozen=True, slots=True)
class And:
    operands: tuple[Node, ...]
    span: Span


@dataclass(frozen=True, slots=True)
class Or:
    operands: tuple[Node, ...]
    span: Span


Node = Union[Check, Name, Not, And, Or]


def dump(node: Node) -> str:
    """A compact, stable s-expression of the tree (tests, `--explain`)."""
    if isinstance(node, Check):
        vals = " ".join(repr(v.text) for v in node.values)
        return f"({node.op} {node.field.name}{' ' + vals if vals else ''})"
    if isinstance(node, Name):
        return node.name
    if isinstance(node, Not):
        return f"(not {dump(node.operand)})"
    word = "and" if isinstance(node, And) else "or"
    return f"({word} {' '.join(dump(n) for n in node.operands)})"
