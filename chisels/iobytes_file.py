"""iobytes_file: Sum of file I/O bytes, every second."""
from __future__ import annotations

from sysmon.chisel.common import IoBytesChisel


class IobytesFile(IoBytesChisel):
    name = "iobytes_file"
    short_description = "Sum of file I/O bytes"
    description = "Counts the total bytes read from and written to files, and prints the result every second."
    category = "I/O"
    io_filter = "evt.is_io=true and fd.type=file"
