"""The pipeline a RunConfig asks for, built once: filter and kernel plan, sinks, chisels, the
Inspector over a state, the capture writer, and the Feed that routes a source's batches.

    pipe = Pipeline.build(cfg, out)       # filter compiled, sinks and chisels made
    pipe.start(state)                     # the Inspector over the source's first state
    writer = pipe.open_writer(cfg.capture, wall_offset_ns)
    feed = pipe.feed(decoder, writer)     # then feed.feed(batch) / feed_live(records), until feed.done
    pipe.finish()

Live runs (live.py), replays (replay.py), the daemon and `sysmon seccomp` all build it here, so a
replay prints what the live run printed. An output sink is one class with `emit(evt, state)` (and
optionally `flush()`) and its line in SINKS, which makes it `--sink NAME`.
"""
from __future__ import annotations

import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, TextIO

from sysmon.capture.feed import Feed
from sysmon.capture.format import Batch, PackedBatch, cgroup_ids, make_header
from sysmon.capture.rotate import Rotation
from sysmon.capture.writer import CaptureSink, CaptureWriter
from sysmon.chisel.api import Chisel, RunOptions
from sysmon.chisel.runner import ChiselRunner, load_chisels, start
from sysmon.config import CaptureConfig, OutputConfig, RunConfig
from sysmon.engine import Inspector, Sink, sink_flushes
from sysmon.errors import SysmonError
from sysmon.events.decode import Decoder
from sysmon.events.schema import Schema
from sysmon.fields.catalogue import Catalogue
from sysmon.fields.clock import Clock
from sysmon.filter import KernelPlan, Predicate, compile_filter
from sysmon.output.format import format_text
from sysmon.output.sinks import JsonSink, TextSink
from sysmon.scap.writer import ScapWriter
from sysmon.state.containers import ContainerTable, Delta
from sysmon.state.state import State
from sysmon.summary import format_summary


@dataclass(slots=True)
class Pipeline:
    config: RunConfig
    schema: Schema
    clock: Clock
    catalogue: Catalogue
    predicate: Predicate | None = None
    plan: KernelPlan = field(default_factory=KernelPlan)  # types, pids, tids, comms, uids the filter pins
    kernel_types: frozenset[str] | None = None  # event types the probe must deliver (None = all)
    snaplen: int = 80  # bytes of buffers captured: -s, or more if a chisel asks
    sinks: list[Sink] = field(default_factory=list)
    chisels: ChiselRunner | None = None
    inspector: Inspector | None = None

    @classmethod
    def build(cls, cfg: RunConfig, out: TextIO, err: TextIO | None = None,
              chisels: Sequence[tuple[Chisel, str]] | None = None) -> Pipeline:
        """Events are printed on `out`, chisel errors on `err` (stderr); `chisels`: chisel instances with
        their origin, instead of loading cfg.chisels by name."""
        schema = Schema.default()
        clock = Clock()
        catalogue = Catalogue.default(clock)
        pipe = cls(cfg, schema, clock, catalogue, snaplen=cfg.probe.snaplen)
        pipe.set_filter(cfg.filter)
        if chisels is not None or cfg.chisels:  # chisels print instead of the event formatter, as in sysdig
            pipe._add_chisels(out, err or sys.stderr, chisels)
        elif not cfg.output.quiet:
            pipe.sinks.append(_output_sink(cfg.output, catalogue, out))
        return pipe

    def set_filter(self, text: str) -> None:
        """(Re)compile the user's filter; a running Inspector takes it from its next event."""
        self.predicate, self.plan = compile_filter(text, self.catalogue)
        self.kernel_types = self.plan.types
        if self.inspector is not None:
            self.inspector.predicate = self.predicate

    def reconfigure(self, cfg: RunConfig) -> None:
        """A new configuration for a running pipeline (the daemon's reload): its filter and snaplen."""
        self.config = cfg
        self.snaplen = cfg.probe.snaplen
        self.set_filter(cfg.filter)

    def _add_chisels(self, out: TextIO, err: TextIO, chisels: Sequence[tuple[Chisel, str]] | None) -> None:
        cfg = self.config
        options = RunOptions(is_live=cfg.live, is_tty=out.isatty(), output_format="json" if cfg.output.sink == "json" else "text",
                             bufmode=cfg.output.bufmode, user_filter=cfg.filter, snaplen=cfg.probe.snaplen)
        found = load_chisels(cfg.chisels) if chisels is None else chisels
        runner = start(found, self.catalogue, out, err, options)
        self.chisels = runner
        self.sinks.append(runner)
        wanted = runner.kernel_types  # the user's filter AND (any chisel's filter)
        if runner.needs_every_event:  # exporting the events around matches: every event, decoded
            self.kernel_types = None
        elif wanted is not None:
            self.kernel_types = wanted if self.kernel_types is None else self.kernel_types & wanted
        self.snaplen = max(self.snaplen, runner.snaplen)

    @property
    def wanted_nrs(self) -> frozenset[int] | None:
        """Syscall numbers the probe must deliver and the feed decode (None: all)."""
        return self.schema.wanted_nrs(self.kernel_types)

    def start(self, state: State) -> Inspector:
        """The Inspector over `state` (the source's snapshot), with the run's limits."""
        cfg = self.config
        insp = Inspector(state, self.clock, self.predicate, self.sinks, max_events=cfg.max_events,
                         max_seconds=cfg.max_seconds, summary=cfg.summary,
                         tickers=[self.chisels.tick] if self.chisels else [])
        if self.chisels is not None:
            self.chisels.bind(state, lambda: setattr(insp, "done", True))
        self.inspector = insp
        return insp

    def snapshot_state(self) -> State:
        """The state a new capture file starts from."""
        assert self.inspector is not None
        return self.inspector.snapshot_state()

    def open_writer(self, capture: CaptureConfig, wall_offset_ns: int, **writer_options: Any) -> CaptureSink:
        """A CaptureWriter, or a ScapWriter for sysdig's format (a .scap name or --format scap).
        `writer_options`: the daemon's (retention space, keep going on a full disk, its hint)."""
        compression = capture.compression
        if capture.scap:
            return ScapWriter(capture.path, self.snapshot_state, wall_offset_ns, compress=compression is not None,
                              schema=self.schema)
        snaplen, filter_text, shard = self.snaplen, self.config.filter, self.config.probe.shard

        def header(seq: int) -> dict[str, object]:
            return make_header(wall_offset_ns=wall_offset_ns, snaplen=snaplen, filter_text=filter_text,
                               compression=compression, seq=seq, shard=shard)

        rotation = Rotation(size_bytes=capture.size_bytes, seconds=capture.seconds, files=capture.files,
                            events=capture.events)
        assert self.inspector is not None
        state = self.inspector.state  # the same object all along (a replay swaps its contents in place)
        return CaptureWriter(capture.path, header, self.snapshot_state, rotation=rotation, compression=compression,
                             containers=container_news(lambda: state.containers), **writer_options)

    def feed(self, decoder: Decoder, writer: CaptureSink | None = None, *, screen: bool = False) -> Feed:
        """The Feed of batches into the Inspector (and `writer`); `screen`: skip redundant enters (screen.py)."""
        assert self.inspector is not None
        return Feed(decoder, self.inspector, writer, self.wanted_nrs, self.plan if screen else None)

    def finish(self, out: TextIO | None = None) -> None:
        """The source is exhausted or stopped: sinks write what they hold, chisels their end-of-capture
        output, then the -S summary on `out`."""
        for flush in sink_flushes(self.sinks):
            flush()
        if self.chisels is not None:
            self.chisels.end()
        if out is None:
            return
        out.flush()
        if self.config.summary and self.inspector is not None:
            out.write(format_summary(self.inspector.stats))
            out.flush()


def container_news(table: Callable[[], ContainerTable]) -> Callable[[Batch | PackedBatch | None], Delta]:
    """The writer's `containers` hook: the batch's cgroup ids resolved, then the table's news (`C` records)."""

    def news(batch: Batch | PackedBatch | None) -> Delta:
        containers = table()
        if batch is not None and containers.cgroup_root is not None:
            containers.note_cgroup_ids(cgroup_ids(batch))
        return containers.take_delta()

    return news


def _line_sink(cls: type[TextSink | JsonSink]) -> Callable[[OutputConfig, Catalogue, TextIO], Sink]:
    def make(cfg: OutputConfig, catalogue: Catalogue, out: TextIO) -> Sink:
        return cls(format_text(cfg.format), catalogue, out, time_type=cfg.time_type, bufmode=cfg.bufmode,
                   max_buf=None if cfg.full_buffers else 80, unbuffered=cfg.unbuffered)
    return make


# The event printers, by name (--sink NAME; -j is "json"): a new output is a Sink class and a line here.
SINKS: dict[str, Callable[[OutputConfig, Catalogue, TextIO], Sink]] = {
    "text": _line_sink(TextSink),
    "json": _line_sink(JsonSink),
}


def _output_sink(cfg: OutputConfig, catalogue: Catalogue, out: TextIO) -> Sink:
    make = SINKS.get(cfg.sink)
    if make is None:
        raise SysmonError(f"unknown sink {cfg.sink!r}", hints=[f"use one of: {', '.join(SINKS)}"])
    return make(cfg, catalogue, out)
