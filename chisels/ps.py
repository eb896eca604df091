"""ps: the processes of the machine (or of the capture file), optionally filtered."""
from __future__ import annotations

from pathlib import Path

from sysmon.chisel.api import Chisel, ChiselArg, extend, format_bytes
from sysmon.chisel.table import thread_table, user_name
from sysmon.events.model import Event


class Ps(Chisel):
    name = "ps"
    short_description = "List (and optionally filter) the machine processes."
    description = ("List the running processes, with an output similar to ps. The list is taken at the first "
                   "event of the capture; VIRT, RES and FDLIMIT are read from /proc on a live capture only.")
    category = "System State"
    args = (ChiselArg("filter", "a filter that restricts the list, e.g. 'fd.name contains /etc' shows the "
                      "processes that have files open under /etc", "filter", optional=True),)
    filter: str | None

    def on_event(self, evt: Event) -> bool:
        self.ctx.end_capture()
        return False

    def on_capture_end(self) -> None:
        ctx = self.ctx
        ctx.print(extend("TID", 8) + extend("PID", 8) + extend("USER", 12) + extend("VIRT", 11) + extend("RES", 11)
                  + extend("FDLIMIT", 10) + "CMD")
        for row in thread_table(ctx, self.filter, processes_only=False):
            t = row.thread
            virt, res, limit = _proc_memory(t.pid) if ctx.is_live else ("-", "-", "-")
            ctx.print(extend(str(t.tid), 8) + extend(str(t.pid), 8) + extend(user_name(ctx.state, t.uid), 12)
                      + extend(virt, 11) + extend(res, 11) + extend(limit, 10) + t.comm)


def _proc_memory(pid: int) -> tuple[str, str, str]:
    """VIRT and RES (from /proc/PID/statm) and the open-files soft limit, as text; '-' if gone."""
    try:
        pages = Path(f"/proc/{pid}/statm").read_text().split()
        limits = Path(f"/proc/{pid}/limits").read_text().splitlines()
    except OSError:
        return "-", "-", "-"
    page = 4096
    limit = next((line.split()[3] for line in limits if line.startswith("Max open files")), "-")
    return format_bytes(int(pages[0]) * page), format_bytes(int(pages[1]) * page), limit
