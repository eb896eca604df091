"""The capture file format (docs/capture-format.md): magic, framed msgpack records, the header.

A file is MAGIC followed by a msgpack stream of frames `[kind, payload, crc32(payload)]`:
`H` header (plain msgpack map), then `S` state snapshot, `B` event batches, `C` container records
(containers and cgroup ids learned since the snapshot or the last `C`), `D` drop notices and an
`E` trailer. S/B/C/D/E payloads are msgpack, zstd-compressed when the header says so. Event batches
hold the probe's raw records unchanged; the header's `layout` says how to read them.
"""
from __future__ import annotations

import os
import socket
import struct
import sys
import time
import zlib
from array import array
from dataclasses import dataclass
from typing import Any

import msgpack

from sysmon.errors import CaptureError
from sysmon.events.decode import BLOB_HEADER, RECORD_HEADER
from sysmon.events.model import Event
from sysmon.events.schema import PROCEXIT_NR, SCHEMA_VERSION

MAGIC = b"\x89SMC\r\n\x1a\n"  # PNG-style: catches text-mode and 7-bit transfers
CAPTURE_VERSION = 1

HEADER, SNAPSHOT, BATCH, PACKED, DROPS, END, CONTAINERS = "H", "S", "B", "P", "D", "E", "C"
KINDS = frozenset({HEADER, SNAPSHOT, BATCH, PACKED, DROPS, END, CONTAINERS})

STATE_ONLY = 1  # event flag: written only because it changes state; replay applies it, never shows it

# The record layout of probe/sysmon.h, named field by field so that a later sysmon can read records
# of an older layout (see migrate.py). `args` is 6 consecutive u64.
RECORD_FIELDS = ("ts_ns", "arg0", "arg1", "arg2", "arg3", "arg4", "arg5", "ret", "tid", "pid", "ppid", "uid",
                 "gid", "nr", "dir", "nblobs", "cpu", "size", "flags", "comm", "cgroup_id")
BLOB_FIELDS = ("len", "kind", "slot")
ARCH = "x86_64"


def current_layout() -> dict[str, Any]:
    return {
        "record": {"struct": RECORD_HEADER.format, "fields": list(RECORD_FIELDS)},
        "blob": {"struct": BLOB_HEADER.format, "fields": list(BLOB_FIELDS)},
        "arch": ARCH,
        "procexit_nr": PROCEXIT_NR,
        "clock": "monotonic",
    }


@dataclass(slots=True)
class Batch:
    """Raw probe records in capture order. Event numbers are `first_num + i` unless `nums` is given;
    `flags` (per record, STATE_ONLY) only in filtered captures."""

    records: list[bytes]
    first_num: int = 1
    nums: list[int] | None = None
    flags: list[int] | None = None

    def num(self, i: int) -> int:
        return self.nums[i] if self.nums is not None else self.first_num + i


@dataclass(slots=True)
class PackedBatch:
    """Records as the ring buffer held them: one bytes object, with where each record's data starts
    and how long it is (sysmon/probe/ringbuf.py). Numbered from `first_num`. Written as one `P`
    frame without ever becoming one object per record: the unfiltered -w path."""

    data: bytes
    starts: list[int]
    lengths: list[int]
    first_num: int = 1

    def unpack(self) -> Batch:
        data = self.data
        return Batch([data[s : s + n] for s, n in zip(self.starts, self.lengths)], self.first_num)


def sysmon_version() -> str:
    try:
        from importlib.metadata import version

        return version("sysmon")
    except Exception:  # not installed as a distribution (running from a checkout)
        return "0+unknown"


def make_header(*, wall_offset_ns: int, snaplen: int, filter_text: str, compression: str | None,
                seq: int = 0) -> dict[str, Any]:
    """Everything a replay needs besides the records: clocks, layout, where and how it was captured."""
    now = time.time_ns()
    uname = os.uname()
    return {
        "version": CAPTURE_VERSION,
        "schema": SCHEMA_VERSION,
        "sysmon": sysmon_version(),
        "hostname": socket.gethostname(),
        "kernel": uname.release,
        "machine": uname.machine,
        "wall_offset_ns": wall_offset_ns,  # add to a record's ts_ns (CLOCK_MONOTONIC) for the epoch time
        "boot_ns": now - time.clock_gettime_ns(time.CLOCK_BOOTTIME),  # wall time of boot
        "started_ns": now,
        "snaplen": snaplen,
        "filter": filter_text,
        "compression": compression,
        "seq": seq,  # index of this file in a rotated series
        "layout": current_layout(),
    }


class Framer:
    """Turns bodies into frames, compressing S/B/D/E payloads with zstd when asked."""

    def __init__(self, compression: str | None) -> None:
        self.compression = compression
        self._zc: Any = None
        if compression == "zstd":
            import zstandard

            self._zc = zstandard.ZstdCompressor(level=3)
        elif compression is not None:
            raise CaptureError(f"unknown compression {compression!r}")

    def frame(self, kind: str, body: Any) -> bytes:
        payload = msgpack.packb(body, use_bin_type=True)
        if self._zc is not None and kind != HEADER:
            payload = self._zc.compress(payload)
        frame: bytes = msgpack.packb([kind, payload, frame_crc(kind, payload)], use_bin_type=True)
        return frame

    def batch(self, batch: Batch) -> bytes:
        return self.frame(BATCH, [batch.first_num, batch.records, batch.nums, batch.flags])

    def packed(self, batch: PackedBatch) -> bytes:
        return self.frame(PACKED, [batch.first_num, batch.data, _u32le(batch.starts), _u32le(batch.lengths)])


def _u32le(values: list[int]) -> bytes:
    a = array("I", values)
    if sys.byteorder == "big":
        a.byteswap()
    return a.tobytes()


def _from_u32le(raw: bytes) -> list[int]:
    a = array("I")
    a.frombytes(raw)
    if sys.byteorder == "big":
        a.byteswap()
    return a.tolist()


def unpack_packed(body: Any) -> PackedBatch:
    """A `P` frame's body; ValueError if it does not hold together."""
    first_num, data, starts_raw, lengths_raw = body
    starts, lengths = _from_u32le(starts_raw), _from_u32le(lengths_raw)
    if not isinstance(first_num, int) or len(starts) != len(lengths) or (
            starts and starts[-1] + lengths[-1] > len(data)):
        raise ValueError("inconsistent packed batch")
    return PackedBatch(data, starts, lengths, first_num)


def frame_crc(kind: str, payload: bytes) -> int:
    """CRC-32 of the kind and the payload: a flipped kind must not pass for a record to skip."""
    return zlib.crc32(payload, zlib.crc32(kind.encode()))


def encode_record(evt: Event, wall_offset_ns: int) -> bytes:
    """An Event back into the probe's record layout (for events that did not come from the probe,
    e.g. another capture format; decode(encode(e)) gives e back)."""
    blobs = b"".join(BLOB_HEADER.pack(len(data), kind, slot) + data for kind, slot, data in evt.blobs)
    size = RECORD_HEADER.size + len(blobs)
    res = evt.res if evt.res is not None else 0
    head = RECORD_HEADER.pack(
        evt.ts_ns - wall_offset_ns, *evt.raw_args, res, evt.tid, evt.pid, evt.ppid, evt.uid, evt.gid, evt.nr,
        evt.dir, len(evt.blobs), evt.cpu, min(size, 0xFFFF), 0, evt.comm.encode()[:16], evt.cgroup_id,
    )
    return head + blobs


NR_OFFSET = struct.calcsize("<Q6QqIIIII")  # where the u16 syscall number sits in a record
CGROUP_OFFSET = struct.calcsize("<Q6QqIIIIIHBBHHI16s")  # where the u64 cgroup id sits


def cgroup_ids(batch: Batch | PackedBatch) -> set[int]:
    """The distinct cgroup ids of a batch's records. A packed batch holds the ring's bytes, where every
    record starts 8-byte aligned: it is read as u64 words, one index per record."""
    at = CGROUP_OFFSET
    if isinstance(batch, PackedBatch):
        words = memoryview(batch.data)[: len(batch.data) & ~7].cast("Q")
        try:
            return {words[(s + at) >> 3] for s in batch.starts}
        finally:
            words.release()
    return {int.from_bytes(k, "little") for k in {r[at : at + 8] for r in batch.records}}
