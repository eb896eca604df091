"""RingReader on a synthetic ring laid out as the kernel maps a BPF ring buffer (kernel/bpf/ringbuf.c).

A memfd stands in for the map: page 0 the consumer position, page 1 the producer position, then the
data area twice in a row (the kernel maps the same pages twice so a record that wraps is contiguous;
here both copies are written). Records: u32 length with BUSY (bit 31) and DISCARD (bit 30), u32 page
offset, data, padded to 8 bytes.
"""
from __future__ import annotations

import mmap
import os
import struct
from collections.abc import Iterator

import pytest

from sysmon.probe.ringbuf import BUSY, DISCARD, HDR, RingReader

PAGE = mmap.PAGESIZE
SIZE = 2 * PAGE  # data area: a power of two


class FakeRing:
    """The memory behind a ring: the producer side of the kernel, written by the test."""

    def __init__(self) -> None:
        self.fd = os.memfd_create("fake-ringbuf")
        os.ftruncate(self.fd, 2 * PAGE + 2 * SIZE)
        self.mem = mmap.mmap(self.fd, 2 * PAGE + 2 * SIZE)
        self.prod = 0

    def set_positions(self, cons: int, prod: int) -> None:
        struct.pack_into("<Q", self.mem, 0, cons)
        struct.pack_into("<Q", self.mem, PAGE, prod)
        self.prod = prod

    def cons(self) -> int:
        return int(struct.unpack_from("<Q", self.mem, 0)[0])

    def _write(self, pos: int, data: bytes) -> None:
        """At ring position `pos`, in both copies of the data area (wrapping like the kernel's)."""
        for i, b in enumerate(data):
            off = (pos + i) % SIZE
            self.mem[2 * PAGE + off] = b
            self.mem[2 * PAGE + SIZE + off] = b

    def add(self, data: bytes, flags: int = 0) -> int:
        """Reserve and write a record at the producer position; returns where its header is."""
        at = self.prod
        self._write(at, struct.pack("<II", len(data) | flags, 0) + data)
        self.prod = at + ((len(data) + HDR + 7) & ~7)
        struct.pack_into("<Q", self.mem, PAGE, self.prod)
        return at

    def commit(self, at: int) -> None:
        """Clear BUSY on the record at `at` (bpf_ringbuf_submit)."""
        word = self.mem[2 * PAGE + at % SIZE : 2 * PAGE + at % SIZE + 4]
        self._write(at, struct.pack("<I", struct.unpack("<I", word)[0] & ~BUSY))

    def close(self) -> None:
        self.mem.close()
        os.close(self.fd)


@pytest.fixture
def ring() -> Iterator[FakeRing]:
    r = FakeRing()
    yield r
    r.close()


def _records(reader: RingReader) -> list[bytes]:
    chunk, starts, lengths = reader.drain()
    return [chunk[s : s + n] for s, n in zip(starts, lengths)]


def test_committed_records_in_order_and_the_consumer_moves(ring: FakeRing) -> None:
    reader = RingReader(ring.fd, SIZE)
    ring.add(b"first")
    ring.add(b"second record")
    assert _records(reader) == [b"first", b"second record"]
    assert ring.cons() == ring.prod  # everything consumed, padding included
    assert _records(reader) == []
    reader.close()


def test_discarded_records_are_skipped_and_consumed(ring: FakeRing) -> None:
    reader = RingReader(ring.fd, SIZE)
    ring.add(b"kept 1")
    ring.add(b"thrown away", DISCARD)
    ring.add(b"kept 2")
    assert _records(reader) == [b"kept 1", b"kept 2"]
    assert ring.cons() == ring.prod
    reader.close()


def test_a_busy_record_stops_the_walk_until_committed(ring: FakeRing) -> None:
    reader = RingReader(ring.fd, SIZE)
    ring.add(b"done")
    busy = ring.add(b"being written", BUSY)
    ring.add(b"after")  # committed, but behind a busy one: must wait (order is the ring's)
    assert _records(reader) == [b"done"]
    assert ring.cons() == busy
    assert _records(reader) == []
    ring.commit(busy)
    assert _records(reader) == [b"being written", b"after"]
    assert ring.cons() == ring.prod
    reader.close()


def test_wraparound_and_a_record_spanning_the_end(ring: FakeRing) -> None:
    start = 5 * SIZE - 24  # positions only grow: the 5th lap, 24 bytes before the end of the area
    ring.set_positions(start, start)
    reader = RingReader(ring.fd, SIZE)
    ring.add(b"12345678")  # 16 bytes: ends 8 before the end
    spanning = bytes(range(40))  # header at the last 8 bytes, data past the end: read from the copy
    ring.add(spanning)
    ring.add(b"at the start again")
    assert _records(reader) == [b"12345678", spanning, b"at the start again"]
    assert ring.cons() == ring.prod and ring.prod > 5 * SIZE
    reader.close()


def test_a_full_lap_of_records(ring: FakeRing) -> None:
    """More records than the area holds, drained as they come: every one arrives once, in order."""
    reader = RingReader(ring.fd, SIZE)
    got: list[bytes] = []
    sent = [f"record {i:05d}".encode() * (1 + i % 7) for i in range(300)]
    for rec in sent:
        if ring.prod + len(rec) + 2 * HDR - ring.cons() > SIZE:  # the kernel would refuse: drain first
            got += _records(reader)
        ring.add(rec)
    got += _records(reader)
    assert got == sent and ring.prod > 2 * SIZE  # more than two laps
    reader.close()
