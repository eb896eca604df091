"""Read a BPF ring buffer through mmap, without a per-event callback.

Layout (kernel/bpf/ringbuf.c): page 0 holds the consumer position (read-write for us), page 1 the
producer position, then the data area mapped twice in a row, so a record that wraps is contiguous.
Each record: u32 length (bit 31 BUSY: not committed yet; bit 30 DISCARD), u32 page offset, then
the data, the whole padded to 8 bytes.

`drain()` copies everything committed in one slice and returns it with the offsets of the records
inside it: one bytes object per poll instead of one ctypes callback and one object per event
(measured: the callback path caps a Python consumer at ~3-4M events/s; this walk does ~10M/s).
Positions are read and written as single 8-byte accesses through memoryview casts: a torn write of
the consumer position makes the kernel see a full ring.
"""
from __future__ import annotations

import mmap

BUSY = 1 << 31
DISCARD = 1 << 30
HDR = 8


class RingReader:
    def __init__(self, map_fd: int, size: int) -> None:
        page = mmap.PAGESIZE
        self.size = size
        self.mask = size - 1
        self._cons_map = mmap.mmap(map_fd, page, mmap.MAP_SHARED, mmap.PROT_READ | mmap.PROT_WRITE, offset=0)
        self._data_map = mmap.mmap(map_fd, page + 2 * size, mmap.MAP_SHARED, mmap.PROT_READ, offset=page)
        self._cons = memoryview(self._cons_map).cast("Q")
        view = memoryview(self._data_map)
        self._prod = view[:8].cast("Q")
        self._data = view[page:]
        self._words = self._data.cast("I")

    def drain(self, limit: int = 8 << 20) -> tuple[bytes, list[int], list[int]]:
        """Committed records since the last call: (chunk, starts, lengths) of each record's data."""
        cons = self._cons[0]
        prod = self._prod[0]
        if prod == cons:
            return b"", [], []
        words = self._words
        mask = self.mask
        pos = cons
        end = min(prod, cons + limit)
        starts: list[int] = []
        lengths: list[int] = []
        while pos < end:
            hdr = words[(pos & mask) >> 2]
            if hdr & BUSY:
                break
            length = hdr & 0x3FFFFFFF
            if not hdr & DISCARD:
                starts.append(pos - cons + HDR)
                lengths.append(length)
            pos += (length + HDR + 7) & ~7
        if pos == cons:
            return b"", [], []
        begin = cons & mask
        chunk = self._data[begin : begin + (pos - cons)].tobytes()
        self._cons[0] = pos
        return chunk, starts, lengths

    def close(self) -> None:
        for view in (self._words, self._data, self._prod, self._cons):
            view.release()
        self._data_map.close()
        self._cons_map.close()


def ring_fd_and_size(table: object) -> tuple[int, int]:
    """The map fd and data size of a bcc RingBuf table."""
    return int(table.map_fd), int(table.max_entries)  # type: ignore[attr-defined]
