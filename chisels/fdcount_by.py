"""fdcount_by: FD count, aggregated by an arbitrary filter field.

As sysdig's fdcount_by.lua: each event on an fd (fd.num > 0, a non-empty fd.name) adds its fd, told
apart by number and name, to the set of its key; at the end, `key<TAB>count` per key, most fds first.
"""
from __future__ import annotations

from sysmon.chisel.api import Chisel, ChiselArg, ChiselContext
from sysmon.events.model import Event


class FdcountBy(Chisel):
    name = "fdcount_by"
    short_description = "FD count, aggregated by an arbitrary filter field"
    description = "Groups all the active FDs based on the given filter field, and returns the fd count for each key. For example, it can be used to list the number of connections per process or per IP endpoint."
    category = "I/O"
    args = (ChiselArg("key", "The filter field used for grouping", "string"),)
    key: str

    def on_init(self, ctx: ChiselContext) -> None:
        self.get_key = ctx.request_field(self.key)
        self.get_fd = ctx.request_field("fd.num")
        self.get_name = ctx.request_field("fd.name")
        self.fds: dict[object, set[str]] = {}  # key -> its fds, as `NUMname`

    def on_event(self, evt: Event) -> bool:
        key, fd, name = self.get_key(evt), self.get_fd(evt), self.get_name(evt)
        if key is not None and isinstance(fd, int) and fd > 0 and name:
            self.fds.setdefault(key, set()).add(f"{fd}{name}")
        return True

    def on_capture_end(self) -> None:
        # sysdig sorts with table.sort over a Lua hash: keys with equal counts come in no set order
        for key, fds in sorted(self.fds.items(), key=lambda kv: (-len(kv[1]), str(kv[0]))):
            self.ctx.print(f"{key}\t{len(fds)}")
