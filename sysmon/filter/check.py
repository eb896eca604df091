"""Syntax tree -> typed tree: resolve fields, check operators against field types, coerce values.

`check` collects every diagnostic (up to MAX_ERRORS) before raising: the raised `FilterError` carries the first
one's message/span/code/hints and all of them (in source order) in `.errors`.

Error codes raised here: `unknown-macro`, `unknown-field`, `missing-argument`, `bad-argument`, `print-only`,
`bad-operator`, `bad-value`, `unknown-symbol`.

Value rules (cf. sysdig's filter value parsing):
- INT64/UINT64/PORT/RELTIME/ABSTIME: integers (decimal, or 0x/0o/0b prefixed); UINT64/PORT/times
  must not be negative, PORT <= 65535. ERRNO also takes names: ENOENT means -2.
- BOOL: `true` / `false` only. IPADDR: an IPv4/IPv6 address. IPNET: a CIDR (v4 or v6) or an address.
- `bcontains`/`bstartswith` take hex bytes (`bcontains 7f454c46`), on strings and buffers.
- Fields with symbols (evt.type, syscall.type, fd.type, evt.dir): `=`, `!=`, `in`, `intersects`
  values must be known symbols; the pattern operators (contains, glob, ...) are not checked.
- `regex` is compiled here with RE2 (`filter/regex.py`; a pattern RE2 refuses is a `bad-value` error)
  and matches the whole value.
"""
from __future__ import annotations

import difflib
import errno
import ipaddress
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from functools import cache
from typing import Any, Protocol, Union

from sysmon.errors import FilterError
from sysmon.fields.field import ArgKind, Field, FieldType
from sysmon.filter import ast
from sysmon.filter.ast import CMP_OPS, RELATIONAL_OPS, Span
from sysmon.filter.regex import Regex, RegexError

T = FieldType


class FieldSource(Protocol):
    """What check needs from a `Catalogue`."""

    def lookup(self, name: str) -> tuple[Field, str | None] | None: ...

    def suggest(self, name: str) -> str | None: ...


# -- typed tree -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class TypedCheck:
    """A resolved check. `operands` are the coerced constants: int, str, bytes, bool, ip address,
    ip network, a compiled `Regex`, or the `ast.Value` itself for DYNAMIC fields."""

    field: Field
    arg: str | None
    op: str
    operands: tuple[Any, ...]
    node: ast.Check

    @property
    def span(self) -> Span:
        return self.node.span


@dataclass(frozen=True, slots=True)
class TypedNot:
    operand: Typed
    node: ast.Not


@dataclass(frozen=True, slots=True)
class TypedAnd:
    operands: tuple[Typed, ...]
    node: ast.And


@dataclass(frozen=True, slots=True)
class TypedOr:
    operands: tuple[Typed, ...]
    node: ast.Or


Typed = Union[TypedCheck, TypedNot, TypedAnd, TypedOr]


@dataclass(frozen=True, slots=True)
class CheckedFilter:
    tree: ast.Node
    typed: Typed
    text: str | None = None


def dump_typed(t: Typed) -> str:
    """The typed tree as an s-expression (`--explain`)."""
    if isinstance(t, TypedCheck):
        name = t.field.name + (f"[{t.arg}]" if t.arg is not None else "")
        ops = " ".join(repr(o.pattern if isinstance(o, Regex) else o) for o in t.operands)
        return f"({t.op} {name}:{t.field.type.name}{' ' + ops if ops else ''})"
    if isinstance(t, TypedNot):
        return f"(not {dump_typed(t.operand)})"
    word = "and" if isinstance(t, TypedAnd) else "or"
    return f"({word} {' '.join(dump_typed(o) for o in t.operands)})"


# -- operator rules --------------------------------------------------------------------------------

_NUMERIC_OPS = frozenset({*CMP_OPS, "in", "intersects", "exists"})
_EQ_OPS = frozenset({"=", "!=", "in", "intersects", "exists"})
_STR_OPS = frozenset(ast.ALL_OPS) - RELATIONAL_OPS
_BUF_OPS = frozenset({"=", "!=", "contains", "bcontains", "startswith", "bstartswith", "endswith", "regex",
                      "in", "intersects", "exists"})
_OPS_BY_TYPE: dict[FieldType, frozenset[str]] = {
    **{t: _NUMERIC_OPS for t in (T.INT64, T.UINT64, T.PORT, T.RELTIME, T.ABSTIME, T.ERRNO)},
    T.STR: _STR_OPS,
    T.BUF: _BUF_OPS,
    T.BOOL: _EQ_OPS,
    T.IPADDR: _EQ_OPS,
    T.IPNET: _EQ_OPS,
    T.DIR: _EQ_OPS,
    T.DYNAMIC: frozenset(ast.ALL_OPS) - {"pmatch"},
}
_SYMBOL_OPS = frozenset({"=", "!=", "in", "intersects"})
_HEX_OPS = frozenset({"bcontains", "bstartswith"})
_UNSIGNED = frozenset({T.UINT64, T.PORT, T.RELTIME, T.ABSTIME})
_DURATION = re.compile(r"^(\d+)(ns|us|ms|s|m|h)$")
_NS = {"ns": 1, "us": 10**3, "ms": 10**6, "s": 10**9, "m": 60 * 10**9, "h": 3600 * 10**9}


class _Bad(Exception):
    def __init__(self, message: str, hints: list[str] | None = None, code: str = "bad-value") -> None:
        super().__init__(message)
        self.message = message
        self.hints = hints or []
        self.code = code


class _Expected(_Bad):
    """A value of the wrong kind; `_coerce` words it as `'<' needs a number, got "abc"`."""

    def __init__(self, what: str, text: str, hints: list[str] | None = None) -> None:
        super().__init__(f'{what}, got "{text}"', hints)
        self.what = what
        self.text = text


# -- value coercion -------------------------------------------------------------------------------


def _int(text: str) -> int:
    try:
        return int(text, 0)
    except ValueError:
        pass
    try:
        return int(text, 10)  # leading zeros: "0755" is decimal 755 like sysdig's strtoll base 10
    except ValueError:
        raise _Expected("a number", text) from None


def _number(field: Field, text: str) -> int:
    if field.type is T.ERRNO and text.lstrip("-").startswith("E"):
        code = getattr(errno, text.lstrip("-"), None)
        if not isinstance(code, int):
            raise _Bad(f'unknown errno name "{text}"', _did_you_mean(text, _errno_names()))
        return -code
    try:
        n = _int(text)
    except _Bad as e:
        m = _DURATION.match(text)
        if m and field.type is T.RELTIME:
            e.hints.append(f"times are in nanoseconds: {text} = {int(m.group(1)) * _NS[m.group(2)]}")
        raise
    if n < 0 and field.type in _UNSIGNED:
        raise _Bad(f"{field.name} cannot be negative ({text})")
    if field.type is T.PORT and n > 65535:
        raise _Bad(f"{text} is not a valid port (0-65535)")
    if field.type in (T.INT64, T.ERRNO) and not -(2**63) <= n < 2**63:
        raise _Bad(f"{text} is out of range for a 64-bit integer")
    if n >= 2**64:
        raise _Bad(f"{text} is out of range for a 64-bit integer")
    return n


def _bool(text: str) -> bool:
    if text == "true":
        return True
    if text == "false":
        return False
    raise _Expected("a boolean", text, ["use true or false"])


def _ipaddr(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        hints = ["to match a network, use a .net field (fd.net, fd.snet, ...)"] if "/" in text else []
        raise _Expected("an IP address", text, hints) from None


def _ipnet(text: str) -> ipaddress.IPv4Network | ipaddress.IPv6Network:
    try:
        return ipaddress.ip_network(text, strict=False)
    except ValueError:
        pass
    addr, _, mask = text.partition("/")
    try:
        ipaddress.ip_address(addr)
    except ValueError:
        raise _Expected("a network", text, ["write a CIDR like 10.0.0.0/8 or fd00::/8"]) from None
    raise _Bad(f'invalid netmask "{mask}"', ["the prefix length is 0-32 for IPv4, 0-128 for IPv6"])


def _hex(text: str) -> bytes:
    try:
        return bytes.fromhex(text)
    except ValueError:
        raise _Expected("hex bytes", text, ["bcontains/bstartswith take hex bytes, e.g. 7f454c46"]) from None


def _regex(value: ast.Value, as_bytes: bool) -> Regex:
    try:
        return Regex(value.raw, binary=as_bytes)
    except RegexError as e:
        hints = ["RE2 syntax: no backreferences or lookaround"] if "perl operator" in str(e) or "escape" in str(e) \
            else []
        raise _Bad(f"invalid regular expression: {e}", hints) from None


def _did_you_mean(word: str, choices: Iterable[str]) -> list[str]:
    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return [f'did you mean "{close[0]}"?'] if close else []


@cache
def _errno_names() -> tuple[str, ...]:
    return tuple(n for n in dir(errno) if n.startswith("E"))


def _symbol_kind(field: Field) -> str:
    if field.name.startswith("evt.type") or field.name == "syscall.type":
        return "event type"
    return f"{field.name} value"


def _coerce(field: Field, op: str, value: ast.Value) -> Any:
    try:
        return _coerce_value(field, op, value)
    except _Expected as e:
        raise _Bad(f"'{op}' needs {e.what}, got \"{e.text}\"", e.hints) from None


def _coerce_value(field: Field, op: str, value: ast.Value) -> Any:
    ftype = field.type
    if op in _HEX_OPS:
        return _hex(value.text)
    if op == "regex":
        return _regex(value, ftype is T.BUF)
    if ftype is T.DYNAMIC:
        return value
    if ftype.numeric:
        return _number(field, value.text)
    if ftype is T.BOOL:
        return _bool(value.text)
    if ftype is T.IPADDR:
        return _ipaddr(value.text)
    if ftype is T.IPNET:
        return _ipnet(value.text)
    if ftype is T.BUF:
        return value.raw
    # STR and DIR (and any future string-like type)
    if field.symbols is not None and op in _SYMBOL_OPS and value.text not in field.symbols:
        kind = _symbol_kind(field)
        hints = _did_you_mean(value.text, field.symbols)
        if value.text.startswith("=") and value.text[1:] in field.symbols:
            hints = ["'==' is not an operator: use '='"]
        elif not hints and value.text.lower() in field.symbols:
            hints = [f'{kind}s are lowercase: "{value.text.lower()}"']
        raise _Bad(f'unknown {kind} "{value.text}"', hints, code="unknown-symbol")
    if op == "pmatch":
        return value.text.rstrip("/") or "/"
    return value.text


# -- field arguments ------------------------------------------------------------------------------


@cache
def _event_param_names() -> frozenset[str]:
    from sysmon.events.schema import Schema

    names: set[str] = set()
    for t in Schema.default().by_type_name.values():
        names.update(p.name for p in (*t.enter_params, *t.exit_params))
    return frozenset(names)


def _check_event_param(arg: str) -> None:
    if arg.isdigit():
        return
    names = _event_param_names()
    if arg not in names:
        raise _Bad(f'unknown event argument "{arg}"', _did_you_mean(arg, names), code="bad-argument")


def _check_index(arg: str) -> None:
    if not arg.isdigit():
        raise _Bad(f'"{arg}" is not an ancestor index', ["use 0 for the process, 1 its parent, ..."],
                   code="bad-argument")


def _check_abspath(arg: str) -> None:
    if arg not in ("src", "dst"):
        raise _Bad(f'unknown evt.abspath argument "{arg}"', ["use evt.abspath.src or evt.abspath.dst"],
                   code="bad-argument")


# Field-specific argument validation (a stopgap until `Field` declares its own argument check).
_ARG_CHECKS: Mapping[str, Callable[[str], None]] = {
    "evt.arg": _check_event_param,
    "evt.rawarg": _check_event_param,
    "proc.aname": _check_index,
    "proc.apid": _check_index,
    "evt.abspath": _check_abspath,
}


# -- the checker ----------------------------------------------------------------------------------


MAX_ERRORS = 20  # diagnostics collected before checking stops (each may cost a did-you-mean search)


class _Enough(Exception):
    pass


class _Checker:
    def __init__(self, catalogue: FieldSource, macro_names: Iterable[str]) -> None:
        self.catalogue = catalogue
        self.macro_names = list(macro_names)
        self.errors: list[FilterError] = []

    def error(self, message: str, span: Span, code: str, hints: list[str] | None = None) -> None:
        self.errors.append(FilterError(message, span=span.as_tuple(), code=code, hints=hints))
        if len(self.errors) >= MAX_ERRORS:
            raise _Enough

    def visit(self, node: ast.Node) -> Typed | None:
        if isinstance(node, ast.Check):
            return self.check(node)
        if isinstance(node, ast.Name):  # left over by macros.expand: not a macro
            self.error(f'unknown macro "{node.name}"', node.span, "unknown-macro", self.macro_hints(node.name))
            return None
        if isinstance(node, ast.Not):
            inner = self.visit(node.operand)
            return None if inner is None else TypedNot(inner, node)
        items = [self.visit(n) for n in node.operands]
        if any(i is None for i in items):
            return None
        typed = tuple(i for i in items if i is not None)
        return TypedAnd(typed, node) if isinstance(node, ast.And) else TypedOr(typed, node)

    def macro_hints(self, name: str) -> list[str]:
        hints = _did_you_mean(name, self.macro_names)
        if not hints:
            hints = ["a bare name must be a macro (sysmon --list-macros); a check is FIELD OP VALUE"]
        return hints

    def resolve(self, ref: ast.FieldRef) -> tuple[Field, str | None] | None:
        name = ref.name
        found = self.catalogue.lookup(name)
        if found is None:
            base = name.partition("[")[0]
            if "[" in name and self.catalogue.lookup(base) is not None:
                self.error(f'field "{base}" takes no argument', ref.span, "bad-argument")
                return None
            hints = []
            if name.lower() != name and self.catalogue.lookup(name.lower()) is not None:
                hints = [f'field names are lowercase: "{name.lower()}"']
            else:
                close = self.catalogue.suggest(name)
                if close:
                    hints = [f'did you mean "{close}"?']
            self.error(f'unknown field "{name}"', ref.span, "unknown-field", hints)
            return None
        field, arg = found
        if field.arg is ArgKind.REQUIRED and not arg:
            self.error(f'field "{field.name}" needs an argument', ref.span, "missing-argument",
                       [f"e.g. {field.name}[0] or {field.name}.NAME"])
            return None
        if field.print_only:
            self.error(f'field "{field.name}" can only be used in output formats', ref.span, "print-only")
            return None
        if arg is not None:
            try:
                if field.symbols is not None and field.arg is not ArgKind.NONE:
                    if arg not in field.symbols:
                        kind = _symbol_kind(field)
                        raise _Bad(f'unknown {kind} "{arg}"', _did_you_mean(arg, field.symbols),
                                   code="unknown-symbol")
                elif field.name in _ARG_CHECKS:
                    _ARG_CHECKS[field.name](arg)
            except _Bad as e:
                self.error(e.message, ref.span, e.code, e.hints)
                return None
        return field, arg

    def check(self, node: ast.Check) -> TypedCheck | None:
        resolved = self.resolve(node.field)
        if resolved is None:
            return None
        field, arg = resolved
        allowed = _OPS_BY_TYPE.get(field.type, frozenset(ast.ALL_OPS))
        if node.op not in allowed:
            kind = {T.STR: "string", T.BUF: "buffer", T.BOOL: "boolean", T.DIR: "direction"}.get(
                field.type, field.type.name)
            hints = []
            if node.op in RELATIONAL_OPS and field.type is T.STR:
                hints = ["relational operators need a numeric field"]
            elif node.op == "icontains" and field.type is T.BUF:
                hints = ["use contains, or bcontains with hex bytes"]
            self.error(f"operator '{node.op}' is not supported on {kind} field \"{field.name}\"",
                       node.op_span, "bad-operator", hints)
            return None
        operands: list[Any] = []
        ok = True
        for value in node.values:
            try:
                operands.append(_coerce(field, node.op, value))
            except _Bad as e:
                self.error(e.message, value.span, e.code, e.hints)
                ok = False
        if not ok:
            return None
        return TypedCheck(field, arg, node.op, tuple(operands), node)


def check(node: ast.Node, catalogue: FieldSource, text: str | None = None,
          macro_names: Iterable[str] = ()) -> CheckedFilter:
    """Type-check a parsed (and macro-expanded) filter against a catalogue; raises `FilterError`
    listing every problem. `macro_names` only feed suggestions for unknown names."""
    checker = _Checker(catalogue, macro_names)
    try:
        typed = checker.visit(node)
    except _Enough:
        typed = None
    if checker.errors or typed is None:
        errors = sorted(checker.errors, key=lambda e: e.span or (0, 0))
        first = errors[0]
        raise FilterError(first.message, span=first.span, hints=first.hints, code=first.code, errors=errors)
    return CheckedFilter(node, typed, text)
