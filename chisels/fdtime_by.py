"""fdtime_by: FD time group by."""
from __future__ import annotations

from sysmon.chisel.api import ChiselArg
from sysmon.chisel.table import TableChisel, TableSpec


class FdtimeBy(TableChisel):
    name = "fdtime_by"
    short_description = "FD time group by"
    description = "Groups FD activity based on the given filter field, and returns the key that generated the most FD time. For example, this script can be used to list the processes or files that spent the most time in I/O."
    category = "I/O"
    args = (ChiselArg("key", "The filter field used for grouping", "string"),)
    key: str

    def spec(self) -> TableSpec:
        return TableSpec(keys=((self.key, self.key),), value=("evt.latency", "Time"), filter="evt.dir=< and fd.num>=0", top=10, units="time")
