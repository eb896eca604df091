"""CaptureWriter: batches of raw records -> capture files, on a thread of its own.

The producer (the live loop, or a replay with -w) never waits for the disk: batches go into a queue
bounded in bytes, and when it is full the batch is dropped and counted; a `D` frame in the file
marks where. Rotation is decided on the producer side, between batches, so each new file's state
snapshot is the state right after the last event of the previous file.

Files are created 0600. On a write error the file is cut back to its last complete frame, so it
stays readable, and the error is raised to the producer on its next call. With `keep_going` (the
daemon), a full disk is not an error: the frames that did not fit are dropped and counted, `full`
says since when, every later write tries again, and the first that fits starts with a `D` frame.

`space` (the daemon's retention) is asked for room before every write, so a bounded directory
makes room before it would go past its bound.
"""
from __future__ import annotations

import errno
import os
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from sysmon import threads
from sysmon.capture.format import CONTAINERS, DROPS, END, HEADER, MAGIC, SNAPSHOT, Batch, Frame, Framer, PackedBatch
from sysmon.capture.rotate import Rotation
from sysmon.capture.snapshot import state_to_wire
from sysmon.errors import CaptureError
from sysmon.state.containers import Delta
from sysmon.state.state import State

QUEUE_BYTES = 128 << 20  # record bytes queued or being written: ~1M events; absorbs a 4M-event storm with no drop
WRITE_CHUNK = 4 << 20
IOV_MAX = os.sysconf("SC_IOV_MAX")


_FULL = (errno.ENOSPC, errno.EDQUOT)


class Space(Protocol):
    """Told before each write where and how much (it may delete older files to make room)."""

    def room(self, path: str, nbytes: int) -> None: ...

    def closed(self, path: str) -> None: ...


@dataclass(slots=True)
class _Open:
    name: str
    header: dict[str, Any]
    snapshot: dict[str, Any]


@dataclass(slots=True)
class _Drops:
    events: int


class CaptureSink(Protocol):
    """What the pump writes to: a CaptureWriter (sysmon's format) or a scap.writer.ScapWriter (sysdig's)."""

    files: list[str]
    written: int
    dropped: int
    finished: bool
    rotation: Rotation

    def room(self) -> int | None: ...

    def add(self, batch: Batch | PackedBatch) -> None: ...

    def tick(self) -> None: ...

    def check(self) -> None: ...

    def close(self) -> None: ...


@dataclass(slots=True)
class _Containers:
    body: dict[str, Any]


class CaptureWriter:
    def __init__(
        self,
        base: str,
        header: Callable[[int], dict[str, Any]],
        state: Callable[[], State],
        *,
        rotation: Rotation = Rotation(),
        compression: str | None = None,
        queue_bytes: int = QUEUE_BYTES,
        containers: Callable[[Batch | PackedBatch | None], Delta] | None = None,
        space: Space | None = None,
        keep_going: bool = False,
        full_hint: str = "free some space, or bound the capture with -C/-W (ring of files) or -M",
    ) -> None:
        """`header(seq)` makes the header of file number seq; `state()` gives the current state for
        the snapshot that starts each file; `containers(batch)` what the container table learned since it
        was last asked (the batch's cgroup ids included), written as a `C` record before the batch."""
        self.base = base
        self.rotation = rotation
        self.queue_bytes = queue_bytes
        self.files: list[str] = []  # every file started, in order
        self.accepted = 0  # events queued
        self.dropped = 0  # events dropped because the disk fell behind
        self.written = 0  # events that reached the kernel (writer thread)
        self.finished = False  # -G with -W: the last file is complete; stop capturing
        self.full: str | None = None  # keep_going: why writes fail (disk full), until one fits again
        self.full_since = 0.0
        self._space = space
        self._keep_going = keep_going
        self._full_hint = full_hint
        self._lost_full = 0  # events dropped on a full disk, not yet noted by a D frame
        self._start: list[bytes] = []  # the current file's header and snapshot, until written
        self._header = header
        self._state = state
        self._containers = containers
        self._framer = Framer(compression)
        self._cond = threading.Condition()
        self._queue: deque[Batch | PackedBatch | _Open | _Drops | _Containers | None] = deque()
        self._queued_bytes = 0
        self._pending_drops = 0
        self._error: CaptureError | None = None
        self._os_failure: OSError | None = None
        self._rotating = False  # a new file is queued and not open yet: its size is unknown
        self._file_events = 0
        self._file_bytes = 0  # bytes in the current file (writer thread)
        # -C estimates the size of the current file before the writer thread catches up: record bytes
        # queued for it, times the ratio of file bytes to record bytes seen so far (zstd shrinks them).
        self._file_raw = 0  # record bytes queued for the current file (producer)
        self._file_base = 0  # header and snapshot bytes of the current file (writer thread)
        self._raw_out = 0  # record bytes written, all files (writer thread)
        self._bytes_out = 0  # their frame bytes
        self._opened_s = time.monotonic()
        self._fd = -1
        self._name = ""
        self._file_written = 0
        first = self._next_open()
        try:
            self._open(first)  # synchronously: a bad path fails before capture starts
        except OSError as e:
            raise self._os_error(e) from e
        self._thread = threads.start(self._run, "sysmon-writer")

    # -- producer side ---------------------------------------------------------------------------

    def room(self) -> int | None:
        """Events the current file takes before it rotates (-e), or None when unbounded."""
        return self.rotation.events - self._file_events if self.rotation.events else None

    def add(self, batch: Batch | PackedBatch) -> None:
        """Queue a batch (never blocks); rotate afterwards if the current file is due."""
        self.check()
        n, size = _count_and_size(batch)
        delta = self._containers(batch) if self._containers is not None else None
        if delta:
            with self._cond:
                self._queue.append(_Containers(delta.to_wire()))
        if n:
            with self._cond:
                if self._queued_bytes + size > self.queue_bytes:
                    self.dropped += n
                    self._pending_drops += n
                    return
                if self._pending_drops:
                    self._queue.append(_Drops(self._pending_drops))
                    self._pending_drops = 0
                self._queue.append(batch)
                self._queued_bytes += size
                self._cond.notify()
            self.accepted += n
            self._file_events += n
            self._file_raw += size
        self.tick()

    def tick(self) -> None:
        """Rotate if the current file is due (call when idle too, for -G)."""
        rot = self.rotation
        if self.full:
            return  # a new file would not fit either: the current one takes the data once there is room
        file_bytes = self._file_raw * (self._bytes_out / self._raw_out if self._raw_out else 1.0)
        if not self._rotating:
            file_bytes += self._file_base
        if rot.active and not self.finished and rot.due(file_bytes, self._file_events, self._opened_s, time.monotonic()):
            if rot.exhausted(len(self.files)):
                self.finished = True
                return
            self._put(self._next_open())

    def check(self) -> None:
        """Raise the writer thread's error, if it had one."""
        if self._os_failure is not None:
            raise self._os_error(self._os_failure)
        if self._error is not None:
            raise self._error

    def close(self) -> None:
        """Write what is queued, the trailer, and close. Raises a write error that happened."""
        if self._thread.is_alive():
            self._put(None)
            self._thread.join()
        self.check()

    @property
    def lost(self) -> int:
        """Events accepted or dropped that are not in any file."""
        return self.dropped + self.accepted - self.written

    def _next_open(self) -> _Open:
        if self._containers is not None:
            self._containers(None)  # the snapshot holds every container
        self.files.append(self.rotation.file_name(self.base, len(self.files)))
        self._file_events = 0
        self._file_raw = 0
        self._opened_s = time.monotonic()
        self._rotating = True
        return _Open(self.files[-1], self._header(len(self.files) - 1), state_to_wire(self._state()))

    def _put(self, item: _Open | None) -> None:
        with self._cond:
            if self._pending_drops:
                self._queue.append(_Drops(self._pending_drops))
                self._pending_drops = 0
            self._queue.append(item)
            self._cond.notify()

    # -- writer thread ---------------------------------------------------------------------------

    def _run(self) -> None:
        try:
            while True:
                with self._cond:
                    while not self._queue:
                        self._cond.wait()
                    items = list(self._queue)
                    self._queue.clear()
                if not self._write_items(items):
                    return
        except CaptureError as e:
            self._error = e
        except OSError as e:
            self._os_failure = e
        except Exception as e:  # a bug: still end the capture with a message, not a silent thread death
            self._error = CaptureError(f"the capture writer failed: {e!r}")
        if self._fd >= 0:  # failed: the file stays as it is (cut back to whole frames)
            os.close(self._fd)
            self._fd = -1

    def _write_items(self, items: list[Batch | PackedBatch | _Open | _Drops | _Containers | None]) -> bool:
        """Frame and write the items in writes of about WRITE_CHUNK bytes. A batch counts against the
        queue's bound until its frame is written, so batches queued plus held here stay within it."""
        frames: list[bytes | Frame] = []
        counts: list[int] = []  # events in each frame
        held = framed = 0  # record bytes of the batches in `frames`, and the frames' bytes

        def write() -> None:
            nonlocal held, framed
            self._write(frames, counts)
            with self._cond:
                self._queued_bytes -= held
            frames.clear()
            counts.clear()
            held = framed = 0

        for i, item in enumerate(items):
            items[i] = None  # let each batch go once framed
            if isinstance(item, (Batch, PackedBatch)):
                frame = self._framer.batch(item) if isinstance(item, Batch) else self._framer.packed(item)
                n, size = _count_and_size(item)
                frames.append(frame)
                counts.append(n)
                held += size
                framed += len(frame)
                self._raw_out += size
                self._bytes_out += len(frame)
                if framed >= WRITE_CHUNK:
                    write()
            elif isinstance(item, _Drops):
                frames.append(self._framer.frame(DROPS, {"events": item.events}))
                counts.append(0)
            elif isinstance(item, _Containers):
                frames.append(self._framer.frame(CONTAINERS, item.body))
                counts.append(0)
            else:
                write()
                self._finish_file()
                if item is None:
                    return False
                self._open(item)
        write()
        return True

    def _open(self, item: _Open) -> None:
        # Frames first: a crash between creating the file and writing its start leaves a file that
        # holds no events and does not replay, so keep that window to one system call.
        start = [MAGIC + self._framer.frame(HEADER, item.header), self._framer.frame(SNAPSHOT, item.snapshot)]
        try:
            fd = os.open(item.name, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o600)
            os.fchmod(fd, 0o600)  # an existing file keeps its mode through O_TRUNC
        except OSError as e:
            raise CaptureError(f"cannot write the capture file {item.name}: {e.strerror}") from e
        self._fd, self._name, self._file_written, self._file_bytes = fd, item.name, 0, 0
        self._rotating = False
        self._start = start
        self._write([], [])
        self._file_base = self._file_bytes

    def _finish_file(self) -> None:
        self._write([self._framer.frame(END, {"events": self._file_written})], [0])
        try:
            os.fsync(self._fd)
        except OSError as e:
            if not (self._keep_going and e.errno in _FULL):
                raise
        os.close(self._fd)
        self._fd = -1
        if self._space is not None:
            self._space.closed(self._name)

    def _write(self, frames: list[bytes | Frame], counts: list[int]) -> None:
        if self._start:  # the file's start first (a full disk may have kept it out so far)
            frames, counts = [*self._start, *frames], [0] * len(self._start) + counts
        if self._lost_full and frames:
            frames.insert(len(self._start), self._framer.frame(DROPS, {"events": self._lost_full}))
            counts.insert(len(self._start), 0)
        if not frames:
            return
        size = sum(map(len, frames))
        if self._space is not None:
            self._space.room(self._name, size)
        done, error = _write_all(self._fd, [p for f in frames for p in (f.parts if isinstance(f, Frame) else (f,))])
        if error is not None:
            whole = self._cut(frames, counts, done)
            if not (self._keep_going and error.errno in _FULL):
                raise error
            self._disk_full(error, frames, counts, whole)
            return
        self._file_bytes += done
        self._file_written += sum(counts)
        self.written += sum(counts)
        self._start = []
        self._lost_full = 0
        self.full = None

    def _disk_full(self, e: OSError, frames: list[bytes | Frame], counts: list[int], whole: int) -> None:
        """keep_going: drop (and count) what did not fit; the next write tries again."""
        written = 0
        kept = 0
        for frame, count in zip(frames, counts):
            if written + len(frame) > whole:
                break
            written += len(frame)
            kept += 1
        n_start = len(self._start)
        self._start = self._start[kept:] if kept < n_start else []
        lost = sum(counts[kept:])
        self.dropped += lost
        self._lost_full = (self._lost_full if kept <= n_start else 0) + lost
        if self.full is None:
            self.full_since = time.time()
        self.full = f"writing {self._name} failed: {e.strerror}"

    def _cut(self, frames: list[bytes | Frame], counts: list[int], done: int) -> int:
        """Cut the file back to the last frame written whole, and count the events that made it;
        returns the bytes kept."""
        whole = 0
        for frame, count in zip(frames, counts):
            if whole + len(frame) > done:
                break
            whole += len(frame)
            self.written += count
            self._file_written += count
        try:
            os.ftruncate(self._fd, self._file_bytes + whole)
            os.lseek(self._fd, self._file_bytes + whole, os.SEEK_SET)  # the next write goes right there
        except OSError:
            pass  # the reader treats a cut frame as the end of the file anyway
        self._file_bytes += whole
        return whole

    def _os_error(self, e: OSError) -> CaptureError:
        hints = [self._full_hint] if e.errno in _FULL else []
        return CaptureError(f"writing {self._name} failed: {e.strerror}; the file holds the {self.written} "
                            f"events written before, {self.lost} events were lost", hints=hints)


def _write_all(fd: int, buffers: list[bytes]) -> tuple[int, OSError | None]:
    """Write the buffers in order with as few system calls as writev allows; (bytes written, the
    error that stopped it or None)."""
    done = 0
    i = 0  # the first buffer not written whole
    skip = 0  # bytes of it already written
    try:
        while i < len(buffers):
            batch: list[bytes | memoryview] = list(buffers[i : i + IOV_MAX])
            if skip:
                batch[0] = memoryview(batch[0])[skip:]
            n = os.writev(fd, batch)
            done += n
            n += skip
            while i < len(buffers) and n >= len(buffers[i]):
                n -= len(buffers[i])
                i += 1
            skip = n
    except OSError as e:
        return done, e
    return done, None


def _count_and_size(batch: Batch | PackedBatch) -> tuple[int, int]:
    if isinstance(batch, PackedBatch):
        return len(batch.starts), len(batch.data)
    return len(batch.records), sum(map(len, batch.records))
