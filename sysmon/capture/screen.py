"""Deciding from a record's fixed header alone, before any decoding, that an enter record is redundant.

An enter record whose exit comes next in the stream (same thread, same syscall) adds nothing that
is ever shown when
- the state parser has no enter handler for the syscall (the enter only refreshes its thread from
  the header, which the exit does alike, before any other event is looked at);
- the filter cannot match the enter nor the exit (the kernel plan, which is sound, rejects their
  headers): the exit's latency and time delta, the only things the enter feeds, are never shown,
  and the clock ends up the same after the exit;
- no chisel ticks on every event's time, and the capture's first event has been seen (it starts the clock).
The feed then only counts the enter. Records of another event table (BLOB_ETYPE, .scap events
written with -w) are never judged redundant: their type is not their syscall number.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

from sysmon.events.decode import Decoder
from sysmon.events.model import BLOB_ETYPE, ENTER, EXIT
from sysmon.events.record import (
    COMM_OFFSET,
    DIR_OFFSET,
    FIRST_BLOB_KIND,
    NBLOBS_OFFSET,
    NR_OFFSET,
    PID_OFFSET,
    TID_OFFSET,
    UID_OFFSET,
)

if TYPE_CHECKING:
    from sysmon.filter.pushdown import KernelPlan


class EnterScreen:
    def __init__(self, decoder: Decoder, plan: KernelPlan, parser_enter_types: frozenset[str]) -> None:
        """`plan`: the filter's kernel plan; `parser_enter_types`: event types the state parser handles on enter."""
        self.decoder = decoder
        self.plan = plan
        schema = decoder.schema
        by_nr = schema.by_nr_map
        self._pairable = frozenset(nr.to_bytes(2, "little") for nr, t in by_nr.items()
                                   if t.name not in parser_enter_types)
        self._types = None if plan.types is None else frozenset(
            nr.to_bytes(2, "little") for nr in schema.nrs_of(plan.types))

    def redundant(self, rec: bytes, nxt: bytes) -> bool:
        """Whether `rec` is an enter that `nxt`, the record after it, makes redundant (see above)."""
        nr = rec[NR_OFFSET : NR_OFFSET + 2]
        return (rec[DIR_OFFSET] == ENTER and nxt[DIR_OFFSET] == EXIT and nr in self._pairable
                and nxt[NR_OFFSET : NR_OFFSET + 2] == nr and nxt[TID_OFFSET:PID_OFFSET] == rec[TID_OFFSET:PID_OFFSET]
                and not self._may_match(rec) and not self._may_match(nxt))

    def _may_match(self, rec: bytes) -> bool:
        """Whether the filter may match a record of a known syscall, as far as its header tells (KernelPlan.admits)."""
        if rec[NBLOBS_OFFSET] and rec[FIRST_BLOB_KIND] == BLOB_ETYPE:
            return True  # typed by its first blob, not by its header
        plan = self.plan
        return ((self._types is None or rec[NR_OFFSET : NR_OFFSET + 2] in self._types)
                and (plan.comms is None or self.decoder.comm(rec[COMM_OFFSET : COMM_OFFSET + 16]) in plan.comms)
                and (plan.pids is None or _u32(rec, PID_OFFSET) in plan.pids)
                and (plan.tids is None or _u32(rec, TID_OFFSET) in plan.tids)
                and (plan.uids is None or _u32(rec, UID_OFFSET) in plan.uids))


def _u32(rec: bytes, at: int) -> int:
    return int.from_bytes(rec[at : at + 4], "little")
