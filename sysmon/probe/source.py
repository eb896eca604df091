"""LiveSource: drains the probe's ring buffer (or perf buffers) into batches of raw records.

The probe submits without waking the reader (a wakeup costs ~10 us per event on these
machines), so the reader polls on a short timer and drains whatever accumulated. The ring
buffer is read through mmap in one slice per poll (sysmon/probe/ringbuf.py); perf buffers go
through libbcc's per-record callback, which only copies bytes. Decoding happens outside, in batches.
"""
from __future__ import annotations

import struct
import time

from sysmon.probe.loader import Probe
from sysmon.probe.perfbuf import PerfBuffers
from sysmon.probe.ringbuf import RingReader

_TS = struct.Struct("<Q")
DRAIN_BYTES = 8 << 20  # ring bytes walked per poll when the records go to a file undecoded
# ... and when every record is decoded (~2k records, ~10 ms here): a stop, checked between batches,
# then never waits long enough for its grace period to cut a batch short
DRAIN_BYTES_DECODED = 256 << 10


class LiveSource:
    decoded_limit = DRAIN_BYTES_DECODED  # for callers that poll_packed() records they decode
    def __init__(self, probe: Probe, poll_ms: int = 2) -> None:
        self.probe = probe
        self.poll_ms = poll_ms
        self.lost = 0  # perf buffer records the kernel overwrote (ring buffer drops are in the counters)
        self.delivered = 0  # records taken from the buffers (-v checks it against the kernel's sent count)
        self._batch: list[bytes] = []
        self._perf: PerfBuffers | None = None
        self._ring: RingReader | None = None
        if probe.transport == "perf":
            ncpu = probe.objects.maps["events"][1].max_entries
            self._perf = PerfBuffers(probe.perf_map_fd(), ncpu, probe.opts.ringbuf_bytes, self._on_record,
                                     self._on_lost)
        else:
            self._ring = RingReader(*probe.ring())

    @property
    def packs(self) -> bool:
        """Whether poll_packed() works: the ring buffer does, perf buffers come record by record."""
        return self._ring is not None

    def poll_packed(self, limit: int = DRAIN_BYTES, wait: bool = True) -> tuple[bytes, list[int], list[int]]:
        """What the ring holds (about `limit` bytes at most), the records left in the ring's bytes:
        (chunk, starts, lengths); after a poll_ms wait if it held nothing, unless not `wait` (a caller
        on its own timer, the daemon)."""
        assert self._ring is not None
        chunk, starts, lengths = self._ring.drain(limit)
        if not starts and wait:
            time.sleep(self.poll_ms / 1000)
        self.delivered += len(starts)
        return chunk, starts, lengths

    def backlog(self) -> int:
        """Bytes waiting in the ring after the last poll (the ring buffer only: 0 for the perf buffer)."""
        return self._ring.backlog() if self._ring is not None else 0

    def _on_record(self, record: bytes) -> None:
        self._batch.append(record)

    def _on_lost(self, lost: int) -> None:
        self.lost += lost

    def poll(self) -> list[bytes]:
        """Wait up to poll_ms, then return every record that arrived (possibly none)."""
        if self._perf is None:
            chunk, starts, lengths = self.poll_packed(DRAIN_BYTES_DECODED)
            return [chunk[s : s + n] for s, n in zip(starts, lengths)]
        self._perf.poll(self.poll_ms)
        batch, self._batch = self._batch, []
        self.delivered += len(batch)
        if len(batch) > 1:
            batch.sort(key=lambda r: _TS.unpack_from(r)[0])  # per-CPU buffers: merge by time
        return batch

    def close(self) -> None:
        """Unmap the buffers; after Probe.close() and a last drain (the ring's mapping outlives the probe)."""
        if self._perf is not None:
            self._perf.close()
        if self._ring is not None:
            self._ring.close()
