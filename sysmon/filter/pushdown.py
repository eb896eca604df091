"""Typed tree -> `KernelPlan`: what an event must be for the filter to possibly match it.

The plan is an optimisation for the probe, never a semantic: it is sound (it only widens), so
for every event the predicate accepts, `plan.admits(evt)` holds. The probe may drop any other
event before it reaches userspace; the loader adds the state-keeping syscalls to `types`
itself, and the userspace predicate always runs.

Dimensions, from fields that declare a `kernel` hint (`Field.kernel`):
    types  evt.type / syscall.type   (names)
    pids   proc.pid                  tids  thread.tid
    comms  proc.name (the kernel comm; only values of at most 15 bytes pin it, see COMM_MAX)
    uids   user.uid
    containers  container.name / container.id (names and ids; the live session turns them into the
           cgroups to keep in the kernel as containers become known, so `admits` does not check them)
Each is a set of allowed values or None (anything). Rules, per dimension: a check `=`, `in`,
`intersects` without argument pins its values; `and` intersects, `or` unites (None if any side
is unconstrained); `not`, `!=` and every other check constrain nothing. Dimensions are
independent necessary conditions, so uniting them per dimension under `or` stays sound.
"""
from __future__ import annotations

from dataclasses import dataclass, fields
from typing import TYPE_CHECKING, Any

from sysmon.errors import FilterError
from sysmon.filter import limits, macros as macro_mod
from sysmon.filter.check import CheckedFilter, FieldSource, Typed, TypedAnd, TypedCheck, TypedOr, check
from sysmon.filter.compile import Predicate, compile
from sysmon.filter.parse import Parser, parse

if TYPE_CHECKING:
    from sysmon.events.model import Event
    from sysmon.filter import ast

COMM_MAX = 15  # TASK_COMM_LEN - 1: the kernel keeps at most 15 bytes of a task's name
_PIN_OPS = frozenset({"=", "in", "intersects"})
# Field.kernel hint -> KernelPlan attribute
DIMENSIONS = {"type": "types", "pid": "pids", "tid": "tids", "comm": "comms", "uid": "uids", "container": "containers"}

Values = frozenset[Any] | None


@dataclass(frozen=True, slots=True)
class KernelPlan:
    types: frozenset[str] | None = None
    pids: frozenset[int] | None = None
    tids: frozenset[int] | None = None
    comms: frozenset[str] | None = None
    uids: frozenset[int] | None = None
    containers: frozenset[str] | None = None

    def admits(self, evt: Event) -> bool:
        """Whether the probe must deliver `evt` (before adding the state syscalls)."""
        return (
            (self.types is None or evt.etype.name in self.types)
            and (self.pids is None or evt.pid in self.pids)
            and (self.tids is None or evt.tid in self.tids)
            and (self.comms is None or evt.comm in self.comms)
            and (self.uids is None or evt.uid in self.uids)
        )

    def admits_type(self, name: str) -> bool:
        return self.types is None or name in self.types

    @property
    def empty(self) -> bool:
        """True when no event can pass (some dimension allows no value)."""
        return any(getattr(self, f.name) == frozenset() for f in fields(self))

    @property
    def selective(self) -> bool:
        """Whether a record's header alone can show the plan excludes it (all but containers)."""
        return any(getattr(self, f.name) is not None for f in fields(self) if f.name != "containers")

    def describe(self) -> list[str]:
        """One `dimension: values` line per field (`all` when unconstrained)."""
        out = []
        for f in fields(self):
            values = getattr(self, f.name)
            shown = "all" if values is None else ", ".join(str(v) for v in sorted(values)) or "(none)"
            out.append(f"{f.name}: {shown}")
        return out


def kernel_plan(checked: CheckedFilter) -> KernelPlan:
    return plan_of(checked.typed)


def plan_of(t: Typed) -> KernelPlan:
    if isinstance(t, TypedCheck):
        dim = DIMENSIONS.get(t.field.kernel or "")
        if dim is None or t.arg is not None or t.op not in _PIN_OPS:
            return KernelPlan()
        values = frozenset(t.operands)
        if dim == "comms" and any(len(v.encode("utf-8", "surrogateescape")) > COMM_MAX for v in values):
            return KernelPlan()  # the comm holds a 15-byte prefix of longer names: not pinned
        return KernelPlan(**{dim: values})
    if isinstance(t, TypedAnd):
        plans = [plan_of(o) for o in t.operands]
        return KernelPlan(**{d: _intersect(getattr(p, d) for p in plans) for d in DIMENSIONS.values()})
    if isinstance(t, TypedOr):
        plans = [plan_of(o) for o in t.operands]
        return KernelPlan(**{d: _unite(getattr(p, d) for p in plans) for d in DIMENSIONS.values()})
    return KernelPlan()  # not: the complement of a pinned set is nearly everything


def _intersect(sets: Any) -> Values:
    result: Values = None
    for s in sets:
        if s is not None:
            result = s if result is None else result & s
    return result


def _unite(sets: Any) -> Values:
    union: set[Any] = set()
    for s in sets:
        if s is None:
            return None
        union |= s
    return frozenset(union)


@dataclass(frozen=True, slots=True)
class Analysis:
    """Every stage of one filter (what `--explain` prints)."""

    text: str
    tree: ast.Node  # as parsed, macro names still in
    expanded: ast.Node
    checked: CheckedFilter
    plan: KernelPlan


def analyze(
    text: str,
    catalogue: FieldSource,
    parser: Parser | None = None,
    library: macro_mod.MacroLibrary | None = None,
) -> Analysis:
    """parse -> macros.expand -> check -> kernel_plan. Raises `FilterError`, including code
    `unsatisfiable` when the plan admits no event (e.g. two different evt.type values joined by 'and')."""
    lib = macro_mod.MacroLibrary.default() if library is None else library
    tree = parse(text, parser)
    expanded = macro_mod.expand(tree, lib, parser)
    limits.check_tree(expanded)
    checked = check(expanded, catalogue, text, macro_names=lib.macros)
    plan = kernel_plan(checked)
    if plan.empty:
        raise FilterError("filter matches no event", span=(0, len(text)), code="unsatisfiable",
                          hints=["an event has one type, pid, name and uid: join alternatives with 'or' or "
                                 "use 'in'"])
    return Analysis(text, tree, expanded, checked, plan)


def compile_filter(
    text: str,
    catalogue: FieldSource,
    parser: Parser | None = None,
    library: macro_mod.MacroLibrary | None = None,
) -> tuple[Predicate | None, KernelPlan]:
    """The userspace predicate (authoritative) and the kernel plan (optimisation) of a filter.
    A blank filter has no predicate (every event matches) and an empty plan (any event)."""
    if not text.strip():
        return None, KernelPlan()
    a = analyze(text, catalogue, parser, library)
    return compile(a.checked), a.plan
