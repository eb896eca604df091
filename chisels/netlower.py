"""netlower: network I/O slower than a threshold."""
from __future__ import annotations

from sysmon.chisel.common import SlowerChisel


class Netlower(SlowerChisel):
    name = "netlower"
    short_description = "Trace slow network I/0"
    description = "Trace network I/O slower than a threshold in milliseconds, or all network I/O with 0."
    category = "Performance"  # netlower.lua's
    slow_filter = "evt.is_io=true and (fd.type=ipv4 or fd.type=ipv6) and evt.dir=<"
