"""fdcount_by: FD count, aggregated by an arbitrary filter field."""
from __future__ import annotations

from sysmon.chisel.api import ChiselArg
from sysmon.chisel.table import TableChisel, TableSpec


class FdcountBy(TableChisel):
    name = "fdcount_by"
    short_description = "FD count, aggregated by an arbitrary filter field"
    description = "Groups all the active FDs based on the given filter field, and returns the fd count for each key. For example, it can be used to list the number of connections per process or per IP endpoint."
    category = "I/O"
    args = (ChiselArg("key", "The filter field used for grouping", "string"),)
    key: str

    def spec(self) -> TableSpec:
        return TableSpec(keys=((self.key, self.key),), value=("evt.count", "Count"), filter="evt.dir=< and fd.num>=0", top=10, units="none")
