"""What a recording saw, as text: per process, the syscalls it made and how often; then the profile's size."""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sysmon.seccomp.observe import Observation
from sysmon.seccomp.profile import ESSENTIAL, allowed, conditional


def render(obs: Observation, profile: Mapping[str, Any], *, root_pid: int | None = None) -> str:
    totals = obs.totals()
    lines = []
    scope = f"the process tree of pid {root_pid}" if root_pid else "the events the filter matched"
    n = len(obs.processes)
    lines.append(f"Observed {sum(totals.values())} calls of {len(totals)} syscalls in {n} "
                 f"process{'es' * (n != 1)} ({scope}).")
    for proc in sorted(obs.processes.values(), key=lambda p: p.pid):
        lines.append("")
        lines.append(f"{proc.comm} (pid {proc.pid}): {sum(proc.calls.values())} calls, {len(proc.calls)} syscalls")
        for name, count in sorted(proc.calls.items(), key=lambda kv: (-kv[1], kv[0])):
            lines.append(f"  {count:>8}  {name}")
    for call, families in sorted(obs.domains.items()):
        lines.append(f"\n{call} address families: {', '.join(map(str, sorted(families)))}"
                     + (" (and some calls whose arguments were not seen)" if call in obs.unknown_domain else ""))
    added = sorted(set(ESSENTIAL) - set(totals))
    lines.append("")
    lines.append(f"Profile: {len(allowed(profile))} syscalls allowed"
                 + (f", {len(conditional(profile))} with argument rules" if conditional(profile) else "")
                 + (f"; added without being seen: {', '.join(added)}" if added else "") + ".")
    return "\n".join(lines) + "\n"
