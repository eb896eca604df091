"""A process tree rooted at a pid, following the children it starts later.

A process joins when an event shows its parent in the tree: the kernel's parent pid in every event
header (what `proc.apid` walks, without needing the thread table), or its parent's fork returning
its pid (which also catches CLONE_PARENT children and children whose parent died before they ran).
A process leaves when its main thread exits, so a recycled pid does not bring a stranger in.
"""
from __future__ import annotations

from sysmon.events.model import EXIT, Event

CLONE_THREAD = 0x10000
FORKS = frozenset({"clone", "clone3", "fork", "vfork"})
EXECS = frozenset({"execve", "execveat"})


class ProcessTree:
    __slots__ = ("root", "pids")

    def __init__(self, root: int) -> None:
        self.root = root
        self.pids = {root}

    def admit(self, evt: Event) -> bool:
        """Whether the event is the tree's; updates the membership from it."""
        pids = self.pids
        pid = evt.pid
        if pid not in pids:
            if evt.ppid not in pids:
                return False
            pids.add(pid)
        if evt.dir == EXIT and evt.type in FORKS and (evt.res or 0) > 0 and is_new_process(evt):
            pids.add(evt.res)  # type: ignore[arg-type]
        elif evt.type == "procexit" and evt.tid == pid and pid != self.root:
            pids.discard(pid)
        return True


def is_new_process(evt: Event) -> bool:
    """A fork/clone that made a process, not a thread (False when clone3's flags were not copied)."""
    if evt.type == "clone":
        return not evt.raw_args[0] & CLONE_THREAD
    if evt.type == "clone3":
        flags = evt.params.get("flags")
        return flags is not None and not flags & CLONE_THREAD
    return True


def is_fork_child(evt: Event) -> bool:
    """The child's own return from fork/clone: the first event of a new process."""
    return evt.dir == EXIT and evt.type in FORKS and evt.res == 0 and evt.tid == evt.pid


def is_exec(evt: Event) -> bool:
    """A successful execve/execveat, seen at its exit (in the new image)."""
    return evt.dir == EXIT and evt.type in EXECS and evt.res == 0
