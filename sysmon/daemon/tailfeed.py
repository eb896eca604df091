"""The tail clients' pipeline, on a thread of its own, so that viewers never cost the daemon its recording.

    drain (event loop) --raw record batches--> bounded queue --> tail thread: decode what some client's
    filter can match (and what changes state), own state and clock, each client's filter and format
    --> client line queues --> the loop writes them out

The loop only appends a reference to each drained batch (no decoding, never blocking): when the queue
holds TAIL_QUEUE_BYTES, the batch is dropped and counted as every client's drop. The thread works in
slices of SLICE_S and then sleeps (DUTY: its share of the interpreter), and not at all while the drain
is behind the ring (`behind`, set by the loop after each drain): during a storm every moment of the
interpreter lock the tail took would be a moment the writer lost, and so kernel drops (measured: 4-8%
of a storm at a 10% duty). What the thread cannot get through is dropped, and those drops are the
tail's, shown by `status` and in each client's log line.
"""
from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Any, Protocol

from sysmon import threads
from sysmon.events.record import NR_OFFSET
from sysmon.capture.snapshot import state_from_wire
from sysmon.engine import Inspector
from sysmon.events.decode import Decoder
from sysmon.events.model import Event
from sysmon.events.schema import Schema
from sysmon.fields.catalogue import Catalogue
from sysmon.fields.clock import Clock
from sysmon.filter import KernelPlan
from sysmon.state.state import State

log = logging.getLogger(__name__)
TAIL_QUEUE_BYTES = 4 << 20  # ~35k records: a viewer wants recent events, not a long backlog
SLICE_S = 0.002  # work done between checks of the budget
DUTY = 0.1  # at most this share of the time (and so of the interpreter lock) goes to tail clients


class TailFeed:
    """Owns the tail thread, its decoder, state and catalogue (client filters compile against
    `catalogue`, whose clock is this thread's)."""

    def __init__(self, schema: Schema, wall_offset_ns: int | None, sink: TailSink,
                 wake: Callable[[], None], *, queue_bytes: int = TAIL_QUEUE_BYTES) -> None:
        self.schema = schema
        self.clock = Clock()
        self.catalogue = Catalogue.default(self.clock)
        self.sink = sink
        self.queue_bytes = queue_bytes
        self.dropped = 0  # events no client saw because the tail fell behind
        self._decoder = Decoder(schema, wall_offset_ns)
        self._wake = wake  # called from the thread after each slice: hand the lines to the loop
        self._inspector: Inspector | None = None
        self._fresh: dict[str, Any] | None = None  # a state to start from (wire form), for the thread
        self._idle = True
        self._wanted: frozenset[bytes] | None = None
        self._cond = threading.Condition()
        self._queue: deque[tuple[list[bytes], int, int] | None] = deque()
        self._queued = 0
        self._thread: threading.Thread | None = None
        self._free = threading.Event()  # clear while the drain is behind the ring: the tail waits on it
        self._free.set()

    @property
    def behind(self) -> bool:
        """Set by the loop after each drain: the last drain left records in the ring; the tail waits."""
        return not self._free.is_set()

    @behind.setter
    def behind(self, value: bool) -> None:
        if value != self.behind:
            (self._free.clear if value else self._free.set)()

    def plans_changed(self, plans: list[KernelPlan], state: Callable[[], dict[str, Any]]) -> None:
        """The clients' filters changed: decode what any of them can match. With no client left the
        tail's state goes stale, so the first client starts from `state()`, a snapshot of the
        daemon's own state (state_to_wire, taken here on the loop: ~30 ms, where /proc takes ~1 s)."""
        nrs: set[int] | None = set()
        for plan in plans:
            wanted = self.schema.wanted_nrs(plan.types)
            if wanted is None:
                nrs = None
                break
            assert nrs is not None
            nrs |= wanted
        fresh = state() if plans and self._idle else None
        with self._cond:
            self._wanted = None if nrs is None else frozenset(nr.to_bytes(2, "little") for nr in nrs)
            if fresh is not None:
                self._fresh = fresh
            self._idle = not plans
            if not plans:
                self._queue.clear()
                self._queued = 0

    def offer(self, records: list[bytes], first_num: int) -> None:
        """From the loop: queue a drained batch for the clients, or drop and count it. Never blocks."""
        if not records:
            return
        size = sum(map(len, records))
        with self._cond:
            if self._queued + size > self.queue_bytes:
                self.dropped += len(records)
                self.sink.missed(len(records))
                return
            self._queue.append((records, first_num, size))
            self._queued += size
            self._cond.notify()
        if self._thread is None:
            self._thread = threads.start(self._run, "sysmon-tail")

    def close(self) -> None:
        self.behind = False
        if self._thread is not None:
            with self._cond:
                self._queue.append(None)
                self._cond.notify()
            self._thread.join(timeout=2)

    # -- the tail thread ---------------------------------------------------------------------------

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._queue:
                    self._cond.wait()
                item = self._queue.popleft()
                if item is None:
                    return
                self._queued -= item[2]
                wanted, fresh, self._fresh = self._wanted, self._fresh, None
            try:
                if fresh is not None:
                    self._inspector = Inspector(state_from_wire(fresh), self.clock, None, [self.sink])
                self._process(item[0], item[1], wanted)
            except Exception:  # a bug in a client's filter or format must not end the tail for all
                log.exception("tail: a batch of %d events failed", len(item[0]))
            self._wake()

    def _process(self, records: list[bytes], first_num: int, wanted: frozenset[bytes] | None) -> None:
        inspector = self._inspector
        if inspector is None:
            return
        decoder = self._decoder
        process = inspector.process
        at = NR_OFFSET
        started = time.monotonic()
        clock = time.monotonic
        for i, rec in enumerate(records):
            if wanted is not None and rec[at : at + 2] not in wanted:
                continue
            spent = clock() - started
            if spent >= SLICE_S or self.behind:
                self._wake()
                time.sleep(spent * (1 / DUTY - 1))  # the lock goes back to the loop and the writer
                self._free.wait()  # asleep while the drain is behind (close() clears `behind` first)
                started = clock()
            decoder.count = first_num + i - 1
            process(decoder.decode(rec))


class TailSink(Protocol):
    """What the feed needs from the clients (TailHub): `emit` each event, `missed` n events."""

    def emit(self, evt: Event, state: State) -> None: ...

    def missed(self, n: int) -> None: ...
