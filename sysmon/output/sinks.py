"""Where formatted events go: text lines or JSON lines on a stream.

Lines are gathered and written in one piece per batch of events (the engine calls `flush()` after
each batch and at the end): one write per batch instead of one per event. `unbuffered` (-U)
writes and flushes every line.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import TextIO

from sysmon.events.model import Event
from sysmon.fields.catalogue import Catalogue
from sysmon.output.format import Formatter
from sysmon.state.state import State

MAX_PENDING = 4096  # lines held before writing even within a batch (bounds memory on long runs)


class _LineSink:
    def __init__(self, format_line: Callable[[Event, State], str | None], out: TextIO, unbuffered: bool) -> None:
        self._format_line = format_line
        self.out = out
        self.unbuffered = unbuffered
        self._pending: list[str] = []

    def emit(self, evt: Event, state: State) -> None:
        line = self._format_line(evt, state)
        if line is None:
            return
        pending = self._pending
        pending.append(line)
        if self.unbuffered or len(pending) >= MAX_PENDING:
            self.flush()

    def flush(self) -> None:
        """Write the lines gathered so far, and flush the stream (a live run shows each batch at once)."""
        if self._pending:
            lines, self._pending = self._pending, []
            lines.append("")  # the last line's newline
            self.out.write("\n".join(lines))
            self.out.flush()


class TextSink(_LineSink):
    def __init__(self, fmt: str, catalogue: Catalogue, out: TextIO, *, time_type: str = "h", bufmode: str = "",
                 max_buf: int | None = 80, unbuffered: bool = False) -> None:
        self.formatter = Formatter(fmt, catalogue, time_type=time_type, bufmode=bufmode, max_buf=max_buf)
        super().__init__(self.formatter.format, out, unbuffered)


class JsonSink(_LineSink):
    """One object per line (sysdig -j). Buffers are never cut: libsinsp cuts them in its text format only."""

    def __init__(self, fmt: str, catalogue: Catalogue, out: TextIO, *, time_type: str = "h", bufmode: str = "",
                 max_buf: int | None = 80, unbuffered: bool = False) -> None:
        self.formatter = Formatter(fmt, catalogue, time_type=time_type, bufmode=bufmode, max_buf=None)
        super().__init__(self.formatter.format_json, out, unbuffered)
