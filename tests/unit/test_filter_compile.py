"""Filter predicates: operator semantics, unavailable values, multi fields, IPs, ordering."""
from __future__ import annotations

import ipaddress
from typing import Any

import pytest
from test_filter_check import CAT, FakeEvent

from sysmon.errors import FilterError
from sysmon.events.model import ENTER
from sysmon.fields.catalogue import Catalogue
from sysmon.filter import compile, compile_filter
from sysmon.filter.check import check
from sysmon.filter.compile import Predicate, cost
from sysmon.filter.parse import parse
from sysmon.state.state import FdInfo, FdTable, State, ThreadInfo
from tests.factories import make_event, sock_tuple

STATE = State()
ip = ipaddress.ip_address


def pred(text: str, cat: Catalogue = CAT) -> Predicate:
    return compile(check(parse(text), cat, text))


def matches(text: str, evt: Any, state: State = STATE) -> bool:
    return pred(text)(evt, state)


E = FakeEvent


# -- evt.type -------------------------------------------------------------------------------------


def test_evt_type_eq_in_ne() -> None:
    assert matches("evt.type=open", E("open"))
    assert not matches("evt.type=open", E("openat"))  # no aliasing, like sysdig
    assert matches("evt.type in (open, openat)", E("openat"))
    assert not matches("evt.type in (open, openat)", E("close"))
    assert matches("evt.type intersects (open, close)", E("close"))
    assert matches("evt.type!=open", E("close")) and not matches("evt.type!=open", E("open"))
    assert matches("evt.type startswith op", E("openat"))
    assert matches("evt.type glob 'open*'", E("openat")) and not matches("evt.type glob 'open*'", E("read"))
    assert matches("evt.type.is.open=1", E("open")) and matches("evt.type.is.open=0", E("read"))


# -- strings --------------------------------------------------------------------------------------


@pytest.mark.parametrize(("text", "expected"), [
    ("proc.name=bash", True),
    ("proc.name=Bash", False),
    ("proc.name!=bash", False),
    ("proc.name!=zsh", True),
    ("proc.name contains as", True),
    ("proc.name contains AS", False),
    ("proc.name icontains AS", True),
    ("proc.name startswith ba", True),
    ("proc.name startswith as", False),
    ("proc.name endswith sh", True),
    ("proc.name endswith ba", False),
    ("proc.name glob 'b*h'", True),
    ("proc.name glob 'b?sh'", True),
    ("proc.name glob 'B*'", False),
    ("proc.name glob '[ab]ash'", True),
    ("proc.name regex 'ba.h'", True),
    ("proc.name regex 'as'", False),  # full match
    ("proc.name regex '.*as.*'", True),
    ("proc.name in (zsh, bash)", True),
    ("proc.name in (zsh, sh)", False),
    ("proc.name bcontains 6173", True),
    ("proc.name bstartswith 6261", True),
    ("proc.name bstartswith 6173", False),
    ("proc.name exists", True),
    ("proc.name=''", False),
])
def test_string_operators(text: str, expected: bool) -> None:
    assert matches(text, E("read", name="bash")) is expected


@pytest.mark.parametrize(("path", "expected"), [
    ("/etc", True), ("/etc/passwd", True), ("/etc/ssh/sshd_config", True), ("/etcetera", False),
    ("/usr/lib/x.so", True), ("/usr/libexec", False), ("/var", False), ("etc", False),
])
def test_pmatch_is_path_prefix(path: str, expected: bool) -> None:
    assert matches("fd.name pmatch (/etc, /usr/lib/)", E("open", fdname=path)) is expected
    assert matches("fd.name pmatch (/)", E("open", fdname=path)) is path.startswith("/")


def test_non_string_values_of_string_fields_compare_as_text() -> None:
    assert matches("fd.name contains '->'", E("read", fdname=sock_tuple("10.0.0.1", 1, "10.0.0.2", 2)))


def test_escaped_values() -> None:
    assert matches(r'proc.name="a \"b\" \x41"', E("read", name='a "b" A'))
    assert matches(r"proc.name='c:\\dir'", E("read", name="c:\\dir"))


# -- unavailable values ----------------------------------------------------------------------------


@pytest.mark.parametrize("text", [
    "fd.name=/x", "fd.name!=/x", "fd.name contains x", "fd.name glob '*'", "fd.name in (/x)",
    "fd.name pmatch (/)", "fd.name exists", "evt.num<5", "evt.num!=5", "fd.sip!=1.2.3.4", "fd.snet!=1.0.0.0/8",
    "evt.failed!=true", "fd.port!=80", "fd.ip exists", "proc.aname!=x", "evt.buffer!=x", "evt.rawarg.fd!=3",
])
def test_unavailable_field_never_matches(text: str) -> None:
    assert not matches(text, E("read"))
    assert matches(f"not {text}", E("read"))


# -- numbers, bools, errno, dir -------------------------------------------------------------------


@pytest.mark.parametrize(("text", "expected"), [
    ("evt.num=10", True), ("evt.num!=10", False), ("evt.num<10", False), ("evt.num<=10", True),
    ("evt.num>9", True), ("evt.num>=11", False), ("evt.num in (1, 10)", True), ("evt.num in (1, 2)", False),
    ("evt.num=0xa", True), ("evt.rawres<0", True), ("evt.rawres=-2", True), ("evt.errno=ENOENT", True),
    ("evt.errno=EACCES", False), ("evt.failed=true", True), ("evt.failed=false", False),
    ("evt.failed!=false", True), ("evt.dir=<", True), ("evt.dir=>", False), ("evt.dir!=>", True),
    ("evt.dir in (<, >)", True),
])
def test_scalar_types(text: str, expected: bool) -> None:
    assert matches(text, E("open", num=10, res=-2, failed=True, dir="<")) is expected


def test_dir_symbol_value_also_matches_numeric_extraction() -> None:
    assert matches("evt.dir=>", E("open", dir=0))


# -- IP addresses and networks --------------------------------------------------------------------


@pytest.mark.parametrize(("text", "expected"), [
    ("fd.sip=127.0.0.1", True), ("fd.sip=127.0.0.2", False), ("fd.sip!=127.0.0.2", True),
    ("fd.sip in (10.0.0.1, 127.0.0.1)", True), ("fd.sip=::1", False),
    ("fd.snet=127.0.0.0/8", True), ("fd.snet=10.0.0.0/8", False), ("fd.snet!=10.0.0.0/8", True),
    ("fd.snet in (10.0.0.0/8, 127.0.0.0/24)", True), ("fd.snet=::/0", False), ("fd.snet=127.0.0.1", True),
])
def test_ipv4(text: str, expected: bool) -> None:
    assert matches(text, E("connect", sip=ip("127.0.0.1"))) is expected


def test_ipv6_and_string_extraction() -> None:
    evt = E("connect", sip=ip("fe80::1"))
    assert matches("fd.sip=fe80::1", evt) and matches("fd.snet=fe80::/10", evt)
    assert not matches("fd.snet=10.0.0.0/8", evt)
    assert matches("fd.sip=10.0.0.1", E("connect", sip="10.0.0.1"))


# -- multi fields ---------------------------------------------------------------------------------


@pytest.mark.parametrize(("text", "expected"), [
    ("fd.port=80", True), ("fd.port=40000", True), ("fd.port=443", False),
    ("fd.port!=443", True), ("fd.port!=80", False),  # != means no element equals
    ("fd.port>50000", False), ("fd.port>=40000", True), ("fd.port in (443, 80)", True),
    ("fd.port intersects (1, 2)", False), ("fd.port exists", True),
    ("fd.ip=10.0.0.1", True), ("fd.ip=93.184.216.34", True), ("fd.ip=1.1.1.1", False),
    ("fd.net=93.184.0.0/16", True), ("fd.net=10.0.0.0/8", True), ("fd.net=192.168.0.0/16", False),
    ("fd.net!=192.168.0.0/16", True), ("fd.net!=10.0.0.0/8", False),
])
def test_multi_fields_any_element(text: str, expected: bool) -> None:
    evt = E("connect", ports=[40000, 80], ips=[ip("10.0.0.1"), ip("93.184.216.34")])
    assert matches(text, evt) is expected


def test_multi_ancestors() -> None:
    evt = E("execve", anames=["sh", "bash", "sshd", "systemd"])
    assert matches("proc.aname=sshd", evt)
    assert matches("proc.aname[1]=bash", evt) and not matches("proc.aname[1]=sshd", evt)
    assert matches("proc.aname pmatch (sys)", evt) is False
    assert matches("proc.aname startswith sys", evt)
    assert not matches("proc.aname[9]=x", evt) and not matches("proc.aname[9] exists", evt)
    assert not matches("proc.aname exists", E("execve", anames=[]))


# -- buffers and dynamic --------------------------------------------------------------------------


@pytest.mark.parametrize(("text", "expected"), [
    ("evt.buffer contains GET", True), ("evt.buffer contains get", False),
    (r"evt.buffer contains '\xff\x00'", True), ("evt.buffer startswith GET", True),
    ("evt.buffer endswith GET", False), ("evt.buffer bcontains ff00", True),
    ("evt.buffer bstartswith 474554", True), ("evt.buffer regex 'GET .*'", True),
    (r"evt.buffer = 'GET /\xff\x00'", True), ("evt.buffer exists", True),
])
def test_buffers(text: str, expected: bool) -> None:
    assert matches(text, E("read", buffer=b"GET /\xff\x00")) is expected


@pytest.mark.parametrize(("value", "text", "expected"), [
    (3, "evt.rawarg.fd=3", True), (3, "evt.rawarg.fd>2", True), (3, "evt.rawarg.fd=x", False),
    ("/etc/passwd", "evt.rawarg.fd startswith /etc", True), ("/etc/passwd", "evt.rawarg.fd=3", False),
    (b"abc", "evt.rawarg.fd contains b", True), (ip("::1"), "evt.rawarg.fd=::1", True),
    ("abc", "evt.rawarg.fd regex 'a.c'", True), (b"abc", "evt.rawarg.fd bcontains 62", True),
])
def test_dynamic_field_follows_the_runtime_type(value: Any, text: str, expected: bool) -> None:
    assert matches(text, E("read", **{"arg.fd": value})) is expected


# -- boolean structure and ordering ---------------------------------------------------------------


def test_boolean_logic() -> None:
    evt = E("open", name="bash", num=3)
    assert matches("evt.type=open and proc.name=bash and evt.num=3", evt)
    assert not matches("evt.type=open and proc.name=bash and evt.num=4", evt)
    assert matches("evt.type=close or proc.name=zsh or evt.num=3", evt)
    assert not matches("evt.type=close or proc.name=zsh or evt.num=4", evt)
    assert matches("evt.type=close or proc.name=bash and evt.num=3", evt)
    assert not matches("(evt.type=close or proc.name=bash) and evt.num=4", evt)
    assert matches("not (evt.type=close or evt.num=4)", evt)


def test_cheap_checks_run_first() -> None:
    calls: list[str] = []
    evt = E("read", name="bash")

    class Spy(dict):  # type: ignore[type-arg]
        def get(self, key: str, default: Any = None) -> Any:
            calls.append(key)
            return super().get(key, default)

    evt.values = Spy(evt.values)
    assert not matches("fd.name glob '*' and evt.type=open", evt)
    assert calls == []  # evt.type (no extraction) decided it
    checked = check(parse("fd.name glob '*' and evt.type=open"), CAT)
    assert cost(checked.typed.operands[1]) == 0  # type: ignore[union-attr]


# -- real events, state and catalogue ---------------------------------------------------------------


def _state() -> State:
    fds = FdTable({
        3: FdInfo(3, "file", "/etc/passwd"),
        4: FdInfo(4, "ipv4", "10.0.0.1:40000->93.184.216.34:80",
                  sock_tuple("10.0.0.1", 40000, "93.184.216.34", 80), is_server=False, l4proto="tcp"),
    })
    threads = [ThreadInfo(1, 1, 0, "systemd"), ThreadInfo(50, 50, 1, "bash"),
               ThreadInfo(100, 100, 50, "curl", fdtable=fds)]
    return State({t.tid: t for t in threads}, {0: "root"}, {0: "root"})


@pytest.fixture(scope="module")
def real() -> Catalogue:
    return Catalogue.default()


@pytest.mark.parametrize(("text", "evt", "expected"), [
    ("evt.type=read and fd.name=/etc/passwd", make_event("read", res=10, raw_args=(3,), comm="curl"), True),
    ("evt.type=read and fd.name pmatch (/etc)", make_event("read", res=10, raw_args=(3,)), True),
    ("evt.type=read and fd.name pmatch (/usr)", make_event("read", res=10, raw_args=(3,)), False),
    ("fd.sport=80 and fd.sip=93.184.216.34", make_event("read", res=1, raw_args=(4,)), True),
    ("fd.net=93.184.0.0/16", make_event("read", res=1, raw_args=(4,)), True),
    ("fd.port=40000 and fd.port=80 and fd.port!=443", make_event("read", res=1, raw_args=(4,)), True),
    ("fd.ip=10.0.0.1 and fd.lip=10.0.0.1", make_event("read", res=1, raw_args=(4,)), True),
    ("fd.name exists", make_event("read", dir=ENTER, raw_args=(9,)), False),
    ("not fd.name exists", make_event("read", dir=ENTER, raw_args=(9,)), True),
    ("fd.name = ''", make_event("read", res=1, raw_args=(9,)), True),  # sysdig: an fd exit of an unknown fd names ""
    ("proc.name=curl and proc.aname=systemd and proc.aname[1]=bash", make_event("read", comm="curl"), True),
    ("user.name=root and evt.dir=< and evt.failed=false", make_event("read", res=1), True),
    ("evt.dir=> and evt.rawres exists", make_event("read", dir=ENTER), False),
    ("evt.failed=true and evt.res=ENOENT and evt.rawres=-2", make_event("openat", res=-2), True),
    ("evt.type in (open, openat) and evt.type.is.openat=1", make_event("openat", res=3), True),
])
def test_real_catalogue_predicates(real: Catalogue, text: str, evt: Any, expected: bool) -> None:
    predicate, _ = compile_filter(text, real)
    assert predicate(evt, _state()) is expected


def test_compile_filter_reports_unsatisfiable(real: Catalogue) -> None:
    with pytest.raises(FilterError) as info:
        compile_filter("evt.type=open and evt.type=close", real)
    assert info.value.code == "unsatisfiable" and info.value.span == (0, 32)
