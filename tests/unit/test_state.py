"""State lookups: threads, processes, ancestors, fd_of, user and group names."""
from __future__ import annotations

from sysmon.events.model import ENTER
from sysmon.events.schema import s32
from sysmon.state.state import FdInfo, FdTable, State, ThreadInfo
from tests.factories import make_event


def _state() -> State:
    table = FdTable({3: FdInfo(3, "file", "/etc/passwd"), 4: FdInfo(4, "file", "/tmp/x")})
    threads = {
        1: ThreadInfo(1, 1, 0, "init"),
        50: ThreadInfo(50, 50, 1, "bash"),
        100: ThreadInfo(100, 100, 50, "cat", fdtable=table),
        101: ThreadInfo(101, 100, 50, "cat-worker", fdtable=table),
    }
    return State(threads, users={0: "root"}, groups={0: "wheel"})


def test_s32() -> None:
    assert s32(0xFFFFFF9C) == -100
    assert s32(0xFFFFFFFFFFFFFF9C) == -100
    assert s32(7) == 7


def test_thread_and_process() -> None:
    state = _state()
    assert state.thread(101).comm == "cat-worker"
    assert state.thread(999) is None
    assert state.process(100).tid == 100
    del state.threads[100]
    assert state.process(100).tid == 101  # any thread once the main one is gone
    assert state.process(999) is None


def test_ancestors_stop_at_unknown_and_cycles() -> None:
    state = _state()
    assert [t.comm for t in state.ancestors(state.thread(101))] == ["bash", "init"]
    state.threads[1].ppid = 100  # a cycle must not loop
    assert [t.comm for t in state.ancestors(state.thread(100))] == ["bash", "init"]
    state.threads[50].ppid = 7  # unknown parent
    assert [t.comm for t in state.ancestors(state.thread(100))] == ["bash"]


def test_fd_of_uses_fd_arg_on_enter_and_exit() -> None:
    state = _state()
    assert state.fd_of(make_event("read", dir=ENTER, raw_args=(3,))).name == "/etc/passwd"
    assert state.fd_of(make_event("read", res=10, raw_args=(4,), tid=101, pid=100)).name == "/tmp/x"
    assert state.fd_of(make_event("read", raw_args=(9,))) is None
    assert state.fd_of(make_event("read", raw_args=(3,), tid=999)) is None


def test_fd_of_uses_result_of_fd_creating_exits() -> None:
    state = _state()
    assert state.fd_of(make_event("openat", res=4, raw_args=(-100,))).name == "/tmp/x"
    assert state.fd_of(make_event("openat", res=-2, raw_args=(-100,))) is None
    assert state.fd_of(make_event("dup", res=4, raw_args=(3,))).name == "/tmp/x"
    # If fcntl is flagged fd-creating, only F_DUPFD* returns an fd; F_GETFL's result is flags.
    creates = frozenset({"creates_fd", "uses_fd"})
    assert state.fd_of(make_event("fcntl", res=4, raw_args=(3, 3), etype_flags=creates)).name == "/etc/passwd"
    assert state.fd_of(make_event("fcntl", res=4, raw_args=(3, 0), etype_flags=creates)).name == "/tmp/x"
    # pipe's result is 0, not an fd
    assert state.fd_of(make_event("pipe", res=0, etype_flags=creates)) is None


def test_names() -> None:
    state = _state()
    assert state.user_name(0) == "root" and state.user_name(5) is None
    assert state.group_name(0) == "wheel" and state.group_name(5) is None
