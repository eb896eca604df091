"""fileslower: file I/O slower than a threshold."""
from __future__ import annotations

from sysmon.chisel.common import SlowerChisel


class Fileslower(SlowerChisel):
    name = "fileslower"
    short_description = "Trace slow file I/O"
    description = ("Trace file I/O slower than a threshold in milliseconds, or all file I/O with 0. "
                   "I/O to /dev is skipped.")
    slow_filter = "evt.is_io=true and fd.type=file and evt.dir=<"

    def show(self, name: str) -> bool:
        return not name.startswith("/dev/")
