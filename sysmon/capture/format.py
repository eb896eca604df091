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
import sys
import time
import zlib
from array import array
from dataclasses import dataclass
from typing import Any

import msgpack

from sysmon.errors import CaptureError
from sysmon.events.record import (BLOB_FIELDS, BLOB_HEADER, CGROUP_OFFSET, DIR_OFFSET, NBLOBS_OFFSET, RECORD_FIELDS,
                                  RECORD_HEADER)
from sysmon.events.schema import PROCEXIT_NR, SCHEMA_VERSION

MAGIC = b"\x89SMC\r\n\x1a\n"  # PNG-style: catches text-mode and 7-bit transfers
CAPTURE_VERSION = 1

HEADER, SNAPSHOT, BATCH, PACKED, DROPS, END, CONTAINERS = "H", "S", "B", "P", "D", "E", "C"
KINDS = frozenset({HEADER, SNAPSHOT, BATCH, PACKED, DROPS, END, CONTAINERS})

# The largest payload a frame may have once decompressed: the writer never makes a bigger one (it
# splits batches) and readers refuse one that claims more, so a small crafted file cannot make a
# reader allocate gigabytes. Batches hold one ring drain (8 MiB); snapshots a whole host's state.
MAX_PAYLOAD = 16 << 20
MAX_SNAPSHOT_PAYLOAD = 64 << 20
MAX_BATCH_BYTES = 8 << 20  # record bytes per batch frame (the writer splits larger batches)

STATE_ONLY = 1  # event flag: written only because it changes state; replay applies it, never shows it

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
                seq: int = 0, shard: tuple[int, int] | None = None) -> dict[str, Any]:
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
        **({"shard": list(shard)} if shard else {}),  # --shard I/N: this file holds CPU group I of N
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

    def packed(self, batch: PackedBatch) -> bytes | Frame:
        """Uncompressed, the frame is written from the batch's own data between two short runs of
        msgpack: the bytes `frame()` would give, without its two copies of the records (-w's hot path)."""
        starts, lengths = _u32le(batch.starts), _u32le(batch.lengths)
        if self._zc is not None:
            return self.frame(PACKED, [batch.first_num, batch.data, starts, lengths])
        data = batch.data
        head = b"\x94" + msgpack.packb(batch.first_num) + _bin_header(len(data))  # [first_num, data, starts, lengths]
        tail = _bin_header(len(starts)) + starts + _bin_header(len(lengths)) + lengths
        size = len(head) + len(data) + len(tail)
        crc = zlib.crc32(tail, zlib.crc32(data, zlib.crc32(head, zlib.crc32(PACKED.encode()))))
        outer = b"\x93" + msgpack.packb(PACKED) + _bin_header(size)  # [kind, payload, crc]
        parts = (outer + head, data, tail + msgpack.packb(crc))
        return Frame(parts, len(parts[0]) + len(data) + len(parts[2]))


@dataclass(frozen=True, slots=True)
class Frame:
    """A frame as the buffers it is written from, in order (os.writev); len() is its size in bytes."""
    parts: tuple[bytes, ...]
    size: int

    def __len__(self) -> int:
        return self.size


def _bin_header(n: int) -> bytes:
    """msgpack's bin 8/16/32 header for n bytes (the smallest, as msgpack.packb writes it)."""
    if n < 1 << 8:
        return b"\xc4" + n.to_bytes(1, "big")
    if n < 1 << 16:
        return b"\xc5" + n.to_bytes(2, "big")
    return b"\xc6" + n.to_bytes(4, "big")


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
    if not (isinstance(data, bytes) and isinstance(starts_raw, bytes) and isinstance(lengths_raw, bytes)
            and len(starts_raw) % 4 == 0):
        raise ValueError("packed batch fields of the wrong type")
    starts, lengths = _from_u32le(starts_raw), _from_u32le(lengths_raw)
    if not isinstance(first_num, int) or len(starts) != len(lengths) or any(
            s + n > len(data) for s, n in zip(starts, lengths)):
        raise ValueError("inconsistent packed batch")
    return PackedBatch(data, starts, lengths, first_num)


def payload_limit(kind: str) -> int:
    return MAX_SNAPSHOT_PAYLOAD if kind in (HEADER, SNAPSHOT) else MAX_PAYLOAD


def load_body(kind: str, payload: bytes) -> Any:
    """A frame's msgpack body, bounded in memory: no array or map longer than the payload allows, and
    few containers (a real snapshot has one per ~90 bytes, a batch four), so that 16 MiB of `[]`s
    cannot become gigabytes of lists. ValueError/TypeError on anything malformed."""
    small = kind in (BATCH, PACKED, DROPS, END)
    budget = [8 if small else 64 + len(payload) // 16]

    def count(obj: Any) -> Any:
        budget[0] -= 1
        if budget[0] < 0:
            raise ValueError(f"too many nested values for a {kind!r} record of {len(payload)} bytes")
        return obj

    cap = max(16, len(payload) // 64 if small else len(payload))  # an element takes a byte at least
    return msgpack.unpackb(payload, raw=False, strict_map_key=False, list_hook=count, object_hook=count,
                           max_array_len=cap, max_map_len=cap)


RECORD_MIN = RECORD_HEADER.size


def record_problem(rec: Any) -> str | None:
    """What makes `rec` unreadable as a probe record (`events/decode.py`), or None: every field that
    decoding trusts is checked (size, direction, blob headers within the record)."""
    if not isinstance(rec, bytes) or len(rec) < RECORD_MIN:
        return "a record shorter than its header"
    if rec[DIR_OFFSET] > 1:
        return f"direction {rec[DIR_OFFSET]}"
    off = RECORD_MIN
    end = len(rec)
    for _ in range(rec[NBLOBS_OFFSET]):
        if off + BLOB_HEADER.size > end:
            return "a blob header past the end of its record"
        off += BLOB_HEADER.size + (rec[off] | rec[off + 1] << 8)
    if off > end:
        return "a blob past the end of its record"
    return None


def frame_crc(kind: str, payload: bytes) -> int:
    """CRC-32 of the kind and the payload: a flipped kind must not pass for a record to skip."""
    return zlib.crc32(payload, zlib.crc32(kind.encode()))



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
