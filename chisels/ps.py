"""ps: the processes of the machine (or of the capture file), optionally filtered."""
from __future__ import annotations

from sysmon.chisel.api import Chisel, ChiselArg, ChiselContext, extend, format_bytes
from sysmon.chisel.table import thread_table, user_name
from sysmon.events.model import Event


class Ps(Chisel):
    name = "ps"
    short_description = "List (and optionally filter) the machine processes."
    description = ("List the running processes, with an output similar to ps. The list is taken at the first "
                   "event of the capture. VIRT, RES and FDLIMIT are the state's, as in sysdig: a .scap file's "
                   "process list, updated by the events that carry them (clone, execve, mmap, brk, switch...); "
                   "/proc at the start of a live capture.")
    category = "System State"
    args = (ChiselArg("filter", "a filter that restricts the list, e.g. 'fd.name contains /etc' shows the "
                      "processes that have files open under /etc", "filter", optional=True),)
    filter: str | None

    def on_init(self, ctx: ChiselContext) -> None:
        self.matched = False

    def on_event(self, evt: Event) -> bool:
        self.matched = True
        self.ctx.end_capture()
        return False

    def on_capture_end(self) -> None:
        ctx = self.ctx
        if not self.matched:
            ctx.print("empty capture or no event matching the filter")
            return
        ctx.print(extend("TID", 8) + extend("PID", 8) + extend("USER", 12) + extend("VIRT", 11) + extend("RES", 11)
                  + extend("FDLIMIT", 10) + "CMD")
        for row in thread_table(ctx, self.filter):
            t = row.thread
            # get_thread_table's (uint32_t) casts: an unknown limit (libsinsp's -1) is 4294967295
            limit = str((t.fdlimit or -1) & 0xFFFFFFFF)
            virt, res = format_bytes(t.vmsize_kb * 1024), format_bytes(t.vmrss_kb * 1024)
            ctx.print(extend(str(t.tid), 8) + extend(str(t.pid), 8) + extend(user_name(ctx.state, t.uid), 12)
                      + extend(virt, 11) + extend(res, 11) + extend(limit, 10) + t.comm)

