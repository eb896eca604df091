"""topfiles_time: Top files by time."""
from __future__ import annotations

from sysmon.chisel.table import TableChisel, TableSpec


class TopfilesTime(TableChisel):
    name = "topfiles_time"
    short_description = "Top files by time"
    description = "Shows the top files in terms of the time spent in their I/O calls."
    category = "I/O"
    table = TableSpec(keys=(("fd.name", "Filename"),), value=("evt.latency", "Time"), filter="fd.type=file and evt.is_io=true", top=10, units="time")
