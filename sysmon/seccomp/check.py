"""Which syscalls a profile denied a workload, as the probe saw them.

seccomp decides before the kernel's sys_enter tracepoint runs, so a denied call shows up in the
probe as an exit with no enter, returning -EPERM (the profile's errno). A call the kernel itself
refused with EPERM had an enter, so it is not mistaken for a denial.
"""
from __future__ import annotations

import errno
import json
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from sysmon.chisel.api import Chisel, ChiselContext
from sysmon.events.model import ENTER, Event
from sysmon.events.syscalls import X86_64
from sysmon.seccomp.profile import allowed, conditional
from sysmon.seccomp.tree import ProcessTree


@dataclass(slots=True)
class Denials:
    """Denied syscall name -> calls (in the order first denied), and the processes (pid -> name) that made them."""

    calls: Counter[str] = field(default_factory=Counter)
    processes: dict[str, dict[int, str]] = field(default_factory=dict)
    _pending: dict[int, int] = field(default_factory=dict)  # tid -> nr of an enter not yet exited

    def add(self, evt: Event, errno_ret: int = errno.EPERM) -> None:
        if evt.dir == ENTER:
            self._pending[evt.tid] = evt.nr
            return
        entered = self._pending.pop(evt.tid, None) == evt.nr
        name = X86_64.get(evt.nr)
        if name is None or entered or evt.res != -errno_ret:
            return
        self.calls[name] += 1
        self.processes.setdefault(name, {})[evt.pid] = evt.comm


class DenialWatcher(Chisel):
    """Collects the denials in the process tree of the launcher; ends the capture when it exits."""

    name = "seccomp_denials"
    hidden = True

    def __init__(self, root_pid: int, errno_ret: int = errno.EPERM) -> None:
        super().__init__()
        self.tree = ProcessTree(root_pid)
        self.errno_ret = errno_ret
        self.denials = Denials()

    def on_init(self, ctx: ChiselContext) -> None:
        pass

    def on_event(self, evt: Event) -> bool:
        if not self.tree.admit(evt):
            return False
        if evt.type == "procexit" and evt.tid == evt.pid == self.tree.root:
            self.ctx.end_capture()
        else:
            self.denials.add(evt, self.errno_ret)
        return False


def summary(denials: Denials, prof: Mapping[str, Any], command: list[str], status: int) -> dict[str, Any]:
    """The check's result as data (`-j` prints it; render() words it)."""
    cond = conditional(prof)
    return {
        "command": command,
        "status": status,
        "allowed": len(allowed(prof)),
        "denied": [{"syscall": name, "calls": count,
                    "why": "arguments outside its rules" if name in cond else "not in the profile",
                    "processes": [{"pid": pid, "name": comm} for pid, comm in sorted(denials.processes[name].items())]}
                   for name, count in denials.calls.items()],  # in the order first denied: the first broke it
    }


def render(result: Mapping[str, Any], as_json: bool = False) -> str:
    if as_json:
        return json.dumps(result) + "\n"
    cmd = " ".join(result["command"])
    lines = [f"sysmon: `{cmd}` {ended(result['status'])} under a profile allowing {result['allowed']} syscalls"]
    if not result["denied"]:
        lines.append("sysmon: no syscall was denied")
    for d in result["denied"]:
        procs = ", ".join(f"{p['name']} (pid {p['pid']})" for p in d["processes"])
        lines.append(f"sysmon: denied {d['syscall']} ({d['why']}): {d['calls']} call{'s' * (d['calls'] != 1)} "
                     f"by {procs}")
    return "\n".join(lines) + "\n"


def ended(status: int) -> str:
    """How a command ended, from its Popen return code."""
    return f"was killed by signal {-status}" if status < 0 else f"exited with status {status}"
