"""Every error case of sysdig's reference table (sysdig-reference.md §2), through the whole stack
with the real catalogue: our code, span and message; plus the CLI's exit code and caret."""
from __future__ import annotations

import pytest

from sysmon import cli
from sysmon.errors import FilterError
from sysmon.fields.catalogue import Catalogue
from sysmon.filter import compile_filter

CAT = Catalogue.default()


def error(text: str) -> FilterError:
    with pytest.raises(FilterError) as info:
        compile_filter(text, CAT)
    return info.value


# filter, sysdig's message (position), our code, span, message
SYSDIG_CASES = [
    ("evt.type=", "unknown event type  (9)", "expected-value", (9, 9), "expected a value after '='"),
    ("evt.typo=open", "unrecognized field evt.typo (8)", "unknown-field", (0, 8), 'unknown field "evt.typo"'),
    ("evt.type=open and", "unexpected end of filter (17)", "unexpected-end", (17, 17), "unexpected end of filter"),
    ("(evt.type=open", "unexpected end of filter (15)", "missing-paren", (0, 1), "missing ')'"),
    ("evt.type=open)", "unexpected end of filter (14)", "unmatched-paren", (13, 14), "unmatched ')'"),
    ("evt.type in (open, close", "expected either ')' or ',' (25)", "missing-paren", (24, 24),
     "expected either ')' or ',' after a value inside the list"),
    ("evt.type foo open", "unrecognized comparison operator (9)", "unknown-operator", (9, 12),
     'unknown operator "foo"'),
    ("evt.type=open or or", "unrecognized field or (19)", "syntax", (17, 19), 'expected a check, found "or"'),
    ('proc.name="foo', "unclosed quotes (14)", "unclosed-quote", (10, 14), "unclosed quote"),
    ("evt.arg=3", "filter syntax error: evt.arg (7)", "missing-argument", (0, 7), 'field "evt.arg" needs an argument'),
    ("Proc.Name=cat", "unrecognized field Proc.Name (9)", "unknown-field", (0, 9), 'unknown field "Proc.Name"'),
    ("not", "unexpected end of filter (3)", "unexpected-end", (3, 3), "unexpected end of filter"),
]


@pytest.mark.parametrize(("text", "sysdig", "code", "span", "message"), SYSDIG_CASES)
def test_sysdig_error_cases(text: str, sysdig: str, code: str, span: tuple[int, int], message: str) -> None:
    e = error(text)
    assert (e.code, e.span, e.message) == (code, span, message), sysdig


def test_sysdig_ambiguous_and_or_is_accepted_with_standard_precedence() -> None:
    # sysdig: "expression mixes 'and' and 'or' in an ambiguous way. Please use brackets." (45)
    from sysmon.filter.explain import explain

    out = explain("evt.type=open and proc.name=a or proc.name=b", CAT)
    assert "  or\n    and\n      evt.type=open\n      proc.name=a\n    proc.name=b\n" in out


@pytest.mark.parametrize(("text", "code", "span", "hint"), [
    ("evt.type=opne", "unknown-symbol", (9, 13), 'did you mean "open"?'),
    ("fd.prot=80", "unknown-field", (0, 7), 'did you mean "fd.port"?'),
    ("evt.typo=open", "unknown-field", (0, 8), 'did you mean "evt.type"?'),
    ("Proc.Name=cat", "unknown-field", (0, 9), 'field names are lowercase: "proc.name"'),
    ("fd.type=socket", "unknown-symbol", (8, 14), None),
    ("evt.num < abc", "bad-value", (10, 13), None),
    ("fd.net=2001:db8::/129", "bad-value", (7, 21), "the prefix length is 0-32 for IPv4, 0-128 for IPv6"),
    ("evt.type=open && proc.name=x", "syntax", (14, 16), "use 'and'"),
    ("proc.name == bash", "syntax", (13, 17), "'==' is not an operator: use '='"),
    ("evt.type==open", "unknown-symbol", (9, 14), "'==' is not an operator: use '='"),
])
def test_errors_with_hints(text: str, code: str, span: tuple[int, int], hint: str | None) -> None:
    e = error(text)
    assert (e.code, e.span) == (code, span)
    if hint is not None:
        assert hint in e.hints


def test_value_type_messages() -> None:
    assert error("evt.num < abc").message == '\'<\' needs a number, got "abc"'
    assert error("fd.sport = http").message == '\'=\' needs a number, got "http"'
    assert error("evt.failed=yes").message == '\'=\' needs a boolean, got "yes"'
    assert error("fd.sip=10.0.0.0/8").message == '\'=\' needs an IP address, got "10.0.0.0/8"'


@pytest.mark.parametrize("text", ["fd.net=2001:db8::/32", "fd.snet=::1/128 or fd.rnet=10.0.0.0/8",
                                  "fd.type in (ipv4, ipv6, unix, pipe, file, directory, event, signalfd, eventpoll, "
                                  "inotify, timerfd, memfd, netlink, bpf, userfaultfd, io_uring)"])
def test_accepted_values(text: str) -> None:
    compile_filter(text, CAT)


# -- the command line: exit code 2, every diagnostic with its caret -------------------------------


def test_cli_exit_code_and_caret(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["evt.type=connect", "and", "fd.prot=80"]) == 2
    err = capsys.readouterr().err
    assert err == ('sysmon: unknown field "fd.prot" (did you mean "fd.port"?)\n'
                   "    evt.type=connect and fd.prot=80\n"
                   "                         ^~~~~~~\n")


def test_cli_reports_every_diagnostic(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["evt.type=opne or evt.num<abc"]) == 2
    lines = capsys.readouterr().err.splitlines()
    assert lines == [
        'sysmon: unknown event type "opne" (did you mean "open"?)',
        "    evt.type=opne or evt.num<abc",
        "             ^~~~",
        "sysmon: '<' needs a number, got \"abc\"",
        "    evt.type=opne or evt.num<abc",
        "                             ^~~",
    ]


def test_cli_syntax_error_with_hint_line(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["(evt.type=open"]) == 2
    assert capsys.readouterr().err.splitlines() == [
        "sysmon: missing ')'", "    (evt.type=open", "    ^", "  hint: this '(' is never closed"]
