"""Filter syntax: trees, precedence, operators, values and quoting, syntax errors with their spans."""
from __future__ import annotations

import pytest

from sysmon.errors import FilterError
from sysmon.filter.ast import ALL_OPS, And, Check, Not, Or, Span, dump
from sysmon.filter.parse import parse, unescape


def d(text: str) -> str:
    return dump(parse(text))


def err(text: str) -> FilterError:
    with pytest.raises(FilterError) as info:
        parse(text)
    return info.value


# -- trees and precedence -----------------------------------------------------------------------


def test_simple_check_and_spans() -> None:
    node = parse("evt.type=open")
    assert isinstance(node, Check)
    assert node.field.name == "evt.type" and node.field.span == Span(0, 8)
    assert node.op == "=" and node.op_span == Span(8, 9)
    assert node.value.text == "open" and node.value.span == Span(9, 13) and not node.value.quoted
    assert node.span == Span(0, 13)


def test_precedence_not_over_and_over_or() -> None:
    assert d("a=1 or b=2 and c=3") == "(or (= a '1') (and (= b '2') (= c '3')))"
    assert d("a=1 and b=2 or c=3") == "(or (and (= a '1') (= b '2')) (= c '3'))"
    assert d("not a=1 and b=2") == "(and (not (= a '1')) (= b '2'))"
    assert d("not not a=1") == "(not (not (= a '1')))"
    assert d("not (a=1 or b=2)") == "(not (or (= a '1') (= b '2')))"


def test_chains_are_flat_and_groups_kept() -> None:
    node = parse("a=1 and b=2 and c=3")
    assert isinstance(node, And) and len(node.operands) == 3
    assert d("(a=1 or b=2) and c=3") == "(and (or (= a '1') (= b '2')) (= c '3'))"
    assert d("a=1 and (b=2 and c=3)") == "(and (= a '1') (and (= b '2') (= c '3')))"
    assert d("((a=1))") == "(= a '1')"
    node = parse("x=1 or (y=2)")
    assert isinstance(node, Or) and node.span == Span(0, 12)


def test_not_span_and_paren_free_keywords() -> None:
    node = parse("not(a=1)")
    assert isinstance(node, Not) and node.span == Span(0, 8)
    assert d("a=1 and(b=2)") == "(and (= a '1') (= b '2'))"
    # words that merely start with a keyword are fields / values
    assert d("notable.x=1 and order.y=android") == "(and (= notable.x '1') (= order.y 'android'))"


@pytest.mark.parametrize("op", ["=", "!=", "<", "<=", ">", ">="])
def test_symbol_operators(op: str) -> None:
    assert d(f"evt.num{op}5") == f"({op} evt.num '5')"
    assert d(f"evt.num {op} 5") == f"({op} evt.num '5')"


@pytest.mark.parametrize(
    "op", ["contains", "icontains", "bcontains", "startswith", "bstartswith", "endswith", "glob", "regex"])
def test_word_operators(op: str) -> None:
    assert d(f"fd.name {op} abc") == f"({op} fd.name 'abc')"
    assert d(f"fd.name {op} 'a b'") == f"({op} fd.name 'a b')"


@pytest.mark.parametrize("op", ["in", "intersects", "pmatch"])
def test_list_operators(op: str) -> None:
    assert d(f"fd.name {op} (/etc, /usr/lib)") == f"({op} fd.name '/etc' '/usr/lib')"
    assert d(f"fd.name {op}(/etc,'a b',\"c,d\")") == f"({op} fd.name '/etc' 'a b' 'c,d')"
    assert d(f"fd.name {op} (x)") == f"({op} fd.name 'x')"


def test_exists() -> None:
    assert d("fd.name exists") == "(exists fd.name)"
    assert d("not fd.name exists and (x exists)") == "(and (not (exists fd.name)) (exists x))"


def test_every_operator_parses() -> None:
    for op in ALL_OPS:
        text = {"exists": "f exists", "in": "f in (a)", "intersects": "f intersects (a)",
                "pmatch": "f pmatch (a)"}.get(op, f"f {op} a")
        node = parse(text)
        assert isinstance(node, Check) and node.op == op


@pytest.mark.parametrize("name", ["proc.name", "evt.arg.fd", "evt.arg[1]", "proc.aname[2]", "evt.type.is.open",
                                  "evt.abspath.src", "fd.sip"])
def test_field_names(name: str) -> None:
    node = parse(f"{name}=x")
    assert isinstance(node, Check) and node.field.name == name


# -- values ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("value", ["/lib/*/libc*", "a:b", "10.0.0.0/8", "-1", "0x1f", "a.b-c_d", "=open", "a,b",
                                   "<", ">", "and", "or", "not", "exists", "in", "C:\\x"])
def test_bare_values(value: str) -> None:
    node = parse(f"f={value}")
    assert isinstance(node, Check) and node.value.text == value and not node.value.quoted


def test_bare_value_ends_at_paren_and_comma_in_lists() -> None:
    assert d("(f=a)") == "(= f 'a')"
    assert d("f in (a,b ,c)") == "(in f 'a' 'b' 'c')"


def test_quoted_values_and_escapes() -> None:
    node = parse(r'f="a b\x41\\ \" \q"')
    assert isinstance(node, Check)
    assert node.value.text == 'a bA\\ " \\q' and node.value.quoted
    assert node.value.span == Span(2, 19)
    assert parse(r"f='it\'s'").value.text == "it's"  # type: ignore[union-attr]
    assert parse("f='say \"hi\"'").value.text == 'say "hi"'  # type: ignore[union-attr]
    assert parse('f=""').value.text == ""  # type: ignore[union-attr]
    assert parse("f='(a) or b'").value.text == "(a) or b"  # type: ignore[union-attr]


def test_byte_escapes_keep_raw_bytes() -> None:
    node = parse(r'evt.buffer contains "\x7fELF\xff"')
    assert isinstance(node, Check)
    assert node.value.raw == b"\x7fELF\xff"
    assert node.value.text.encode("utf-8", "surrogateescape") == b"\x7fELF\xff"
    assert unescape(r"\x4") == b"\\x4"  # incomplete: literal
    assert unescape("é") == "é".encode()


def test_keywords_are_case_sensitive() -> None:
    assert err("a=1 AND b=2").hints == ["keywords are lowercase: 'and'"]


def test_double_equals_is_eq_with_value() -> None:  # like sysdig: `a==b` is `a = "=b"`
    assert d("evt.type==open") == "(= evt.type '=open')"


# -- syntax errors ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "code", "span", "message"),
    [
        ("evt.type=", "expected-value", (9, 9), "expected a value after '='"),
        ("proc.name contains ", "expected-value", (19, 19), "expected a value after 'contains'"),
        ("evt.type=open and", "unexpected-end", (17, 17), "unexpected end of filter"),
        ("not", "unexpected-end", (3, 3), "unexpected end of filter"),
        ("evt.type", "unexpected-end", (8, 8), 'expected an operator after "evt.type"'),
        ("(evt.type=open", "missing-paren", (0, 1), "missing ')'"),
        ("((a=1) or b=2", "missing-paren", (0, 1), "missing ')'"),
        ("evt.type=open)", "unmatched-paren", (13, 14), "unmatched ')'"),
        ("evt.type in (open, close", "missing-paren", (24, 24),
         "expected either ')' or ',' after a value inside the list"),
        ("evt.type foo open", "unknown-operator", (9, 12), 'unknown operator "foo"'),
        ("x.y @ 3", "unknown-operator", (4, 5), 'unknown operator "@"'),
        ("evt.type=open or or", "syntax", (17, 19), 'expected a check, found "or"'),
        ('proc.name="foo', "unclosed-quote", (10, 14), "unclosed quote"),
        ("proc.name='foo", "unclosed-quote", (10, 14), "unclosed quote"),
        ("evt.type in open", "expected-list", (12, 16), "expected '(' after 'in'"),
        ("x in ()", "expected-value", (6, 7), "empty list: expected a value"),
        ("x in (a,)", "expected-value", (8, 9), "expected a value after ','"),
        ("x=(a)", "expected-value", (2, 3), "expected a value after '='"),
        ("proc.name=a b", "syntax", (12, 13), "unexpected \"b\": expected 'and', 'or' or the end of the filter"),
        ("!x=1", "syntax", (0, 1), "unexpected '!'"),
        ("and x=1", "syntax", (0, 3), 'expected a check, found "and"'),
        ("   ", "unexpected-end", (0, 3), "empty filter"),
    ],
)
def test_syntax_errors(text: str, code: str, span: tuple[int, int], message: str) -> None:
    e = err(text)
    assert (e.code, e.span, e.message) == (code, span, message)
    assert e.errors == [e]


def test_syntax_error_hints() -> None:
    assert err("evt.type contians x").hints == ['did you mean "contains"?']
    assert err("proc.name=a b").hints == ['quote values that contain blanks: proc.name="a b"']
    assert err("a=1 && b=2").hints == ["use 'and'"]
    assert err("a=1 || b=2").hints == ["use 'or'"]
    assert err("(a=1").hints == ["this '(' is never closed"]
    assert err("evt.type=").hints == ['to compare with an empty string, write ""']


def test_quotes_are_skipped_when_looking_for_the_unclosed_paren() -> None:
    e = err("(a='(' or (b=1)")
    assert e.span == (0, 1)


def test_render_caret() -> None:
    text = "evt.type=connect and (fd.port=80"
    e = err(text)
    assert e.render(text) == (
        "sysmon: missing ')'\n"
        "    evt.type=connect and (fd.port=80\n"
        "                         ^\n"
        "  hint: this '(' is never closed"
    )
    e = err("evt.type=open and")
    assert e.render("evt.type=open and").splitlines()[2] == "    " + " " * 17 + "^"


def test_render_multiline_filter() -> None:
    text = "evt.type=open\nand proc.name=\"x"
    e = err(text)
    assert e.render(text).splitlines()[1:] == ['    and proc.name="x', "                  ^~",
                                               '  hint: close the value with "']
