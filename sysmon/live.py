"""A live capture session: probe -> LiveSource -> decode -> Inspector -> output, until told to stop."""
from __future__ import annotations

import argparse
import os
import sys
import time
from typing import TextIO

from sysmon.engine import Inspector, Sink
from sysmon.errors import SetupError
from sysmon.events.decode import Decoder
from sysmon.events.schema import Schema
from sysmon.fields.catalogue import Catalogue
from sysmon.fields.clock import Clock
from sysmon.filter import compile_filter
from sysmon.output.sinks import JsonSink, TextSink
from sysmon.probe.loader import Probe, ProbeOptions
from sysmon.probe.source import LiveSource
from sysmon.state import procfs
from sysmon.summary import format_stats, format_summary


class LiveSession:
    def __init__(
        self,
        *,
        schema: Schema,
        inspector: Inspector,
        probe_opts: ProbeOptions,
        kernel_types: frozenset[str] | None,
        out: TextIO,
        verbose: bool,
        summary: bool,
    ) -> None:
        self.schema = schema
        self.inspector = inspector
        self.probe_opts = probe_opts
        self.kernel_types = kernel_types
        self.out = out
        self.verbose = verbose
        self.summary = summary
        self._stop = False
        self.source: LiveSource | None = None

    @staticmethod
    def from_args(args: argparse.Namespace, filter_text: str, out: TextIO) -> LiveSession:
        from sysmon.cli import DEFAULT_FORMAT

        schema = Schema.default()
        clock = Clock()
        catalogue = Catalogue.default(clock)
        predicate, plan = compile_filter(filter_text, catalogue) if filter_text.strip() else (None, None)
        bufmode = args.bufmode or ""
        max_buf = None if args.verbose else 80
        sink: Sink
        if args.json:
            sink = JsonSink(args.format or DEFAULT_FORMAT, catalogue, out, time_type=args.timetype,
                            bufmode=bufmode, max_buf=max_buf)
        else:
            sink = TextSink(args.format or DEFAULT_FORMAT, catalogue, out, time_type=args.timetype,
                            bufmode=bufmode, max_buf=max_buf, unbuffered=args.unbuffered)
        opts = ProbeOptions(transport=args.transport, ringbuf_bytes=args.buffer_size, snaplen=args.snaplen,
                            self_pid=os.getpid())
        opts.validate()
        inspector = Inspector(procfs.snapshot(exclude_pids=(os.getpid(),)), clock, predicate, [sink],
                              max_events=args.numevents, max_seconds=args.max_seconds, summary=args.summary)
        return LiveSession(schema=schema, inspector=inspector, probe_opts=opts, kernel_types=plan, out=out,
                           verbose=args.verbose, summary=args.summary)

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
