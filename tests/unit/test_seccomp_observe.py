"""Which events a recording counts: the process tree, a new root from its exec, each call once."""
from __future__ import annotations

from sysmon.events.model import ENTER, EXIT
from sysmon.seccomp.observe import Observation, Recorder
from sysmon.seccomp.tree import CLONE_THREAD, ProcessTree
from tests.factories import make_event


def call(name: str, tid: int, *, ppid: int = 1, pid: int | None = None, comm: str = "app", syscall: str | None = None,
         raw_args: tuple[int, ...] = (), res: int = 0) -> list:
    """The enter and exit of one syscall."""
    kw = dict(tid=tid, pid=pid, ppid=ppid, comm=comm, syscall=syscall, raw_args=raw_args)
    return [make_event(name, dir=ENTER, **kw), make_event(name, dir=EXIT, res=res, **kw)]


def test_a_call_counts_once_under_its_kernel_name():
    obs = Observation()
    for evt in [*call("pread", 10, syscall="pread64"), *call("stat", 10, syscall="newfstatat"),
                make_event("openat", dir=EXIT, tid=10, res=3)]:  # an exit whose enter was not seen
        obs.add(evt)
    assert dict(obs.processes[10].calls) == {"pread64": 1, "newfstatat": 1, "openat": 1}
    obs.add(make_event("procexit", dir=ENTER, tid=10))  # not a syscall
    assert obs.totals() == {"pread64": 1, "newfstatat": 1, "openat": 1}


def test_socket_families_are_collected_and_unknown_ones_noted():
    obs = Observation()
    for evt in [*call("socket", 10, raw_args=(2, 1, 0), res=3), *call("socket", 10, raw_args=(10, 1, 0), res=4),
                *call("socketpair", 10, raw_args=(1, 1, 0))]:
        obs.add(evt)
    assert obs.domains == {"socket": {2, 10}, "socketpair": {1}} and obs.unknown_domain == set()
    obs.add(make_event("socket", dir=EXIT, tid=11, res=5))  # no enter: its arguments are zeros
    assert obs.unknown_domain == {"socket"}


def test_the_tree_follows_children_started_later_and_lets_recycled_pids_go():
    tree = ProcessTree(100)
    assert tree.admit(make_event("read", tid=100, ppid=1))
    assert tree.admit(make_event("clone", tid=200, ppid=100, res=0))  # the child's side: parent in the tree
    assert tree.admit(make_event("openat", tid=300, ppid=200))  # a grandchild
    assert not tree.admit(make_event("openat", tid=400, ppid=1))
    # the parent's fork result joins a child whose own events show another parent (CLONE_PARENT, reparenting)
    assert tree.admit(make_event("clone", tid=100, ppid=1, res=500, raw_args=(0,)))
    assert tree.admit(make_event("read", tid=500, ppid=1))
    # a thread is not a process: its tid does not join
    tree.admit(make_event("clone", tid=100, ppid=1, res=600, raw_args=(CLONE_THREAD,)))
    assert 600 not in tree.pids
    tree.admit(make_event("procexit", dir=ENTER, tid=300, ppid=200))
    assert not tree.admit(make_event("read", tid=300, ppid=1))  # pid 300 again, someone else's now


def test_a_root_born_during_the_capture_counts_from_its_exec():
    rec = Recorder(100)
    events = [
        make_event("clone", tid=100, ppid=50, res=0, comm="launcher"),  # born: runs its parent's code until exec
        *call("close_range", 100, ppid=50, comm="launcher", syscall="close_range"),
        make_event("execve", dir=ENTER, tid=100, ppid=50, comm="launcher"),
        make_event("execve", dir=EXIT, tid=100, ppid=50, res=0, comm="app"),
        *call("openat", 100, ppid=50, res=3),
        make_event("clone", dir=EXIT, tid=100, ppid=50, res=101, raw_args=(0,), comm="app"),
        make_event("clone", dir=EXIT, tid=101, ppid=100, res=0, comm="app"),  # a child counts from its birth
        *call("write", 101, ppid=100),
        make_event("procexit", dir=ENTER, tid=100, ppid=50),
    ]
    for evt in events:
        rec.add(evt)
    obs = rec.result()
    assert dict(obs.processes[100].calls) == {"execve": 1, "openat": 1, "clone": 1}
    assert dict(obs.processes[101].calls) == {"clone": 1, "write": 1}
    assert obs.processes[100].comm == "app" and rec.root_exited


def test_a_new_root_that_never_execs_counts_whole_and_a_running_root_from_the_start():
    rec = Recorder(100)
    for evt in [make_event("clone", tid=100, ppid=50, res=0), *call("read", 100, ppid=50)]:
        rec.add(evt)
    assert dict(rec.result().processes[100].calls) == {"clone": 1, "read": 1}
    running = Recorder(100)
    for evt in [*call("read", 100), make_event("execve", tid=100, res=0), *call("write", 100)]:
        running.add(evt)
    assert dict(running.result().processes[100].calls) == {"read": 1, "execve": 1, "write": 1}


def test_without_a_root_every_event_given_counts():
    rec = Recorder()
    for evt in [*call("read", 10), *call("write", 20, comm="other")]:
        rec.add(evt)
    assert {p.comm: dict(p.calls) for p in rec.result().processes.values()} == {"app": {"read": 1},
                                                                               "other": {"write": 1}}
