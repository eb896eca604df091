"""topconns: Top network connections by total bytes."""
from __future__ import annotations

from sysmon.chisel.table import TableChisel, TableSpec


class Topconns(TableChisel):
    name = "topconns"
    short_description = "Top network connections by total bytes"
    description = "Shows the top network connections in terms of total (in+out) bandwidth."
    category = "Net"
    table = TableSpec(keys=(("fd.l4proto", "Proto"), ("fd.name", "Conn")), value=("evt.rawarg.res", "Bytes"), filter="(fd.type=ipv4 or fd.type=ipv6) and evt.is_io=true", top=30, units="bytes")
