"""topcontainers_error: Top containers by number of errors."""
from __future__ import annotations

from sysmon.chisel.table import TableChisel, TableSpec


class TopcontainersError(TableChisel):
    name = "topcontainers_error"
    short_description = "Top containers by number of errors"
    description = "Shows the top containers in terms of total number of errors."
    category = "Errors"
    table = TableSpec(keys=(("container.name", "container.name"),), value=("evt.count", "#Errors"),
                      filter="evt.failed=true and container.name!=host", top=100, units="none")
