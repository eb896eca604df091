"""Kernel plan: which event types a filter can match. Sound (only widens), checked with hypothesis."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Union

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from test_filter_check import CAT, EVENT_TYPES, FakeEvent

from sysmon.fields.catalogue import Catalogue
from sysmon.filter import admits, compile_filter, kernel_plan
from sysmon.filter.check import check
from sysmon.filter.parse import parse
from sysmon.state.state import State


def plan(text: str, cat: Catalogue = CAT) -> frozenset[str] | None:
    return kernel_plan(check(parse(text), cat, text))


@pytest.mark.parametrize(("text", "expected"), [
    ("evt.type=open", {"open"}),
    ("evt.type in (open, openat)", {"open", "openat"}),
    ("evt.type intersects (open, openat)", {"open", "openat"}),
    ("syscall.type=read", {"read"}),
    ("evt.type=open or evt.type=close", {"open", "close"}),
    ("evt.type in (open, openat, close) and evt.type in (close, read)", {"close"}),
    ("evt.type=open and proc.name=bash", {"open"}),
    ("proc.name=bash and (evt.type=open or evt.type in (read, write))", {"open", "read", "write"}),
    ("evt.type=open or proc.name=bash", None),
    ("proc.name=bash", None),
    ("not evt.type=open", None),
    ("not not evt.type=open", None),  # not: always all (sound, simple)
    ("evt.type!=open", None),
    ("evt.type startswith op", None),
    ("evt.type glob 'open*'", None),
    ("evt.type.is.open=1", None),
    ("evt.type exists", None),
    ("evt.type=open and evt.type=close", set()),
])
def test_plan_rules(text: str, expected: set[str] | None) -> None:
    assert plan(text) == (None if expected is None else frozenset(expected))


def test_admits() -> None:
    assert admits(None, "anything")
    assert admits(frozenset({"open"}), "open") and not admits(frozenset({"open"}), "close")


def test_compile_filter_returns_predicate_and_plan() -> None:
    predicate, p = compile_filter("evt.type in (open, close) and proc.name=bash", CAT)
    assert p == frozenset({"open", "close"})
    assert predicate(FakeEvent("open", name="bash"), State())


def test_real_catalogue_plan() -> None:
    _, p = compile_filter("evt.type in (open, openat, openat2) and fd.name pmatch (/etc)", Catalogue.default())
    assert p == frozenset({"open", "openat", "openat2"})


# -- property: pred(e) => plan admits e.type, and pred agrees with a reference evaluator -------------

TYPES = EVENT_TYPES[:5]
NAMES = ("bash", "sh", "curl")


@dataclass(frozen=True)
class Leaf:
    text: str
    fn: Any  # (type, name) -> bool


@dataclass(frozen=True)
class Bin:
    op: str  # "and" | "or"
    items: tuple[Tree, ...]


@dataclass(frozen=True)
class Neg:
    item: Tree


Tree = Union[Leaf, Bin, Neg]


def _leaves() -> st.SearchStrategy[Leaf]:
    t = st.sampled_from(TYPES)
    n = st.sampled_from(NAMES)
    ts = st.lists(t, min_size=1, max_size=3)
    return st.one_of(
        t.map(lambda v: Leaf(f"evt.type={v}", lambda et, nm, v=v: et == v)),
        t.map(lambda v: Leaf(f"syscall.type={v}", lambda et, nm, v=v: et == v)),
        t.map(lambda v: Leaf(f"evt.type!={v}", lambda et, nm, v=v: et != v)),
        ts.map(lambda vs: Leaf(f"evt.type in ({', '.join(vs)})", lambda et, nm, vs=vs: et in vs)),
        ts.map(lambda vs: Leaf(f"evt.type intersects ({','.join(vs)})", lambda et, nm, vs=vs: et in vs)),
        st.just(Leaf("evt.type startswith c", lambda et, nm: et.startswith("c"))),
        n.map(lambda v: Leaf(f"proc.name={v}", lambda et, nm, v=v: nm == v)),
        n.map(lambda v: Leaf(f"proc.name!={v}", lambda et, nm, v=v: nm is not None and nm != v)),
        st.just(Leaf("proc.name exists", lambda et, nm: nm is not None)),
        ts.map(lambda vs: Leaf(f"proc.name in ({', '.join(vs)})", lambda et, nm, vs=vs: nm in vs)),
    )


trees: st.SearchStrategy[Tree] = st.recursive(
    _leaves(),
    lambda sub: st.one_of(
        st.tuples(st.sampled_from(["and", "or"]), st.lists(sub, min_size=2, max_size=3)).map(
            lambda p: Bin(p[0], tuple(p[1]))),
        sub.map(Neg),
    ),
    max_leaves=8,
)

_LEVEL = {"or": 1, "and": 2}


def level(t: Tree) -> int:
    return _LEVEL[t.op] if isinstance(t, Bin) else 3 if isinstance(t, Neg) else 4


def render(t: Tree) -> str:
    """Minimal brackets: relies on the parser's precedence (not > and > or)."""
    def sub(child: Tree, need: int) -> str:
        s = render(child)
        return f"({s})" if level(child) < need else s

    if isinstance(t, Leaf):
        return t.text
    if isinstance(t, Neg):
        return "not " + sub(t.item, 3)
    need = _LEVEL[t.op] + (1 if t.op == "and" else 0)
    return f" {t.op} ".join(sub(c, need) for c in t.items)


def ref(t: Tree, et: str, nm: str | None) -> bool:
    if isinstance(t, Leaf):
        return bool(t.fn(et, nm))
    if isinstance(t, Neg):
        return not ref(t.item, et, nm)
    results = [ref(c, et, nm) for c in t.items]
    return all(results) if t.op == "and" else any(results)


@settings(max_examples=300, deadline=None)
@given(trees)
def test_pushdown_is_sound_and_predicate_matches_reference(tree: Tree) -> None:
    text = render(tree)
    checked = check(parse(text), CAT, text)
    p = kernel_plan(checked)
    from sysmon.filter import compile

    predicate = compile(checked)
    state = State()
    for et in EVENT_TYPES:
        for nm in (*NAMES, None):
            evt = FakeEvent(et) if nm is None else FakeEvent(et, name=nm)
            got = predicate(evt, state)
            assert got == ref(tree, et, nm), (text, et, nm)
            if got:
                assert admits(p, et), (text, p, et)
