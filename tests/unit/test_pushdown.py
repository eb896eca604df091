"""Kernel plan: which events a filter can match (types, pids, tids, comms, uids). Sound (only
widens), checked with hypothesis against the predicate."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Union

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from test_filter_check import CAT, EVENT_TYPES, FakeEvent

from sysmon.errors import FilterError
from sysmon.fields.catalogue import Catalogue
from sysmon.filter import KernelPlan, compile_filter, kernel_plan
from sysmon.filter.check import check
from sysmon.filter.macros import MacroLibrary
from sysmon.filter.parse import parse
from sysmon.state.state import State

NO_MACROS = MacroLibrary({})


def plan(text: str, cat: Catalogue = CAT) -> KernelPlan:
    return kernel_plan(check(parse(text), cat, text))


def types(text: str) -> frozenset[str] | None:
    return plan(text).types


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
def test_type_rules(text: str, expected: set[str] | None) -> None:
    assert types(text) == (None if expected is None else frozenset(expected))


@pytest.mark.parametrize(("text", "expected"), [
    ("proc.pid=42", KernelPlan(pids=frozenset({42}))),
    ("proc.pid in (1, 2) and thread.tid=2", KernelPlan(pids=frozenset({1, 2}), tids=frozenset({2}))),
    ("proc.name=bash", KernelPlan(comms=frozenset({"bash"}))),
    ("proc.name in (bash, sh) or proc.name=zsh", KernelPlan(comms=frozenset({"bash", "sh", "zsh"}))),
    ("proc.name in (bash, sh) or user.uid=0", KernelPlan()),  # or: each side must pin the dimension
    ("user.uid=0 and evt.type=open", KernelPlan(types=frozenset({"open"}), uids=frozenset({0}))),
    ("(user.uid=0 and proc.pid=1) or (user.uid=1000 and proc.pid=2)",
     KernelPlan(pids=frozenset({1, 2}), uids=frozenset({0, 1000}))),
    ("proc.name=exactly15bytes", KernelPlan(comms=frozenset({"exactly15bytes"}))),
    ("proc.name=sixteen-bytes-xx", KernelPlan()),  # longer than the kernel comm: never pinned
    ("proc.name in (bash, a-very-long-process-name)", KernelPlan()),
    ("proc.name!=bash", KernelPlan()),
    ("not proc.pid=1", KernelPlan()),
    ("proc.pid>1", KernelPlan()),
    ("proc.name contains bash", KernelPlan()),
    ("proc.aname=bash", KernelPlan()),  # no kernel hint
])
def test_pid_tid_comm_uid_rules(text: str, expected: KernelPlan) -> None:
    assert plan(text) == expected


def test_admits_checks_every_dimension() -> None:
    p = KernelPlan(types=frozenset({"open"}), pids=frozenset({1}), tids=frozenset({2}), comms=frozenset({"sh"}),
                   uids=frozenset({0}))
    ok = dict(pid=1, tid=2, name="sh", uid=0)
    assert p.admits(FakeEvent("open", **ok))  # type: ignore[arg-type]
    for key, other in (("pid", 9), ("tid", 9), ("name", "zsh"), ("uid", 9)):
        assert not p.admits(FakeEvent("open", **{**ok, key: other}))  # type: ignore[arg-type]
    assert not p.admits(FakeEvent("close", **ok))  # type: ignore[arg-type]
    assert KernelPlan().admits(FakeEvent("close"))  # type: ignore[arg-type]
    assert p.admits_type("open") and not p.admits_type("close") and KernelPlan().admits_type("x")


def test_describe() -> None:
    assert plan("evt.type in (open, close) and proc.pid=3").describe() == [
        "types: close, open", "pids: 3", "tids: all", "comms: all", "uids: all", "containers: all"]


@pytest.mark.parametrize("text", ["evt.type=open and evt.type=close", "proc.pid=1 and proc.pid=2",
                                  "proc.name=a and proc.name in (b, c)", "user.uid=0 and user.uid=1"])
def test_unsatisfiable_filters_are_rejected(text: str) -> None:
    with pytest.raises(FilterError) as info:
        compile_filter(text, CAT, library=NO_MACROS)
    assert info.value.code == "unsatisfiable" and info.value.span == (0, len(text))


def test_compile_filter_returns_predicate_and_plan() -> None:
    predicate, p = compile_filter("evt.type in (open, close) and proc.name=bash", CAT, library=NO_MACROS)
    assert p == KernelPlan(types=frozenset({"open", "close"}), comms=frozenset({"bash"}))
    assert predicate(FakeEvent("open", name="bash"), State())  # type: ignore[arg-type]


def test_real_catalogue_plan() -> None:
    real = Catalogue.default()
    _, p = compile_filter("evt.type in (open, openat, openat2) and fd.name pmatch (/etc)", real)
    assert p == KernelPlan(types=frozenset({"open", "openat", "openat2"}))
    _, p = compile_filter("evt.type=connect and proc.name=curl and user.uid=1000 and proc.pid in (7, 8) "
                          "and thread.tid=8", real)
    assert p == KernelPlan(types=frozenset({"connect"}), pids=frozenset({7, 8}), tids=frozenset({8}),
                           comms=frozenset({"curl"}), uids=frozenset({1000}))


# -- property: pred(e) => plan.admits(e), and pred agrees with a reference evaluator ---------------

TYPES = EVENT_TYPES[:5]
NAMES = ("bash", "sh", "curl", "sixteen-byte-cmd")  # the last is longer than a kernel comm
PIDS = (1, 2, 3)
UIDS = (0, 1000)
Ev = dict[str, Any]  # type, name (None: unknown), pid, tid, uid


@dataclass(frozen=True)
class Leaf:
    text: str
    fn: Any  # Ev -> bool


@dataclass(frozen=True)
class Bin:
    op: str  # "and" | "or"
    items: tuple[Tree, ...]


@dataclass(frozen=True)
class Neg:
    item: Tree


Tree = Union[Leaf, Bin, Neg]


def _in(values: list[Any]) -> str:
    return "(" + ", ".join(str(v) for v in values) + ")"


def _leaves() -> st.SearchStrategy[Leaf]:
    t = st.sampled_from(TYPES)
    n = st.sampled_from(NAMES)
    ts = st.lists(t, min_size=1, max_size=3)
    ns = st.lists(n, min_size=1, max_size=3)
    ids = st.lists(st.sampled_from(PIDS), min_size=1, max_size=2)
    return st.one_of(
        t.map(lambda v: Leaf(f"evt.type={v}", lambda e, v=v: e["type"] == v)),
        t.map(lambda v: Leaf(f"syscall.type={v}", lambda e, v=v: e["type"] == v)),
        t.map(lambda v: Leaf(f"evt.type!={v}", lambda e, v=v: e["type"] != v)),
        ts.map(lambda vs: Leaf(f"evt.type in {_in(vs)}", lambda e, vs=vs: e["type"] in vs)),
        ts.map(lambda vs: Leaf(f"evt.type intersects {_in(vs)}", lambda e, vs=vs: e["type"] in vs)),
        st.just(Leaf("evt.type startswith c", lambda e: e["type"].startswith("c"))),
        n.map(lambda v: Leaf(f"proc.name={v}", lambda e, v=v: e["name"] == v)),
        n.map(lambda v: Leaf(f"proc.name!={v}", lambda e, v=v: e["name"] is not None and e["name"] != v)),
        st.just(Leaf("proc.name exists", lambda e: e["name"] is not None)),
        ns.map(lambda vs: Leaf(f"proc.name in {_in(vs)}", lambda e, vs=vs: e["name"] in vs)),
        ids.map(lambda vs: Leaf(f"proc.pid in {_in(vs)}", lambda e, vs=vs: e["pid"] in vs)),
        st.sampled_from(PIDS).map(lambda v: Leaf(f"proc.pid={v}", lambda e, v=v: e["pid"] == v)),
        st.sampled_from(PIDS).map(lambda v: Leaf(f"proc.pid>={v}", lambda e, v=v: e["pid"] >= v)),
        ids.map(lambda vs: Leaf(f"thread.tid intersects {_in(vs)}", lambda e, vs=vs: e["tid"] in vs)),
        st.sampled_from(UIDS).map(lambda v: Leaf(f"user.uid={v}", lambda e, v=v: e["uid"] == v)),
        st.sampled_from(UIDS).map(lambda v: Leaf(f"user.uid!={v}", lambda e, v=v: e["uid"] != v)),
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
events: st.SearchStrategy[Ev] = st.fixed_dictionaries({
    "type": st.sampled_from(EVENT_TYPES),
    "name": st.sampled_from((*NAMES, None)),
    "pid": st.sampled_from(PIDS),
    "tid": st.sampled_from(PIDS),
    "uid": st.sampled_from(UIDS),
})

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


def ref(t: Tree, e: Ev) -> bool:
    if isinstance(t, Leaf):
        return bool(t.fn(e))
    if isinstance(t, Neg):
        return not ref(t.item, e)
    results = [ref(c, e) for c in t.items]
    return all(results) if t.op == "and" else any(results)


def fake(e: Ev) -> FakeEvent:
    values = {k: v for k, v in e.items() if k != "type" and v is not None}
    return FakeEvent(e["type"], **values)


@settings(max_examples=400, deadline=None)
@given(trees, st.lists(events, min_size=1, max_size=40))
def test_pushdown_is_sound_and_predicate_matches_reference(tree: Tree, evts: list[Ev]) -> None:
    text = render(tree)
    checked = check(parse(text), CAT, text)
    p = kernel_plan(checked)
    from sysmon.filter import compile

    predicate = compile(checked)
    state = State()
    for e in evts:
        evt = fake(e)
        got = predicate(evt, state)  # type: ignore[arg-type]
        assert got == ref(tree, e), (text, e)
        if got:
            assert p.admits(evt), (text, p, e)  # type: ignore[arg-type]
