"""The shards of one capture read back as one: `sysmon --shard I/N -w` writes one file series per CPU
group (docs/scaling.md); replaying them together merges their records by time.

Every record carries the kernel's monotonic time, the same clock in every shard, so a k-way merge
on it restores the machine's order; events are numbered again from 1. The state starts from the
first shard's snapshot (all shards take theirs at the same start) and follows the merged events.
"""
from __future__ import annotations

import functools
import heapq
from collections.abc import Callable, Iterator

from sysmon.capture.format import Batch
from sysmon.capture.reader import CaptureFile, ReplaySource
from sysmon.errors import CaptureError

BATCH_RECORDS = 2048
_Keyed = tuple[int, int, bytes, int]  # (ts, shard, record, flags)


def shard_of(src: object) -> tuple[int, int] | None:
    """(I, N) of a file written with --shard, else None."""
    shard = src.header.get("shard") if isinstance(src, CaptureFile) else None
    if isinstance(shard, list) and len(shard) == 2 and all(isinstance(v, int) for v in shard) \
            and 0 <= shard[0] < shard[1]:
        return shard[0], shard[1]
    return None  # not a shard, or a header that says nonsense: read as a file of its own


class MergedSource:
    """A ReplaySource over shard series: `series[i]` opens shard i's files one after another."""

    def __init__(self, series: list[list[Callable[[], ReplaySource]]], path: str) -> None:
        self.path = path
        first = series[0][0]()
        self.state = first.state
        self.wall_offset_ns = first.wall_offset_ns
        self.bytes_read = 0
        self.warning: str | None = None
        self.dropped = 0
        self._first = first
        self._series = series
        self._open: list[ReplaySource] = []

    def batches(self) -> Iterator[Batch]:
        streams = [self._records(i, opens) for i, opens in enumerate(self._series)]
        records: list[bytes] = []
        flags: list[int] = []
        num = 1
        for _, _, rec, flag in heapq.merge(*streams):
            records.append(rec)
            flags.append(flag)
            if len(records) == BATCH_RECORDS:
                yield Batch(records, num, None, flags)
                num += len(records)
                records, flags = [], []
                self.bytes_read = sum(s.bytes_read for s in self._open)
        if records:
            yield Batch(records, num, None, flags)
        self.bytes_read = sum(s.bytes_read for s in self._open)
        self.dropped = sum(s.dropped for s in self._open)
        warnings = [s.warning for s in self._open if s.warning]
        self.warning = "; ".join(warnings) if warnings else None

    def _records(self, shard: int, opens: list[Callable[[], ReplaySource]]) -> Iterator[_Keyed]:
        for i, open_file in enumerate(opens):
            src = self._first if shard == 0 and i == 0 else open_file()
            self._open.append(src)
            for batch in src.batches():
                batch_flags = batch.flags or [0] * len(batch.records)
                for rec, flag in zip(batch.records, batch_flags):
                    yield int.from_bytes(rec[:8], "little"), shard, rec, flag


def _open_shard(opener: Callable[[str], object], path: str) -> ReplaySource:
    src = opener(path)
    if not isinstance(src, CaptureFile):  # replaced since it was looked at
        raise CaptureError(f"{path} is no longer a sysmon capture")
    return src


def merge_shards(paths: list[str], opener: Callable[[str], object]) -> MergedSource | None:
    """The files of one --shard run as one source (each shard's files in the order given), or None when
    `paths[0]` is not a shard. Every file must be a shard of the same N, and every shard present."""
    groups: dict[int, list[str]] = {}
    count = None
    for path in paths:
        try:
            src = opener(path)
        except CaptureError:
            if count is None:
                return None  # the replay of each file reports it
            raise
        shard = shard_of(src)
        if isinstance(src, CaptureFile):
            src.close()
        if shard is None and count is None:
            return None
        if shard is None or (count is not None and shard[1] != count):
            raise CaptureError(f"{path} is not a shard of the same capture as {paths[0]}",
                               hints=["replay the files of one --shard run together, or each on its own"])
        count = shard[1]
        groups.setdefault(shard[0], []).append(path)
    assert count is not None
    missing = sorted(set(range(count)) - set(groups))
    if missing:
        raise CaptureError(f"shard{'s' if len(missing) > 1 else ''} {', '.join(map(str, missing))} of {count} "
                           "missing: its events would be missing from the merged replay",
                           hints=[f"name the files of every shard 0..{count - 1}"])
    series: list[list[Callable[[], ReplaySource]]] = [
        [functools.partial(_open_shard, opener, p) for p in groups[i]] for i in sorted(groups)]
    return MergedSource(series, " + ".join(groups[i][0] for i in sorted(groups)))
