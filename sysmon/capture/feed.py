"""Feed: batches of raw records -> decode -> Inspector, and by its verdicts into a capture writer
(live and replay alike).

Event numbers come from the batch (`Batch.num`), so a replay numbers every event as the live run
did, also in filtered captures where gaps are left by events that were not written.

What gets written: without a filter, every record; with one, the matching events, plus those that
change state marked STATE_ONLY (sysdig's fat file), so a replay still resolves names. On replay a
STATE_ONLY event updates the state and is never shown.

With -w, no filter and nothing to print (`passthrough`), records are written as they come, with no
decoding at all: only when files rotate are the state-changing ones decoded, to keep the state
that starts each new file right.
"""
from __future__ import annotations

from collections.abc import Set as AbstractSet
from typing import TYPE_CHECKING

from sysmon.capture.format import STATE_ONLY, Batch, PackedBatch
from sysmon.capture.screen import EnterScreen
from sysmon.engine import Verdict
from sysmon.events.decode import Decoder
from sysmon.events.record import NR_OFFSET

if TYPE_CHECKING:
    from sysmon.capture.writer import CaptureSink
    from sysmon.engine import Inspector
    from sysmon.filter.pushdown import KernelPlan

class Feed:
    def __init__(self, decoder: Decoder, inspector: Inspector, writer: CaptureSink | None = None,
                 wanted: AbstractSet[int] | None = None, plan: KernelPlan | None = None) -> None:
        """`wanted` (Schema.wanted_nrs): syscall numbers the filter can match or that change state;
        other records are skipped undecoded, and neither shown nor written. `plan`: the filter's kernel
        plan, with which enter records that change nothing shown are left undecoded (screen.py)."""
        self.decoder = decoder
        self.inspector = inspector
        self.writer = writer
        self.next_num = 1  # number of the next live record
        self.fed = 0  # live records whose batch went through whole (a forced stop may cut one short)
        self.passthrough = writer is not None and inspector.passive
        self._state_nrs = {nr.to_bytes(2, "little") for nr in decoder.schema.state_nrs()}
        # `wanted` as the record's nr bytes: one slice and one set lookup per record
        self._wanted_keys = None if wanted is None else {nr.to_bytes(2, "little") for nr in wanted}
        self._screen = None  # for printing only: a capture written keeps every enter
        enter_types = inspector.enter_types_needed()
        if plan is not None and plan.selective and enter_types is not None:
            self._screen = EnterScreen(decoder, plan, enter_types)

    @property
    def done(self) -> bool:
        return self.inspector.done or (self.writer is not None and self.writer.finished)

    def feed_live(self, records: list[bytes]) -> None:
        """Records straight from the probe: numbered on from the last ones."""
        batch = Batch(records, self.next_num)
        self.next_num += len(records)
        self.feed(batch)
        self.fed += len(records)

    def feed_live_packed(self, data: bytes, starts: list[int], lengths: list[int]) -> None:
        """Records still in the ring's bytes (LiveSource.poll_packed): written in one piece when
        nothing needs them one by one (passthrough, no -e, no rotation, no -n), else split."""
        packed = PackedBatch(data, starts, lengths, self.next_num)
        self.next_num += len(starts)
        writer = self.writer
        if (not self.passthrough or writer is None or writer.room() is not None or writer.rotation.active
                or self.inspector.remaining() is not None):
            self.feed(packed.unpack())
        else:
            if starts:
                self._count_written(len(starts), data[starts[0] : starts[0] + 8], data[starts[-1] : starts[-1] + 8])
            writer.add(packed)
        self.fed += len(starts)

    def _count_written(self, n: int, first_ts: bytes, last_ts: bytes) -> None:
        """n records written undecoded; the times (for -v) from the first and last one's ts_ns bytes."""
        offset = self.decoder.wall_offset_ns
        self.inspector.count_undecoded(n, int.from_bytes(first_ts, "little") + offset,
                                       int.from_bytes(last_ts, "little") + offset)

    def feed(self, batch: Batch) -> None:
        if self.passthrough:
            self._passthrough(batch)
        elif self.writer is None and batch.flags is None:
            self._show(batch)
        else:
            self._inspect(batch)

    def _passthrough(self, batch: Batch) -> None:
        writer = self.writer
        assert writer is not None
        inspector = self.inspector
        records = batch.records
        left = inspector.remaining()
        if left is not None:
            if len(records) >= left:
                records = records[:left]
                inspector.done = True
        start = 0
        while start < len(records) or not records:
            room = writer.room()
            end = len(records) if room is None else min(len(records), start + max(room, 1))
            if writer.rotation.active:
                self._apply_state_records(batch, start, end)
            writer.add(_slice(batch, start, end))
            if end > start:
                self._count_written(end - start, records[start][:8], records[end - 1][:8])
            if not records:
                break
            start = end

    def _apply_state_records(self, batch: Batch, start: int, end: int) -> None:
        """Keep the state current from the state-changing records only (they are few)."""
        keys = self._state_nrs
        decoder = self.decoder
        apply = self.inspector.apply_state
        at = NR_OFFSET
        for i in range(start, end):
            rec = batch.records[i]
            if rec[at : at + 2] in keys:
                decoder.count = batch.num(i) - 1
                apply(decoder.decode(rec))

    def _show(self, batch: Batch) -> None:
        """Nothing to write and no STATE_ONLY records (printing, chisels, -q): decode and inspect."""
        decoder = self.decoder
        decode = decoder.decode
        inspector = self.inspector
        process = inspector.process
        stats = inspector.stats
        wanted = self._wanted_keys
        screen = self._screen
        nums = batch.nums
        first = batch.first_num - 1
        at = NR_OFFSET
        records = batch.records
        last = len(records) - 1
        for i, rec in enumerate(records):
            if wanted is not None and rec[at : at + 2] not in wanted:
                continue
            if screen is not None and i < last and stats.first_ns and screen.redundant(rec, records[i + 1]):
                stats.seen += 1  # counted as decoded, as it would have been
                continue
            decoder.count = nums[i] - 1 if nums is not None else first + i
            process(decode(rec))
            if inspector.done:
                break
        inspector.flush()  # the batch's output in one write

    def _inspect(self, batch: Batch) -> None:
        decoder = self.decoder
        inspector = self.inspector
        process, state_only = inspector.process, inspector.process_state_only
        match, keep_state = Verdict.MATCH, Verdict.STATE_ONLY  # verdicts -> record flags below
        writer = self.writer
        flags_in = batch.flags
        room = writer.room() if writer is not None else None
        kept: list[int] = []
        kept_flags: list[int] = []
        records = batch.records
        wanted = self._wanted_keys
        at = NR_OFFSET
        for i, rec in enumerate(records):
            if wanted is not None and rec[at : at + 2] not in wanted:
                continue
            decoder.count = batch.num(i) - 1
            evt = decoder.decode(rec)
            verdict = state_only(evt) if flags_in is not None and flags_in[i] & STATE_ONLY else process(evt)
            flag = 0 if verdict is match else STATE_ONLY if verdict is keep_state else -1  # -1: not written
            if writer is not None and flag >= 0:
                kept.append(i)
                kept_flags.append(flag)
                if room is not None and len(kept) >= room:
                    writer.add(_subset(batch, kept, kept_flags))
                    kept, kept_flags = [], []
                    room = writer.room()
            if inspector.done:
                break
        inspector.flush()  # the batch's output in one write
        if writer is not None:
            writer.add(_subset(batch, kept, kept_flags))


def _slice(batch: Batch, start: int, end: int) -> Batch:
    if start == 0 and end == len(batch.records):
        return batch
    return Batch(
        batch.records[start:end],
        batch.first_num + start,
        None if batch.nums is None else batch.nums[start:end],
        None if batch.flags is None else batch.flags[start:end],
    )


def _subset(batch: Batch, kept: list[int], flags: list[int]) -> Batch:
    """The kept records; in the compact contiguous form when nothing was left out or marked."""
    any_flag = any(flags)
    if batch.nums is None and not any_flag and (not kept or kept[-1] - kept[0] == len(kept) - 1):
        return _slice(batch, kept[0], kept[-1] + 1) if kept else Batch([], batch.first_num)
    records = batch.records
    return Batch([records[i] for i in kept], batch.num(kept[0]) if kept else batch.first_num,
                 [batch.num(i) for i in kept], flags if any_flag else None)
