"""-p formats: tokens, widths, `*` / `<NA>` / skip, errors, -j and -t."""
from __future__ import annotations

import io
import json
from typing import Any

import pytest

from sysmon.errors import FormatError
from sysmon.events.model import ENTER, Event
from sysmon.fields.catalogue import Catalogue
from sysmon.events.buffers import BASE64, HEX
from sysmon.output.format import DEFAULT_FORMAT, Formatter
from sysmon.output.sinks import JsonSink, TextSink
from sysmon.state.state import FdInfo, FdTable, State, ThreadInfo
from tests.factories import make_event

TS = 1_534_527_348_514_682_170


pytestmark = pytest.mark.usefixtures("utc_tz")  # tests/conftest.py


@pytest.fixture
def cat() -> Catalogue:
    return Catalogue.default()


@pytest.fixture
def state() -> State:
    fds = FdTable({3: FdInfo(3, "file", "/etc/ld.so.cache")})
    return State({17497: ThreadInfo(17497, 17497, 1, "curl", fdtable=fds)})


def ev(type: str = "read", **kw: Any) -> Event:
    kw.setdefault("tid", 17497)
    kw.setdefault("comm", "curl")
    kw.setdefault("ts_ns", TS)
    kw.setdefault("num", 219)
    return make_event(type, **kw)


def read_exit(**kw: Any) -> Event:
    return ev("read", res=5, params={"res": 5, "data": b"ab\ncd"}, raw_args=(3,), **kw)


def test_default_format(cat: Catalogue, state: State) -> None:
    e = ev("openat", res=3, params={"fd": 3, "dirfd": -100, "name": "/etc/ld.so.cache", "flags": 0o2000000,
                                    "mode": 0}, raw_args=(-100,))
    cat.clock.observe(e)
    line = Formatter(DEFAULT_FORMAT, cat).format(e, state)
    assert line == ("219 17:35:48.514682170 0 curl (17497) < openat fd=3(<f>/etc/ld.so.cache) dirfd=-100(AT_FDCWD) "
                    "name=/etc/ld.so.cache flags=4097(O_RDONLY|O_CLOEXEC) mode=0")


def test_literals_args_and_brackets(cat: Catalogue, state: State) -> None:
    f = Formatter("[%proc.name] fd=%evt.arg.fd %proc.aname[0].", cat)
    assert f.require_all
    assert f.format(read_exit(), state) is None  # read exits have no fd param: skipped without '*'
    g = Formatter("[%proc.name] res=%evt.arg.res first=%evt.arg[0] %proc.aname[0].", cat)
    assert g.format(read_exit(), state) == "[curl] res=5 first=5 curl."


def test_width(cat: Catalogue, state: State) -> None:
    e = read_exit()
    assert Formatter("%8proc.name|", cat).format(e, state) == "curl    |"
    assert Formatter("%-8proc.name|", cat).format(e, state) == "curl    |"
    assert Formatter("%2proc.name|", cat).format(e, state) == "cu|"
    assert Formatter("*%6fd.sport|", cat).format(e, state) == "<NA>  |"


def test_star_prints_na_and_plain_skips(cat: Catalogue, state: State) -> None:
    e = ev("read", dir=ENTER, params={"fd": 3, "size": 10}, raw_args=(3,))
    assert Formatter("%proc.name %evt.buflen", cat).format(e, state) is None
    assert Formatter("*%proc.name %evt.buflen", cat).format(e, state) == "curl <NA>"
    assert Formatter("%proc.name %fd.name", cat).format(e, state) == "curl /etc/ld.so.cache"


def test_value_text(cat: Catalogue, state: State) -> None:
    e = read_exit()
    f = Formatter("%evt.failed %evt.is_io %evt.buffer %evt.rawres %evt.res", cat)
    assert f.format(e, state) == "false true ab.cd 5 SUCCESS"


def test_field_name_ends_where_the_field_does(cat: Catalogue, state: State) -> None:
    e = read_exit()
    assert Formatter("%proc.name.%thread.tid", cat).format(e, state) == "curl.17497"
    assert Formatter("%evt.type.x", cat).format(e, state) == "read.x"


@pytest.mark.parametrize(
    ("fmt", "message", "hint"),
    [
        ("%proc.nmae", "unknown field 'proc.nmae'", "did you mean 'proc.name'?"),
        ("%bogus", "unknown field 'bogus'", None),
        ("abc %", "invalid formatting token", None),
        ("%fd.net", "can only be used in filters", None),
        ("%proc.aname", "can only be used in filters", "use proc.aname[N] to print one of them"),
        ("%evt.arg", "needs an argument", None),
    ],
)
def test_errors(cat: Catalogue, fmt: str, message: str, hint: str | None) -> None:
    with pytest.raises(FormatError) as err:
        Formatter(fmt, cat)
    assert message in err.value.message
    assert err.value.span is not None
    if hint:
        assert hint in err.value.hints


def test_unknown_field_span(cat: Catalogue) -> None:
    with pytest.raises(FormatError) as err:
        Formatter("*%proc.name %prc.name", cat)
    assert err.value.span == (12, 21)


def test_bad_time_type(cat: Catalogue) -> None:
    with pytest.raises(FormatError):
        Formatter(DEFAULT_FORMAT, cat, time_type="x")


# -- buffer modes and verbosity -----------------------------------------------------------------


def test_bufmode_applies_to_info_arg_and_buffer(cat: Catalogue, state: State) -> None:
    e = read_exit()
    f = Formatter("%evt.info|%evt.arg.data|%evt.buffer", cat, bufmode=BASE64)
    assert f.format(e, state) == "res=5 data=YWIKY2Q=|YWIKY2Q=|YWIKY2Q="
    h = Formatter("%evt.buffer", cat, bufmode=HEX)
    assert h.format(e, state) == "\n\t0x0000: 6162 0a63 64\n"


def test_max_buf(cat: Catalogue, state: State) -> None:
    e = ev("read", res=100, params={"res": 100, "data": b"x" * 100}, raw_args=(3,))
    assert Formatter("%evt.buffer", cat).format(e, state) == "x" * 77 + "..."
    assert Formatter("%evt.buffer", cat, max_buf=None).format(e, state) == "x" * 100
    assert Formatter("%evt.info", cat, max_buf=None).format(e, state) == "res=100 data=" + "x" * 100


# -- -t -------------------------------------------------------------------------------------------


def _times(cat: Catalogue, state: State, t: str) -> list[str | None]:
    f = Formatter("%evt.outputtime", cat, time_type=t)
    enter = ev("read", dir=ENTER, ts_ns=TS, params={"fd": 3}, raw_args=(3,))
    exit_ = read_exit(ts_ns=TS + 2_848)
    later = ev("close", dir=ENTER, ts_ns=TS + 5_531_188_757, raw_args=(3,))
    out = []
    for e in (enter, exit_, later):
        cat.clock.observe(e)
        out.append(f.format(e, state))
    return out


@pytest.mark.parametrize(
    ("t", "expected"),
    [
        ("h", ["17:35:48.514682170", "17:35:48.514685018", "17:35:54.045870927"]),
        ("a", ["1534527348.514682170", "1534527348.514685018", "1534527354.45870927"]),  # sysdig: ns unpadded
        ("r", ["0.000000000", "0.000002848", "5.531188757"]),
        ("d", ["0.000000000", "0.000002848", "0.000000000"]),
        ("D", ["0.000000000", "0.000002848", "5.531185909"]),
    ],
)
def test_time_types(cat: Catalogue, state: State, t: str, expected: list[str]) -> None:
    assert _times(cat, state, t) == expected


def test_delta_counts_printed_events_only(cat: Catalogue, state: State) -> None:
    f = Formatter("%evt.outputtime %fd.name", cat, time_type="D")
    first = read_exit(ts_ns=TS)
    skipped = ev("mmap", dir=ENTER, ts_ns=TS + 10, params={})  # no fd: not printed
    third = read_exit(ts_ns=TS + 30)
    assert f.format(first, state) == "0.000000000 /etc/ld.so.cache"
    assert f.format(skipped, state) is None
    assert f.format(third, state) == "0.000000030 /etc/ld.so.cache"


# -- JSON -----------------------------------------------------------------------------------------


def test_json_default_shape(cat: Catalogue, state: State) -> None:
    e = read_exit(cpu=1)
    cat.clock.observe(e)
    line = Formatter(DEFAULT_FORMAT, cat).format_json(e, state)
    assert line is not None and "\n" not in line and " " not in line.replace("res=5 data=ab.cd ", "")
    obj = json.loads(line)
    assert list(obj) == sorted(obj)
    assert obj == {"evt.cpu": 1, "evt.dir": "<", "evt.info": "res=5 data=ab.cd ", "evt.num": 219,
                   "evt.outputtime": TS, "evt.type": "read", "proc.name": "curl", "thread.tid": 17497}


def test_json_nulls_types_and_skip(cat: Catalogue, state: State) -> None:
    e = ev("read", dir=ENTER, params={"fd": 3, "size": 10}, raw_args=(3,))
    star = Formatter("*%proc.name %evt.rawres %evt.buflen %evt.is_io %evt.arg.fd %proc.aname[0]", cat)
    assert json.loads(star.format_json(e, state) or "") == {
        "evt.arg.fd": "<f>/etc/ld.so.cache", "evt.buflen": None, "evt.is_io": True, "evt.rawres": None,
        "proc.aname[0]": ["curl"], "proc.name": "curl"}
    assert Formatter("%proc.name %evt.buflen", cat).format_json(e, state) is None


def test_json_times_are_the_timestamp_whatever_t(cat: Catalogue, state: State) -> None:
    """sysdig's -j: evt.outputtime and the time texts are the event's ns."""
    enter = ev("read", dir=ENTER, ts_ns=TS, params={"fd": 3}, raw_args=(3,))
    exit_ = read_exit(ts_ns=TS + 2_848)
    for e in (enter, exit_):
        cat.clock.observe(e)
    for t in "hardD":
        f = Formatter("%evt.outputtime %evt.time %evt.datetime.s %evt.latency", cat, time_type=t)
        assert json.loads(f.format_json(exit_, state) or "") == {
            "evt.outputtime": TS + 2_848, "evt.time": TS + 2_848, "evt.datetime.s": TS + 2_848, "evt.latency": 2_848}
    cat.clock.observe(later := read_exit(ts_ns=TS + 3_000))  # no enter of its own: 0, never null (sysdig)
    assert Formatter("%evt.latency %evt.latency.ns", cat).format_json(later, state) == \
        '{"evt.latency":0,"evt.latency.ns":0}'


def test_json_is_what_json_dumps_writes(cat: Catalogue, state: State) -> None:
    """Both paths, the template (str and int values only) and json (a bool here), give json.dumps' text."""
    name = 'c"u\\rl\u00e9\x01'
    state.threads[17497].comm = name
    e = read_exit(comm=name)
    want = {"evt.num": 219, "proc.name": name, "thread.tid": 17497, "evt.info": "res=5 data=ab.cd "}
    for fmt, extra in (("%proc.name %evt.num %proc.name %evt.info %thread.tid", {}),
                       ("%proc.name %evt.num %evt.is_io %evt.info %thread.tid", {"evt.is_io": True})):
        line = Formatter(fmt, cat).format_json(e, state)
        assert line == json.dumps(want | extra, sort_keys=True, separators=(",", ":"))
    assert Formatter("literal only", cat).format_json(e, state) == "{}"


def test_text_template_keeps_literals_widths_and_na(cat: Catalogue, state: State) -> None:
    e = read_exit()
    assert Formatter("{%proc.name} %6thread.tid|%3proc.name|%evt.num", cat).format(e, state) == \
        "{curl} 17497 |cur|219"
    assert Formatter("*%5fd.cip %evt.is_io %proc.name", cat).format(e, state) == "<NA>  true curl"
    assert Formatter("%fd.cip %proc.name", cat).format(e, state) is None


def test_json_buffer_modes(cat: Catalogue, state: State) -> None:
    line = Formatter("%evt.buffer", cat, bufmode=HEX).format_json(read_exit(), state)
    assert json.loads(line or "") == {"evt.buffer": "\n\t0x0000: 6162 0a63 64\n"}


# -- sink ---------------------------------------------------------------------------------------


def test_sinks(cat: Catalogue, state: State) -> None:
    out = io.StringIO()
    sink = TextSink("%proc.name %fd.name", cat, out)
    sink.emit(read_exit(), state)
    sink.emit(ev("mmap", dir=ENTER, params={}), state)  # skipped: no fd
    sink.emit(read_exit(), state)
    assert out.getvalue() == ""  # held until the batch ends
    sink.flush()
    assert out.getvalue() == "curl /etc/ld.so.cache\ncurl /etc/ld.so.cache\n"
    sink.flush()
    assert out.getvalue() == "curl /etc/ld.so.cache\ncurl /etc/ld.so.cache\n"
    out = io.StringIO()
    json_sink = JsonSink("%proc.name", cat, out)
    json_sink.emit(read_exit(), state)
    json_sink.flush()
    assert out.getvalue() == '{"proc.name":"curl"}\n'


def test_unbuffered_sink_writes_each_line(cat: Catalogue, state: State) -> None:
    out = io.StringIO()
    sink = TextSink("%proc.name", cat, out, unbuffered=True)
    sink.emit(read_exit(), state)
    assert out.getvalue() == "curl\n"
