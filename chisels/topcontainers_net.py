"""topcontainers_net: Top containers by network I/O."""
from __future__ import annotations

from sysmon.chisel.table import TableChisel, TableSpec


class TopcontainersNet(TableChisel):
    name = "topcontainers_net"
    short_description = "Top containers by network I/O"
    description = "Sorted list of containers that use the most network bandwidth."
    category = "Net"
    table = TableSpec(keys=(("container.name", "container.name"),), value=("evt.rawarg.res", "Bytes"),
                      filter="(fd.type=ipv4 or fd.type=ipv6) and evt.is_io=true and container.name!=host", top=100, units="bytes")
