"""topcontainers_cpu: Top containers by CPU usage: procinfo events on a replay (as sysdig), cgroups live."""
from __future__ import annotations

from pathlib import Path

from sysmon.chisel.api import ChiselContext
from sysmon.chisel.common import ProcinfoCpuChisel
from sysmon.chisel.table import TableSpec
from sysmon.events.model import Event

CGROUP_FS = "/sys/fs/cgroup"


def cpu_usage_ns(cgroups: tuple[tuple[str, str], ...], root: str = CGROUP_FS) -> int | None:
    """CPU time used so far by the cgroup of these (controllers, path): cgroup v1's cpuacct.usage, or v2's
    cpu.stat usage_usec; None when neither is readable."""
    for controllers, path in cgroups:
        names = controllers.split(",")
        try:
            if "cpuacct" in names:
                return int(Path(f"{root}/{controllers}{path}/cpuacct.usage").read_text())
            if controllers == "":
                for base in (root, f"{root}/unified"):
                    stat = Path(f"{base}{path}/cpu.stat")
                    if stat.exists():
                        usec = next(line.split()[1] for line in stat.read_text().splitlines()
                                    if line.startswith("usage_usec"))
                        return int(usec) * 1000
        except (OSError, ValueError, StopIteration):
            continue
    return None


class TopcontainersCpu(ProcinfoCpuChisel):
    name = "topcontainers_cpu"
    short_description = "Top containers by CPU usage"
    description = ("Show the top containers defined by the highest CPU utilization. A .scap file's procinfo "
                   "events give the CPU time, as in sysdig; a live capture (whose probe emits none) reads "
                   "each container's from its cgroup.")
    category = "CPU Usage"
    table = TableSpec(keys=(("container.name", "container.name"),), value=("thread.exectime", "CPU%"),
                      filter="evt.type=procinfo", top=10, units="timepct")

    def on_init(self, ctx: ChiselContext) -> None:
        super().on_init(ctx)
        if ctx.is_live:
            ctx.set_filter("")
        self._name = ctx.request_field("container.name")
        self._cgroups: dict[str, tuple[tuple[str, str], ...]] = {}  # container name -> cgroups of one process
        self._last: dict[str, int] = {}  # container name -> CPU ns at the last reading

    def on_event(self, evt: Event) -> bool:
        if not self.ctx.is_live:
            return super().on_event(evt)
        name = self._name(evt)
        if name is not None and name not in self._cgroups:
            state = self.ctx.state
            thread = state.thread(evt.tid) or state.process(evt.pid)
            cgroups = state.cgroups(thread) if thread is not None else None
            if cgroups:
                self._cgroups[name] = cgroups
                self._last[name] = cpu_usage_ns(cgroups) or 0
        return True

    def _sample(self) -> None:
        self._sums = {}
        for name, cgroups in self._cgroups.items():
            now = cpu_usage_ns(cgroups)
            if now is not None:
                self._sums[(name,)] = max(now - self._last[name], 0)
                self._last[name] = now

    def on_interval(self, ts_ns: int) -> None:
        if self.ctx.is_live:
            self._sample()
        super().on_interval(ts_ns)

    def on_capture_end(self) -> None:
        if self.ctx.is_live and not self._refresh:
            self._sample()
        super().on_capture_end()
