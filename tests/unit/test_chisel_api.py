"""The chisel API: formatting helpers, the context, argument binding and the -c command line."""
from __future__ import annotations

import io

import pytest

from sysmon.chisel.api import Chisel, ChiselArg, ChiselContext, RunOptions, extend, format_bytes, format_time_interval
from sysmon.chisel.argv import ChiselRequest, extract, split_values
from sysmon.errors import ChiselError
from sysmon.fields.catalogue import Catalogue
from sysmon.state.state import State, ThreadInfo
from tests.factories import make_event


@pytest.mark.parametrize(("n", "text"), [(0, "0B"), (832, "832B"), (1024, "1024B"), (6042, "5.90KB"),
                                         (3 * 1024 * 1024, "3.00M"), (5 * 1024**3, "5.00G")])
def test_format_bytes_as_sysdig(n, text):
    assert format_bytes(n) == text


@pytest.mark.parametrize(("ns", "text"), [(80, "80ns"), (1_500, "1.50us"), (120_000, "120us"), (3_500_000, "3.50ms"),
                                          (250_000_000, "250ms"), (1_100_000_000, "1.10s")])
def test_format_time_interval_as_sysdig(ns, text):
    assert format_time_interval(ns) == text


def test_extend_pads_or_cuts_with_a_space():
    assert extend("PID", 8) == "PID     "
    assert extend("averyveryverylongname", 8) == "averyve "


def _ctx(**opts) -> ChiselContext:
    ctx = ChiselContext(Catalogue.default(), io.StringIO(), RunOptions(**opts))
    ctx._state = State({7: ThreadInfo(7, 7, 1, "nginx", cwd="/srv")})
    return ctx


def test_request_field_reads_through_the_catalogue():
    get = _ctx().request_field("proc.cwd")
    assert get(make_event("getpid", tid=7)) == "/srv/"
    assert get(make_event("getpid", tid=8)) is None


def test_unknown_field_is_a_chisel_error_with_a_suggestion():
    with pytest.raises(ChiselError) as e:
        _ctx().request_field("proc.nmae")
    assert "proc.nmae" in e.value.message and "did you mean 'proc.name'?" in e.value.hints


def test_colors_only_on_a_terminal_and_can_be_turned_off():
    ctx = _ctx(is_tty=True)
    ctx.colors = True
    assert ctx.color("red") == "\x1b[31m"
    ctx.disable_colors()
    assert ctx.color("red") == ""
    assert _ctx().color("red") == ""


class Two(Chisel):
    name = "two"
    args = (ChiselArg("min_ms", "threshold", "int"), ChiselArg("filter", "a filter", "filter", optional=True))


def test_values_are_split_converted_and_the_last_takes_the_rest():
    assert split_values(Two, "10 proc.name = bash") == {"min_ms": 10, "filter": "proc.name = bash"}
    assert split_values(Two, "10") == {"min_ms": 10}
    assert Two(**split_values(Two, "10")).filter is None


def test_bad_or_missing_values_are_refused():
    with pytest.raises(ChiselError, match="must be a number"):
        split_values(Two, "ten")
    with pytest.raises(ChiselError, match="needs the argument min_ms"):
        split_values(Two, None)


class NoArgs(Chisel):
    name = "noargs"


class Optional(Chisel):
    name = "optional"
    args = (ChiselArg("disable_color", "colours", optional=True),)


def _extract(argv):
    classes = {"two": Two, "noargs": NoArgs, "optional": Optional}
    return extract(argv, frozenset({"-p", "-n"}), classes.__getitem__,
                   lambda text: text.split()[0].startswith(("fd.", "proc.")))


def test_command_line_takes_chisels_and_their_one_argument_word():
    rest, reqs, listing = _extract(["-c", "two", "5", "-p", "-c", "-c", "noargs", "proc.name=x", "-cl"])
    assert reqs == [ChiselRequest("two", "5"), ChiselRequest("noargs", None)]
    assert rest == ["-p", "-c", "proc.name=x"]  # -p's value is never read as -c
    assert listing


def test_all_optional_arguments_leave_a_filter_alone():
    rest, reqs, _ = _extract(["-c", "optional", "fd.name", "contains", "/tmp/x"])
    assert reqs == [ChiselRequest("optional", None)] and rest == ["fd.name", "contains", "/tmp/x"]
    rest, reqs, _ = _extract(["-c", "optional", "disable_color", "fd.num=1"])
    assert reqs == [ChiselRequest("optional", "disable_color")] and rest == ["fd.num=1"]
