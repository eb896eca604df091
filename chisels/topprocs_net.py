"""topprocs_net: Top processes by network I/O."""
from __future__ import annotations

from sysmon.chisel.table import TableChisel, TableSpec


class TopprocsNet(TableChisel):
    name = "topprocs_net"
    short_description = "Top processes by network I/O"
    description = "Shows the top processes in terms of total (in+out) network bytes."
    category = "Net"
    table = TableSpec(keys=(("proc.name", "Process"), ("proc.pid", "PID")), value=("evt.rawarg.res", "Bytes"), filter="(fd.type=ipv4 or fd.type=ipv6) and evt.is_io=true", top=100, units="bytes")
