"""sysdig/Falco .scap files as an event source: `open_scap(path)` -> snapshot State + Events.

Format: docs in ../shared/docs/scap-format.md (blocks, versions 1.0-1.2). gzip is detected by its
magic. Events are numbered like sysdig numbers them when reading a file (`evt.num` counts every
event block, internal ones and the leading container events included), and the events sysdig
never prints (EC_INTERNAL: procinfo, drop...; leading container events) are counted, not yielded
(internal ones are yielded with `internal` set: sysdig's chisels see them).
A truncated or corrupt file yields everything intact, then raises one CaptureError with the offset.
"""
from __future__ import annotations

import gzip
import json
import struct
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

from sysmon.errors import CaptureError
from sysmon.events.model import ENTER, EXIT, NO_THREAD, Event
from sysmon.events.schema import PROCEXIT_NR, Schema
from sysmon.events.syscalls import X86_64
from sysmon.scap import snapshot
from sysmon.scap.container import from_params
from sysmon.scap.etypes import BLOB_SCAP, BLOB_SCAP_ENTER, ScapEventType, ScapTypes
from sysmon.scap.snapshot import Metadata
from sysmon.events.ppm_table import EVENTS, PPM_EVENT_MAX
from sysmon.state.state import State, ThreadInfo

MAGIC = 0x1A2B3C4D
GZIP_MAGIC = b"\x1f\x8b"
EV = {0x204: 1, 0x8010ABCD: 1, 0x216: 2, 0x221: 2}  # event blocks -> header version
EVF = {0x208: 1, 0x217: 2, 0x222: 2}  # event blocks with dump flags
SCAP_DF_STATE_ONLY = 1
CONTAINER_TYPES = frozenset({228, 272, 324})
SCHED_TYPES = frozenset(range(146, 150)) | {152, 153}  # switch/drop: never pair enter and exit
EF_SKIPPARSERESET = 1 << 8
EF_USES_FD = 1 << 2
U64 = (1 << 64) - 1
NO_ARG = U64  # an unknown raw argument: -1 whatever its width
NO_ARGS = (NO_ARG,) * 6
PPM_CL_CLONE_THREAD = 1 << 13
_BLOCK = struct.Struct("<II")
_EVT1 = struct.Struct("<QQIH")
_EVT2 = struct.Struct("<QQIHI")
_NR = {**{name: nr for nr, name in X86_64.items()}, "procexit": PROCEXIT_NR}
_SYSCALL_OF = {56: "accept4", 57: "accept4", 248: "accept4", 249: "accept4"}  # ppm type -> kernel syscall
NA_COMM = "<NA>"  # libsinsp's name for threads it never saw created (not in the process list)


def is_scap(head: bytes) -> bool:
    """True for the first bytes of a .scap file (gzip'd ones are sniffed by the caller)."""
    return len(head) >= 4 and _BLOCK.unpack_from(head.ljust(8, b"\0"))[0] == snapshot.SHB


def sniff(path: str | Path) -> bool:
    """Whether `path` is a scap capture, plain or gzip-compressed."""
    with open(path, "rb") as f:
        head = f.read(4)
        if head[:2] == GZIP_MAGIC:
            f.seek(0)
            try:
                with gzip.GzipFile(fileobj=f) as g:
                    head = g.read(4)
            except (OSError, EOFError, zlib.error):
                return False
    return is_scap(head)


@dataclass(slots=True)
class Numbering:
    """How sysdig numbered this file's events: `read` counts every event block (= the last evt.num)."""

    read: int = 0
    hidden: int = 0  # internal and leading container events: numbered, never yielded
    skipped_unknown: int = 0  # event types newer than the table (not numbered, as libscap skips them)


@dataclass(slots=True)
class ScapCapture:
    path: Path
    version: tuple[int, int]
    state: State
    meta: Metadata
    numbering: Numbering = field(default_factory=Numbering)
    state_only: bool = False  # the event yielded last is only for the state (SCAP_DF_STATE_ONLY): never shown
    internal: bool = False  # yield internal events too (procinfo...): sysdig's chisels see them, its output never
    first_ns: int = 0  # the first event block's time, hidden ones included (libsinsp's m_firstevent_ts: -t r)
    _reader: _Reader | None = None

    def events(self) -> Iterator[Event]:
        """The file's events in order; each is built when the previous one was processed (see _header)."""
        assert self._reader is not None
        return self._reader.events(self)

    def close(self) -> None:
        if self._reader is not None:
            self._reader.f.close()
            self._reader.raw.close()  # a GzipFile leaves the file it reads open

    @property
    def bytes_read(self) -> int:
        """How far into the file as stored (compressed, for a gzip'd one) reading is: -P's progress."""
        assert self._reader is not None
        raw = self._reader.raw
        return self.path.stat().st_size if raw.closed else raw.tell()


def open_scap(path: str | Path, schema: Schema | None = None) -> ScapCapture:
    """Open a .scap file: reads the metadata blocks into a State; `events()` streams the rest."""
    path = Path(path)
    try:
        raw = open(path, "rb")  # noqa: SIM115 (owned by the reader, closed by ScapCapture.close)
    except OSError as e:
        raise CaptureError(f"cannot open {path}: {e.strerror}") from e
    f: BinaryIO = raw
    if raw.read(2) == GZIP_MAGIC:
        raw.seek(0)
        f = gzip.GzipFile(fileobj=raw)  # type: ignore[assignment]
    else:
        raw.seek(0)
    reader = _Reader(path, raw, f, ScapTypes(schema or Schema.default()))
    try:
        version = reader.section_header()
        state, meta = State(), Metadata()
        state.no_cgroups_is_host = True
        reader.metadata(state, meta)
        state.hostname = meta.hostname
    except BaseException:
        f.close()
        raw.close()
        raise
    return ScapCapture(path, version, state, meta, _reader=reader)


class _Reader:
    def __init__(self, path: Path, raw: BinaryIO, f: BinaryIO, types: ScapTypes) -> None:
        self.path, self.raw, self.f, self.types = path, raw, f, types  # f: raw, or a GzipFile over it
        self.offset = 0  # of the next block, in the uncompressed stream
        self.pending: tuple[int, int, bytes] | None = None  # the first event block, read by metadata()

    def error(self, msg: str, offset: int | None = None) -> CaptureError:
        off = self.offset if offset is None else offset
        return CaptureError(f"{self.path}: {msg} at offset {off}",
                            hints=["the events before this point were read"] if off else [])

    def _read(self, n: int) -> bytes:
        try:
            return self.f.read(n)
        except (EOFError, OSError, zlib.error) as e:
            raise self.error(f"corrupt compressed data ({e})") from e

    def block(self) -> tuple[int, bytes] | None:
        """(type, body without header/trailer) of the next block; None at a clean end of file."""
        head = self._read(8)
        if not head:
            return None
        if len(head) < 8:
            raise self.error(f"truncated block header ({len(head)} of 8 bytes)")
        btype, total = _BLOCK.unpack(head)
        if total < 12 or total % 4:
            raise self.error(f"bad block length {total}")
        rest = self._read(total - 8)
        if len(rest) < total - 8:
            raise self.error(f"truncated block (type {btype:#x}: {len(rest) + 8} of {total} bytes)")
        if int.from_bytes(rest[-4:], "little") != total:
            raise self.error(f"wrong block trailer (type {btype:#x})")
        self.offset += total
        return btype, rest[:-4]

    def section_header(self) -> tuple[int, int]:
        head = self._read(8)
        if len(head) < 8 or _BLOCK.unpack(head)[0] != snapshot.SHB:
            raise CaptureError(f"{self.path}: not a scap capture (no section header block)")
        total = _BLOCK.unpack(head)[1]
        if total < 28:
            raise self.error(f"bad section header length {total}")
        body = self._read(total - 8)
        if len(body) < total - 8:
            raise self.error("truncated section header")
        self.offset = total  # options after the 16 known bytes (pcapng-style) are skipped
        magic, major, minor = struct.unpack_from("<IHH", body)
        if magic != MAGIC:
            raise CaptureError(f"{self.path}: invalid byte-order magic {magic:#x} (only little-endian captures are known)")
        if major != 1:
            raise CaptureError(f"{self.path}: unsupported scap version {major}.{minor}", hints=["sysmon reads 1.0 to 1.2"])
        return major, minor

    def metadata(self, state: State, meta: Metadata) -> None:
        while True:
            start = self.offset
            blk = self.block()
            if blk is None or blk[0] in EV or blk[0] in EVF:
                snapshot.fix_proc_sockets(state)
                if blk is not None:
                    self.pending = (blk[0], start, blk[1])
                return
            btype, body = blk
            try:
                if btype in snapshot.MI:
                    snapshot.read_machine(body, meta)
                elif btype in snapshot.PL:
                    snapshot.read_proclist(body, snapshot.PL[btype], state, meta)
                elif btype in snapshot.FDL:
                    snapshot.read_fdlist(body, snapshot.FDL[btype], state)
                elif btype in snapshot.IL:
                    snapshot.read_iflist(body, snapshot.IL[btype], state, meta)
                elif btype in snapshot.UL:
                    snapshot.read_userlist(body, snapshot.UL[btype], state)
                # anything else (newer or foreign blocks) is skipped by its length
            except (snapshot.Malformed, struct.error, IndexError, ValueError) as e:
                raise self.error(f"malformed block {btype:#x}: {e}", start) from e

    def events(self, cap: ScapCapture) -> Iterator[Event]:
        state, num = cap.state, cap.numbering
        types = self.types
        last_enter: dict[int, tuple[int, tuple[tuple[int, int, bytes], ...]]] = {}
        leading = True
        exited: ThreadInfo | None = None  # the thread of the procexit (or container event) just yielded
        while True:
            if exited is not None:  # libsinsp drops it before it reads the next event (m_tid_to_remove)
                if state.threads.get(exited.tid) is exited:
                    del state.threads[exited.tid]
                exited = None
            if self.pending is not None:
                btype, start, body = self.pending
                self.pending = None
            else:
                start = self.offset
                blk = self.block()
                if blk is None:
                    return
                btype, body = blk
                if btype not in EV and btype not in EVF:
                    if btype == snapshot.SHB:
                        raise self.error("a second capture section follows (concatenated captures are not supported)", start)
                    continue  # unknown block after the events: skipped by length
            try:
                parsed = _parse_event(body, btype)
            except (struct.error, ValueError) as e:
                raise self.error(f"malformed event block: {e}", start) from e
            cpu, dflags, ts, tid, etype, blobs = parsed
            if etype >= PPM_EVENT_MAX:
                num.skipped_unknown += 1
                continue
            num.read += 1
            if not cap.first_ns and etype not in CONTAINER_TYPES:
                cap.first_ns = ts
            et = types.get(etype, _syscall_id(blobs) if etype < 2 else -1)
            if etype in CONTAINER_TYPES:  # the container is known from here on (libsinsp's parser)
                info = from_params(_event(state, num.read, ts, cpu, tid, et, etype, ENTER, blobs).params)
                if info is not None:
                    state.containers.add(info)
                if leading:
                    num.hidden += 1
                    continue
            leading = False
            if et.internal:
                num.hidden += 1
                if not cap.internal:
                    continue
            direction = ENTER if etype % 2 == 0 else EXIT
            tid = tid - (1 << 64) if tid >= 1 << 63 else tid
            enter_blobs: tuple[tuple[int, int, bytes], ...] = ()
            stale_fd: int | None = None
            if direction == ENTER:
                if etype not in SCHED_TYPES and not EVENTS[etype][2] & EF_SKIPPARSERESET:
                    last_enter[tid] = (etype, blobs)
            else:
                prev = last_enter.get(tid)
                if prev is not None and prev[0] == etype - 1:
                    enter_blobs = tuple((BLOB_SCAP_ENTER, i, d) for _k, i, d in prev[1])
                elif et.fd_arg is not None:  # libsinsp takes the fd of the thread's last enter event
                    stale_fd = _enter_fd(prev)
            evt = _event(state, num.read, ts, cpu, tid, et, etype, direction, blobs + enter_blobs)
            if stale_fd is not None:
                raw = list(evt.raw_args)
                raw[et.fd_arg] = stale_fd & U64  # type: ignore[index]
                evt.raw_args = tuple(raw)
            cap.state_only = bool(dflags & SCAP_DF_STATE_ONLY)
            if cap.state_only and not et.internal:
                num.hidden += 1  # libsinsp parses these for state but never shows them
            if et.name == "procexit":
                exited = state.threads.get(tid)
            yield evt


def _enter_fd(enter: tuple[int, tuple[tuple[int, int, bytes], ...]] | None) -> int:
    """libsinsp's m_lastevent_fd: the fd of an enter event that uses one (its first parameter), else -1;
    0 (its initial value) for a thread with no enter event yet."""
    if enter is None:
        return 0
    if not EVENTS[enter[0]][2] & EF_USES_FD:
        return -1
    data = next((d for _k, i, d in enter[1] if i == 0), b"")
    return int.from_bytes(data[:8], "little", signed=True) if len(data) >= 8 else -1


def _syscall_id(blobs: tuple[tuple[int, int, bytes], ...]) -> int:
    for _k, i, d in blobs:
        if i == 0 and len(d) >= 2:
            return int.from_bytes(d[:2], "little")
    return 0


def _parse_event(body: bytes, btype: int) -> tuple[int, int, int, int, int, tuple[tuple[int, int, bytes], ...]]:
    cpu = int.from_bytes(body[:2], "little")
    pos, dflags = 2, 0
    if btype in EVF:
        dflags = int.from_bytes(body[2:6], "little")
        pos = 6
    v2 = (EV.get(btype) or EVF.get(btype)) == 2
    if v2:
        ts, tid, length, etype, nparams = _EVT2.unpack_from(body, pos)
        hdr = _EVT2.size
    else:
        ts, tid, length, etype = _EVT1.unpack_from(body, pos)
        hdr, nparams = _EVT1.size, -1
    if etype >= PPM_EVENT_MAX:
        return cpu, dflags, ts, tid, etype, ()
    evt = body[pos : pos + length]
    if len(evt) < length or length < hdr:
        raise ValueError(f"event length {length} exceeds its block")
    table_n = len(EVENTS[etype][3])
    large = bool(EVENTS[etype][2] & (1 << 11))
    width = 4 if large else 2
    if nparams < 0:  # v1: the table's count, lowered until the lengths account for the event exactly
        nparams = table_n
        while nparams > 0:
            if hdr + width * nparams <= length:
                lens = struct.unpack_from(f"<{nparams}{'I' if large else 'H'}", evt, hdr)
                if hdr + width * nparams + sum(lens) == length:
                    break
            nparams -= 1
    lens = struct.unpack_from(f"<{nparams}{'I' if large else 'H'}", evt, hdr) if nparams else ()
    off = hdr + width * nparams
    blobs = []
    for i, n in enumerate(lens):
        if i < table_n:
            blobs.append((BLOB_SCAP, i, evt[off : off + n]))
        off += n
    if off > length:
        raise ValueError(f"parameters overrun the event ({off} > {length})")
    return cpu, dflags, ts, tid, etype, tuple(blobs)


def _event(state: State, n: int, ts: int, cpu: int, tid: int, et: ScapEventType, etype: int, direction: int,
           blobs: tuple[tuple[int, int, bytes], ...]) -> Event:
    thread = state.threads.get(tid)
    evt = Event(num=n, ts_ns=ts, cpu=cpu, tid=tid, pid=tid, ppid=-1, uid=0xFFFFFFFF, gid=0xFFFFFFFF, comm=NA_COMM,
                nr=_NR.get(_SYSCALL_OF.get(etype, et.name), -1), dir=direction, res=None, raw_args=(), blobs=blobs,
                etype=et)
    if thread is not None:
        evt.pid, evt.ppid, evt.uid, evt.gid, evt.comm = thread.pid, thread.ppid, thread.uid, thread.gid, thread.comm
    elif etype in CONTAINER_TYPES:
        container_header(evt)
    elif etype in SCHED_TYPES:
        evt.pid = NO_THREAD  # libsinsp only looks up the threads of scheduler events, never creates them
    if direction == EXIT:
        exit_params = et.exit_params
        if exit_params and exit_params[0].name in ("res", "fd"):
            res = evt.params.get(exit_params[0].name)
            evt.res = res if isinstance(res, int) else None
        if et.name in ("clone", "fork", "vfork", "execve"):
            _header_from_params(evt, thread)
    evt.raw_args = _raw_args(evt, et) if et.raw_slots else NO_ARGS
    if thread is None and evt.res == 0 and et.name in ("clone", "clone3") and (
            evt.params.get("flags", 0) & PPM_CL_CLONE_THREAD):
        # a new thread of a process libsinsp never saw: proc.ppid is that of the process it makes up
        main = state.threads.get(evt.pid)
        evt.ppid = main.ppid if main is not None and main.pid == evt.pid else -1
    return evt


def container_header(evt: Event) -> None:
    """A container event's header from libsinsp's made-up thread (sinsp_container_info::get_tinfo):
    tid and pid -1, ppid 0, root, named `container:ID` (the state parser gives it no exe)."""
    cid = evt.params.get("id")
    if cid is None:
        try:
            cid = json.loads(evt.params.get("json") or "{}").get("container", {}).get("id")
        except (ValueError, AttributeError):
            cid = None
    evt.pid, evt.ppid, evt.uid, evt.gid, evt.comm = -1, 0, 0, 0, f"container:{cid or ''}"


def _header_from_params(evt: Event, thread: ThreadInfo | None) -> None:
    """clone/execve exits carry the new process identity, as the live probe's header does."""
    p = evt.params
    if evt.type != "execve" and evt.res != 0:
        return  # a clone's parent side: libsinsp takes the identity in the params for the child only
    if isinstance(p.get("pid"), int):
        evt.pid = p["pid"]
    if isinstance(p.get("ptid"), int):
        evt.ppid = p["ptid"]
    if p.get("comm"):
        evt.comm = p["comm"]
    if isinstance(p.get("uid"), int):
        evt.uid, evt.gid = p["uid"], p.get("gid", evt.gid)
    elif evt.type != "execve" and evt.res == 0:
        evt.uid = evt.gid = 0xFFFFFFFF  # a clone child of an old capture: libsinsp leaves its ids unknown


def _raw_args(evt: Event, et: ScapEventType) -> tuple[int, ...]:
    raw = list(NO_ARGS)
    own = {i: d for k, i, d in evt.blobs if k == BLOB_SCAP}
    enter = {i: d for k, i, d in evt.blobs if k == BLOB_SCAP_ENTER}
    for direction, i, slot, conv in et.raw_slots:
        if direction == evt.dir:
            data, dec = own.get(i), (et.enter_decoders if direction == ENTER else et.exit_decoders)
        else:
            data, dec = (enter.get(i), et.enter_decoders) if direction == ENTER else (None, et.exit_decoders)
        if data is None:
            continue
        v = dec[i](data)
        if isinstance(v, int):
            raw[slot] = (conv(v) if conv else v) & U64
    return tuple(raw)
