"""topprocs_cpu: Top processes by CPU usage.

As sysdig's chisel (see ProcinfoCpuChisel): a .scap file's procinfo events give each thread's CPU
time; a live capture, whose probe emits none, reads the same counters from /proc/PID/task/TID/stat
once a second.
"""
from __future__ import annotations

from pathlib import Path
from typing import ClassVar

from sysmon.chisel.api import ChiselContext
from sysmon.chisel.common import ProcinfoCpuChisel
from sysmon.chisel.table import TableSpec


class TopprocsCpu(ProcinfoCpuChisel):
    name = "topprocs_cpu"
    short_description = "Top processes by CPU usage"
    description = ("Show the top process defined by the highest CPU utilization. (sysdig's -pc container "
                   "columns: sysmon has no -pc.)")
    category = "CPU Usage"
    table: ClassVar[TableSpec] = TableSpec(keys=(("proc.name", "Process"), ("proc.pid", "PID")),
                                           value=("thread.exectime", "CPU%"), filter="evt.type=procinfo", top=10,
                                           units="timepct")

    def on_init(self, ctx: ChiselContext) -> None:
        super().on_init(ctx)
        if ctx.is_live and not ctx.interval_ns:
            ctx.set_interval_s(1)  # the /proc readings stand in for the procinfo events

    def _read_proc(self) -> None:
        """A live capture's procinfo: every thread of the state, from /proc."""
        for t in list(self.ctx.state.threads.values()):
            ticks = thread_ticks(t.pid, t.tid)
            if ticks is not None:
                self.account(t.tid, (t.comm, t.pid), ticks)

    def on_interval(self, ts_ns: int) -> None:
        self._read_proc()
        if self._refresh:
            super().on_interval(ts_ns)

    def on_capture_end(self) -> None:
        if self.ctx.is_live:
            self._read_proc()
        super().on_capture_end()


def thread_ticks(pid: int, tid: int, proc: str = "/proc") -> int | None:
    """User + system clock ticks of a thread (fields 14 and 15 of its stat), None if it is gone."""
    try:
        stat = Path(f"{proc}/{pid}/task/{tid}/stat").read_text()
    except OSError:
        return None
    fields = stat[stat.rfind(")") + 2 :].split()  # after the comm, which may hold spaces and parentheses
    return int(fields[11]) + int(fields[12])
