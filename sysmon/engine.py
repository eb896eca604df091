"""Inspector: the one place that orders the stages for each event (synchronous, source-agnostic).

    decode -> clock -> [filter first, if the event cannot change state] -> state -> filter -> sinks

Events that modify state (open, close, clone, execve, connect...) are applied to the state even
when the filter rejects them, so that later events still resolve names (libsinsp does the same).
`process` says what became of the event (a Verdict); the capture feed writes by it: MATCH as is,
STATE_ONLY marked (a filtered capture keeps them so its replay resolves names), DROP not at all.
"""
from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from enum import Enum
from typing import Protocol

from sysmon.events.model import ENTER, Event
from sysmon.events.schema import EF_MODIFIES_STATE
from sysmon.fields.clock import Clock
from sysmon.state.parser import StateParser
from sysmon.state.state import State

Predicate = Callable[[Event, State], bool]
_NO_PAIRING = frozenset({"scheduler", "internal"})  # events that leave a thread's last enter alone


class Verdict(Enum):
    MATCH = 0  # passed the filter: shown, written
    STATE_ONLY = 1  # filtered out, but it changed the state: written marked, never shown
    DROP = 2  # filtered out and changed nothing (or past the -M limit)


MATCH, STATE_ONLY, DROP = Verdict.MATCH, Verdict.STATE_ONLY, Verdict.DROP


class Sink(Protocol):
    """Gets every matching event. A sink may hold its output until `flush()`, if it has one; one with a
    true `sees_internal` attribute also gets the internal events a source yields (procinfo: sysdig's chisels)."""

    def emit(self, evt: Event, state: State) -> None: ...


def sink_flushes(sinks: Iterable[Sink]) -> list[Callable[[], None]]:
    """The `flush` of each sink that has one."""
    return [f for f in (getattr(s, "flush", None) for s in sinks) if f is not None]


@dataclass(slots=True)
class Stats:
    seen: int = 0  # events decoded
    matched: int = 0  # events that passed the filter
    first_ns: int = 0
    last_ns: int = 0
    by_type: Counter[tuple[int, str]] = field(default_factory=Counter)


class Inspector:
    def __init__(
        self,
        state: State,
        clock: Clock,
        predicate: Predicate | None,
        sinks: Iterable[Sink],
        *,
        max_events: int | None = None,
        max_seconds: float | None = None,
        summary: bool = False,
        tickers: Iterable[Callable[[Event], None]] = (),
    ) -> None:
        self.state = state
        self.tickers = list(tickers)  # see every event's time before filtering (chisel intervals)
        self.parser = StateParser(state)
        self.clock = clock
        self.predicate = predicate
        self.sinks: list[Sink] = []
        self._flushes: list[Callable[[], None]] = []
        self.set_sinks(sinks)
        self.max_events = max_events
        self.max_ns = int(max_seconds * 1e9) if max_seconds else None
        self.summary = summary
        self.stats = Stats()
        self.done = False
        # tid -> (type, passed) of its last enter event; an exit pairs with it (libsinsp m_lastevent_type,
        # reset when the filter drops an enter that cannot change state)
        self._last_enter: dict[int, tuple[str, bool]] = {}

    def set_sinks(self, sinks: Iterable[Sink]) -> None:
        self.sinks = list(sinks)
        self._flushes = sink_flushes(self.sinks)
        self._internal_sinks = [s for s in self.sinks if getattr(s, "sees_internal", False)]

    @property
    def passive(self) -> bool:
        """Nothing looks at the events one by one: no filter, no sink, no summary, no ticker."""
        return self.predicate is None and not self.sinks and not self.summary and not self.tickers

    def enter_types_needed(self) -> frozenset[str] | None:
        """Event types whose enter events the stages need even when the exit follows at once; None when
        every enter is needed (a chisel ticks on every event's time, or -M times from the first event)."""
        return None if self.tickers or self.max_ns is not None else self.parser.enter_types

    def process(self, evt: Event) -> Verdict:
        """Run one event through the stages."""
        stats = self.stats
        stats.seen += 1
        ts = evt.ts_ns
        if not stats.first_ns:
            stats.first_ns = ts
        stats.last_ns = ts
        if self.max_ns is not None and ts - stats.first_ns > self.max_ns:
            self.done = True
            return DROP
        self.clock.observe(evt)
        for tick in self.tickers:
            tick(evt)
        parser = self.parser
        pred = self.predicate
        etype = evt.etype
        if etype.category == "internal":  # procinfo...: only for the sinks that see them (sysdig's chisels)
            parser.flush()
            if self._internal_sinks and (pred is None or pred(evt, self.state)):
                for sink in self._internal_sinks:
                    sink.emit(evt, self.state)
            return DROP
        enter = evt.dir == ENTER and etype.category not in _NO_PAIRING
        if evt.dir != ENTER:
            # with a filter, libsinsp looks up a write exit's fd anyway (its tracer check)
            self.state.exit_paired = self._last_enter.get(evt.tid) == (etype.name, True) or (
                pred is not None and etype.name == "write")
        if EF_MODIFIES_STATE in etype.flags:
            parser.apply(evt)  # first carries out the removals the previous event asked for
            if enter:
                self._last_enter[evt.tid] = (etype.name, True)
            if pred is not None and not pred(evt, self.state):
                return STATE_ONLY
        else:
            parser.flush()  # removals asked for by the previous event (closed fds, exited threads)
            if pred is not None and not pred(evt, self.state):
                if enter:
                    self._last_enter[evt.tid] = (etype.name, False)
                return DROP
            if enter:
                self._last_enter[evt.tid] = (etype.name, True)
            parser.apply(evt)
        stats.matched += 1
        if self.summary:
            stats.by_type[(evt.dir, evt.type)] += 1
        for sink in self.sinks:
            sink.emit(evt, self.state)
        if self.max_events is not None and stats.matched >= self.max_events:
            self.done = True
        return MATCH

    def process_state_only(self, evt: Event) -> Verdict:
        """An event a filtered capture kept only for its state change: applied, never shown."""
        self.stats.seen += 1
        self.clock.observe(evt)
        self.parser.apply(evt)
        return STATE_ONLY

    def apply_state(self, evt: Event) -> None:
        """Keep the state current with an event that is written undecoded and counted elsewhere."""
        self.parser.apply(evt)

    def count_undecoded(self, n: int, first_ns: int, last_ns: int) -> None:
        """n events passed on undecoded (written as they came): counted as seen and matched."""
        stats = self.stats
        stats.seen += n
        stats.matched += n
        stats.first_ns = stats.first_ns or first_ns
        stats.last_ns = last_ns

    def remaining(self) -> int | None:
        """Events still to match before the -n limit (None: no limit)."""
        return None if self.max_events is None else self.max_events - self.stats.matched

    def snapshot_state(self) -> State:
        """The state as of the next event: removals due now are carried out first (a new file's snapshot)."""
        self.parser.flush()
        return self.state

    def flush(self) -> None:
        """Have the sinks write what they hold (after each batch, and at the end)."""
        for flush in self._flushes:
            flush()

    def run(self, events: Iterable[Event], state_only: Callable[[], bool] | None = None) -> None:
        """Process `events`; `state_only()` tells, for each, whether it only keeps the state right."""
        for evt in events:
            if state_only is not None and state_only():
                self.process_state_only(evt)
                continue
            self.process(evt)
            if self.done:
                break
        self.flush()
