"""When to start the next capture file and what to call it (sysdig's -C, -G, -W, -e).

- `-C MB` (10^6 bytes) and `-e N` cut by size or event count; names get a counter: `f.smc0, f.smc1...`
  With `-W N` the counter wraps: a ring of N files that always holds the latest events.
- `-G S` cuts every S seconds; a name holding strftime(3) codes is formatted with the file's start
  time (`-G 3600 -w 'web-%Y%m%d-%H.smc'`), else it gets the counter. With `-W N`, capture stops
  after N files.
"""
from __future__ import annotations

import time
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Rotation:
    size_bytes: int | None = None  # -C, already in bytes
    seconds: float | None = None  # -G
    files: int | None = None  # -W
    events: int | None = None  # -e

    @property
    def active(self) -> bool:
        return bool(self.size_bytes or self.seconds or self.events)

    @property
    def ring(self) -> bool:
        """-W makes a ring when files are cut by size or count; with -G alone it is a file limit."""
        return self.files is not None and bool(self.size_bytes or self.events)

    def due(self, file_bytes: float, file_events: int, opened_s: float, now_s: float) -> bool:
        return bool(
            (self.size_bytes and file_bytes >= self.size_bytes)
            or (self.events and file_events >= self.events)
            or (self.seconds and now_s - opened_s >= self.seconds)
        )

    def exhausted(self, files_done: int) -> bool:
        """Capture ends: -G with -W N wrote its N files."""
        return self.files is not None and not self.ring and files_done >= self.files

    def file_name(self, base: str, index: int, start_s: float | None = None) -> str:
        if not self.active:
            return base
        name = base
        if self.seconds and "%" in base:
            name = time.strftime(base, time.localtime(time.time() if start_s is None else start_s))
            if not (self.size_bytes or self.events):
                return name
        return f"{name}{index % self.files if self.ring and self.files else index}"
