"""A live capture session: probe -> LiveSource -> decode -> Inspector -> output, until told to stop."""
from __future__ import annotations

import argparse
import sys
import time
from typing import TextIO

from sysmon.errors import SetupError
from sysmon.events.decode import Decoder
from sysmon.probe.loader import Probe, ProbeOptions
from sysmon.probe.source import LiveSource
from sysmon.state import procfs
from sysmon.session import Pipeline
from sysmon.summary import format_stats, format_summary


class LiveSession:
    def __init__(self, pipe: Pipeline, args: argparse.Namespace, out: TextIO, *, self_pid: int) -> None:
        self.schema = pipe.schema
        self.kernel_types = pipe.kernel_types
        self.probe_opts = ProbeOptions(transport=args.transport, ringbuf_bytes=args.buffer_size,
                                       snaplen=args.snaplen, self_pid=self_pid)
        self.probe_opts.validate()
        self.inspector = pipe.inspector(procfs.snapshot(exclude_pids=(self_pid,)), args)
        self.out = out
        self.verbose = args.verbose
        self.summary = args.summary
        self._stop = False
        self.source: LiveSource | None = None

    def stop(self) -> None:
        self._stop = True

    def run(self) -> int:
        probe = Probe(self.schema.capture_specs(), self.probe_opts)
        try:
            if self.kernel_types is not None:
                probe.select(self.schema.nrs_of(self.kernel_types) | self.schema.state_nrs())
            self.source = LiveSource(probe)
            if self.verbose:
                sys.stderr.write(f"sysmon: capturing ({self.probe_opts.transport}, "
                                 f"{self.probe_opts.ringbuf_bytes >> 10} KiB)\n")
                sys.stderr.flush()
            self._loop(probe, self.source)
        finally:
            self._finish(probe)
            probe.close()
        return 0

    def _loop(self, probe: Probe, source: LiveSource) -> None:
        decoder = Decoder(self.schema)
        inspector = self.inspector
        deadline = time.monotonic() + inspector.max_ns / 1e9 if inspector.max_ns else None
        checked = False
        try:
            while not self._stop and not inspector.done:
                batch = source.poll()
                if not checked and batch:
                    _check_struct_reads(probe)
                    checked = True
                for rec in batch:
                    inspector.process(decoder.decode(rec))
                    if inspector.done:
                        break
                if deadline is not None and time.monotonic() > deadline:
                    break
        except KeyboardInterrupt:
            pass

    def _finish(self, probe: Probe) -> None:
        try:
            self.out.flush()
        except BrokenPipeError:
            raise
        if self.summary:
            self.out.write(format_summary(self.inspector.stats))
            self.out.flush()
        if self.verbose:
            lost = self.source.lost if self.source else 0
            sys.stderr.write(format_stats(self.inspector.stats, probe.counters(), lost))


def _check_struct_reads(probe: Probe) -> None:
    if probe.counters()["tgid_mismatch"]:
        raise SetupError(
            "the probe reads kernel structures wrong: its kernel types do not match the running kernel",
            hints=["remove BCC_KERNEL_SOURCE and stale /lib/modules/*/build links; sysmon uses the BTF of "
                   "/sys/kernel/btf/vmlinux by default"],
        )
