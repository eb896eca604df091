"""Exporting the events around matches to a capture file (the `around` chisel, spy_logs' dump_file_name).

Every event passes through a delay line as long as the range (plus a slack for events that arrive
slightly out of time order, as per-CPU buffers deliver them). When an event leaves the line, every
match that could cover it has been seen, so the decision is exact: the event is written when some
match lies within ±range of it (by timestamp), else dropped. The line is the look-behind buffer;
deciding late is the look-ahead window. A replay runs the same code, so it writes the same file.

The file must replay on its own with names resolved, so:
- it is opened at the first event to write, and its snapshot is the state as of that event: a
  trailing copy of the state, advanced by the state-changing events that left the line before;
- between windows, state-changing events are written marked STATE_ONLY (applied, never shown).
Records carry epoch timestamps (header wall_offset_ns 0): the events may come from a replay of a
capture older than this boot, whose monotonic clock cannot express them.
The events a replay of the file shows are therefore exactly those within the windows.
"""
from __future__ import annotations

import os
from bisect import bisect_left, bisect_right
from collections import deque
from collections.abc import Callable
from typing import TYPE_CHECKING

from sysmon.capture.format import STATE_ONLY, Batch, make_header
from sysmon.capture.snapshot import state_from_wire, state_to_wire
from sysmon.capture.writer import CaptureWriter
from sysmon.errors import ChiselError
from sysmon.events.record import encode
from sysmon.events.schema import EF_MODIFIES_STATE
from sysmon.state.parser import StateParser

if TYPE_CHECKING:
    from sysmon.events.model import Event
    from sysmon.state.state import State

MS = 1_000_000
SLACK_NS = 100 * MS  # how far out of time order events may arrive
MAX_BUFFERED = 1_000_000  # events in the line; beyond, the oldest leave early (look-behind shortened)
BATCH_EVENTS = 1024


class Windows:
    """Disjoint time windows [lo, hi] in ns, kept sorted; overlapping ones merge as they are added."""

    def __init__(self) -> None:
        self._lo: list[int] = []
        self._hi: list[int] = []

    def __len__(self) -> int:
        return len(self._lo)

    def add(self, lo: int, hi: int) -> None:
        i = bisect_left(self._hi, lo)  # the first window that ends at or after lo
        j = bisect_right(self._lo, hi)  # windows before j start at or before hi: i..j-1 overlap
        if i < j:
            lo, hi = min(lo, self._lo[i]), max(hi, self._hi[j - 1])
        self._lo[i:j] = [lo]
        self._hi[i:j] = [hi]

    def covers(self, ts: int) -> bool:
        i = bisect_right(self._lo, ts) - 1
        return i >= 0 and ts <= self._hi[i]

    def forget_before(self, ts: int) -> None:
        """Drop the windows that end before ts."""
        k = bisect_left(self._hi, ts)
        if k:
            del self._lo[:k], self._hi[:k]


def copy_state(state: State) -> State:
    return state_from_wire(state_to_wire(state))


class AroundDump:
    """Writes to `path` the events within ±range_ns of the events passed to `mark`.

    `feed` every event (before filtering, in arrival order), `mark` the matches, then `close`."""

    def __init__(self, path: str, range_ns: int, state: Callable[[], State], *, snaplen: int = 0, match_filter: str = "", max_buffered: int = MAX_BUFFERED) -> None:
        if range_ns < 0:
            raise ChiselError(f"the dump range must not be negative, not {range_ns // MS} ms")
        try:  # a bad path fails now, not at the first match
            os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o600))
        except OSError as e:
            raise ChiselError(f"cannot write the dump file {path}: {e.strerror}") from e
        self.path = path
        self.range_ns = range_ns
        self.matches = 0
        self.written = 0  # events written to be shown
        self.state_only = 0  # state-changing events written between windows
        self.shortened = 0  # events that left the line early (MAX_BUFFERED) and were in no window yet
        self._state = state
        self._snaplen = snaplen
        self._match_filter = match_filter
        self._max_buffered = max_buffered
        self._line: deque[Event] = deque()
        self._windows = Windows()
        self._latest = 0
        self._trail: StateParser | None = None  # the state as of the line's exit, until the file opens
        self._writer: CaptureWriter | None = None
        self._records: list[bytes] = []
        self._nums: list[int] = []
        self._flags: list[int] = []

    def feed(self, evt: Event) -> None:
        if self._trail is None and self._writer is None:
            self._trail = StateParser(copy_state(self._state()))
        line = self._line
        line.append(evt)
        if evt.ts_ns > self._latest:
            self._latest = evt.ts_ns
        horizon = self._latest - self.range_ns - SLACK_NS  # no match to come can reach events before it
        while line and (line[0].ts_ns < horizon or len(line) > self._max_buffered):
            old = line.popleft()
            if old.ts_ns >= horizon and not self._windows.covers(old.ts_ns):
                self.shortened += 1
            self._decide(old)
        self._windows.forget_before(horizon - SLACK_NS)

    def mark(self, evt: Event) -> None:
        self.matches += 1
        self._windows.add(evt.ts_ns - self.range_ns, evt.ts_ns + self.range_ns)

    def close(self) -> None:
        """Decide on the events still in the line, and finish the file (written even when empty)."""
        while self._line:
            self._decide(self._line.popleft())
        if self._writer is None:
            self._open()
        assert self._writer is not None
        self._flush()
        self._writer.close()

    def summary(self) -> str:
        text = (f"wrote {self.written} events around {self.matches} match{'es' if self.matches != 1 else ''} "
                f"to {self.path}")
        if self.shortened:
            text += f" ({self.shortened} earlier events had left the buffer, which holds {self._max_buffered})"
        return text

    def _decide(self, evt: Event) -> None:
        if self._windows.covers(evt.ts_ns):
            self._write(evt, 0)
            self.written += 1
        elif EF_MODIFIES_STATE in evt.etype.flags:
            if self._writer is None:
                assert self._trail is not None
                self._trail.apply(evt)
            else:
                self._write(evt, STATE_ONLY)
                self.state_only += 1

    def _write(self, evt: Event, flag: int) -> None:
        if self._writer is None:
            self._open()
        self._records.append(encode(evt))
        self._nums.append(evt.num)
        self._flags.append(flag)
        if len(self._records) >= BATCH_EVENTS:
            self._flush()

    def _open(self) -> None:
        trail = self._trail
        if trail is None:  # no event at all
            trail = StateParser(copy_state(self._state()))
        trail.flush()
        snapshot = trail.state
        self._trail = None

        def header(seq: int) -> dict[str, object]:
            head = make_header(wall_offset_ns=0, snaplen=self._snaplen,
                               filter_text=self._match_filter, compression=None, seq=seq)
            head["around_ns"] = self.range_ns
            return head

        self._writer = CaptureWriter(self.path, header, lambda: snapshot)

    def _flush(self) -> None:
        if not self._records:
            return
        assert self._writer is not None
        flags = self._flags if any(self._flags) else None
        self._writer.add(Batch(self._records, self._nums[0], self._nums, flags))
        self._records, self._nums, self._flags = [], [], []
