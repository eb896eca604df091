"""Typed tree -> kernel plan: the event types a filter can possibly match (an optimisation only).

`kernel_plan` returns a frozenset of sysdig event type names, or None for "all events". It is
sound: it may only widen (every event the predicate accepts has a type in the plan). The probe
loader adds the state-keeping syscalls itself; the userspace predicate always runs.

Rules: `evt.type`/`syscall.type` `=`, `in`, `intersects` give their values; `and` intersects,
`or` unites; `not` and every other check give None (all).
"""
from __future__ import annotations

from sysmon.errors import FilterError
from sysmon.filter.check import CheckedFilter, FieldSource, Typed, TypedAnd, TypedCheck, TypedOr, check
from sysmon.filter.compile import Predicate, compile
from sysmon.filter.parse import Parser, parse

KernelPlan = frozenset[str] | None
_TYPE_FIELDS = frozenset({"evt.type", "syscall.type"})


def kernel_plan(checked: CheckedFilter) -> KernelPlan:
    return plan_of(checked.typed)


def plan_of(t: Typed) -> KernelPlan:
    if isinstance(t, TypedCheck):
        if t.field.name in _TYPE_FIELDS and t.arg is None and t.op in ("=", "in", "intersects"):
            return frozenset(t.operands)
        return None
    if isinstance(t, TypedAnd):
        result: KernelPlan = None
        for o in t.operands:
            p = plan_of(o)
            if p is not None:
                result = p if result is None else result & p
        return result
    if isinstance(t, TypedOr):
        union: set[str] = set()
        for o in t.operands:
            p = plan_of(o)
            if p is None:
                return None
            union |= p
        return frozenset(union)
    return None  # not: the complement is all but a few types; don't bother


def admits(plan: KernelPlan, event_type: str) -> bool:
    return plan is None or event_type in plan


def compile_filter(text: str, catalogue: FieldSource, parser: Parser | None = None) -> tuple[Predicate, KernelPlan]:
    """parse -> check -> (compile, kernel_plan). Raises `FilterError`, including code
    `unsatisfiable` when the event types required by the filter cannot all hold at once."""
    checked = check(parse(text, parser), catalogue, text)
    plan = kernel_plan(checked)
    if plan is not None and not plan:
        raise FilterError("filter matches no event", span=(0, len(text)), code="unsatisfiable",
                          hints=["an event has one type: join evt.type checks with 'or' or use 'in'"])
    return compile(checked), plan
