"""topcontainers_file: Top containers by R+W disk bytes."""
from __future__ import annotations

from sysmon.chisel.table import TableChisel, TableSpec


class TopcontainersFile(TableChisel):
    name = "topcontainers_file"
    short_description = "Top containers by R+W disk bytes"
    description = "Shows the top containers in terms of total (in+out) bytes to disk."
    category = "I/O"
    table = TableSpec(keys=(("container.name", "container.name"),), value=("evt.rawarg.res", "Bytes"),
                      filter="fd.type=file and evt.is_io=true and container.name!=host", top=10, units="bytes")
