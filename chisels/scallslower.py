"""scallslower: system calls slower than a threshold."""
from __future__ import annotations

from sysmon.chisel.common import SlowerChisel
from sysmon.events.model import Event


class Scallslower(SlowerChisel):
    name = "scallslower"
    short_description = "Trace slow syscalls"
    description = "Trace system calls slower than a threshold in milliseconds."

    def header(self) -> None:
        self.ctx.print(f"{'evt.datetime':<23.23} {'proc.name':<23.23} {'LATENCY(ms)':<20} evt.type")  # no -pc
        self.ctx.print(f"{'-' * 23} {'-' * 23} {'-' * 20} {'-' * 20}")

    def on_event(self, evt: Event) -> bool:
        ms = self.slow_ms(evt)
        if ms is not None:
            self.ctx.print(f"{self.ctx.color('green')}{self.get_time(evt) or '':<23.23} "
                           f"{self.get_proc(evt) or '':<23.23} {ms:<20} {self.get_type(evt)}")
        return True
