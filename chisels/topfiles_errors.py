"""topfiles_errors: Top files by number of errors."""
from __future__ import annotations

from sysmon.chisel.table import TableChisel, TableSpec


class TopfilesErrors(TableChisel):
    name = "topfiles_errors"
    short_description = "Top files by number of errors"
    description = "Shows the top files in terms of I/O errors."
    category = "Errors"
    table = TableSpec(keys=(("fd.name", "Filename"),), value=("evt.count", "#Errors"), filter="fd.type=file and evt.failed=true", top=100, units="none")
