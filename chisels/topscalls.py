"""topscalls: Top system calls by number of calls."""
from __future__ import annotations

from sysmon.chisel.table import TableChisel, TableSpec
from sysmon.events.model import Event


class Topscalls(TableChisel):
    name = "topscalls"
    short_description = "Top system calls by number of calls"
    description = "Shows the top 30 system calls in terms of number of calls (entries and exits both count)."
    category = "Performance"
    # sysdig's filter is evt.type!=switch; skipped in on_event while the filter language refuses `switch`
    table = TableSpec(keys=(("evt.type", "Syscall"),), value=("evt.count", "# Calls"), filter="", top=30, units="none")

    def on_event(self, evt: Event) -> bool:
        return evt.type == "switch" or super().on_event(evt)
