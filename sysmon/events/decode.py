"""Probe record bytes -> Event. Layout: probe/sysmon.h (struct sysmon_hdr, struct sysmon_blob_hdr)."""
from __future__ import annotations

import struct
import time

from sysmon.events.model import EXIT, Event
from sysmon.events.schema import Schema

RECORD_HEADER = struct.Struct("<Q6QqIIIIIHBBHHI16s")
BLOB_HEADER = struct.Struct("<HBB")
F_NO_ENTER = 1


def monotonic_to_wall_offset_ns() -> int:
    """Add to a CLOCK_MONOTONIC timestamp (bpf_ktime_get_ns) to get ns since the epoch."""
    return time.time_ns() - time.monotonic_ns()


class Decoder:
    """Stateless apart from the clock offset and the event counter that numbers events."""

    __slots__ = ("schema", "wall_offset_ns", "count", "_by_nr")

    def __init__(self, schema: Schema, wall_offset_ns: int | None = None) -> None:
        self.schema = schema
        self.wall_offset_ns = monotonic_to_wall_offset_ns() if wall_offset_ns is None else wall_offset_ns
        self.count = 0
        self._by_nr = schema.by_nr_map

    def decode(self, rec: bytes) -> Event:
        (ts, a0, a1, a2, a3, a4, a5, ret, tid, pid, ppid, uid, gid, nr, direction, nblobs, cpu, _size, _flags,
         comm) = RECORD_HEADER.unpack_from(rec)
        blobs: tuple[tuple[int, int, bytes], ...] = ()
        if nblobs:
            out = []
            off = RECORD_HEADER.size
            for _ in range(nblobs):
                length, kind, slot = BLOB_HEADER.unpack_from(rec, off)
                off += BLOB_HEADER.size
                out.append((kind, slot, rec[off : off + length]))
                off += length
            blobs = tuple(out)
        etype = self._by_nr.get(nr) or self.schema.by_nr(nr)
        self.count += 1
        return Event(
            num=self.count,
            ts_ns=ts + self.wall_offset_ns,
            cpu=cpu,
            tid=tid,
            pid=pid,
            ppid=ppid,
            uid=uid,
            gid=gid,
            comm=comm.split(b"\0", 1)[0].decode("utf-8", "replace"),
            nr=nr,
            dir=direction,
            res=ret if direction == EXIT else (ret if etype.name == "procexit" else None),
            raw_args=(a0, a1, a2, a3, a4, a5),
            blobs=blobs,
            etype=etype,
        )
