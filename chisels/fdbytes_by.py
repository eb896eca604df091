"""fdbytes_by: I/O bytes, aggregated by an arbitrary filter field."""
from __future__ import annotations

from sysmon.chisel.api import ChiselArg
from sysmon.chisel.table import TableChisel, TableSpec


class FdbytesBy(TableChisel):
    name = "fdbytes_by"
    short_description = "I/O bytes, aggregated by an arbitrary filter field"
    description = "Groups FD activity based on the given filter field, and returns the key that generated the most input+output bytes. For example, this script can be used to list the processes or TCP ports that generated most traffic."
    category = "I/O"
    args = (ChiselArg("key", "The filter field used for grouping", "string"),)
    key: str

    def spec(self) -> TableSpec:
        return TableSpec(keys=((self.key, self.key),), value=("evt.rawarg.res", "Bytes"), filter="evt.is_io=true and evt.failed=false", top=10, units="bytes")
