"""A replay session: capture files -> Feed -> the same Pipeline (Inspector, filter, sinks) as a live run.

Files are read one after another (-r, several or a glob), except the shards of one --shard run,
which are merged by time (capture/merge.py). Each file's state snapshot replaces the
state when its events start, so every file resolves names on its own, and a rotated series reads
as one run (event numbers and the clock carry on). A damaged file is reported and the next one
still replays; a file cut short replays up to the cut, with one warning.
"""
from __future__ import annotations

import itertools
import os
import sys
from collections.abc import Callable, Iterator
from typing import Any, TextIO

from sysmon.capture.feed import Feed
from sysmon.capture.merge import merge_shards
from sysmon.capture.format import Batch
from sysmon.capture.reader import EventReplaySource, ReplaySource, expand_inputs, open_source
from sysmon.capture.writer import CaptureSink
from sysmon.errors import CaptureError, SysmonError
from sysmon.events.decode import Decoder
from sysmon.events.model import Event
from sysmon.pipeline import Pipeline
from sysmon.scap.record import Retyper, ScapRecords
from sysmon.state.state import State

PROGRESS_DELAY_S = 1.0  # without -P, show a progress bar only for replays that last longer than this
PROGRESS_EVERY = 4096  # events of a .scap between two moves of the bar


class ReplaySession:
    def __init__(self, pipe: Pipeline, out: TextIO, report: Callable[[str], None]) -> None:
        self.pipe = pipe
        self.out = out
        self.report = report  # one line for stderr (warnings, errors of files that are skipped)
        self.paths = expand_inputs(pipe.config.inputs)
        self.state = State()
        self.inspector = pipe.start(self.state)
        self.decoder = Decoder(pipe.schema, wall_offset_ns=0, typed=Retyper(pipe.schema))
        self.writer: CaptureSink | None = None
        self.feed: Feed | None = None
        self.writer_offset = 0  # clock offset of the -w output: the first file's

    @property
    def done(self) -> bool:
        """-n or -M reached, or -W's last file written."""
        return self.feed.done if self.feed is not None else self.inspector.done

    def run(self) -> int:
        failures: list[SysmonError] = []
        progress = _progress(self.paths, self.pipe.config.progress)
        try:
            merged = merge_shards(self.paths, open_source) if len(self.paths) > 1 else None
            for path in [] if merged is not None else self.paths:
                try:
                    self.replay(open_source(path), progress)
                except CaptureError as e:
                    failures.append(e)
                    if len(self.paths) > 1:
                        self.report(e.render())
                if self.done:
                    break
            if merged is not None:
                self.replay(merged, progress)
        finally:
            if progress is not None:
                progress.close()
            self.finish()
        if failures:
            if len(self.paths) == 1:
                raise failures[0]
            raise CaptureError(f"{len(failures)} of {len(self.paths)} capture files could not be read whole")
        return 0

    def replay(self, src: ReplaySource | EventReplaySource, progress: Any = None) -> None:
        """One file (or any source of one capture): its state, then its events."""
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
        feed = self._feed(src)
        shift = src.wall_offset_ns - self.writer_offset if self.writer is not None else 0
        done_bytes = 0
        for batch in src.batches():
            if shift:
                batch = _shift(batch, shift)
            feed.feed(batch)
            if progress is not None:
                progress.update(src.bytes_read - done_bytes)
                done_bytes = src.bytes_read
            if feed.done:
                break

    def _replay_events(self, src: EventReplaySource, progress: Any) -> None:
        if self.pipe.config.capture is not None:  # written as records (sysmon.scap.record); every event must reach the state
            records = ScapRecords(src)
            self._feed(records).passthrough = False
            self._replay_batches(records, progress)
            return
        if self.pipe.chisels is not None:
            src.with_internal()
        events = src.events()
        first = next(events, None)
        if first is None:
            return
        clock = self.pipe.clock
        clock.first_ns = clock.first_ns or src.first_ns  # -t r, evt.reltime: from the file's first event block
        events = itertools.chain((first,), events)
        self.inspector.run(events if progress is None else _progressing(events, src, progress),
                           lambda: src.state_only)

    def _feed(self, src: ReplaySource) -> Feed:
        """The feed, made with the first file: a -w output takes that file's clock offset."""
        if self.feed is None:
            self.writer_offset = src.wall_offset_ns
            capture = self.pipe.config.capture
            if capture is not None:
                self.writer = self.pipe.open_writer(capture, src.wall_offset_ns)
            self.feed = self.pipe.feed(self.decoder, self.writer, screen=True)
        return self.feed

    def finish(self) -> None:
        """The end of the run: chisels' and -S's output, the -w file closed."""
        self.pipe.finish(self.out)
        if self.writer is not None:
            self.writer.close()


def _replace_state(state: State, new: State) -> None:
    """Take over `new`'s contents in place: the parser and the fields hold on to `state`."""
    for name in State.__slots__:
        setattr(state, name, getattr(new, name))


def _shift(batch: Batch, delta_ns: int) -> Batch:
    """Records re-based to another clock offset (files of different captures written into one)."""
    records = [((int.from_bytes(r[:8], "little") + delta_ns) & 0xFFFFFFFFFFFFFFFF).to_bytes(8, "little") + r[8:]
               for r in batch.records]
    return Batch(records, batch.first_num, batch.nums, batch.flags)


def _progress(paths: list[str], asked: bool) -> Any:
    """A byte progress bar on stderr: asked for (-P), or on a terminal once the replay takes a while."""
    if not asked and not sys.stderr.isatty():
        return None
    from tqdm import tqdm

    total = sum(os.path.getsize(p) for p in paths)
    return tqdm(total=total, unit="B", unit_scale=True, file=sys.stderr, delay=0 if asked else PROGRESS_DELAY_S,
                leave=False, desc="replay")


def _progressing(events: Iterator[Event], src: EventReplaySource, progress: Any) -> Iterator[Event]:
    """`events`, moving the progress bar to the source's position every PROGRESS_EVERY events."""
    done = src.bytes_read
    for i, evt in enumerate(events):
        if not i % PROGRESS_EVERY:
            progress.update(src.bytes_read - done)
            done = src.bytes_read
        yield evt
    progress.update(src.bytes_read - done)
