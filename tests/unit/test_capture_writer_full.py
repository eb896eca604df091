"""keep_going (the daemon): a full disk drops and counts events, the writer retries every write, and
the first write that fits again notes the drops in a D frame; the file always replays."""
from __future__ import annotations

import errno
import os
import time

from sysmon.capture import writer as writer_mod
from sysmon.capture.format import Batch, make_header
from sysmon.capture.reader import open_source
from sysmon.capture.writer import CaptureWriter
from tests.capture_scenario import WALL_OFFSET_NS, records, start_state


class Disk:
    """os.writev that fails with ENOSPC while `full` (after writing what fits in `room`)."""

    def __init__(self) -> None:
        self.full = False
        self.room = 0
        self.real = os.write

    def writev(self, fd: int, buffers: list[bytes]) -> int:
        data = b"".join(buffers)
        if self.full:
            n = min(len(data), self.room)
            if n == 0:
                raise OSError(errno.ENOSPC, "No space left on device")
            self.room -= n
            return self.real(fd, data[:n])
        return self.real(fd, data)


def _writer(path: str) -> CaptureWriter:
    def header(seq: int) -> dict[str, object]:
        return make_header(wall_offset_ns=WALL_OFFSET_NS, snaplen=80, filter_text="", compression=None, seq=seq)

    state = start_state()
    return CaptureWriter(path, header, lambda: state, keep_going=True)


def _wait(cond, timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < deadline
        time.sleep(0.01)


def test_full_disk_drops_counts_and_resumes(tmp_path, monkeypatch) -> None:
    disk = Disk()
    monkeypatch.setattr(writer_mod.os, "writev", disk.writev)
    recs = records(rounds=6)
    path = str(tmp_path / "full.smc")
    w = _writer(path)
    w.add(Batch(recs[:10], 1))
    _wait(lambda: w.written == 10)
    disk.full, disk.room = True, 50  # part of the next frame fits: it is cut back
    w.add(Batch(recs[10:20], 11))
    _wait(lambda: w.full is not None)
    w.add(Batch(recs[20:30], 21))
    _wait(lambda: w.dropped == 20)
    w.check()  # not an error: the daemon keeps running
    assert "No space left on device" in (w.full or "")
    disk.full = False
    w.add(Batch(recs[30:40], 31))
    _wait(lambda: w.written == 20)
    assert w.full is None
    w.close()
    src = open_source(path)
    nums = [b.num(i) for b in src.batches() for i in range(len(b.records))]
    assert nums == [*range(1, 11), *range(31, 41)] and src.dropped == 20 and src.warning is None


def test_a_file_started_on_a_full_disk_gets_its_start_once_there_is_room(tmp_path, monkeypatch) -> None:
    disk = Disk()
    disk.full, disk.room = True, 30  # part of the header fits
    monkeypatch.setattr(writer_mod.os, "writev", disk.writev)
    recs = records(rounds=2)
    path = str(tmp_path / "stub.smc")
    w = _writer(path)  # does not raise
    assert w.full is not None
    w.add(Batch(recs[:5], 1))
    _wait(lambda: w.dropped == 5)
    src = open_source(path)
    assert list(src.batches()) == [] and "holds no events" in (src.warning or "")  # a stub: skipped
    disk.full = False
    w.add(Batch(recs[5:10], 6))
    _wait(lambda: w.written == 5)
    w.close()
    src = open_source(path)
    nums = [b.num(i) for b in src.batches() for i in range(len(b.records))]
    assert nums == list(range(6, 11)) and src.dropped == 5
