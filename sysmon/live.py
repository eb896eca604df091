"""A live capture: probe -> LiveSource -> decode -> Pipeline (Feed, Inspector, output), until told to stop."""
from __future__ import annotations

import signal
import sys
import threading
import time
from collections.abc import Callable
from typing import TextIO

from sysmon.capture.feed import Feed
from sysmon.capture.format import Batch, cgroup_ids
from sysmon.capture.writer import CaptureSink
from sysmon.errors import SetupError
from sysmon.events.decode import Decoder
from sysmon.pipeline import Pipeline
from sysmon.probe.loader import Probe, ProbeOptions, describe_probe
from sysmon.probe.source import LiveSource
from sysmon.state import procfs
from sysmon.state.containers import ContainerTable, cgroup2_mount
from sysmon.state.runtime import Runtimes, RuntimeSockets
from sysmon.summary import format_stats


def probe_options(pipe: Pipeline, self_pid: int) -> ProbeOptions:
    cfg = pipe.config.probe
    opts = ProbeOptions(transport=cfg.transport, ringbuf_bytes=cfg.buffer_size, snaplen=pipe.snaplen,
                        self_pid=self_pid, shard=cfg.shard)
    opts.validate()
    return opts


def open_probe(pipe: Pipeline, opts: ProbeOptions, *, pin: bool = True,
               on_compile: Callable[[], None] | None = None) -> Probe:
    """The probe, loaded and attached to the syscalls the pipeline needs (all of them without pushdown),
    with `pin`: delivering only the pids, tids, comms and uids its filter pins, and the cgroups of the
    containers it selects. `on_compile`: called when the probe must be compiled (nothing usable in the cache)."""
    schema = pipe.schema
    pushdown = pipe.config.probe.pushdown
    wanted = pipe.wanted_nrs if pushdown else None
    probe = Probe(schema.capture_specs(), opts, schema.state_nrs(), wanted, on_compile=on_compile)
    plan = pipe.plan
    try:
        if pin and wanted is not None:
            probe.pin(pids=plan.pids, tids=plan.tids, comms=plan.comms, uids=plan.uids,
                      cgroups=plan.containers is not None)
        elif pin and pushdown and plan.containers is not None:
            probe.pin(cgroups=True)
    except BaseException:
        probe.close()
        raise
    return probe


STOP_GRACE_S = 0.4  # after SIGINT/SIGTERM, a batch still being worked on is cut short
STOP_STALL_S = 1.0  # then, detached, the ring's backlog is read until no record has come for this long


class LiveSession:
    def __init__(self, pipe: Pipeline, out: TextIO, *, self_pid: int,
                 on_ready: Callable[[], None] | None = None) -> None:
        """`on_ready`: called once the probe is attached and a -w file started (e.g. to start a workload)."""
        self.pipe = pipe
        self.out = out
        self.on_ready = on_ready
        self.probe_opts = probe_options(pipe, self_pid)
        self.inspector = pipe.start(procfs.snapshot(exclude_pids=(self_pid,)))
        containers = self.inspector.state.containers
        containers.go_live(cgroup2_mount())
        sockets = pipe.config.runtime_sockets
        self.runtimes = Runtimes(containers, RuntimeSockets(*sockets) if sockets else RuntimeSockets())
        self._stop = False
        self._forced = False  # a batch was cut short (force())
        self._looping = False
        self.source: LiveSource | None = None
        self.feed: Feed | None = None
        self.writer: CaptureSink | None = None

    def stop(self) -> None:
        """Stop between batches; called from a signal handler. A batch still being worked on after
        STOP_GRACE_S is cut short (SIGALRM), so a signal always ends the capture loop promptly."""
        if not self._stop and self._looping and threading.current_thread() is threading.main_thread():
            signal.signal(signal.SIGALRM, self._force_stop)
            signal.setitimer(signal.ITIMER_REAL, STOP_GRACE_S)
        self._stop = True

    def _force_stop(self, _signum: int, _frame: object) -> None:
        if self._looping:
            self.force()

    def force(self) -> None:
        """Stop now, within the batch under way (whose rest is counted as lost): from a signal handler."""
        self._forced = True
        raise KeyboardInterrupt

    @property
    def stopping(self) -> bool:
        return self._stop

    def run(self) -> int:
        probe = open_probe(self.pipe, self.probe_opts, on_compile=self._compiling)
        try:
            self.source = LiveSource(probe)
            if self.pipe.config.verbose:  # its first line tells that the probe is attached
                sys.stderr.write(describe_probe(probe))
            for warning in probe.warnings:
                sys.stderr.write(f"sysmon: warning: {warning}\n")
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
        decoder = Decoder(self.pipe.schema)
        capture = self.pipe.config.capture
        if capture is not None:
            self.writer = self.pipe.open_writer(capture, decoder.wall_offset_ns)
        feed = self.feed = self.pipe.feed(decoder, self.writer)
        if self.on_ready is not None:
            self.on_ready()
        max_ns = self.inspector.max_ns
        deadline = time.monotonic() + max_ns / 1e9 if max_ns else None
        checked = False
        step = _packed_step(source, feed) if feed.passthrough and source.packs else _record_step(source, feed)
        selection = self.pipe.plan.containers if self.pipe.config.probe.pushdown else None
        if selection is not None:  # other containers' cgroups go to the probe as they become known
            step = _denying_step(source, feed, probe, self.inspector.state.containers, selection)
        self._looping = True
        try:
            while not self._stop and not feed.done:
                if step() and not checked:
                    _check_struct_reads(probe)
                    checked = True
                if deadline is not None and time.monotonic() > deadline:
                    break
        except KeyboardInterrupt:
            pass
        finally:
            self._looping = False
            signal.setitimer(signal.ITIMER_REAL, 0)
        probe.detach()  # what the kernel sent is all in the ring now, and -v can compare
        if not feed.done:
            _drain(step, lambda: source.delivered + source.lost >= probe.counters()["sent"], STOP_STALL_S)

    def _finish(self, probe: Probe) -> None:
        self.runtimes.stop()
        self.inspector.state.containers.stop()
        self.pipe.finish(self.out)
        verbose = self.pipe.config.verbose
        lost, received = (self.source.lost, self.source.delivered) if self.source else (0, 0)
        counters = probe.counters()
        cut = received - self.feed.fed if self._forced and self.feed is not None else 0
        if verbose:
            sys.stderr.write(format_stats(self.inspector.stats, counters, lost, received))
            if cut > 0:
                sys.stderr.write(f"sysmon: the stop cut a batch short: up to {cut} events received were not "
                                 "processed\n")
        if self.writer is not None:
            self.writer.close()
            if verbose:
                sys.stderr.write(f"sysmon: wrote {self.writer.written} events to {', '.join(self.writer.files)}; "
                                 f"{self.writer.dropped} dropped (disk too slow)\n")
        losses = [(counters["dropped"] + lost, "in the kernel (its buffer was full)"),
                  (self.writer.dropped if self.writer is not None else 0, "by the writer (disk too slow)"),
                  (cut, "cut short by the stop")]
        if not verbose and any(n for n, _ in losses):  # never silent, -v or not
            parts = ", ".join(f"{n} {why}" for n, why in losses if n)
            sys.stderr.write(f"sysmon: warning: events were lost: {parts}; -v shows the counts\n")


def _drain(step: Callable[[], bool], caught_up: Callable[[], bool], stall_s: float) -> None:
    """Stopped (Ctrl-C, SIGTERM, -M) and detached: read what the ring still holds until we have what the
    kernel sent, so -v's counts agree. Detached, the ring only empties, so this ends; it gives up when no
    record has come for `stall_s` (one never committed), and a second Ctrl-C stops it at once."""
    last = time.monotonic()
    try:
        while True:
            if step():
                last = time.monotonic()
            elif caught_up() or time.monotonic() - last > stall_s:
                return
            else:
                time.sleep(0.001)  # a record still being committed
    except KeyboardInterrupt:  # a second Ctrl-C: stop now, `-v` shows what was left unread
        pass


def _record_step(source: LiveSource, feed: Feed) -> Callable[[], bool]:
    def step() -> bool:
        batch = source.poll()
        feed.feed_live(batch)
        return bool(batch)
    return step


def _denying_step(source: LiveSource, feed: Feed, probe: Probe, table: ContainerTable,
                  selection: frozenset[str]) -> Callable[[], bool]:
    """A container selection pushed down: the records' cgroups are placed, and those holding no
    selected container are handed to the probe, which keeps their tasks' syscalls from then on."""
    def step() -> bool:
        batch = source.poll()
        table.note_cgroup_ids(cgroup_ids(Batch(batch)))
        outside = table.outside(selection)
        if outside:  # before the batch is inspected: the probe drops them while it is
            probe.deny_cgroups(outside)
        feed.feed_live(batch)
        return bool(batch)
    return step


def _packed_step(source: LiveSource, feed: Feed) -> Callable[[], bool]:
    """-w of everything: the records go to the file in the ring's bytes, never split apart."""
    def step() -> bool:
        chunk, starts, lengths = source.poll_packed()
        feed.feed_live_packed(chunk, starts, lengths)
        return bool(starts)
    return step


def _check_struct_reads(probe: Probe) -> None:
    if probe.counters()["tgid_mismatch"]:
        raise SetupError(
            "the probe reads kernel structures wrong: its kernel types do not match the running kernel",
            hints=["remove BCC_KERNEL_SOURCE and stale /lib/modules/*/build links; sysmon uses the BTF of "
                   "/sys/kernel/btf/vmlinux by default"],
        )
