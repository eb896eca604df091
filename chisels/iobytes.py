"""iobytes: Sum of I/O bytes on any type of FD, every second."""
from __future__ import annotations

from sysmon.chisel.common import IoBytesChisel


class Iobytes(IoBytesChisel):
    name = "iobytes"
    short_description = "Sum of I/O bytes on any type of FD"
    description = "Counts the total bytes read from and written to any type of FD, and prints the result every second."
    category = "I/O"
    io_filter = "evt.is_io=true"
