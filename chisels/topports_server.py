"""topports_server: Top TCP/UDP server ports by R+W bytes."""
from __future__ import annotations

from sysmon.chisel.table import TableChisel, TableSpec


class TopportsServer(TableChisel):
    name = "topports_server"
    short_description = "Top TCP/UDP server ports by R+W bytes"
    description = "Shows the top TCP/UDP server ports in terms of total (in+out) bandwidth."
    category = "Net"
    table = TableSpec(keys=(("fd.sport", "Srv Port"),), value=("evt.rawarg.res", "Bytes"), filter="(fd.type=ipv4 or fd.type=ipv6) and evt.is_io=true", top=100, units="bytes")
