"""A replay session: capture files -> Pump -> the same Inspector, filter and sinks as a live run.

Files are read one after another (-r, several or a glob). Each file's state snapshot replaces the
state when its events start, so every file resolves names on its own, and a rotated series reads
as one run (event numbers and the clock carry on). A damaged file is reported and the next one
still replays; a file cut short replays up to the cut, with one warning.
"""
from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable
from typing import Any, TextIO

from sysmon.capture.format import Batch
from sysmon.capture.options import rotation_from_args, writer_from_args
from sysmon.capture.pump import Pump
from sysmon.capture.reader import EventReplaySource, ReplaySource, expand_inputs, open_source
from sysmon.capture.writer import CaptureSink
from sysmon.errors import CaptureError, SysmonError
from sysmon.events.decode import Decoder
from sysmon.scap.record import Retyper, ScapRecords
from sysmon.session import Pipeline
from sysmon.state.state import State
from sysmon.summary import format_summary

PROGRESS_DELAY_S = 1.0  # show a progress bar only for replays that last longer than this


class ReplaySession:
    def __init__(self, pipe: Pipeline, args: argparse.Namespace, out: TextIO,
                 report: Callable[[str], None]) -> None:
        self.pipe = pipe
        self.args = args
        self.out = out
        self.report = report  # one line for stderr (warnings, errors of files that are skipped)
        self.paths = expand_inputs(args.readfile)
        rotation_from_args(args)  # option errors before any reading
        self.state = State()
        self.inspector = pipe.inspector(self.state, args)
        self.decoder = Decoder(pipe.schema, wall_offset_ns=0, typed=Retyper(pipe.schema))
        self.writer: CaptureSink | None = None
        self.pump: Pump | None = None
        self.writer_offset = 0  # clock offset of the -w output: the first file's

    def run(self) -> int:
        failures: list[SysmonError] = []
        progress = _progress(self.paths)
        try:
            for path in self.paths:
                try:
                    self._replay(open_source(path), progress)
                except CaptureError as e:
                    failures.append(e)
                    if len(self.paths) > 1:
                        self.report(e.render())
                if self.pump is not None and self.pump.done:
                    break
        finally:
            if progress is not None:
                progress.close()
            self._finish()
        if failures:
            if len(self.paths) == 1:
                raise failures[0]
            raise CaptureError(f"{len(failures)} of {len(self.paths)} capture files could not be read whole")
        return 0

    def _replay(self, src: ReplaySource | EventReplaySource, progress: Any) -> None:
        _replace_state(self.state, src.state)
        if isinstance(src, ReplaySource):
            self._replay_batches(src, progress)
        else:
            self._replay_events(src, progress)
        if src.dropped:
            self.report(f"sysmon: warning: {src.dropped} events were dropped while {src.path} was written "
                        "(the disk fell behind)")
        if src.warning:
            self.report(f"sysmon: warning: {src.warning}")

    def _replay_batches(self, src: ReplaySource, progress: Any) -> None:
        self.decoder.wall_offset_ns = src.wall_offset_ns
        pump = self._pump(src)
        shift = src.wall_offset_ns - self.writer_offset if self.writer is not None else 0
        done_bytes = 0
        for batch in src.batches():
            if shift:
                batch = _shift(batch, shift)
            pump.feed(batch)
            if progress is not None:
                progress.update(src.bytes_read - done_bytes)
                done_bytes = src.bytes_read
            if pump.done:
                break

    def _replay_events(self, src: EventReplaySource, progress: Any) -> None:
        if self.args.writefile:  # written as records (sysmon.scap.record); every event must reach the state
            records = ScapRecords(src)
            self._pump(records).passthrough = False
            self._replay_batches(records, progress)
            return
        self.inspector.run(src.events(), lambda: src.state_only)
        if self.pump is None:
            self.pump = Pump(self.decoder, self.inspector)  # for `done` (-n, -M) across files

    def _pump(self, src: ReplaySource) -> Pump:
        """The pump, made with the first file: a -w output takes that file's clock offset."""
        if self.pump is None:
            self.writer_offset = src.wall_offset_ns
            if self.args.writefile:
                inspector = self.inspector

                def state() -> State:
                    inspector.parser.flush()
                    return inspector.state

                self.writer = writer_from_args(self.args, self.pipe.filter_text, src.wall_offset_ns, state)
            self.pump = Pump(self.decoder, self.inspector, self.writer, self.pipe.schema.wanted_nrs(self.pipe.kernel_types),
                             self.pipe.plan)
        return self.pump

    def _finish(self) -> None:
        self.pipe.finish()
        if self.writer is not None:
            self.writer.close()
        self.out.flush()
        if self.args.summary:
            self.out.write(format_summary(self.inspector.stats))
            self.out.flush()


def _replace_state(state: State, new: State) -> None:
    """Take over `new`'s contents in place: the parser and the fields hold on to `state`."""
    for name in State.__slots__:
        setattr(state, name, getattr(new, name))


def _shift(batch: Batch, delta_ns: int) -> Batch:
    """Records re-based to another clock offset (files of different captures written into one)."""
    records = [((int.from_bytes(r[:8], "little") + delta_ns) & 0xFFFFFFFFFFFFFFFF).to_bytes(8, "little") + r[8:]
               for r in batch.records]
    return Batch(records, batch.first_num, batch.nums, batch.flags)


def _progress(paths: list[str]) -> Any:
    """A byte progress bar on stderr, only on a terminal and only once the replay takes a while."""
    if not sys.stderr.isatty():
        return None
    from tqdm import tqdm

    total = sum(os.path.getsize(p) for p in paths)
    return tqdm(total=total, unit="B", unit_scale=True, file=sys.stderr, delay=PROGRESS_DELAY_S, leave=False,
                desc="replay")
