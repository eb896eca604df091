"""Inspector.process: the one order of the stages, and its verdicts (libsinsp's rules).

State is applied before the filter for events that change it, so a filter on `fd.name` sees the fd
an open creates; an event the filter drops still updates the state (STATE_ONLY), so later events
resolve names; an event that changes nothing and fails the filter never reaches the state (DROP).
"""
from __future__ import annotations

from sysmon.engine import DROP, MATCH, STATE_ONLY, Inspector
from sysmon.events.model import Event
from sysmon.fields.catalogue import Catalogue
from sysmon.fields.clock import Clock
from sysmon.filter import compile_filter
from sysmon.state.state import FdInfo, State, ThreadInfo
from tests.factories import make_event

AT_FDCWD = -100


class Shown:
    def __init__(self) -> None:
        self.events: list[tuple[str, str | None]] = []

    def emit(self, evt: Event, state: State) -> None:
        fd = state.fd_of(evt)
        self.events.append((evt.type, fd.name if fd else None))


def inspector(filter_text: str, **limits: object) -> tuple[Inspector, Shown]:
    clock = Clock()
    predicate, _ = compile_filter(filter_text, Catalogue.default(clock))
    state = State({100: ThreadInfo(100, 100, 1, "nginx", cwd="/")})
    shown = Shown()
    return Inspector(state, clock, predicate, [shown], **limits), shown  # type: ignore[arg-type]


def opened(fd: int, path: str, ts_ns: int = 1) -> Event:
    return make_event("openat", res=fd, raw_args=(AT_FDCWD,), params={"name": path, "flags": 0}, comm="nginx",
                      ts_ns=ts_ns)


def read(fd: int, ts_ns: int = 2, tid: int = 100) -> Event:
    return make_event("read", res=5, raw_args=(fd,), params={"fd": fd, "data": b"hello"}, comm="nginx", tid=tid,
                      ts_ns=ts_ns)


def closed(fd: int, ts_ns: int = 3) -> Event:
    return make_event("close", res=0, raw_args=(fd,), params={"res": 0}, comm="nginx", ts_ns=ts_ns)


def test_state_is_applied_before_the_filter_for_events_that_change_it() -> None:
    insp, shown = inspector("fd.name=/etc/hosts")
    assert insp.process(opened(3, "/etc/hosts")) is MATCH  # the fd exists only once the open is applied
    assert shown.events == [("openat", "/etc/hosts")]


def test_a_dropped_event_still_updates_the_state() -> None:
    insp, shown = inspector("evt.type=read")
    assert insp.process(opened(3, "/etc/hosts")) is STATE_ONLY
    assert insp.process(read(3)) is MATCH
    assert shown.events == [("read", "/etc/hosts")]
    assert (insp.stats.seen, insp.stats.matched) == (2, 1)


def test_an_event_that_changes_nothing_and_fails_the_filter_never_reaches_the_state() -> None:
    insp, shown = inspector("evt.type=openat")
    assert insp.process(read(3, tid=555)) is DROP
    assert 555 not in insp.state.threads and shown.events == []


def test_a_closed_fd_is_removed_on_the_next_event_so_the_close_still_names_it() -> None:
    insp, shown = inspector("")
    for evt in (opened(3, "/etc/hosts"), closed(3, ts_ns=2), read(3, ts_ns=3)):
        assert insp.process(evt) is MATCH
    assert shown.events == [("openat", "/etc/hosts"), ("close", "/etc/hosts"), ("read", None)]


def test_a_dropped_close_still_removes_the_fd() -> None:
    insp, shown = inspector("evt.type=read")
    for evt in (opened(3, "/etc/hosts"), closed(3, ts_ns=2)):
        assert insp.process(evt) is STATE_ONLY
    assert insp.process(read(3, ts_ns=3)) is MATCH
    assert shown.events == [("read", None)]


def test_state_only_events_of_a_capture_update_the_state_and_are_never_shown() -> None:
    insp, shown = inspector("")
    assert insp.process_state_only(opened(3, "/etc/hosts")) is STATE_ONLY
    assert shown.events == [] and insp.process(read(3)) is MATCH
    assert shown.events == [("read", "/etc/hosts")] and insp.stats.seen == 2


def test_limits_end_the_run() -> None:
    insp, _ = inspector("", max_events=2)
    insp.process(read(0, ts_ns=1))
    assert not insp.done and insp.remaining() == 1
    insp.process(read(0, ts_ns=2))
    assert insp.done and insp.remaining() == 0
    insp, shown = inspector("", max_seconds=1.0)
    assert insp.process(read(0, ts_ns=1)) is MATCH
    assert insp.process(read(0, ts_ns=2_000_000_000)) is DROP and insp.done
    assert len(shown.events) == 1


def test_state_snapshot_carries_out_the_removals_due() -> None:
    insp, _ = inspector("")
    insp.state.threads[100].fdtable.fds[3] = FdInfo(3, "file", "/etc/hosts")
    insp.process(closed(3))
    assert 3 in insp.state.threads[100].fdtable.fds  # still named by the close itself
    assert 3 not in insp.snapshot_state().threads[100].fdtable.fds
