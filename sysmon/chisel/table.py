"""Helpers for the table chisels: sysdig's table_generator (top-N sums by key) and thread tables.

`TableChisel`: declare keys, a value, a filter and units; it sums the value per key and prints a
top-N table. Live on a terminal it refreshes every second (each table covers that second); on a
replay or into a pipe it prints once at the end. Under -j it prints sysdig's JSON shape:
    {"data":[[key..., value],...],"info":[{"desc":..,"is_key":true,"name":..},null,{..}],"ts":"<ns>"}

`thread_table(ctx, filter)`: the processes and fds of the state, restricted by a filter evaluated
on each (thread, fd) as if an event on that fd had happened (sysdig's get_thread_table).
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

from sysmon.chisel.api import (CLEAR_SCREEN, NS, Chisel, ChiselContext, extend, fixed2, format_bytes,
                               format_time_interval)
from sysmon.errors import ChiselError, FilterError
from sysmon.events.model import ENTER, Event
from sysmon.events.schema import Schema
from sysmon.filter import compile_filter

if TYPE_CHECKING:
    from sysmon.chisel.api import Getter
    from sysmon.state.state import FdInfo, State, ThreadInfo

COLUMN = 20
RULE = "-" * 80
UNITS = ("bytes", "time", "timepct", "none")


@dataclass(frozen=True, slots=True)
class TableSpec:
    keys: tuple[tuple[str, str], ...]  # (field, description) per key column
    value: tuple[str, str]  # (field, description) of the summed value
    filter: str
    top: int = 10
    units: str = "bytes"


class TableChisel(Chisel):
    """A top-N table chisel; subclasses set `table` (or override `spec()` when arguments shape it)."""

    table: ClassVar[TableSpec]

    def spec(self) -> TableSpec:
        return self.table

    def on_init(self, ctx: ChiselContext) -> None:
        spec = self.spec()
        if spec.units not in UNITS:
            raise ChiselError(f"chisel '{self.name}': unknown value units {spec.units!r}")
        self._spec = spec
        self._keys: list[Getter] = [ctx.request_field(k) for k, _ in spec.keys]
        self._value = self.value_getter(ctx)
        self._sums: dict[tuple[Any, ...], int] = {}
        self._sample_ns = 0
        ctx.set_filter(spec.filter)
        self._refresh = ctx.is_live and ctx.is_tty
        if self._refresh:
            ctx.set_interval_s(1)

    def value_getter(self, ctx: ChiselContext) -> Getter:
        """How on_event reads the value: the spec's value field (a chisel computing it overrides this)."""
        return ctx.request_field(self._spec.value[0])

    def on_event(self, evt: Event) -> bool:
        key = []
        for get in self._keys:
            v = get(evt)
            if v is None:
                return True
            key.append(v)
        value = self._value(evt)
        if isinstance(value, int) and value > 0:
            k = tuple(key)
            self._sums[k] = self._sums.get(k, 0) + value
        return True

    def on_interval(self, ts_ns: int) -> None:
        if self.ctx.output_format != "json":
            self.ctx.write(CLEAR_SCREEN)
        self._print(ts_ns, ts_ns - self._sample_ns if self._sample_ns else NS)
        self._sample_ns = ts_ns
        self._sums = {}

    def on_capture_end(self) -> None:
        if not self._refresh:
            self._print(self.ctx.last_ts_ns, self.ctx.last_ts_ns - self._first_ts())

    def _first_ts(self) -> int:
        clock = self.ctx.catalogue.clock
        return clock.first_ns or self.ctx.last_ts_ns

    def _print(self, ts_ns: int, delta_ns: int) -> None:
        spec = self._spec
        rows = sorted(self._sums.items(), key=lambda kv: (-kv[1], tuple(str(k) for k in kv[0])))
        if spec.top:
            rows = rows[: spec.top]
        if self.ctx.output_format == "json":
            info: list[dict[str, Any] | None] = [{"name": f, "desc": d, "is_key": True} for f, d in spec.keys]
            info += [None] * (2 - len(info))
            info.append({"name": spec.value[0], "desc": spec.value[1], "is_key": False})
            obj = {"ts": str(ts_ns // NS * NS), "data": [[*map(_json_value, k), v] for k, v in rows], "info": info}
            self.ctx.print(json.dumps(obj, sort_keys=True, separators=(",", ":")))
            return
        header = extend(spec.value[1], COLUMN) + "".join(extend(d, COLUMN) for _, d in spec.keys)
        self.ctx.print(header.rstrip())
        self.ctx.print(RULE)
        for key, value in rows:
            texts = [str(k) for k in key]
            keystr = "".join(extend(t[:COLUMN], COLUMN) for t in texts[:-1]) + texts[-1]
            self.ctx.print(extend(self._render(value, delta_ns), COLUMN) + keystr)

    def _render(self, value: int, delta_ns: int) -> str:
        units = self._spec.units
        if units == "bytes":
            return format_bytes(value)
        if units == "time":
            return format_time_interval(value)
        if units == "timepct":
            return f"{fixed2(value / delta_ns * 100)}%" if delta_ns > 0 else "0.00%"
        return str(value)


def _json_value(v: Any) -> Any:
    return v if isinstance(v, (int, float, str, bool)) else str(v)


# -- thread tables --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ProcessFds:
    thread: ThreadInfo
    fds: list[FdInfo]


def thread_table(ctx: ChiselContext, filter_text: str | None) -> list[ProcessFds]:
    """Every thread with its fds, in tid order, that matches the filter (sysdig's get_thread_table: per
    thread, so the threads of a process repeat its shared fd table).

    Without a filter every thread is listed with all its fds. With one, a thread is listed when the
    filter matches it with no fd or with one of its fds, and only matching fds are kept."""
    state = ctx.state
    try:
        predicate, _ = compile_filter(filter_text or "", ctx.catalogue)
    except FilterError as e:
        raise ChiselError(f"bad filter {filter_text!r}: {e.message}", hints=e.hints) from e
    probe = FdProbe(ctx.last_ts_ns)
    rows: list[ProcessFds] = []
    for tid in sorted(state.threads):
        t = state.threads[tid]
        fds = [t.fdtable.fds[n] for n in sorted(t.fdtable.fds)]
        if predicate is not None:
            fds = [fd for fd in fds if predicate(probe.event(t, fd.num), state)]
            if not fds and not predicate(probe.event(t, None), state):
                continue
        rows.append(ProcessFds(t, fds))
    return rows


class FdProbe:
    """Synthetic events that make a filter look at one thread and one of its fds."""

    def __init__(self, ts_ns: int) -> None:
        self.ts_ns = ts_ns
        self.on_fd = Schema.default().by_name("read")  # an fd-using type whose fd is argument 0

    def event(self, t: ThreadInfo, fd: int | None) -> Event:
        raw = ((fd if fd is not None else -1) & 0xFFFFFFFFFFFFFFFF, 0, 0, 0, 0, 0)
        return Event(ts_ns=self.ts_ns, cpu=0, tid=t.tid, pid=t.pid, ppid=t.ppid, uid=t.uid, gid=t.gid,
                     comm=t.comm, nr=0, dir=ENTER, res=None, raw_args=raw, blobs=(), etype=self.on_fd)


def user_name(state: State, uid: int) -> str:
    """As get_thread_table's `username`: <NA> for a uid the user list does not have."""
    return state.user_name(uid) or "<NA>"
