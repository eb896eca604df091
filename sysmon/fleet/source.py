"""One host's capture files, out of the stream, as replay sources.

The bodies of a file's messages, in order, are the file's bytes, so each file is read by the
ordinary capture reader (header, snapshot, batches, drop notices, trailer) over a file-like object
that pulls the next message when it needs more. A message seen twice (a retry stored twice, beyond
the broker's duplicate window) is recognised by its offset and skipped; a hole (messages the stream's
limits deleted) ends that file with a warning.
"""
from __future__ import annotations

import logging
from collections.abc import Iterator

import zstandard

from sysmon.capture.format import MAGIC, Batch
from sysmon.capture.reader import CaptureFile
from sysmon.errors import CaptureError
from sysmon.fleet.broker import Broker, Message, Pull
from sysmon.state.state import State

log = logging.getLogger(__name__)


class HostMessages:
    """A host's messages from `start_seq`: up to `end_seq` (None: follow, waiting for more)."""

    def __init__(self, broker: Broker, host: str, start_seq: int, end_seq: int | None,
                 until_ns: int | None = None) -> None:
        self.host = host
        self.end_seq = end_seq
        self.until_ns = until_ns
        self.cut = False  # stopped at until_ns
        self.at_end = False  # reached end_seq: the last file may not be shipped whole yet
        self.skipped = 0  # messages before the first file start
        self.duplicates = 0
        self._pull = Pull(broker, host, start_seq=start_seq)
        self._batch: list[Message] = []
        self._peeked: Message | None = None
        self._done = False
        self._zd = zstandard.ZstdDecompressor()

    def peek(self) -> Message | None:
        while self._peeked is None and not self._done:
            if not self._batch:
                self._batch = self._pull.fetch()
                self._batch.reverse()
                if not self._batch:
                    if self.end_seq is not None:
                        self._done = self.at_end = True  # nothing within the timeout: the stream holds no more
                    continue
            msg = self._batch.pop()
            if self.end_seq is not None and msg.seq >= self.end_seq:
                self._done = self.at_end = True
                if msg.seq > self.end_seq:
                    break
            h = msg.head
            if self.until_ns is not None and h.n and h.t0 > self.until_ns:
                self._done = self.cut = True
                break
            self._peeked = msg
        return self._peeked

    def take(self) -> Message:
        msg = self.peek()
        assert msg is not None
        self._peeked = None
        return msg

    def body(self, msg: Message) -> bytes:
        return self._zd.decompress(msg.body) if msg.head.z == "zstd" else msg.body

    def close(self) -> None:
        self._pull.close()

    def files(self, url: str) -> Iterator[StreamFile]:
        """The files, one after another (each must be read to its end before the next is asked for)."""
        try:
            while (msg := self.peek()) is not None:
                if msg.head.off != 0:  # the file's start is not in the stream (limits): no snapshot
                    self.skipped += 1
                    self.take()
                    continue
                yield StreamFile(self, f"{url}/{self.host}/{msg.head.file}")
        finally:
            if self.skipped:
                log.warning("%s: skipped %d messages before the first file start the stream holds",
                            self.host, self.skipped)
            self.close()


class _Body:
    """The file's bytes, message after message, as a binary file for CaptureFile."""

    def __init__(self, msgs: HostMessages) -> None:
        self.msgs = msgs
        first = msgs.take()
        self.file = first.head.file
        data = msgs.body(first)
        if not data.startswith(MAGIC):
            raise CaptureError(f"{msgs.host}/{self.file}: the stream's first message of the file is not its start")
        self._pending = data[len(MAGIC):]
        self._next_off = first.head.end
        self.gap: str | None = None

    def read1(self, n: int = -1) -> bytes:
        while not self._pending:
            msg = self.msgs.peek()
            if msg is None or msg.head.file != self.file:
                return b""
            self.msgs.take()
            h = msg.head
            if h.off < self._next_off:
                self.msgs.duplicates += 1
                continue
            if h.off > self._next_off:
                self.gap = f"bytes {self._next_off}..{h.off} of {self.file} are not in the stream"
                self._drain()
                return b""
            self._pending = self.msgs.body(msg)
            self._next_off = h.end
        data, self._pending = self._pending, b""
        return data

    read = read1

    def _drain(self) -> None:
        while (msg := self.msgs.peek()) is not None and msg.head.file == self.file:
            self.msgs.take()

    def close(self) -> None:
        """The reader stops (end of file, -n): skip what is left of this file."""
        self._pending = b""
        self._drain()


class StreamFile:
    """A ReplaySource: one of a host's files, out of the stream. Its state knows the host's name."""

    def __init__(self, msgs: HostMessages, path: str) -> None:
        self.path = path
        self._msgs = msgs
        self._body = _Body(msgs)
        self._cap = CaptureFile(path, self._body)  # type: ignore[arg-type]
        self.state: State = self._cap.state
        self.state.hostname = msgs.host
        self.wall_offset_ns: int = self._cap.wall_offset_ns
        self.bytes_read = 0

    @property
    def warning(self) -> str | None:
        if self._body.gap:
            return f"{self.path}: {self._body.gap} (deleted by the stream's limits?)"
        if self._msgs.cut or (self._msgs.at_end and self._msgs.peek() is None):
            return None  # stopped at --until on purpose, or the host's last file, still being shipped
        return self._cap.warning

    @property
    def dropped(self) -> int:
        return self._cap.dropped

    def batches(self) -> Iterator[Batch]:
        yield from self._cap.batches()
