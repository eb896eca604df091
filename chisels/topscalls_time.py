"""topscalls_time: Top system calls by time."""
from __future__ import annotations

from sysmon.chisel.table import TableChisel, TableSpec


class TopscallsTime(TableChisel):
    name = "topscalls_time"
    short_description = "Top system calls by time"
    description = "Shows the top system calls in terms of time spent in them."
    category = "Performance"
    table = TableSpec(keys=(("evt.type", "Syscall"),), value=("evt.latency", "Time"), filter="", top=30, units="time")
