"""Probe record bytes -> Event. Layout: events/record.py."""
from __future__ import annotations

import time
from collections.abc import Callable

from sysmon.events.model import BLOB_ETYPE, EXIT, Event
from sysmon.events.record import BLOB_HEADER, RECORD_HEADER
from sysmon.events.schema import PROCEXIT_NR, EventType, Schema

UNTYPED = EventType("<untyped>", "other", frozenset())  # until a `typed` hook names the type

Retyper = Callable[[Event], Event]


def monotonic_to_wall_offset_ns() -> int:
    """Add to a CLOCK_MONOTONIC timestamp (bpf_ktime_get_ns) to get ns since the epoch."""
    return time.time_ns() - time.monotonic_ns()


class Decoder:
    """Stateless apart from the clock offset and the event counter that numbers events.

    Records whose first blob is BLOB_ETYPE (events of another table, e.g. sysdig .scap events written
    with -w) are handed to `typed`, which sets their type; without it they decode as syscall `nr`.
    """

    __slots__ = ("schema", "wall_offset_ns", "count", "typed", "_by_nr", "_comms", "_unpack")

    def __init__(self, schema: Schema, wall_offset_ns: int | None = None, typed: Retyper | None = None) -> None:
        self.schema = schema
        self.typed = typed
        self.wall_offset_ns = monotonic_to_wall_offset_ns() if wall_offset_ns is None else wall_offset_ns
        self.count = 0
        self._by_nr = schema.by_nr_map
        self._comms: dict[bytes, str] = {}
        self._unpack = RECORD_HEADER.unpack_from

    def comm(self, raw: bytes) -> str:
        """A record's 16-byte comm field as text (remembered: a capture holds few names)."""
        comm = self._comms.get(raw)
        if comm is None:
            comm = self._comms[raw] = raw.split(b"\0", 1)[0].decode("utf-8", "replace")
        return comm

    def decode(self, rec: bytes) -> Event:
        v = self._unpack(rec)
        nr, direction, nblobs, comm_raw = v[13], v[14], v[15], v[19]
        blobs: tuple[tuple[int, int, bytes], ...] = ()
        etype: EventType | None = None
        if nblobs:
            out = []
            off = RECORD_HEADER.size
            for _ in range(nblobs):
                length, kind, slot = BLOB_HEADER.unpack_from(rec, off)
                off += BLOB_HEADER.size
                out.append((kind, slot, rec[off : off + length]))
                off += length
            blobs = tuple(out)
            if out[0][0] == BLOB_ETYPE and self.typed is not None:
                etype = UNTYPED
        if etype is None:
            etype = self._by_nr.get(nr) or self.schema.by_nr(nr)
        comm = self._comms.get(comm_raw)
        if comm is None:
            comm = self.comm(comm_raw)
        self.count += 1
        ret = v[7]
        evt = Event(
            v[0] + self.wall_offset_ns, v[16], v[8], v[9], v[10], v[11], v[12], comm, nr, direction,
            ret if direction == EXIT or nr == PROCEXIT_NR else None, v[1:7], blobs, etype, self.count, v[20],
        )
        if etype is UNTYPED:
            return self.typed(evt)  # type: ignore[misc]
        return evt
