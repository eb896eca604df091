"""The filter language: parse -> macros.expand -> check -> compile (userspace predicate) / pushdown (kernel plan).

    predicate, plan = compile_filter("evt.type in (open, openat) and fd.name pmatch (/etc)", catalogue)
    predicate(evt, state) -> bool;  plan: KernelPlan (event types, pids, tids, comms, uids; None = all).

Differences from sysdig 0.29: `and`/`or` may be mixed without brackets (not > and > or);
`bcontains`, `bstartswith`, `regex` (full match) and `intersects` work; IPv6 networks are accepted;
a quoted value ends at its own quote character (sysdig ends it at either); `==` is still `=`
followed by a value "=x"; macros (`filters/*.flt`) are used by bare name.

Errors are `FilterError(message, span=(start, end), hints=[...], code=...)`; a check error lists
every diagnostic in `.errors`; `FilterError.render(text)` draws the caret.
"""
from __future__ import annotations

from sysmon.errors import FilterError
from sysmon.filter.check import CheckedFilter, check
from sysmon.filter.compile import Predicate, compile
from sysmon.filter.macros import MacroLibrary, expand
from sysmon.filter.parse import Parser, parse
from sysmon.filter.pushdown import Analysis, KernelPlan, analyze, compile_filter, kernel_plan

__all__ = [
    "Analysis",
    "CheckedFilter",
    "FilterError",
    "KernelPlan",
    "MacroLibrary",
    "Parser",
    "Predicate",
    "analyze",
    "check",
    "compile",
    "compile_filter",
    "expand",
    "kernel_plan",
    "parse",
]
