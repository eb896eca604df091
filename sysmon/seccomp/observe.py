"""The syscalls a workload made, counted per process, and the socket domains it asked for.

A call is counted once: at its enter, or at its exit when no enter was seen for it (the child's
return from fork, a call made before the capture started). Names are the kernel's, from the syscall
number (`pread64`, `newfstatat`), never sysdig's event names; events that are not syscalls
(`procexit`) are skipped.

`Recorder` scopes the counting: every event the filter let through, or a process tree rooted at a
pid. A root that is *born* during the capture is followed from its first successful execve: before
it, the new child runs its parent's code (a shell's, a container runtime's, sysmon's own), which is
done before a runtime installs the filter. Those calls are set aside and counted after all if the
root never execs.
"""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from sysmon.events.model import ENTER, Event
from sysmon.events.syscalls import X86_64
from sysmon.seccomp.tree import ProcessTree, is_exec, is_fork_child

DOMAIN_CALLS = ("socket", "socketpair")  # arg0 is the address family (AF_INET = 2, AF_UNIX = 1, ...)
_NR = {name: nr for nr, name in X86_64.items()}
_DOMAIN_NRS = {_NR[name]: name for name in DOMAIN_CALLS}


@dataclass(slots=True)
class ProcessCalls:
    pid: int
    comm: str
    calls: Counter[str] = field(default_factory=Counter)  # kernel syscall name -> calls


@dataclass(slots=True)
class Observation:
    processes: dict[int, ProcessCalls] = field(default_factory=dict)
    domains: dict[str, set[int]] = field(default_factory=dict)  # socket/socketpair -> families seen
    unknown_domain: set[str] = field(default_factory=set)  # calls seen at least once without their args
    _pending: dict[int, int] = field(default_factory=dict)  # tid -> nr of an enter not yet exited

    def add(self, evt: Event) -> None:
        nr = evt.nr
        name = X86_64.get(nr)
        if name is None:
            return
        if evt.dir == ENTER:
            self._pending[evt.tid] = nr
        elif self._pending.pop(evt.tid, None) == nr:
            return  # counted at its enter
        proc = self.processes.get(evt.pid)
        if proc is None:
            proc = self.processes[evt.pid] = ProcessCalls(evt.pid, evt.comm)
        proc.comm = evt.comm  # the latest name: after an exec, the program's
        proc.calls[name] += 1
        if nr in _DOMAIN_NRS:
            family = evt.raw_args[0]
            if 0 < family < 0x100:  # an exit without its enter carries zeros: unknown
                self.domains.setdefault(name, set()).add(family)
            else:
                self.unknown_domain.add(name)

    def merge(self, other: Observation) -> None:
        for pid, proc in other.processes.items():
            mine = self.processes.setdefault(pid, ProcessCalls(pid, proc.comm))
            mine.calls.update(proc.calls)
        for name, families in other.domains.items():
            self.domains.setdefault(name, set()).update(families)
        self.unknown_domain |= other.unknown_domain

    def totals(self) -> Counter[str]:
        """Calls per syscall name over every process."""
        total: Counter[str] = Counter()
        for proc in self.processes.values():
            total.update(proc.calls)
        return total


class Recorder:
    """An Observation of the events of a workload: all it is given, or the tree rooted at `root_pid`."""

    def __init__(self, root_pid: int | None = None) -> None:
        self.tree = ProcessTree(root_pid) if root_pid else None
        self.seen = Observation()
        self.before_exec: Observation | None = None  # the new root's calls until its exec
        self.root_known = False  # the root's first event was seen
        self.root_exited = False

    def add(self, evt: Event) -> None:
        tree = self.tree
        if tree is None:
            self.seen.add(evt)
            return
        if not tree.admit(evt):
            return
        if evt.pid == tree.root and not self._root_event(evt):
            return
        self.seen.add(evt)

    def _root_event(self, evt: Event) -> bool:
        """Whether an event of the root counts now (False: set aside, before the exec of a new root)."""
        if evt.type == "procexit" and evt.tid == evt.pid:
            self.root_exited = True
        if not self.root_known:
            self.root_known = True
            if is_fork_child(evt):
                self.before_exec = Observation()
        if self.before_exec is None:
            return True
        if is_exec(evt):
            self.before_exec = None
            return True
        self.before_exec.add(evt)
        return False

    def result(self) -> Observation:
        """What was seen; a new root that never exec'd counts from its birth."""
        if self.before_exec is not None:
            self.seen.merge(self.before_exec)
            self.before_exec = None
        return self.seen
