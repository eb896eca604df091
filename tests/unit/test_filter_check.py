"""Filter checking: field resolution, suggestions, operator/type rules, values; all diagnostics at once.

`fake_catalogue()` (also used by test_filter_compile / test_pushdown) is a small Catalogue of
`Field` objects reading a `FakeEvent`, so these tests do not depend on the real field tables.
"""
from __future__ import annotations

import ipaddress
from typing import Any

import pytest

from sysmon.errors import FilterError
from sysmon.fields.catalogue import Catalogue
from sysmon.fields.field import ArgKind, Field, FieldClass, FieldType
from sysmon.filter.regex import Regex
from sysmon.filter.check import CheckedFilter, TypedCheck, check, dump_typed
from sysmon.filter.parse import parse

T = FieldType
EVENT_TYPES = ("open", "openat", "close", "read", "write", "connect", "accept", "execve", "clone", "procexit")


class FakeType:
    __slots__ = ("name",)

    def __init__(self, name: str) -> None:
        self.name = name


class FakeEvent:
    """An event whose fields are plain values; missing keys are unavailable (None)."""

    def __init__(self, type: str = "open", **values: Any) -> None:
        self.etype = FakeType(type)
        self.values = values

    @property
    def type(self) -> str:
        return self.etype.name

    # the header attributes KernelPlan.admits reads
    @property
    def pid(self) -> Any:
        return self.values.get("pid")

    @property
    def tid(self) -> Any:
        return self.values.get("tid")

    @property
    def comm(self) -> Any:
        return self.values.get("name")

    @property
    def uid(self) -> Any:
        return self.values.get("uid")

    def __repr__(self) -> str:
        return f"FakeEvent({self.type!r}, {self.values!r})"


def _get(key: str) -> Any:
    return lambda e, s, a: e.values.get(key)


def _arg(e: FakeEvent, s: object, a: str | None) -> Any:
    return e.values.get(f"arg.{a}")


def _ancestors(e: FakeEvent, s: object, a: str | None) -> Any:
    names = e.values.get("anames")
    if names is None or a is None:
        return names
    n = int(a)
    return [names[n]] if n < len(names) else None


def fake_catalogue() -> Catalogue:
    types = {n: i for i, n in enumerate(EVENT_TYPES)}
    cat = Catalogue()
    cat.add(FieldClass("evt", "", (
        Field("evt.type", T.STR, "", lambda e, s, a: e.type, symbols=types, kernel="type"),
        Field("syscall.type", T.STR, "", lambda e, s, a: e.type if e.type != "procexit" else None, symbols=types,
              kernel="type"),
        Field("evt.type.is", T.UINT64, "", lambda e, s, a: int(e.type == a), arg=ArgKind.REQUIRED, symbols=types),
        Field("evt.dir", T.DIR, "", _get("dir"), symbols={">": 0, "<": 1}),
        Field("evt.num", T.UINT64, "", _get("num")),
        Field("evt.rawres", T.INT64, "", _get("res")),
        Field("evt.errno", T.ERRNO, "", _get("res")),
        Field("evt.latency", T.RELTIME, "", _get("latency")),
        Field("evt.failed", T.BOOL, "", _get("failed")),
        Field("evt.buffer", T.BUF, "", _get("buffer")),
        Field("evt.arg", T.STR, "", _arg, arg=ArgKind.REQUIRED),
        Field("evt.rawarg", T.DYNAMIC, "", _arg, arg=ArgKind.REQUIRED),
        Field("evt.outputtime", T.ABSTIME, "", _get("ts"), print_only=True),
    )))
    cat.add(FieldClass("proc", "", (
        Field("proc.name", T.STR, "", _get("name"), kernel="comm"),
        Field("proc.pid", T.INT64, "", _get("pid"), kernel="pid"),
        Field("thread.tid", T.INT64, "", _get("tid"), kernel="tid"),
        Field("user.uid", T.UINT64, "", _get("uid"), kernel="uid"),
        Field("proc.aname", T.STR, "", _ancestors, multi=True, arg=ArgKind.OPTIONAL),
    )))
    cat.add(FieldClass("fd", "", (
        Field("fd.name", T.STR, "", _get("fdname")),
        Field("fd.type", T.STR, "", _get("fdtype"), symbols={"file": 0, "ipv4": 1, "ipv6": 2}),
        Field("fd.sip", T.IPADDR, "", _get("sip")),
        Field("fd.snet", T.IPNET, "", _get("sip"), filter_only=True),
        Field("fd.sport", T.PORT, "", _get("sport")),
        Field("fd.ip", T.IPADDR, "", _get("ips"), multi=True, filter_only=True),
        Field("fd.net", T.IPNET, "", _get("ips"), multi=True, filter_only=True),
        Field("fd.port", T.PORT, "", _get("ports"), multi=True, filter_only=True),
    )))
    return cat


CAT = fake_catalogue()


def ok(text: str, cat: Catalogue = CAT) -> CheckedFilter:
    return check(parse(text), cat, text)


def bad(text: str, cat: Catalogue = CAT) -> FilterError:
    with pytest.raises(FilterError) as info:
        check(parse(text), cat, text)
    return info.value


def operands(text: str) -> tuple[Any, ...]:
    typed = ok(text).typed
    assert isinstance(typed, TypedCheck)
    return typed.operands


# -- fields ---------------------------------------------------------------------------------------


def test_unknown_field_with_suggestion_and_span() -> None:
    text = "evt.type=connect and fd.prot=80"
    e = bad(text)
    assert (e.code, e.span, e.message, e.hints) == ("unknown-field", (21, 28), 'unknown field "fd.prot"',
                                                    ['did you mean "fd.port"?'])
    assert e.render(text) == (
        'sysmon: unknown field "fd.prot" (did you mean "fd.port"?)\n'
        "    evt.type=connect and fd.prot=80\n"
        "                         ^~~~~~~"
    )


def test_unknown_field_without_suggestion_and_uppercase() -> None:
    assert bad("zzz.qqq=1").hints == []
    assert bad("Proc.Name=cat").hints == ['field names are lowercase: "proc.name"']


def test_field_arguments() -> None:
    typed = ok("proc.aname[2]=bash").typed
    assert isinstance(typed, TypedCheck) and typed.field.name == "proc.aname" and typed.arg == "2"
    assert ok("proc.aname=bash").typed.arg is None  # type: ignore[union-attr]
    assert ok("evt.arg.fd=3").typed.arg == "fd"  # type: ignore[union-attr]
    assert ok("evt.arg[0]=3").typed.arg == "0"  # type: ignore[union-attr]
    e = bad("evt.arg=3")
    assert (e.code, e.span) == ("missing-argument", (0, 7))
    e = bad("proc.name[2]=x")
    assert (e.code, e.message) == ("bad-argument", 'field "proc.name" takes no argument')
    e = bad("proc.aname[x]=a")
    assert e.code == "bad-argument"
    e = bad("evt.arg.nosuchparam=1")
    assert (e.code, e.message) == ("bad-argument", 'unknown event argument "nosuchparam"')
    e = bad("evt.type.is.opne=1")
    assert (e.code, e.hints) == ("unknown-symbol", ['did you mean "open"?'])


def test_print_only_field_rejected_filter_only_accepted() -> None:
    assert bad("evt.outputtime=1").code == "print-only"
    ok("fd.net=10.0.0.0/8 and fd.port=80 and fd.ip=::1")


# -- operators and types --------------------------------------------------------------------------


@pytest.mark.parametrize("op", ["<", "<=", ">", ">="])
def test_relational_on_string_is_rejected(op: str) -> None:
    e = bad(f"proc.name {op} abc")
    assert e.code == "bad-operator" and e.span == (10, 10 + len(op))
    assert e.message == f"operator '{op}' is not supported on string field \"proc.name\""


@pytest.mark.parametrize(("text", "code"), [
    ("evt.num contains 1", "bad-operator"),
    ("evt.failed > true", "bad-operator"),
    ("evt.buffer icontains x", "bad-operator"),
    ("evt.buffer glob x", "bad-operator"),
    ("evt.buffer < x", "bad-operator"),
    ("fd.sip contains 1", "bad-operator"),
    ("evt.num pmatch (1)", "bad-operator"),
    ("evt.dir > <", "bad-operator"),
])
def test_operator_type_rules(text: str, code: str) -> None:
    assert bad(text).code == code


@pytest.mark.parametrize(("text", "value"), [
    ("evt.num=42", 42),
    ("evt.num=0x10", 16),
    ("evt.num=0755", 755),
    ("evt.rawres=-2", -2),
    ("evt.errno=ENOENT", -2),
    ("evt.errno=-13", -13),
    ("evt.latency>=1000", 1000),
    ("fd.sport=443", 443),
    ("evt.failed=true", True),
    ("evt.failed=false", False),
    ("fd.sip=127.0.0.1", ipaddress.ip_address("127.0.0.1")),
    ("fd.sip=::1", ipaddress.ip_address("::1")),
    ("fd.snet=10.0.0.0/8", ipaddress.ip_network("10.0.0.0/8")),
    ("fd.snet=fe80::/10", ipaddress.ip_network("fe80::/10")),
    ("fd.snet=10.1.2.3/8", ipaddress.ip_network("10.0.0.0/8")),
    ("fd.snet=10.1.2.3", ipaddress.ip_network("10.1.2.3/32")),
    ("evt.buffer contains 'ab'", b"ab"),
    (r"evt.buffer contains '\xff'", b"\xff"),
    ("evt.buffer bcontains 7f454c46", b"\x7fELF"),
    ("proc.name bstartswith 6162", b"ab"),
    ("fd.name pmatch (/etc/)", "/etc"),
    ("fd.name pmatch (/)", "/"),
    ("evt.dir=<", "<"),
    ("fd.type=ipv4", "ipv4"),
    ("proc.name=''", ""),
])
def test_values_are_coerced(text: str, value: Any) -> None:
    assert operands(text) == (value,)


def test_regex_is_compiled_once_at_check() -> None:
    (pat,) = operands("proc.name regex 'ba.h'")
    assert isinstance(pat, Regex) and pat.pattern == b"ba.h"
    (bpat,) = operands("evt.buffer regex 'GET .*'")
    assert isinstance(bpat, Regex) and bpat.pattern == b"GET .*"


@pytest.mark.parametrize(("text", "code", "message"), [
    ("evt.num=abc", "bad-value", '\'=\' needs a number, got "abc"'),
    ("evt.num<abc", "bad-value", '\'<\' needs a number, got "abc"'),
    ("evt.num in (1, abc)", "bad-value", '\'in\' needs a number, got "abc"'),
    ("evt.num=-1", "bad-value", "evt.num cannot be negative (-1)"),
    ("fd.sport=70000", "bad-value", "70000 is not a valid port (0-65535)"),
    ("evt.rawres=99999999999999999999", "bad-value", "99999999999999999999 is out of range for a 64-bit integer"),
    ("evt.errno=ENOTATHING", "bad-value", 'unknown errno name "ENOTATHING"'),
    ("evt.latency>1ms", "bad-value", '\'>\' needs a number, got "1ms"'),
    ("evt.failed=yes", "bad-value", '\'=\' needs a boolean, got "yes"'),
    ("evt.failed=1", "bad-value", '\'=\' needs a boolean, got "1"'),
    ("fd.sip=abc", "bad-value", '\'=\' needs an IP address, got "abc"'),
    ("fd.sip=10.0.0.0/8", "bad-value", '\'=\' needs an IP address, got "10.0.0.0/8"'),
    ("fd.snet=2001:db8::/129", "bad-value", 'invalid netmask "129"'),
    ("fd.snet=10.0.0.0/33", "bad-value", 'invalid netmask "33"'),
    ("fd.snet=bogus/8", "bad-value", '\'=\' needs a network, got "bogus/8"'),
    ("evt.buffer bcontains xyz", "bad-value", '\'bcontains\' needs hex bytes, got "xyz"'),
    ("proc.name regex '('", "bad-value", "invalid regular expression: missing ): ("),
    ("proc.name regex '(a)\\1'", "bad-value", "invalid regular expression: invalid escape sequence: \\1"),
    ("fd.name regex '(?=x)'", "bad-value", "invalid regular expression: invalid perl operator: (?="),
    ("evt.type=opne", "unknown-symbol", 'unknown event type "opne"'),
    ("evt.type in (open, clsoe)", "unknown-symbol", 'unknown event type "clsoe"'),
    ("syscall.type=bogus", "unknown-symbol", 'unknown event type "bogus"'),
    ("fd.type=ipv5", "unknown-symbol", 'unknown fd.type value "ipv5"'),
    ("evt.dir=x", "unknown-symbol", 'unknown evt.dir value "x"'),
])
def test_bad_values(text: str, code: str, message: str) -> None:
    e = bad(text)
    assert (e.code, e.message) == (code, message)


def test_bad_value_spans_and_hints() -> None:
    e = bad("evt.type=opne")
    assert e.span == (9, 13) and e.hints == ['did you mean "open"?']
    assert bad("evt.type==open").hints == ["'==' is not an operator: use '='"]
    assert bad("evt.type=OPEN").hints == ['event types are lowercase: "open"']
    assert bad("evt.latency>1ms").hints == ["times are in nanoseconds: 1ms = 1000000"]
    assert bad("evt.type in (open, clsoe)").span == (19, 24)


def test_pattern_operators_on_symbol_fields_are_not_symbol_checked() -> None:
    ok("evt.type startswith op and evt.type glob 'open*' and fd.type contains ip")


def test_all_diagnostics_are_collected_in_source_order() -> None:
    text = "evt.type=opne or proc.name<3 or (evt.num=abc and fd.prot=1)"
    e = bad(text)
    assert [x.code for x in e.errors] == ["unknown-symbol", "bad-operator", "bad-value", "unknown-field"]
    assert [x.span for x in e.errors] == [(9, 13), (26, 27), (41, 44), (49, 56)]
    assert (e.code, e.span, e.message) == ("unknown-symbol", (9, 13), 'unknown event type "opne"')
    rendered = e.render(text)
    assert rendered.count("sysmon: ") == 4
    assert "    " + " " * 41 + "^~~" in rendered.splitlines()


def test_every_value_of_a_list_is_checked() -> None:
    e = bad("evt.num in (1, x, 3, y)")
    assert [x.span for x in e.errors] == [(15, 16), (21, 22)]


def test_typed_dump() -> None:
    assert dump_typed(ok("not evt.num=3 or fd.sip=::1").typed) == (
        "(or (not (= evt.num:UINT64 3)) (= fd.sip:IPADDR IPv6Address('::1')))")


# -- the real catalogue ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def real() -> Catalogue:
    return Catalogue.default()


@pytest.mark.parametrize("text", [
    "evt.type in (open, openat) and fd.name pmatch (/etc)",
    "evt.type=connect and fd.sport=80 and fd.sip=10.0.0.1",
    "fd.net=10.0.0.0/8 or fd.port=443 or fd.ip=::1",
    "proc.aname[1]=bash and proc.apid=1 and evt.arg.fd=3 and evt.rawarg.fd=3",
    "evt.dir=< and evt.failed=true and evt.rawres<0 and evt.res=ENOENT",
    "evt.buffer contains GET and evt.buffer bcontains 474554",
    "evt.type.is.open=1 and user.name=root and fd.type=ipv4",
    "evt.latency > 1000000 and evt.abspath.src pmatch (/tmp)",
])
def test_real_catalogue_accepts(real: Catalogue, text: str) -> None:
    check(parse(text), real, text)


@pytest.mark.parametrize(("text", "code", "hint"), [
    ("evt.type=connect and fd.prot=80", "unknown-field", 'did you mean "fd.port"?'),
    ("evt.type=opne", "unknown-symbol", 'did you mean "open"?'),
    ("evt.arg.nonexistent=1", "bad-argument", None),
    ("proc.name < abc", "bad-operator", None),
    ("fd.sip=abc", "bad-value", None),
    ("evt.outputtime=1", "print-only", None),
])
def test_real_catalogue_rejects(real: Catalogue, text: str, code: str, hint: str | None) -> None:
    e = bad(text, real)
    assert e.code == code
    if hint is not None:
        assert hint in e.hints
