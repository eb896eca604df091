"""topprocs_file: Top processes by R+W disk bytes."""
from __future__ import annotations

from sysmon.chisel.table import TableChisel, TableSpec


class TopprocsFile(TableChisel):
    name = "topprocs_file"
    short_description = "Top processes by R+W disk bytes"
    description = "Shows the top processes in terms of total (in+out) disk bytes."
    category = "I/O"
    table = TableSpec(keys=(("proc.name", "Process"), ("proc.pid", "PID")), value=("evt.rawarg.res", "Bytes"), filter="fd.type=file and evt.is_io=true", top=10, units="bytes")
