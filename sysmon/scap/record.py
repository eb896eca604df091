"""sysdig .scap events as sysmon capture records (`sysmon -r F.scap -w F.smc`), and back.

A scap event is written as an ordinary probe-layout record (docs/capture-format.md) whose first
blob (BLOB_ETYPE) names its sysdig event type: `<HhB` ppm enter type, generic syscall id (-1),
flags. The other blobs are the event's parameter bytes as the .scap file holds them (BLOB_SCAP,
BLOB_SCAP_ENTER), so a replay decodes them with the same table as a direct read. Header fields map
one to one: tid/pid/ppid are stored two's complement (tid -1, NO_THREAD), a missing syscall number
as 0xFFFF, and the flags say when an event has no return value, so decoding gives the event back.
Parameters longer than a blob holds (64 KiB; sysdig's large payloads) are cut to that length.
"""
from __future__ import annotations

import struct
from collections.abc import Iterator
from typing import TYPE_CHECKING

from sysmon.capture.format import Batch
from sysmon.events.model import BLOB_ETYPE, Event
from sysmon.events.record import U16, encode as encode_record
from sysmon.events.schema import Schema, s32
from sysmon.scap.etypes import ScapEventType, ScapTypes
from sysmon.scap.reader import CONTAINER_TYPES, container_header

if TYPE_CHECKING:
    from sysmon.capture.reader import EventReplaySource
    from sysmon.state.state import State

TYPE = struct.Struct("<HhB")
F_NO_RES = 1  # an event without a return value (the decoder would give procexit and exits one)
MAX_BLOB = 0xFFFF


def encode(evt: Event) -> bytes:
    """A scap event as one record (timestamps stay epoch ns: the file's clock offset is 0)."""
    et = evt.etype
    if not isinstance(et, ScapEventType):
        raise TypeError(f"not a scap event: {evt!r}")
    flags = F_NO_RES if evt.res is None else 0
    blobs = [(BLOB_ETYPE, 0, TYPE.pack(et.ppm_type, et.syscall_id, flags))]
    blobs += [(kind, slot, data[:MAX_BLOB]) for kind, slot, data in evt.blobs]
    return encode_record(evt, 0, blobs)


class Retyper:
    """Decoder hook (`Decoder(typed=...)`): a record written by `encode` back into its scap event."""

    def __init__(self, schema: Schema) -> None:
        self.schema = schema
        self._types: ScapTypes | None = None

    def __call__(self, evt: Event) -> Event:
        types = self._types
        if types is None:
            types = self._types = ScapTypes(self.schema)
        ppm_type, syscall_id, flags = TYPE.unpack_from(evt.blobs[0][2])
        evt.etype = types.get(ppm_type, syscall_id)
        evt.blobs = evt.blobs[1:]
        evt.tid, evt.pid, evt.ppid = s32(evt.tid), s32(evt.pid), s32(evt.ppid)
        if evt.nr == U16:
            evt.nr = -1
        if flags & F_NO_RES:
            evt.res = None
        if ppm_type in CONTAINER_TYPES:
            container_header(evt)  # the record keeps 16 bytes of its name
        return evt


class ScapRecords:
    """A .scap source as a record source (capture.reader.ReplaySource), for -w.

    One event per batch: the scap reader takes an event's process identity from the state, so the
    next event may only be read once the previous one was applied to it (the feed must inspect
    every event, never pass records through undecoded).
    """

    wall_offset_ns = 0

    def __init__(self, src: EventReplaySource) -> None:
        self._src = src
        self.path = src.path
        self.state: State = src.state
        self.bytes_read, self.warning, self.dropped = src.bytes_read, src.warning, src.dropped

    def batches(self) -> Iterator[Batch]:
        src = self._src
        for evt in src.events():
            yield Batch([encode(evt)], evt.num)
        self.bytes_read, self.warning, self.dropped = src.bytes_read, src.warning, src.dropped
