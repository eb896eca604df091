"""proc_exec_time: processes that ended, with how long they ran."""
from __future__ import annotations

from sysmon.chisel.api import Chisel, ChiselArg, ChiselContext, format_time_interval, wants_no_color
from sysmon.events.model import Event

YELLOW_NS = 3_000_000_000
RED_NS = 10_000_000_000


class ProcExecTime(Chisel):
    name = "proc_exec_time"
    short_description = "Show process execution time"
    description = ("List the processes that have finished running, along with their execution time, and color "
                   "every line based on the total process run time (green, yellow over 3 s, red over 10 s).")
    category = "Performance"
    args = (ChiselArg("disable_color", "Set to 'disable_color' if you want to disable color output", "string",
                      optional=True),)
    disable_color: str | None

    def on_init(self, ctx: ChiselContext) -> None:
        self.get_name = ctx.request_field("proc.name")
        self.get_args = ctx.request_field("proc.args")
        self.get_duration = ctx.request_field("proc.duration")
        ctx.set_filter("evt.type=procexit")
        if wants_no_color(self.disable_color):
            ctx.disable_colors()
        ctx.print(f"{'proc.duration':<13.13} {'proc.name':<12.12} proc.args")  # sysdig's layout without -pc
        ctx.print(f"{'-' * 13} {'-' * 12} {'-' * 20}")

    def on_event(self, evt: Event) -> bool:
        duration = self.get_duration(evt)
        if duration is not None:
            color = "red" if duration > RED_NS else "yellow" if duration > YELLOW_NS else "green"
            self.ctx.print(f"{self.ctx.color(color)}{format_time_interval(duration):<13.13} "
                           f"{self.get_name(evt) or '':<12.12} {self.get_args(evt) or ''}")
        return True
