"""topscalls: Top system calls by number of calls."""
from __future__ import annotations

from sysmon.chisel.table import TableChisel, TableSpec


class Topscalls(TableChisel):
    name = "topscalls"
    short_description = "Top system calls by number of calls"
    description = "Shows the top system calls in terms of number of calls."
    category = "Performance"
    table = TableSpec(keys=(("evt.type", "Syscall"),), value=("evt.count", "# Calls"), filter="evt.dir=>", top=10, units="none")
