"""Filters from any local user (daemon config, `sysmon tail`, the command line): random token soups,
nesting and size extremes, and regexes give a predicate or a FilterError with a span, never a
traceback; compiling and evaluating stay bounded (RE2 matches in linear time)."""
from __future__ import annotations

import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from sysmon.errors import FilterError
from sysmon.fields.catalogue import Catalogue
from sysmon.fields.clock import Clock
from sysmon.filter import compile_filter
from sysmon.state.state import FdInfo, State, ThreadInfo
from tests.factories import make_event
from tests.fuzz.harness import NO_SHRINK, bounded

CAT = Catalogue.default(Clock())
FAST = settings(max_examples=100, deadline=None, suppress_health_check=list(HealthCheck),
                    phases=NO_SHRINK)
TOKENS = ["proc.name", "fd.name", "evt.type", "proc.pid", "fd.port", "evt.arg.fd", "evt.buffer", "proc.aname[2]",
          "=", "!=", "<", ">=", "contains", "regex", "glob", "in", "pmatch", "exists", "startswith", "bcontains",
          "and", "or", "not", "(", ")", ",", "'", '"', "open", "bash", "/tmp", "80", "-1", "0x10", "'(a+)+'",
          "'[a-z]*'", "\\", "\\x00", "evt.dir", "<", "&&", "==", "\u00e9", "\udcff"]


def _state() -> State:
    t = ThreadInfo(tid=100, pid=100, ppid=1, comm="test")
    t.fdtable.fds[3] = FdInfo(num=3, type="file", name="/tmp/" + "a" * 41 + "!")
    return State({100: t})


EVENTS = [make_event("read", raw_args=(3, 0, 10), tid=100), make_event("open", dir=0, tid=100),
          make_event("write", raw_args=(3,), tid=100, blobs=((1, 1, b"\xff" * 64),))]


def _compile(text: str):  # type: ignore[no-untyped-def]
    try:
        return compile_filter(text, CAT)[0]
    except FilterError as e:
        assert e.span is None or 0 <= e.span[0] <= e.span[1] <= len(text) + 1, (e.span, len(text))
        e.render(text)
        return None


def _evaluate(pred) -> None:  # type: ignore[no-untyped-def]
    state = _state()
    for evt in EVENTS:
        pred(evt, state)


@FAST
@given(st.lists(st.sampled_from(TOKENS), max_size=30))
def test_token_soups(tokens: list[str]) -> None:
    text = " ".join(tokens)
    with bounded(2.0, 64):
        pred = _compile(text)
        if pred is not None:
            _evaluate(pred)


@FAST
@given(st.text(max_size=200))
def test_any_text(text: str) -> None:
    with bounded(2.0, 64):
        _compile(text)


@settings(max_examples=40, deadline=None, phases=NO_SHRINK)
@given(st.integers(0, 3000), st.integers(0, 3000), st.sampled_from(["(", "not ", "not (", "( not "]))
def test_nesting_extremes(opens: int, closes: int, unit: str) -> None:
    text = unit * opens + "proc.name=a" + ")" * closes
    with bounded(1.0, 64):
        pred = _compile(text)
        if pred is not None:
            _evaluate(pred)


@pytest.mark.parametrize("n", [10_000, 100_000])
@pytest.mark.parametrize("term", ["proc.pid!={i}", "a{i}"])
def test_size_extremes(n: int, term: str) -> None:
    """Up to the limits compiling is linear (~40 us a check); past them it is refused at once."""
    text = " and ".join(term.format(i=i) for i in range(n))
    with bounded(0.5 if n > 10_000 else 3.0, None):  # ~0.5 s on an idle machine
        _compile(text)


REGEX_ALPHABET = "a()+*?|[]{}\\.^$-0123,:=!<P>"


@FAST
@given(st.text(REGEX_ALPHABET, max_size=40), st.text("a!/b", max_size=2000))
def test_regexes(pattern: str, subject: str) -> None:
    text = "fd.name regex '" + pattern.replace("'", "") + "'"
    with bounded(1.0, 64):
        pred = _compile(text)
        if pred is not None:
            state = _state()
            state.threads[100].fdtable.fds[3] = FdInfo(num=3, type="file", name=subject)
            pred(EVENTS[0], state)
