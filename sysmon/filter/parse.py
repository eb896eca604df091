"""Filter text -> syntax tree (`sysmon.filter.ast`); lark errors -> `FilterError` with a span.

Error codes raised here (`FilterError.code`): `unexpected-end`, `unclosed-quote`, `missing-paren`,
`unmatched-paren`, `unknown-operator`, `missing-operator`, `expected-value`, `expected-list`, `syntax`.

A bare word used as a term is a `Name` (a macro reference). Names that cannot be macros are
syntax errors here: a keyword (`a=1 or or`) or a field name without an operator (`evt.type`).
"""
from __future__ import annotations

import difflib
import re
from functools import cache
from importlib import resources

from lark import Lark, Token, Tree
from lark.exceptions import UnexpectedCharacters, UnexpectedEOF, UnexpectedInput, UnexpectedToken

from sysmon.errors import FilterError
from sysmon.filter import limits
from sysmon.filter.ast import ALL_OPS, And, Check, FieldRef, Name, Node, Not, Or, Span, Value

_OPERATOR_TERMINALS = frozenset({"CMP_OP", "WORD_OP", "EXISTS", "LIST_OP"})
_VALUE_TERMINALS = frozenset({"VALUE", "LIST_VALUE"})
_ESCAPE = re.compile(r"\\(x[0-9A-Fa-f]{2}|.)", re.S)
_QUOTED = re.compile(r""""(?:[^"\\]|\\.)*"?|'(?:[^'\\]|\\.)*'?""", re.S)
_WORD = re.compile(r"[^\s()]+|[()]")
# Previous-token scanner for messages: fields, operators, brackets, commas, other words.
_TOKEN = re.compile(r"[A-Za-z_][\w.\-]*(?:\[[^\]\s]*\])?(?:\.[\w.\-]+)?|!=|<=|>=|[=<>(),]|[^\s()=<>!,]+|\S")


class Parser:
    """The LALR parser of `grammar.lark`. Build once (`default_parser()`), parse many."""

    def __init__(self) -> None:
        grammar = resources.files("sysmon.filter").joinpath("grammar.lark").read_text(encoding="utf-8")
        self._lark = Lark(grammar, parser="lalr", lexer="contextual", propagate_positions=True,
                          maybe_placeholders=False)

    def parse(self, text: str) -> Node:
        limits.prescan(text)  # bounded text and nesting: the parser and `_build` stay linear and shallow
        try:
            tree = self._lark.parse(text)
        except UnexpectedInput as e:
            raise _syntax_error(text, e) from None
        node = _build(tree)
        _check_names(text, node)
        return node


@cache
def default_parser() -> Parser:
    return Parser()


def parse(text: str, parser: Parser | None = None) -> Node:
    """Parse a filter; raises `FilterError` (with `span` and `code`) on a syntax error."""
    if not text.strip():
        raise FilterError("empty filter", span=(0, len(text)), code="unexpected-end")
    return (parser or default_parser()).parse(text)


# -- tree -> AST ----------------------------------------------------------------------------------


def _span(item: Tree[Token] | Token) -> Span:
    if isinstance(item, Token):
        return Span(item.start_pos or 0, item.end_pos or 0)
    return Span(item.meta.start_pos, item.meta.end_pos)


def _build(t: Tree[Token] | Token) -> Node:
    assert isinstance(t, Tree), t
    kind = t.data
    if kind in ("or_expr", "and_expr"):
        operands = tuple(_build(c) for c in t.children if isinstance(c, Tree))
        cls = Or if kind == "or_expr" else And
        return cls(operands, _span(t))
    if kind == "not_":
        return Not(_build(t.children[1]), _span(t))
    if kind == "group":
        return _build(t.children[1])
    field_tok = t.children[0]
    if kind == "name":
        assert isinstance(field_tok, Token)
        return Name(str(field_tok), _span(field_tok))
    op_tok = t.children[1]
    assert isinstance(field_tok, Token) and isinstance(op_tok, Token)
    field = FieldRef(str(field_tok), _span(field_tok))
    values: tuple[Value, ...]
    if kind == "compare":
        values = (_value(t.children[2]),)
    elif kind == "exists":
        values = ()
    else:  # listcheck
        values = tuple(_value(c) for c in t.children[3:] if isinstance(c, Tree))
    return Check(field, str(op_tok), values, _span(op_tok), _span(t))


_KEYWORDS = frozenset({"and", "or", "not"})


def _check_names(text: str, node: Node) -> None:
    """Reject names that are not macro names: keywords taken for a term, and fields missing an operator."""
    if isinstance(node, (And, Or)):
        for n in node.operands:
            _check_names(text, n)
    elif isinstance(node, Not):
        _check_names(text, node.operand)
    elif isinstance(node, Name):
        if node.name in _KEYWORDS:
            raise FilterError(f'expected a check, found "{node.name}"', span=node.span.as_tuple(), code="syntax")
        if not is_macro_name(node.name):
            end = node.span.end
            at_end = not text[end:].strip()
            raise FilterError(f'expected an operator after "{node.name}"', span=(end, end),
                              code="unexpected-end" if at_end else "missing-operator", hints=_operator_hint(None))


def is_macro_name(name: str) -> bool:
    """Macro names are identifiers (no dots or brackets, so they never clash with field names)."""
    return name.isidentifier()


def _value(t: Tree[Token] | Token) -> Value:
    assert isinstance(t, Tree)
    tok = t.children[0]
    assert isinstance(tok, Token)
    s = str(tok)
    if tok.type in ("DQ_STRING", "SQ_STRING"):
        raw = unescape(s[1:-1])
        return Value(raw.decode("utf-8", "surrogateescape"), raw, True, _span(tok))
    return Value(s, s.encode("utf-8", "surrogateescape"), False, _span(tok))


def unescape(body: str) -> bytes:
    """sysdig's quoted-value escapes: \\\\ \\" \\' and \\xNN; any other \\c stays as written."""
    out = bytearray()
    pos = 0
    for m in _ESCAPE.finditer(body):
        out += body[pos : m.start()].encode("utf-8", "surrogateescape")
        esc = m.group(1)
        if esc[0] == "x" and len(esc) == 3:
            out.append(int(esc[1:], 16))
        elif esc in ('\\', '"', "'"):
            out += esc.encode()
        else:
            out += m.group(0).encode("utf-8", "surrogateescape")
        pos = m.end()
    out += body[pos:].encode("utf-8", "surrogateescape")
    return bytes(out)


# -- friendly syntax errors -----------------------------------------------------------------------


def _previous_token(text: str, pos: int) -> tuple[str, tuple[int, int]]:
    last = None
    for last in _TOKEN.finditer(_blank_quotes(text[:pos])):
        pass
    if last is None:
        return "", (0, 0)
    return text[last.start() : last.end()], last.span()


def _blank_quotes(text: str) -> str:
    """`text` with quoted strings replaced by same-length placeholders (keeps columns)."""
    return _QUOTED.sub(lambda m: "Q" * len(m.group(0)), text)


def _unmatched_open(text: str) -> int | None:
    stack: list[int] = []
    for i, c in enumerate(_blank_quotes(text)):
        if c == "(":
            stack.append(i)
        elif c == ")" and stack:
            stack.pop()
    return stack[-1] if stack else None


def _syntax_error(text: str, e: UnexpectedInput) -> FilterError:
    end = len(text)
    found: str | None
    span: tuple[int, int]
    if isinstance(e, UnexpectedCharacters):
        pos = e.pos_in_stream or 0
        if text[pos] in "'\"":
            return FilterError("unclosed quote", span=(pos, end), code="unclosed-quote",
                               hints=[f"close the value with {text[pos]}"])
        m = _WORD.match(text, pos)
        found = m.group(0) if m and text[pos] != "!" else text[pos]
        span = (pos, pos + len(found))
        expected = set(e.allowed or ())
    elif isinstance(e, UnexpectedToken):
        tok = e.token
        if tok.type == "$END":
            found, span = None, (end, end)
        else:
            found = str(tok)
            start = tok.start_pos or 0
            span = (start, tok.end_pos if tok.end_pos is not None else start + len(found))
        expected = set(e.expected)
    elif isinstance(e, UnexpectedEOF):
        found, span, expected = None, (end, end), set(e.expected)
    else:  # pragma: no cover - lark has no other kinds
        return FilterError(str(e), code="syntax")
    return _describe(text, span, found, expected)


def _describe(text: str, span: tuple[int, int], found: str | None, expected: set[str]) -> FilterError:
    prev, prev_span = _previous_token(text, span[0])
    shown = f'"{found}"' if found is not None else "end of filter"

    def err(message: str, code: str, hints: list[str] | None = None, at: tuple[int, int] = span) -> FilterError:
        return FilterError(message, span=at, code=code, hints=hints)

    if expected & _OPERATOR_TERMINALS:
        if prev in ("and", "or"):  # `a=1 or or`: the second keyword was taken for a field name
            return err(f'expected a check, found "{prev}"', "syntax", at=prev_span)
        if found is None:
            return err(f'expected an operator after "{prev}"', "unexpected-end", _operator_hint(None))
        if found in ("(", ")"):
            return err(f'expected an operator after "{prev}", found {shown}', "unknown-operator",
                       _operator_hint(None))
        return err(f"unknown operator {shown}", "unknown-operator", _operator_hint(found))
    if expected & _VALUE_TERMINALS:
        if "LIST_VALUE" in expected:
            after = "inside the list" if prev == "(" else f"after '{prev}'"
            if found == ")" and prev == "(":
                return err("empty list: expected a value", "expected-value")
            return err(f"expected a value {after}", "expected-value")
        hints = ['to compare with an empty string, write ""'] if found is None else []
        if found in ("(", ")"):
            hints = ["quote values that contain brackets"]
        return err(f"expected a value after '{prev}'", "expected-value", hints)
    if "COMMA" in expected:
        if found is None:
            return err("expected either ')' or ',' after a value inside the list", "missing-paren")
        return err(f"expected either ')' or ',' after a value inside the list, found {shown}", "syntax",
                   ["quote values that contain blanks or brackets"])
    if "LPAR" in expected and "FIELD" not in expected:
        return err(f"expected '(' after '{prev}'", "expected-list", [f"write {prev} (a, b, ...)"])
    if "FIELD" in expected:  # the start of a term
        if found is None:
            return err("unexpected end of filter", "unexpected-end", ["expected a check, 'not' or '('"])
        if found.startswith("!"):
            return err("unexpected '!'", "syntax", ["use 'not' to negate a check"], (span[0], span[0] + 1))
        elif found in ("and", "or", "not") or found.startswith(("&", "|")):
            return err(f"expected a check, found {shown}", "syntax")
        if found == ")":
            return err("unexpected ')': expected a check", "syntax")
        return err(f"expected a field name, 'not' or '(', found {shown}", "syntax")
    # after a complete check or group: and / or / ')' / end
    if found is None:
        opened = _unmatched_open(text)
        at = (opened, opened + 1) if opened is not None else span
        return err("missing ')'", "missing-paren", ["this '(' is never closed"], at)
    if found == ")":
        return err("unmatched ')'", "unmatched-paren")
    hints = []
    if found in ("&&", "&"):
        hints = ["use 'and'"]
    elif found in ("||", "|"):
        hints = ["use 'or'"]
    elif found.lower() in ("and", "or", "not"):
        hints = [f"keywords are lowercase: '{found.lower()}'"]
    elif text[: span[0]].rstrip().endswith("=="):  # `a == b`: '=' with the value "=", then a stray word
        hints = ["'==' is not an operator: use '='"]
    else:
        hints = ['quote values that contain blanks: proc.name="a b"']
    return err(f"unexpected {shown}: expected 'and', 'or' or the end of the filter", "syntax", hints)


def _operator_hint(found: str | None) -> list[str]:
    if found is not None:
        if found == "==":
            return ["use '=' to compare"]
        if found in ("&&", "||", "!"):
            return []
        close = difflib.get_close_matches(found, ALL_OPS, n=1, cutoff=0.6)
        if close:
            return [f'did you mean "{close[0]}"?']
    return ["operators: " + " ".join(ALL_OPS)]
