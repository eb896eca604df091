"""iobytes_net: Show total network I/O bytes, every second."""
from __future__ import annotations

from sysmon.chisel.common import IoBytesChisel


class IobytesNet(IoBytesChisel):
    name = "iobytes_net"
    short_description = "Show total network I/O bytes"
    description = "Counts the total bytes read from and written to the network, and prints the result every second."
    category = "Net"
    io_filter = "evt.is_io=true and (fd.type=ipv4 or fd.type=ipv6)"
