"""lsof: the open file descriptors of every process, optionally filtered."""
from __future__ import annotations

from sysmon.chisel.api import Chisel, ChiselArg, extend
from sysmon.chisel.table import thread_table, user_name
from sysmon.events.model import Event


# the types libsinsp's sinsp_fdinfo::get_typestring names (0.29.3); any other is <NA>
TYPESTRINGS = frozenset({"file", "directory", "ipv4", "ipv6", "unix", "pipe", "event", "signalfd", "eventpoll",
                         "inotify", "timerfd", "netlink"})


class Lsof(Chisel):
    name = "lsof"
    short_description = "List (and optionally filter) the open file descriptors."
    description = ("Print the open file descriptors of every process, with an output similar to lsof. The list "
                   "is taken at the first event of the capture (or of the filter, e.g. 'evt.num=1000').")
    category = "System State"
    args = (ChiselArg("filter", "a filter that restricts the fd list, e.g. 'fd.name contains /etc' or "
                      "'proc.name=nginx'", "filter", optional=True),)
    filter: str | None

    def on_event(self, evt: Event) -> bool:
        self.ctx.end_capture()
        return False

    def on_capture_end(self) -> None:
        ctx = self.ctx
        ctx.print(extend("COMMAND", 20) + extend("PID", 8) + extend("TID", 8) + extend("USER", 8) + extend("FD", 8)
                  + extend("TYPE", 12) + "NAME")
        for row in thread_table(ctx, self.filter):
            t = row.thread
            for fd in row.fds:
                ctx.print(extend(t.comm, 20) + extend(str(t.pid), 8) + extend(str(t.tid), 8)
                          + extend(user_name(ctx.state, t.uid), 8) + extend(str(fd.num), 8)
                          + extend(fd.type if fd.type in TYPESTRINGS else "<NA>", 12)
                          + fd.name)
