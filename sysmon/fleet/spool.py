"""The daemon's capture files as the shipping spool.

Files are shipped one after another in the order the daemon wrote them (`order_key`: start time,
pid, configuration number, index in the rotation), each from its first byte to its trailer, in runs
of whole frames. The checkpoint (a small JSON file beside the captures, replaced atomically) holds
the file being shipped and the offset the broker has acknowledged; everything before it is safe
to delete, nothing after it is (retention asks `Checkpoint.unshipped`).
"""
from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from typing import Any

import msgpack

from sysmon.capture.format import BATCH, END, HEADER, MAGIC, PACKED
from sysmon.daemon.retention import PATTERN

MAX_FRAME = 1 << 30
READ_CHUNK = 4 << 20
_KEY = re.compile(r"sysmon-(\d{8}T\d{6})-(\d+)-(\d+)\.smc(\d+)")


def order_key(name: str) -> tuple[str, int, int, int]:
    m = _KEY.fullmatch(os.path.basename(name))
    if m is None:
        raise ValueError(f"{name} is not a daemon capture file")
    return m[1], int(m[2]), int(m[3]), int(m[4])


def spool_files(directory: str) -> list[str]:
    """The daemon's capture files (names), in shipping order."""
    try:
        names = [e.name for e in os.scandir(directory) if PATTERN.fullmatch(e.name)]
    except FileNotFoundError:
        return []
    return sorted(names, key=order_key)


@dataclass(slots=True)
class Checkpoint:
    """`file` is shipped up to `off` (acknowledged); `done` once its trailer is acknowledged.
    `fseq`: the stream sequence of the file's first message (0 until it is acknowledged)."""

    file: str = ""
    off: int = 0
    fseq: int = 0
    done: bool = False

    @staticmethod
    def path(directory: str, stream: str) -> str:
        return os.path.join(directory, f".ship-{stream}.json")

    @classmethod
    def load(cls, path: str) -> Checkpoint:
        try:
            with open(path) as f:
                data: dict[str, Any] = json.load(f)
            return cls(str(data["file"]), int(data["off"]), int(data["fseq"]), bool(data["done"]))
        except FileNotFoundError:
            return cls()
        except (OSError, ValueError, KeyError, TypeError):
            return cls()  # unreadable: ship from the oldest file again (the broker drops what it has)

    def save(self, path: str) -> None:
        tmp = f"{path}.tmp"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o600)
        with os.fdopen(fd, "w") as f:
            json.dump({"file": self.file, "off": self.off, "fseq": self.fseq, "done": self.done}, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)

    def unshipped(self, names: list[str]) -> list[str]:
        """Of the file names, those not acknowledged whole."""
        if not self.file:
            return list(names)
        mark = order_key(self.file)
        return [n for n in names if order_key(n) > mark or (n == self.file and not self.done)]


@dataclass(slots=True)
class Chunk:
    """File bytes off..end (whole frames), with what the frames hold."""

    off: int
    end: int
    data: bytes
    first: int = 0  # event numbers of the first and last event in it (0: none)
    last: int = 0
    events: int = 0
    t0: int = 0  # wall times of the first and last event
    t1: int = 0
    ended: bool = False  # holds the trailer


class FileTail:
    """Reads a capture file that may still be growing, from `off` (a frame boundary), in chunks of
    whole frames. The header frame is read first in any case: it says how the payloads are compressed
    and how record times become wall times."""

    def __init__(self, directory: str, name: str, off: int) -> None:
        self.name = name
        self.path = os.path.join(directory, name)
        self._f = open(self.path, "rb")  # noqa: SIM115 (held across calls)
        self.off = off
        self.header: dict[str, Any] | None = None
        self.ended = False
        self._buf = bytearray()
        self._read_at = off
        self._zd: Any = None

    def close(self) -> None:
        self._f.close()

    def _fill(self, want: int) -> bool:
        """Read until `want` bytes are buffered; False when the file has no more for now."""
        while len(self._buf) < want:
            chunk = os.pread(self._f.fileno(), min(want - len(self._buf), READ_CHUNK), self._read_at)
            if not chunk:
                return False
            self._buf += chunk
            self._read_at += len(chunk)
        return True

    def _read_header(self) -> bool:
        head = os.pread(self._f.fileno(), 64 << 10, 0)
        if len(head) <= len(MAGIC) or not head.startswith(MAGIC):
            return False
        unpacker = msgpack.Unpacker(raw=False, max_buffer_size=MAX_FRAME)
        unpacker.feed(head[len(MAGIC):])
        try:
            kind, payload, _ = unpacker.unpack()
        except msgpack.OutOfData:
            return False
        if kind != HEADER:
            raise ValueError(f"{self.path} does not start with a header frame")
        self.header = msgpack.unpackb(payload, raw=False, strict_map_key=False)
        if self.header.get("compression") == "zstd":
            import zstandard

            self._zd = zstandard.ZstdDecompressor()
        return True

    @property
    def compressed(self) -> bool:
        return self._zd is not None

    def take(self, limit: int) -> Chunk | None:
        """The next whole frames, about `limit` bytes (at least one frame); None when none is complete yet."""
        if self.header is None and not self._read_header():
            return None
        self._fill(limit)
        start = len(MAGIC) if self.off == 0 else 0
        if len(self._buf) <= start:
            return None
        chunk = Chunk(self.off, self.off, b"")
        unpacker = msgpack.Unpacker(raw=False, max_buffer_size=MAX_FRAME)
        unpacker.feed(memoryview(self._buf)[start:])
        used = start
        while used < limit or used == start:
            try:
                kind, payload, _ = unpacker.unpack()
            except msgpack.OutOfData:
                if used > start or not self._fill(len(self._buf) + READ_CHUNK):
                    break
                unpacker = msgpack.Unpacker(raw=False, max_buffer_size=MAX_FRAME)  # a frame larger than limit
                unpacker.feed(memoryview(self._buf)[start:])
                continue
            used = start + unpacker.tell()
            self._count(kind, payload, chunk)
            if kind == END:
                chunk.ended = True
                break
        if used == start:
            return None
        chunk.end = self.off + used
        chunk.data = bytes(self._buf[:used])
        return chunk

    def advance(self, chunk: Chunk) -> None:
        """The chunk is acknowledged: drop its bytes."""
        del self._buf[: chunk.end - chunk.off]
        self.off = chunk.end
        self.ended = self.ended or chunk.ended

    def _count(self, kind: str, payload: bytes, chunk: Chunk) -> None:
        if kind not in (BATCH, PACKED):
            return
        body = msgpack.unpackb(self._zd.decompress(payload) if self._zd is not None else payload, raw=False)
        if kind == BATCH:
            first_num, records, nums, _ = body
            n = len(records)
            if not n:
                return
            first, last = (nums[0], nums[-1]) if nums is not None else (first_num, first_num + n - 1)
            ts0, ts1 = records[0][:8], records[-1][:8]
        else:
            first_num, data, starts_raw, _ = body
            n = len(starts_raw) // 4
            if not n:
                return
            s0, s1 = (int.from_bytes(starts_raw[i : i + 4], "little") for i in (0, len(starts_raw) - 4))
            first, last, ts0, ts1 = first_num, first_num + n - 1, data[s0 : s0 + 8], data[s1 : s1 + 8]
        offset = int(self.header["wall_offset_ns"]) if self.header else 0
        if not chunk.events:
            chunk.first, chunk.t0 = first, int.from_bytes(ts0, "little") + offset
        chunk.last, chunk.t1 = last, int.from_bytes(ts1, "little") + offset
        chunk.events += n
