"""LiveSource: drains the probe's ring buffer (or perf buffers) into batches of raw records.

The probe submits without waking the reader (a wakeup costs ~10 us per event on these
machines), so the reader polls on a short timer and drains whatever accumulated. The
callback only copies bytes: all decoding happens outside it, in batches.
"""
from __future__ import annotations

import ctypes
import struct
from collections.abc import Iterator
from typing import Any

from sysmon.probe.loader import Probe

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
        if probe.opts.transport == "perf":
            ncpu = max(1, len(bpf[b"events"]))
            pages = max(1, probe.opts.ringbuf_bytes // 4096 // ncpu)
            pages = 1 << (pages.bit_length() - 1)  # a power of two per CPU
            bpf[b"events"].open_perf_buffer(self._on_perf, page_cnt=pages, lost_cb=self._on_lost, wakeup_events=64)
            self._poll = lambda: (bpf.perf_buffer_poll(self.poll_ms), bpf.perf_buffer_consume())
        else:
            bpf[b"events"].open_ring_buffer(self._on_ring)
            self._poll = lambda: (bpf.ring_buffer_poll(self.poll_ms), bpf.ring_buffer_consume())

    def _on_ring(self, _ctx: Any, data: int, size: int) -> int:
        try:
            self._batch.append(ctypes.string_at(data, size))
        except Exception:  # bcc swallows callback exceptions: count them instead
            self.callback_errors += 1
        return 0

    def _on_perf(self, _cpu: int, data: int, size: int) -> None:
        try:
            self._batch.append(ctypes.string_at(data, size))
        except Exception:
            self.callback_errors += 1

    def _on_lost(self, lost: int) -> None:
        self.lost += lost

    def stop(self) -> None:
        self._stopped = True

    def poll(self) -> list[bytes]:
        """Wait up to poll_ms, then return every record that arrived (possibly none)."""
        self._poll()
        batch, self._batch = self._batch, []
        if self.probe.opts.transport == "perf" and len(batch) > 1:
            batch.sort(key=lambda r: _TS.unpack_from(r)[0])  # per-CPU buffers: merge by time
        return batch

    def batches(self) -> Iterator[list[bytes]]:
        while not self._stopped:
            yield self.poll()
