"""Opening capture files for replay: `open_source(path)` is the one entry point `-r` uses.

It looks at the file's first bytes and returns a `ReplaySource`:
- sysmon captures (MAGIC, see format.py), plain or with zstd-compressed frames;
- the same wrapped whole in gzip or zstd (`gzip f.smc`), decompressed on the fly;
- sysdig/Falco .scap files, through `sysmon.scap` when that package provides a reader.

Another reader plugs in by returning an object with the `ReplaySource` attributes, whose
`batches()` yields `format.Batch`es of probe-layout records, or an `EventReplaySource`, whose
`events()` yields decoded, numbered Events (the .scap reader). Problems are reported as CaptureError with the byte
offset and the number of events read; a file cut short is not an error, `warning` says where.
"""
from __future__ import annotations

import glob
import gzip
import os
import re
import stat
import zlib
from collections.abc import Iterator, Sequence
from typing import IO, Any, Protocol, runtime_checkable

import msgpack

from sysmon.capture.format import (
    BATCH, CONTAINERS, DROPS, END, HEADER, KINDS, MAGIC, MAX_SNAPSHOT_PAYLOAD, PACKED, SNAPSHOT, Batch, frame_crc,
    load_body, payload_limit, record_problem, unpack_packed,
)
from sysmon.capture.migrate import Convert, migrate
from sysmon.capture.snapshot import state_from_wire
from sysmon.errors import CaptureError
from sysmon.events.model import Event
from sysmon.state.state import State

GZIP_MAGIC = b"\x1f\x8b"
ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"
SCAP_MAGIC = b"\x0a\x0d\x0d\x0a"  # pcapng section header block, as .scap files start
CHUNK = 1 << 20
MAX_FRAME = MAX_SNAPSHOT_PAYLOAD + (64 << 10)  # a frame's bytes as stored (its payload plus a few)


@runtime_checkable
class ReplaySource(Protocol):
    path: str
    state: State  # the state when the capture started (procs, fds, users)
    wall_offset_ns: int  # added to a record's ts_ns gives epoch ns
    bytes_read: int  # progress, in the file's own bytes
    warning: str | None  # set once the source ended early but cleanly (file cut short)
    dropped: int  # events the writer lost (disk too slow), as recorded in the file

    def batches(self) -> Iterator[Batch]: ...


class EventReplaySource(Protocol):
    """A source whose events are decoded already (another capture format): `events()` instead of
    `batches()`; the events carry their numbers. With -w they are written as records (sysmon.scap.record)."""

    path: str
    state: State
    warning: str | None
    dropped: int

    def events(self) -> Iterator[Event]: ...

    @property
    def bytes_read(self) -> int:
        """How far into the file reading is (-P's progress)."""

    @property
    def state_only(self) -> bool:
        """Whether the event yielded last only keeps the state right (never shown)."""

    def with_internal(self) -> None:
        """Yield the internal events too (procinfo...), for the chisels."""

    @property
    def first_ns(self) -> int:
        """The capture's start time (-t r, evt.reltime), known once the first event was read."""


def expand_inputs(patterns: Sequence[str]) -> list[str]:
    """-r arguments in order; each an existing path or a glob (matches sorted by name, numbers by value)."""
    paths: list[str] = []
    for pattern in patterns:
        if os.path.lexists(pattern) or not glob.has_magic(pattern):
            paths.append(pattern)  # an exact path: opening it says what is wrong with it
            continue
        matches = sorted(glob.glob(pattern), key=_natural)
        if not matches:
            raise CaptureError(f"no capture file matches {pattern}")
        paths += matches
    return paths


def _natural(path: str) -> list[tuple[int, int | str]]:
    """Sort key putting f.smc2 before f.smc10 (rotated files)."""
    return [(1, int(part)) if part.isdigit() else (0, part) for part in re.split(r"(\d+)", path)]


def open_source(path: str) -> ReplaySource | EventReplaySource:
    try:  # O_NONBLOCK: a FIFO with no writer must not hang the open; it is refused just after
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError as e:
        raise CaptureError(f"cannot read {path}: {e.strerror}") from e
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise CaptureError(f"{path} is not a regular file", hints=["-r reads capture files, not pipes or devices"])
    os.set_blocking(fd, True)
    f: IO[bytes] = open(fd, "rb")
    try:
        return _open_file(path, f)
    except BaseException:
        f.close()
        raise


def _open_file(path: str, f: IO[bytes]) -> ReplaySource | EventReplaySource:
    magic = f.read(8)
    where = ""
    if magic.startswith(GZIP_MAGIC):
        f.seek(0)
        f = gzip.GzipFile(fileobj=f)  # type: ignore[assignment]
        where = " of the gunzipped data"
    elif magic.startswith(ZSTD_MAGIC):
        import zstandard

        f.seek(0)
        f = zstandard.ZstdDecompressor().stream_reader(f, read_across_frames=True)
        where = " of the unzstd'ed data"
    if where:
        try:
            magic = f.read(8)
        except (OSError, EOFError, zlib.error, ValueError) as e:
            raise CaptureError(f"{path}: cannot decompress: {e}") from e
    if magic == MAGIC or (MAGIC.startswith(magic) and not where):  # a file cut within its magic: a stub
        return CaptureFile(path, f, where)
    if magic.startswith(SCAP_MAGIC):
        return _open_scap(path, f)
    f.close()
    raise CaptureError(f"{path} is not a capture file sysmon reads",
                       hints=["sysmon reads its own captures (-w), gzip/zstd-compressed ones, and sysdig .scap files"])


def _open_scap(path: str, f: IO[bytes]) -> ScapSource:
    f.close()
    from sysmon.scap.reader import open_scap

    return ScapSource(path, open_scap(path))


class ScapSource:
    """A sysdig .scap file (sysmon.scap): its events are already decoded and numbered as sysdig does."""

    wall_offset_ns = 0
    warning: str | None = None
    dropped = 0

    def __init__(self, path: str, cap: Any) -> None:
        self.path = path
        self.state: State = cap.state
        self._cap = cap

    def events(self) -> Iterator[Event]:
        try:
            yield from self._cap.events()
        finally:
            self._cap.close()

    @property
    def state_only(self) -> bool:
        """Whether the event yielded last only keeps the state right (written so by a filtered capture)."""
        return bool(self._cap.state_only)

    def with_internal(self) -> None:
        self._cap.internal = True

    @property
    def first_ns(self) -> int:
        """The time the capture starts at (its first event block, shown or not), once events were read."""
        return int(self._cap.first_ns)

    @property
    def bytes_read(self) -> int:
        return int(self._cap.bytes_read)


class CaptureFile:
    """A sysmon capture: header and snapshot read on open, then batches streamed."""

    def __init__(self, path: str, f: IO[bytes], where: str = "") -> None:
        self.path = path
        self.warning: str | None = None
        self.dropped = 0
        self.events_read = 0
        self.bytes_read = len(MAGIC)
        self._f = f
        self._where = where
        self._unpacker = msgpack.Unpacker(raw=False, max_buffer_size=MAX_FRAME + CHUNK, strict_map_key=False,
                                          max_array_len=3, max_map_len=0)  # frames are [kind, payload, crc]
        self._fed = 0
        self._pos = len(MAGIC)  # file offset where the next frame starts
        self._start = self._pos  # where the frame returned last started
        self._eof = False
        self._ended = False
        self._zd: Any = None  # set from the header
        self.state = State()
        self.wall_offset_ns = 0
        self._stub = False
        header = self._read_frame(HEADER)
        if header is None:
            self._skip_stub("its header")
            return
        if not isinstance(header, dict):
            raise self._corrupt("the header is not a map")
        try:
            self.header, self._convert = migrate(header)
        except CaptureError as e:
            raise CaptureError(f"{path}: {e.message}", hints=e.hints) from e
        offset = self.header.get("wall_offset_ns")
        if not isinstance(offset, int) or isinstance(offset, bool):
            raise self._corrupt("the header lacks the clock offset")
        self.wall_offset_ns = offset
        if self.header.get("compression") == "zstd":
            import zstandard

            self._zd = zstandard.ZstdDecompressor()
        elif self.header.get("compression") is not None:
            raise CaptureError(f"{path}: unknown compression {self.header.get('compression')!r}")
        snap = self._read_frame(SNAPSHOT)
        if snap is None:
            self._skip_stub("its state snapshot")
            return
        try:
            self.state = state_from_wire(snap)
        except (KeyError, TypeError, ValueError, IndexError, AttributeError) as e:
            raise self._corrupt(f"unreadable state snapshot ({e!r})") from e
        self.state.hostname = str(self.header.get("hostname") or "")

    def _skip_stub(self, where: str) -> None:
        """A file that ends before its first event (a writer stopped as it began the file, e.g. on a
        full disk): nothing to replay, which is not an error for a series of files."""
        self._stub = True
        self.header = {}
        self._convert = None
        self._f.close()
        self.warning = f"{self.path} holds no events (it ends at byte {self._pos}{self._where} inside {where}): skipped"

    def batches(self) -> Iterator[Batch]:
        if self._stub:
            return
        try:
            while True:
                frame = self._next_frame()
                if frame is None:
                    break
                kind, body = frame
                if kind in (BATCH, PACKED):
                    batch = self._batch(kind, body)
                    self.events_read += len(batch.records)
                    yield batch
                elif kind == DROPS:
                    events = body.get("events") if isinstance(body, dict) else None
                    if not isinstance(events, int) or events < 0:
                        raise self._corrupt("malformed drop notice")
                    self.dropped += events
                elif kind == CONTAINERS:
                    self._containers(body)
                elif kind == END:
                    self._ended = True
                    self._after_trailer()
                    break
        finally:
            self._f.close()
        if not self._ended and self.warning is None:
            self.warning = (f"{self.path} ends without its trailer at byte {self._pos}{self._where} (the writer "
                            f"was stopped abruptly); replayed the {self.events_read} events before")

    def close(self) -> None:
        """Done with it before reading its batches (only its header was wanted)."""
        self._f.close()

    def _after_trailer(self) -> None:
        """Warn about bytes after the trailer (another file appended, or garbage): they are not read."""
        try:
            extra = self._fed - self._unpacker.tell() + len(self._read(1))
        except (OSError, EOFError, zlib.error, ValueError):
            extra = 1
        if extra:
            self.warning = f"{self.path} has data after its trailer (byte {self._pos}{self._where}): ignored"

    def _batch(self, kind: str, body: Any) -> Batch:
        try:
            if kind == PACKED:
                batch = unpack_packed(body).unpack()
            else:
                first_num, records, nums, flags = body
                n = len(records)
                if not (isinstance(first_num, int) and isinstance(records, list) and _ints(nums, n)
                        and _ints(flags, n)):
                    raise ValueError("inconsistent batch")
                batch = Batch(records, first_num, nums, flags)
            if self._convert is not None:
                batch.records = [self._convert(r) for r in batch.records]
            for i, rec in enumerate(batch.records):
                problem = record_problem(rec)
                if problem is not None:
                    raise ValueError(f"record {batch.num(i)}: {problem}")
        except Exception as e:  # any malformed body: the crc matched, so the writer or a migration is wrong
            raise self._corrupt(f"malformed event batch ({e})") from e
        return batch

    def _containers(self, body: Any) -> None:
        try:
            self.state.containers.apply_wire(body)
        except (KeyError, TypeError, ValueError, AttributeError) as e:
            raise self._corrupt(f"malformed container record ({e!r})") from e

    def _read_frame(self, expect: str) -> Any:
        frame = self._next_frame()
        if frame is None:
            return None
        kind, body = frame
        if kind != expect:
            raise self._corrupt(f"expected a {expect!r} record, found {kind!r}")
        return body

    def _next_frame(self) -> tuple[str, Any] | None:
        """The next frame of a known kind, checked and unpacked; None at the end of the data."""
        while True:
            obj = self._unpack()
            if obj is None:
                return None
            if not (isinstance(obj, list) and len(obj) == 3 and isinstance(obj[0], str)
                    and isinstance(obj[1], bytes) and isinstance(obj[2], int)):
                raise self._corrupt("not a capture record")
            kind, payload, crc = obj
            if frame_crc(kind, payload) != crc:
                raise self._corrupt("checksum mismatch")
            if kind not in KINDS:
                continue  # a record kind from a newer minor revision: skip it
            limit = payload_limit(kind)
            if self._zd is not None and kind != HEADER:
                payload = self._decompress(kind, payload, limit)
            if len(payload) > limit:
                raise self._corrupt(f"a {kind!r} record of {len(payload)} bytes (the format's limit is {limit})")
            try:
                return kind, load_body(kind, payload)
            except (ValueError, TypeError, msgpack.UnpackException) as e:
                raise self._corrupt(f"unreadable {kind!r} record ({e})") from e

    def _decompress(self, kind: str, payload: bytes, limit: int) -> bytes:
        """A zstd payload, never inflated past `limit` (a frame that claims more is refused unread)."""
        import zstandard

        try:
            size = zstandard.frame_content_size(payload)
            if size > limit:
                raise self._corrupt(f"a {kind!r} record claims {size} bytes (the format's limit is {limit})")
            out: bytes = self._zd.decompress(payload, max_output_size=limit)
            return out
        except zstandard.ZstdError as e:
            raise self._corrupt(f"cannot decompress ({e})") from e

    def _unpack(self) -> Any:
        while True:
            try:
                obj = self._unpacker.unpack()
                self._start = self._pos
                self._pos = self.bytes_read = len(MAGIC) + self._unpacker.tell()
                return obj
            except msgpack.OutOfData:
                pass
            except (ValueError, TypeError, msgpack.UnpackException) as e:
                raise self._corrupt(f"not a capture record ({type(e).__name__})", at_frame=False) from e
            if self._eof:
                if self._fed > self._unpacker.tell():
                    self.warning = (f"{self.path} is cut short at byte {self._pos}{self._where}: replayed the "
                                    f"{self.events_read} events before the cut, dropped an incomplete record")
                    self._ended = True
                return None
            try:
                chunk = self._read(CHUNK)
            except (OSError, EOFError, zlib.error, ValueError) as e:
                if "zstd" in type(e).__module__ or isinstance(e, (EOFError, zlib.error)):
                    chunk = b""  # a cut compressed stream: replay what came before
                else:
                    raise CaptureError(f"cannot read {self.path}: {e}") from e
            if not chunk:
                self._eof = True
                continue
            try:
                self._unpacker.feed(chunk)
            except msgpack.BufferFull as e:
                raise self._corrupt(f"a record is larger than the format allows ({MAX_FRAME} bytes)",
                                    at_frame=False) from e
            self._fed += len(chunk)

    def _read(self, n: int) -> bytes:
        read1 = getattr(self._f, "read1", None)  # one step at a time: a cut stream still yields what precedes the cut
        return read1(n) if read1 is not None else self._f.read(n)

    def _corrupt(self, what: str, *, at_frame: bool = True) -> CaptureError:
        offset = self._start if at_frame else self._pos
        return CaptureError(
            f"{self.path} is corrupt at byte {offset}{self._where}: {what}; "
            f"{self.events_read} events were read before it",
            hints=["the events before that point were replayed; the rest of this file is lost"],
        )


def _ints(values: Any, n: int) -> bool:
    """None, or a list of n ints (a batch's numbers or flags)."""
    return values is None or (isinstance(values, list) and len(values) == n
                              and all(isinstance(v, int) for v in values))
