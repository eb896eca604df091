"""Capture-wide time bookkeeping the time fields need, and sysdig's time texts."""
from __future__ import annotations

import functools
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from sysmon.events.model import ENTER

if TYPE_CHECKING:
    from sysmon.events.model import Event

NS = 1_000_000_000


@dataclass(slots=True)
class Clock:
    """Fed every event (before filtering) by the engine through `observe`.

    Afterwards `delta_ns` and `latency_ns` describe the event just observed.
    """

    first_ns: int = 0  # timestamp of the first event of the capture (a .scap's: its first event block's)
    prev_ns: int = 0  # timestamp of the event observed last
    delta_ns: int = 0  # current event minus the previous one
    latency_ns: int | None = 0  # exit minus its enter; 0 on enters, None when the enter was not seen
    _enters: dict[int, tuple[int, str]] = field(default_factory=dict)  # tid -> (enter ts, type)

    def observe(self, evt: Event) -> None:
        ts = evt.ts_ns
        if not self.first_ns:
            self.first_ns = ts
        self.delta_ns = ts - self.prev_ns if self.prev_ns else 0
        self.prev_ns = ts
        if evt.etype.category == "internal":  # procinfo...: no call to pair, no evt.latency (as libsinsp)
            self.latency_ns = None
            return
        if evt.dir == ENTER:
            self._enters[evt.tid] = (ts, evt.etype.name)
            self.latency_ns = 0
            return
        enter = self._enters.pop(evt.tid, None)
        self.latency_ns = ts - enter[0] if enter is not None and enter[1] == evt.etype.name else None


def epoch_seconds(ns: int) -> str:
    """`-t a`: sysdig prints the nanoseconds without their leading zeros (`1690557263.8707142`)."""
    return f"{ns // NS}.{ns % NS}"


def seconds(ns: int) -> str:
    """`5.531188757`: a duration or an epoch time as seconds with nanoseconds."""
    return f"{ns // NS}.{ns % NS:09d}"


@functools.lru_cache(maxsize=8)
def _hms(seconds: int) -> str:
    return time.strftime("%H:%M:%S", time.localtime(seconds))


def clock_time(ns: int, *, frac: bool = True) -> str:
    """`17:35:48.514682170` in local time (no fraction with frac=False)."""
    text = _hms(ns // NS)
    return f"{text}.{ns % NS:09d}" if frac else text


def date_time(ns: int, *, frac: bool = True) -> str:
    """`2018-08-17 17:35:48.514682170` in local time."""
    text = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(ns // NS))
    return f"{text}.{ns % NS:09d}" if frac else text


def iso8601(ns: int) -> str:
    """`2018-08-17T17:35:48.514678274+0000` (UTC, as sysdig prints it)."""
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ns // NS)) + f".{ns % NS:09d}+0000"


def human_duration(ns: int) -> str:
    """evt.latency.human, as libsinsp's format_time: `120ns`, `3.89us`, `56us`, `1.50ms`, `10ms`, `1.50s`,
    `2:5` (minutes), `01:02:03` (hours); digits are cut, not rounded."""
    s, us, ms = NS, 1_000, 1_000_000
    if ns >= 3600 * s:
        return f"{ns // (3600 * s):02d}:{ns // (60 * s) % 60:02d}:{ns // s % 60:02d}"
    if ns >= 60 * s:
        return f"{ns // (60 * s)}:{ns // s % 60}"
    if ns >= s:
        return f"{ns // s}.{ns % s // 10_000_000:02d}s"
    if ns >= 10 * ms:
        return f"{ns // ms}ms"
    if ns >= ms:
        return f"{ns // ms}.{ns % ms // 10_000:02d}ms"
    if ns >= 10 * us:
        return f"{ns // us}us"
    if ns >= us:
        return f"{ns // us}.{ns % us // 10:02d}us"
    return f"{ns}ns"
