"""Per-CPU perf buffers (the transport for kernels without the BPF ring buffer), read with libbcc's
perf reader: one reader per CPU, its fd stored in the probe's perf event array."""
from __future__ import annotations

import ctypes
import struct
from collections.abc import Callable
from typing import Any

from sysmon.errors import ProbeError
from sysmon.probe import bpfsys


class PerfBuffers:
    def __init__(self, map_fd: int, ncpu: int, total_bytes: int,
                 on_record: Callable[[bytes], None], on_lost: Callable[[int], None]) -> None:
        from bcc import libbcc  # noqa: PLC0415 (the C reader; no compiler is involved)

        self._lib: Any = libbcc.lib
        pages = max(1, total_bytes // 4096 // max(1, ncpu))
        pages = 1 << (pages.bit_length() - 1)  # a power of two per CPU

        def raw(_cookie: object, data: int, size: int) -> None:
            on_record(ctypes.string_at(data, size))

        def lost(_cookie: object, count: int) -> None:
            on_lost(count)

        self._callbacks = (libbcc._RAW_CB_TYPE(raw), libbcc._LOST_CB_TYPE(lost))  # kept alive with self
        self._readers = (ctypes.c_void_p * ncpu)()
        for cpu in range(ncpu):
            opts = libbcc.bcc_perf_buffer_opts()
            opts.pid, opts.cpu, opts.wakeup_events = -1, cpu, 64
            reader = self._lib.bpf_open_perf_buffer_opts(*self._callbacks, None, pages, ctypes.byref(opts))
            if not reader:
                self.close()
                raise ProbeError(f"could not open the perf buffer of CPU {cpu}")
            self._readers[cpu] = reader
            bpfsys.map_update(map_fd, struct.pack("<I", cpu), struct.pack("<I", self._lib.perf_reader_fd(reader)))

    def poll(self, timeout_ms: int) -> None:
        self._lib.perf_reader_poll(len(self._readers), self._readers, timeout_ms)
        self._lib.perf_reader_consume(len(self._readers), self._readers)  # below the wakeup threshold

    def close(self) -> None:
        for i, reader in enumerate(self._readers):
            if reader:
                self._lib.perf_reader_free(reader)
                self._readers[i] = None
