"""A live capture session: probe -> LiveSource -> decode -> Inspector -> output, until told to stop."""
from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from typing import TextIO

from sysmon.capture.format import Batch, cgroup_ids
from sysmon.capture.options import rotation_from_args, writer_from_args
from sysmon.capture.pump import Pump
from sysmon.capture.writer import CaptureWriter
from sysmon.errors import SetupError
from sysmon.events.decode import Decoder
from sysmon.probe.loader import Probe, ProbeOptions, describe_probe
from sysmon.probe.source import LiveSource
from sysmon.state import procfs
from sysmon.state.containers import ContainerTable, cgroup2_mount
from sysmon.state.runtime import DOCKER_SOCKET, PODMAN_SOCKET, Runtimes, RuntimeSockets
from sysmon.state.state import State
from sysmon.session import Pipeline
from sysmon.summary import format_stats, format_summary


class LiveSession:
    def __init__(self, pipe: Pipeline, args: argparse.Namespace, out: TextIO, *, self_pid: int,
                 on_ready: Callable[[], None] | None = None) -> None:
        """`on_ready`: called once the probe is attached and a -w file started (e.g. to start a workload)."""
        self.on_ready = on_ready
        self.schema = pipe.schema
        self.kernel_types = pipe.kernel_types
        self.probe_opts = ProbeOptions(transport=args.transport, ringbuf_bytes=args.buffer_size,
                                       snaplen=args.snaplen, self_pid=self_pid)
        self.probe_opts.validate()
        self.inspector = pipe.inspector(procfs.snapshot(exclude_pids=(self_pid,)), args)
        self.inspector.state.containers.go_live(cgroup2_mount())
        self.runtimes = Runtimes(self.inspector.state.containers, RuntimeSockets(
            getattr(args, "docker_socket", DOCKER_SOCKET) or None, getattr(args, "podman_socket", PODMAN_SOCKET) or None))
        self.out = out
        self.verbose = args.verbose
        self.summary = args.summary
        self.args = args
        self.filter_text = pipe.filter_text
        self.pipe = pipe
        rotation_from_args(args)  # option errors before the probe loads
        self._stop = False
        self.source: LiveSource | None = None
        self.writer: CaptureWriter | None = None

    def stop(self) -> None:
        self._stop = True

    @property
    def stopping(self) -> bool:
        return self._stop

    def run(self) -> int:
        wanted = self.schema.wanted_nrs(self.kernel_types)
        pushdown = wanted is not None and not self.args.no_pushdown
        probe = Probe(self.schema.capture_specs(), self.probe_opts, self.schema.state_nrs(),
                      wanted if pushdown else None, on_compile=self._compiling)
        try:
            plan = self.pipe.plan
            if pushdown:
                probe.pin(pids=plan.pids, tids=plan.tids, comms=plan.comms, uids=plan.uids,
                          cgroups=plan.containers is not None)
            elif plan.containers is not None and not self.args.no_pushdown:
                probe.pin(cgroups=True)
            self.source = LiveSource(probe)
            for warning in probe.warnings:
                sys.stderr.write(f"sysmon: warning: {warning}\n")
            if self.verbose:
                sys.stderr.write(describe_probe(probe))
            sys.stderr.flush()
            self._loop(probe, self.source)
        finally:
            self._finish(probe)
            probe.close()
            if self.source is not None:
                self.source.close()
        return 0

    def _compiling(self) -> None:
        """Nothing usable in the probe cache: say so where someone is waiting (-v says it afterwards)."""
        if sys.stderr.isatty():
            sys.stderr.write("sysmon: compiling the probe for this kernel (once; later starts use the cache)...\n")
            sys.stderr.flush()

    def _loop(self, probe: Probe, source: LiveSource) -> None:
        decoder = Decoder(self.schema)
        wanted = self.schema.wanted_nrs(self.kernel_types)
        inspector = self.inspector
        if self.args.writefile:
            self.writer = writer_from_args(self.args, self.filter_text, decoder.wall_offset_ns, self._current_state)
        pump = Pump(decoder, inspector, self.writer, wanted)
        if self.on_ready is not None:
            self.on_ready()
        deadline = time.monotonic() + inspector.max_ns / 1e9 if inspector.max_ns else None
        checked = False
        step = _packed_step(source, pump) if pump.passthrough and source.packs else _record_step(source, pump)
        selection = None if self.args.no_pushdown else self.pipe.plan.containers
        if selection is not None:  # other containers' cgroups go to the probe as they become known
            step = _denying_step(source, pump, probe, inspector.state.containers, selection)
        try:
            while not self._stop and not pump.done:
                if step() and not checked:
                    _check_struct_reads(probe)
                    checked = True
                if deadline is not None and time.monotonic() > deadline:
                    break
        except KeyboardInterrupt:
            pass

    def _current_state(self) -> State:
        self.inspector.parser.flush()  # removals due before the next event: not part of the next file
        return self.inspector.state

    def _finish(self, probe: Probe) -> None:
        self.runtimes.stop()
        self.inspector.state.containers.stop()
        self.pipe.finish()
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
        if self.writer is not None:
            self.writer.close()
            if self.verbose:
                sys.stderr.write(f"sysmon: wrote {self.writer.written} events to {', '.join(self.writer.files)}; "
                                 f"{self.writer.dropped} dropped (disk too slow)\n")


def _record_step(source: LiveSource, pump: Pump) -> Callable[[], bool]:
    def step() -> bool:
        batch = source.poll()
        pump.feed_live(batch)
        return bool(batch)
    return step


def _denying_step(source: LiveSource, pump: Pump, probe: Probe, table: ContainerTable,
                  selection: frozenset[str]) -> Callable[[], bool]:
    """A container selection pushed down: the records' cgroups are placed, and those holding no
    selected container are handed to the probe, which keeps their tasks' syscalls from then on."""
    def step() -> bool:
        batch = source.poll()
        table.note_cgroup_ids(cgroup_ids(Batch(batch)))
        outside = table.outside(selection)
        if outside:  # before the batch is inspected: the probe drops them while it is
            probe.deny_cgroups(outside)
        pump.feed_live(batch)
        return bool(batch)
    return step


def _packed_step(source: LiveSource, pump: Pump) -> Callable[[], bool]:
    """-w of everything: the records go to the file in the ring's bytes, never split apart."""
    def step() -> bool:
        chunk, starts, lengths = source.poll_packed()
        pump.feed_live_packed(chunk, starts, lengths)
        return bool(starts)
    return step


def _check_struct_reads(probe: Probe) -> None:
    if probe.counters()["tgid_mismatch"]:
        raise SetupError(
            "the probe reads kernel structures wrong: its kernel types do not match the running kernel",
            hints=["remove BCC_KERNEL_SOURCE and stale /lib/modules/*/build links; sysmon uses the BTF of "
                   "/sys/kernel/btf/vmlinux by default"],
        )
