"""Where formatted events go: text lines or JSON lines on a stream."""
from __future__ import annotations

from typing import TextIO

from sysmon.events.model import Event
from sysmon.fields.catalogue import Catalogue
from sysmon.output.format import Formatter
from sysmon.state.state import State


class TextSink:
    def __init__(self, fmt: str, catalogue: Catalogue, out: TextIO, *, time_type: str = "h", bufmode: str = "",
                 max_buf: int | None = 80, unbuffered: bool = False) -> None:
        self.formatter = Formatter(fmt, catalogue, time_type=time_type, bufmode=bufmode, max_buf=max_buf)
        self.out = out
        self.unbuffered = unbuffered

    def emit(self, evt: Event, state: State) -> None:
        line = self.formatter.format(evt, state)
        if line is not None:
            self.out.write(line + "\n")
            if self.unbuffered:
                self.out.flush()


class JsonSink:
    """One object per line (sysdig -j); flushed per line like sysdig."""

    def __init__(self, fmt: str, catalogue: Catalogue, out: TextIO, *, time_type: str = "h", bufmode: str = "",
                 max_buf: int | None = 80) -> None:
        self.formatter = Formatter(fmt, catalogue, time_type=time_type, bufmode=bufmode, max_buf=max_buf)
        self.out = out

    def emit(self, evt: Event, state: State) -> None:
        line = self.formatter.format_json(evt, state)
        if line is not None:
            self.out.write(line + "\n")
            self.out.flush()
