"""Typed tree -> `Predicate = Callable[[Event, State], bool]`, built from closures.

Semantics (sysdig's, unless noted):
- A check whose field is unavailable (extractor returns None, or an empty list for multi fields)
  is false, for every operator including `!=`; `exists` is true exactly when the value is available.
  `not` inverts, so `not fd.name=x` matches events without an fd.
- Multi fields (fd.port, proc.aname...): a check holds if any element matches; `!=` holds if no
  element equals the value (i.e. `not =`, restricted to available values).
- `in`/`intersects`: membership in the listed values (IPNET: in any listed network).
- `=` on IPNET fields is containment (`fd.net=10.0.0.0/8`).
- `glob` is `fnmatchcase`, `regex` is a full match with RE2 (like libsinsp's RE2::FullMatch; linear time),
  `pmatch` matches a path equal to or below one of the prefixes.
- String operators on non-string values compare the value's `str()`; `bcontains`/`bstartswith`
  compare UTF-8 (surrogateescape) bytes of strings.
- `and`/`or` operands are reordered cheapest first (`evt.type` tests first): checks are pure.
"""
from __future__ import annotations

import ipaddress
from collections.abc import Callable
from fnmatch import fnmatchcase
from typing import TYPE_CHECKING, Any

from sysmon.fields.field import FieldType
from sysmon.filter import ast
from sysmon.filter.check import CheckedFilter, Typed, TypedAnd, TypedCheck, TypedNot, TypedOr

if TYPE_CHECKING:
    from sysmon.events.model import Event
    from sysmon.state.state import State

T = FieldType
Predicate = Callable[["Event", "State"], bool]
Match = Callable[[Any], bool]

# Fields read straight from the event header: cheap to extract.
_CHEAP_FIELDS = frozenset({
    "evt.type", "evt.dir", "evt.num", "evt.cpu", "evt.rawres", "evt.failed", "syscall.type", "proc.pid",
    "proc.ppid", "proc.name", "thread.tid", "thread.ismain", "user.uid", "group.gid", "evt.rawtime",
    "evt.category", "evt.is_io", "evt.is_io_read", "evt.is_io_write", "evt.is_wait",
})
_TYPE_FAST_OPS = frozenset({"=", "!=", "in", "intersects"})


def compile(checked: CheckedFilter) -> Predicate:  # noqa: A001 - the stage's name
    """The userspace predicate of a checked filter (authoritative; pushdown only narrows the probe)."""
    return _compile(checked.typed)


def cost(t: Typed) -> int:
    """Rough evaluation cost used to order `and`/`or` operands."""
    if isinstance(t, TypedCheck):
        if _is_type_fast(t):
            return 0
        base = 1 if t.field.name in _CHEAP_FIELDS else 4
        return base + (2 if t.op in ("regex", "glob", "pmatch") else 0) + (1 if t.field.multi else 0)
    if isinstance(t, TypedNot):
        return cost(t.operand)
    return sum(cost(o) for o in t.operands)


def _is_type_fast(t: TypedCheck) -> bool:
    return t.field.name == "evt.type" and t.arg is None and t.op in _TYPE_FAST_OPS


def _compile(t: Typed) -> Predicate:
    if isinstance(t, TypedCheck):
        return _compile_check(t)
    if isinstance(t, TypedNot):
        inner = _compile(t.operand)
        return lambda e, s: not inner(e, s)
    preds = [_compile(o) for o in sorted(t.operands, key=cost)]
    if isinstance(t, TypedAnd):
        if len(preds) == 2:
            a, b = preds
            return lambda e, s: a(e, s) and b(e, s)

        def all_of(e: Event, s: State) -> bool:
            for p in preds:
                if not p(e, s):
                    return False
            return True

        return all_of
    assert isinstance(t, TypedOr)
    if len(preds) == 2:
        a, b = preds
        return lambda e, s: a(e, s) or b(e, s)

    def any_of(e: Event, s: State) -> bool:
        for p in preds:
            if p(e, s):
                return True
        return False

    return any_of


def _compile_check(t: TypedCheck) -> Predicate:
    if _is_type_fast(t):
        names = frozenset(t.operands)
        if t.op == "!=":
            return lambda e, s: e.etype.name not in names
        if len(names) == 1:
            (name,) = names
            return lambda e, s: e.etype.name == name
        return lambda e, s: e.etype.name in names

    field, arg = t.field, t.arg
    extract = field.extract
    if t.op == "exists":
        if field.multi:
            return lambda e, s: bool(extract(e, s, arg))
        return lambda e, s: extract(e, s, arg) is not None

    match = _matcher(t)
    if not field.multi:

        def single(e: Event, s: State) -> bool:
            v = extract(e, s, arg)
            return v is not None and match(v)

        return single

    if t.op == "!=":
        eq = _matcher(TypedCheck(field, arg, "=", t.operands, t.node))

        def none_equal(e: Event, s: State) -> bool:
            vs = extract(e, s, arg)
            if not vs:
                return False
            return not any(eq(v) for v in vs if v is not None)

        return none_equal

    def any_match(e: Event, s: State) -> bool:
        vs = extract(e, s, arg)
        if not vs:
            return False
        for v in vs:
            if v is not None and match(v):
                return True
        return False

    return any_match


# -- value matchers -------------------------------------------------------------------------------


def _to_str(v: Any) -> str:
    return v if isinstance(v, str) else v.decode("utf-8", "surrogateescape") if isinstance(v, bytes) else str(v)


def _to_bytes(v: Any) -> bytes:
    return v if isinstance(v, bytes) else _to_str(v).encode("utf-8", "surrogateescape")


def _to_ip(v: Any) -> Any:
    if isinstance(v, (ipaddress.IPv4Address, ipaddress.IPv6Address)):
        return v
    try:
        return ipaddress.ip_address(v)
    except ValueError:
        return None


def _matcher(t: TypedCheck) -> Match:
    ftype, op, operands = t.field.type, t.op, t.operands
    if op == "regex":
        fullmatch = operands[0].fullmatch
        return lambda v: fullmatch(_to_bytes(v))
    if op in ("bcontains", "bstartswith"):
        needle: bytes = operands[0]
        if op == "bcontains":
            return lambda v: needle in _to_bytes(v)
        return lambda v: _to_bytes(v).startswith(needle)
    if ftype is T.DYNAMIC:
        return _dynamic_matcher(t)
    if ftype is T.IPNET:
        nets = operands
        return lambda v: (ip := _to_ip(v)) is not None and any(ip in n for n in nets) is (op != "!=")
    if ftype is T.IPADDR:
        return _eq_matcher(op, frozenset(operands), _to_ip)
    if ftype is T.BOOL:
        return _eq_matcher(op, frozenset(operands), bool)
    if ftype is T.DIR:
        # accept the extractor's '>'/'<' as well as the symbol's numeric value
        values = frozenset(operands) | frozenset((t.field.symbols or {}).get(o) for o in operands) - {None}
        return _eq_matcher(op, values, lambda v: v)
    if ftype.numeric:
        return _numeric_matcher(op, operands)
    if ftype is T.BUF:
        return _bytes_matcher(op, operands)
    return _string_matcher(op, operands)


def _eq_matcher(op: str, values: frozenset[Any], conv: Callable[[Any], Any]) -> Match:
    if op == "!=":
        return lambda v: conv(v) not in values
    return lambda v: conv(v) in values  # =, in, intersects


def _numeric_matcher(op: str, operands: tuple[Any, ...]) -> Match:
    if op in ("in", "intersects"):
        values = frozenset(operands)
        return lambda v: v in values
    c = operands[0]
    return {
        "=": lambda v: v == c,
        "!=": lambda v: v != c,
        "<": lambda v: v < c,
        "<=": lambda v: v <= c,
        ">": lambda v: v > c,
        ">=": lambda v: v >= c,
    }[op]


def _string_matcher(op: str, operands: tuple[Any, ...]) -> Match:
    if op in ("in", "intersects"):
        values = frozenset(operands)
        return lambda v: _to_str(v) in values
    if op == "pmatch":
        prefixes = tuple(p if p == "/" else p + "/" for p in operands)
        exact = frozenset(operands)

        def pmatch(v: Any) -> bool:
            s = _to_str(v)
            return s in exact or s.startswith(prefixes)

        return pmatch
    c: str = operands[0]
    if op == "icontains":
        lc = c.lower()
        return lambda v: lc in _to_str(v).lower()
    table: dict[str, Match] = {
        "=": lambda v: (v if v.__class__ is str else _to_str(v)) == c,
        "!=": lambda v: (v if v.__class__ is str else _to_str(v)) != c,
        "contains": lambda v: c in _to_str(v),
        "startswith": lambda v: _to_str(v).startswith(c),
        "endswith": lambda v: _to_str(v).endswith(c),
        "glob": lambda v: fnmatchcase(_to_str(v), c),
    }
    return table[op]


def _bytes_matcher(op: str, operands: tuple[Any, ...]) -> Match:
    if op in ("in", "intersects"):
        values = frozenset(operands)
        return lambda v: _to_bytes(v) in values
    c: bytes = operands[0]
    table: dict[str, Match] = {
        "=": lambda v: _to_bytes(v) == c,
        "!=": lambda v: _to_bytes(v) != c,
        "contains": lambda v: c in _to_bytes(v),
        "startswith": lambda v: _to_bytes(v).startswith(c),
        "endswith": lambda v: _to_bytes(v).endswith(c),
    }
    return table[op]


def _dynamic_matcher(t: TypedCheck) -> Match:
    """evt.rawarg: the constant's type follows the runtime value's type."""
    op = t.op
    values: tuple[ast.Value, ...] = t.operands
    ints: list[int | None] = []
    for val in values:
        try:
            ints.append(int(val.text, 0))
        except ValueError:
            ints.append(None)
    texts = tuple(val.text for val in values)
    raws = tuple(val.raw for val in values)
    str_match = _string_matcher(op, texts) if op in _STRING_LIKE else None
    bytes_match = _bytes_matcher(op, raws) if op in _BYTES_LIKE else None
    num_match = _numeric_matcher(op, tuple(ints)) if op in _NUMERIC_LIKE and None not in ints else None

    def match(v: Any) -> bool:
        if isinstance(v, bool) or not isinstance(v, (int, bytes)):
            if isinstance(v, (ipaddress.IPv4Address, ipaddress.IPv6Address)) and op in ("=", "!=", "in"):
                ips = {_to_ip(x) for x in texts}
                return (v in ips) is (op != "!=")
            return str_match is not None and str_match(v)
        if isinstance(v, int):
            return num_match is not None and num_match(v)
        return bytes_match is not None and bytes_match(v)

    return match


_STRING_LIKE = frozenset({"=", "!=", "contains", "icontains", "startswith", "endswith", "glob", "in",
                          "intersects", "pmatch"})
_BYTES_LIKE = frozenset({"=", "!=", "contains", "startswith", "endswith", "in", "intersects"})
_NUMERIC_LIKE = frozenset({*ast.CMP_OPS, "in", "intersects"})
