"""echo_fds: the data read and written by processes, with direction, size, fd and process."""
from __future__ import annotations

from sysmon.chisel.api import Chisel, ChiselArg, ChiselContext, format_bytes, wants_no_color
from sysmon.events.model import Event


class EchoFds(Chisel):
    name = "echo_fds"
    short_description = "Print the data read and written by processes."
    description = ("Print the data read and written for any FD. Combine this chisel with a filter to restrict "
                   "what it shows, e.g. 'sysmon -c echo_fds fd.name contains /tmp'.")
    category = "I/O"
    args = (ChiselArg("disable_color", "Set to 'disable_color' if you want to disable color output", "string",
                      optional=True),)
    disable_color: str | None

    def on_init(self, ctx: ChiselContext) -> None:
        self.get_is_read = ctx.request_field("evt.is_io_read")
        self.get_res = ctx.request_field("evt.rawarg.res")
        self.get_name = ctx.request_field("fd.name")
        self.get_proc = ctx.request_field("proc.name")
        ctx.set_snaplen(2000)
        ctx.set_filter("evt.is_io=true and evt.dir=< and evt.rawres>0")
        ctx.set_event_formatter("%evt.arg.data")
        if wants_no_color(self.disable_color):
            ctx.disable_colors()

    def on_event(self, evt: Event) -> bool:
        res = self.get_res(evt)
        if not isinstance(res, int) or res <= 0:
            return False
        name = self.get_name(evt) or "<NA>"
        if self.get_is_read(evt):
            color, what = self.ctx.color("red"), f"Read {format_bytes(res)} from"
        else:
            color, what = self.ctx.color("blue"), f"Write {format_bytes(res)} to"
        self.ctx.print(f"{color}------ {what}  {color} {name} ({self.get_proc(evt)})")
        return True
