"""Read a BPF ring buffer through mmap, without a per-event callback.

Layout (kernel/bpf/ringbuf.c): page 0 holds the consumer position (read-write for us), page 1 the
producer position, then the data area, which the kernel offers mapped twice in a row so that a record
that wraps is contiguous. We map it once (the second copy would count again in our RSS: 64 MiB for
the default ring) and join the two pieces of a slice that wraps.
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
FLAGS = BUSY | DISCARD
LENGTH = DISCARD - 1
HDR = 8
MAX_RECORD = 1 << 16  # sysmon.bpf.c submits at most SCRATCH_SIZE / 2


class RingReader:
    def __init__(self, map_fd: int, size: int) -> None:
        page = mmap.PAGESIZE
        self.size = size
        self.mask = size - 1
        self._cons_map = mmap.mmap(map_fd, page, mmap.MAP_SHARED, mmap.PROT_READ | mmap.PROT_WRITE, offset=0)
        self._data_map = mmap.mmap(map_fd, page + size, mmap.MAP_SHARED, mmap.PROT_READ, offset=page)
        self._cons = memoryview(self._cons_map).cast("Q")
        view = memoryview(self._data_map)
        self._prod = view[:8].cast("Q")
        self._data = view[page:]

    def drain(self, limit: int = 8 << 20) -> tuple[bytes, list[int], list[int]]:
        """Committed records since the last call: (chunk, starts, lengths) of each record's data.

        The chunk is the ring's bytes verbatim (8-byte record headers and padding included), copied
        before the walk so the walk reads a local buffer."""
        cons = self._cons[0]
        avail = self._prod[0] - cons
        if avail <= 0:
            return b"", [], []
        walk_end = min(avail, limit)
        begin = cons & self.mask
        # A record starting before walk_end ends before walk_end + MAX_RECORD (or at the producer).
        end = begin + min(avail, walk_end + MAX_RECORD)
        if end <= self.size:
            chunk = self._data[begin:end].tobytes()
        else:
            chunk = self._data[begin:].tobytes() + self._data[: end - self.size].tobytes()
        words = memoryview(chunk).cast("I")
        starts: list[int] = []
        lengths: list[int] = []
        add_start, add_length = starts.append, lengths.append
        off = 0
        while off < walk_end:
            hdr = words[off >> 2]
            if hdr & FLAGS:
                if hdr & BUSY:
                    break
                off += ((hdr & LENGTH) + HDR + 7) & ~7  # discarded
                continue
            add_start(off + HDR)
            add_length(hdr)
            off += (hdr + HDR + 7) & ~7
        words.release()
        if off == 0:
            return b"", [], []
        self._cons[0] = cons + off
        return (chunk if off == len(chunk) else chunk[:off]), starts, lengths

    def backlog(self) -> int:
        """Bytes written by the kernel and not yet drained (committed or not)."""
        return max(0, self._prod[0] - self._cons[0])

    def close(self) -> None:
        for view in (self._data, self._prod, self._cons):
            view.release()
        self._data_map.close()
        self._cons_map.close()
