"""Inspector: the one place that orders the stages for each event (synchronous, source-agnostic).

    decode -> clock -> [filter first, if the event cannot change state] -> state -> filter -> sinks

Events that modify state (open, close, clone, execve, connect...) are applied to the state even
when the filter rejects them, so that later events still resolve names (libsinsp does the same).
"""
from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Protocol

from sysmon.events.model import Event
from sysmon.events.schema import EF_MODIFIES_STATE
from sysmon.fields.clock import Clock
from sysmon.state.parser import StateParser
from sysmon.state.state import State

Predicate = Callable[[Event, State], bool]


class Sink(Protocol):
    def emit(self, evt: Event, state: State) -> None: ...


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
        self.sinks = list(sinks)
        self.max_events = max_events
        self.max_ns = int(max_seconds * 1e9) if max_seconds else None
        self.summary = summary
        self.stats = Stats()
        self.done = False

    def process(self, evt: Event) -> bool:
        """Run one event through the stages; returns whether it matched the filter."""
        stats = self.stats
        stats.seen += 1
        if not stats.first_ns:
            stats.first_ns = evt.ts_ns
        stats.last_ns = evt.ts_ns
        if self.max_ns is not None and evt.ts_ns - stats.first_ns > self.max_ns:
            self.done = True
            return False
        self.clock.observe(evt)
        for tick in self.tickers:
            tick(evt)
        self.parser.flush()  # removals asked for by the previous event (closed fds, exited threads)
        pred = self.predicate
        if EF_MODIFIES_STATE in evt.etype.flags:
            self.parser.apply(evt)
            ok = pred is None or pred(evt, self.state)
        else:
            ok = pred is None or pred(evt, self.state)
            if ok:
                self.parser.apply(evt)
        if not ok:
            return False
        stats.matched += 1
        if self.summary:
            stats.by_type[(evt.dir, evt.type)] += 1
        for sink in self.sinks:
            sink.emit(evt, self.state)
        if self.max_events is not None and stats.matched >= self.max_events:
            self.done = True
        return True

    def run(self, events: Iterable[Event]) -> None:
        for evt in events:
            self.process(evt)
            if self.done:
                return
