"""bottlenecks: the slowest system calls of the capture, with their enter events."""
from __future__ import annotations

import bisect

from sysmon.chisel.api import NS, Chisel, ChiselContext
from sysmon.events.model import Event

HOW_MANY = 10


class Bottlenecks(Chisel):
    name = "bottlenecks"
    short_description = "Slowest system calls"
    description = f"Lists the {HOW_MANY} system calls that took the longest to return during the capture."
    category = "Performance"

    def on_init(self, ctx: ChiselContext) -> None:
        self.get_num = ctx.request_field("evt.num")
        self.get_type = ctx.request_field("evt.type")
        self.get_args = ctx.request_field("evt.args")
        self.get_latency = ctx.request_field("evt.latency")
        self.get_proc = ctx.request_field("proc.name")
        self.get_tid = ctx.request_field("thread.tid")
        self.last_enter: dict[int, str] = {}
        self.slowest: list[tuple[int, int, str | None, str]] = []  # (-latency, order, enter line, exit line)

    def on_event(self, evt: Event) -> bool:
        latency = self.get_latency(evt)
        tid = self.get_tid(evt)
        num = self.get_num(evt)
        rest = f"{self.get_proc(evt) or ''} ({tid})"
        call = f"{self.get_type(evt)} {self.get_args(evt) or ''}"
        if latency == 0:
            self.last_enter[tid] = f"{num}) 0.000000000 {rest} > {call}"
        elif latency is not None:
            line = f"{num}) {latency // NS}.{latency % NS:09d} {rest} < {call}"
            bisect.insort(self.slowest, (-latency, num, self.last_enter.get(tid), line))
            del self.slowest[HOW_MANY:]
        return True

    def on_capture_end(self) -> None:
        for _, _, enter, exit_line in self.slowest:
            if enter is not None:
                self.ctx.print(enter)
            self.ctx.print(exit_line)
