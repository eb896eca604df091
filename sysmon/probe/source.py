"""LiveSource: drains the probe's ring buffer (or perf buffers) into batches of raw records.

The probe submits without waking the reader (a wakeup costs ~10 us per event on these
machines), so the reader polls on a short timer and drains whatever accumulated. The ring
buffer is read through mmap in one slice per poll (sysmon/probe/ringbuf.py); perf buffers go
through bcc's per-event callback, which only copies bytes. Decoding happens outside, in batches.
"""
from __future__ import annotations

import ctypes
import struct
import time
from collections.abc import Callable, Iterator
from typing import Any

from sysmon.probe.loader import Probe
from sysmon.probe.ringbuf import RingReader, ring_fd_and_size

_TS = struct.Struct("<Q")


class LiveSource:
    def __init__(self, probe: Probe, poll_ms: int = 2) -> None:
        self.probe = probe
        self.poll_ms = poll_ms
        self.lost = 0  # perf buffer records the kernel overwrote (ring buffer drops are in the counters)
        self.callback_errors = 0
        self._batch: list[bytes] = []
        self._stopped = False
        bpf = probe.bpf
        self._poll: Callable[[], None]
        if probe.transport == "perf":
            ncpu = max(1, len(bpf[b"events"]))
            pages = max(1, probe.opts.ringbuf_bytes // 4096 // ncpu)
            pages = 1 << (pages.bit_length() - 1)  # a power of two per CPU
            bpf[b"events"].open_perf_buffer(self._on_perf, page_cnt=pages, lost_cb=self._on_lost, wakeup_events=64)
            self._poll = lambda: self._poll_perf(bpf)
        else:
            self._ring = RingReader(*ring_fd_and_size(bpf[b"events"]))
            self._poll = self._poll_ring
        self.delivered = 0

    def _poll_perf(self, bpf: Any) -> None:
        bpf.perf_buffer_poll(self.poll_ms)
        bpf.perf_buffer_consume()  # with wakeup_events=64, what is left below the threshold

    def _drain_ring(self) -> tuple[bytes, list[int], list[int]]:
        """What the ring holds, after a poll_ms wait if it held nothing."""
        chunk, starts, lengths = self._ring.drain()
        if not starts:
            time.sleep(self.poll_ms / 1000)
        return chunk, starts, lengths

    def _poll_ring(self) -> None:
        chunk, starts, lengths = self._drain_ring()
        self._batch = [chunk[s : s + n] for s, n in zip(starts, lengths)]

    @property
    def packs(self) -> bool:
        """Whether poll_packed() works: the ring buffer does, perf buffers come record by record."""
        return self.probe.transport != "perf"

    def poll_packed(self) -> tuple[bytes, list[int], list[int]]:
        """Like poll(), but the records stay in the ring's bytes: (chunk, starts, lengths)."""
        chunk, starts, lengths = self._drain_ring()
        self.delivered += len(starts)
        return chunk, starts, lengths

    def _on_perf(self, _cpu: int, data: int, size: int) -> None:
        try:
            self._batch.append(ctypes.string_at(data, size))
        except Exception:  # bcc swallows callback exceptions: count them instead
            self.callback_errors += 1

    def _on_lost(self, lost: int) -> None:
        self.lost += lost

    def stop(self) -> None:
        self._stopped = True

    def poll(self) -> list[bytes]:
        """Wait up to poll_ms, then return every record that arrived (possibly none)."""
        self._poll()
        batch, self._batch = self._batch, []
        self.delivered += len(batch)
        if self.probe.transport == "perf" and len(batch) > 1:
            batch.sort(key=lambda r: _TS.unpack_from(r)[0])  # per-CPU buffers: merge by time
        return batch

    def batches(self) -> Iterator[list[bytes]]:
        while not self._stopped:
            yield self.poll()
