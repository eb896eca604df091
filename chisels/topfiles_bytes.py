"""topfiles_bytes: Top files by R+W bytes."""
from __future__ import annotations

from sysmon.chisel.table import TableChisel, TableSpec


class TopfilesBytes(TableChisel):
    name = "topfiles_bytes"
    short_description = "Top files by R+W bytes"
    description = "Shows the top files in terms of disk usage (bytes read plus written)."
    category = "I/O"
    table = TableSpec(keys=(("fd.name", "Filename"),), value=("evt.rawarg.res", "Bytes"), filter="fd.type=file and evt.is_io=true", top=10, units="bytes")
