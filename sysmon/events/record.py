"""The probe's record layout (probe/sysmon.h: struct sysmon_hdr, then blobs each behind a
struct sysmon_blob_hdr): the one module that knows it. Decoding (decode.py), the capture writer's
header and its fast paths (capture/), and the converters of other formats (scap/record.py) read
and write records through these names. tests/unit/test_probe_header.py checks them against the C header.
"""
from __future__ import annotations

import struct
from collections.abc import Sequence

from sysmon.events.model import Event

RECORD_HEADER = struct.Struct("<Q6QqIIIIIHBBHHI16sQ")
BLOB_HEADER = struct.Struct("<HBB")
# The header's fields by name, in order (`args` is 6 consecutive u64), and the blob header's: written
# into capture headers, so that a later sysmon can read records of an older layout (capture/migrate.py).
RECORD_FIELDS = ("ts_ns", "arg0", "arg1", "arg2", "arg3", "arg4", "arg5", "ret", "tid", "pid", "ppid", "uid",
                 "gid", "nr", "dir", "nblobs", "cpu", "size", "flags", "comm", "cgroup_id")
BLOB_FIELDS = ("len", "kind", "slot")

F_NO_ENTER = 1  # SYSMON_F_NO_ENTER: an exit without a recorded enter (args are zero)
U16, U32 = 0xFFFF, 0xFFFFFFFF


def _offset(name: str) -> int:
    """Where a header field starts, from the struct format (one code per field; `6Q` are arg0..arg5)."""
    codes = RECORD_HEADER.format[1:].replace("6Q", "QQQQQQ").replace("16s", "s")
    return struct.calcsize("<" + codes[: RECORD_FIELDS.index(name)].replace("s", "16s"))


# Byte offsets of the fields read straight from record bytes, before (or instead of) decoding.
TS_OFFSET = _offset("ts_ns")
TID_OFFSET = _offset("tid")
PID_OFFSET = _offset("pid")
UID_OFFSET = _offset("uid")
NR_OFFSET = _offset("nr")  # u16
DIR_OFFSET = _offset("dir")
NBLOBS_OFFSET = _offset("nblobs")
COMM_OFFSET = _offset("comm")
CGROUP_OFFSET = _offset("cgroup_id")  # u64
FIRST_BLOB_KIND = RECORD_HEADER.size + 2  # the first blob's kind (after its u16 length)


def encode(evt: Event, wall_offset_ns: int = 0,
           blobs: Sequence[tuple[int, int, bytes]] | None = None) -> bytes:
    """An Event in the record layout (decode(encode(e)) gives e back), its time less `wall_offset_ns`;
    `blobs` instead of the event's own. Ids are stored two's complement; a missing result as 0."""
    blobs = evt.blobs if blobs is None else blobs
    body = b"".join(BLOB_HEADER.pack(len(data), kind, slot) + data for kind, slot, data in blobs)
    head = RECORD_HEADER.pack(
        evt.ts_ns - wall_offset_ns, *evt.raw_args, evt.res or 0, evt.tid & U32, evt.pid & U32, evt.ppid & U32,
        evt.uid & U32, evt.gid & U32, evt.nr & U16, evt.dir, len(blobs), evt.cpu,
        min(RECORD_HEADER.size + len(body), U16), 0, evt.comm.encode("utf-8", "surrogateescape")[:16], evt.cgroup_id,
    )
    return head + body
