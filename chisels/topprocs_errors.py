"""topprocs_errors: top processes by number of errors."""
from __future__ import annotations

from sysmon.chisel.table import TableChisel, TableSpec


class TopprocsErrors(TableChisel):
    name = "topprocs_errors"
    short_description = "top processes by number of errors"
    description = "Shows the top processes in terms of system call errors."
    category = "Errors"
    table = TableSpec(keys=(("proc.name", "Process"), ("proc.pid", "PID")), value=("evt.count", "#Errors"), filter="evt.failed=true", top=100, units="none")
