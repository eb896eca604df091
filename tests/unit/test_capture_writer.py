"""Rotation (-C -G -W -e), the bounded queue, and a disk that fills up."""
from __future__ import annotations

import os
import subprocess
import time

import pytest

from sysmon.capture.format import Batch, make_header
from sysmon.capture.reader import open_source
from sysmon.capture.rotate import Rotation
from sysmon.capture.writer import CaptureWriter
from sysmon.errors import CaptureError
from tests.capture_scenario import WALL_OFFSET_NS, live_run, records, replay_run, start_state

READS = ["-p", "%evt.num %proc.name %fd.name", "evt.type=read and evt.dir=<"]


def batches(size: int = 4) -> list[list[bytes]]:
    recs = records(rounds=6)
    return [recs[i : i + size] for i in range(0, len(recs), size)]


def count(path: str) -> int:
    return sum(len(b.records) for b in open_source(path).batches())


def test_event_limit_cuts_exact_files_that_replay_alone(tmp_path):
    base = str(tmp_path / "ev.smc")
    live_run(["-w", base, "-e", "10"], batches())
    total = len(records(rounds=6))
    files = sorted(tmp_path.iterdir(), key=lambda p: int(p.name[len("ev.smc"):]))
    assert [p.name for p in files] == [f"ev.smc{i}" for i in range(len(files))]
    assert [count(str(p)) for p in files] == [10] * (total // 10) + ([total % 10] if total % 10 else [])
    whole, _ = replay_run(["-r", str(tmp_path / "ev.smc*"), *READS])
    assert len(whole) == 12
    pieces = [line for p in files for line in replay_run(["-r", str(p), *READS])[0]]
    assert pieces == whole  # each file resolves its names alone (fd 4 opened in an earlier file too)


def test_ring_keeps_the_last_files(tmp_path):
    base = str(tmp_path / "ring.smc")
    live_run(["-w", base, "-e", "10", "-W", "2"], batches())
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ring.smc0", "ring.smc1"]
    total = len(records(rounds=6))
    nums = [b.num(i) for p in tmp_path.iterdir() for b in open_source(str(p)).batches() for i in range(len(b.records))]
    assert max(nums) == total and len(nums) == 10 + (total % 10 or 10)


def test_size_rotation(tmp_path):
    base = str(tmp_path / "c.smc")
    live_run(["-w", base, "-C", "0.004"], batches(2))
    files = sorted(tmp_path.iterdir())
    assert len(files) >= 3
    assert sum(count(str(p)) for p in files) == len(records(rounds=6))
    for p in files[:-1]:
        assert p.stat().st_size < 4_000 + 2_000  # cut at the first batch past the size


def test_time_rotation_with_strftime_and_file_limit(tmp_path):
    rotation = Rotation(seconds=0.2, files=2)
    writer = CaptureWriter(str(tmp_path / "t-%Y.smc"), _header, start_state, rotation=rotation)
    recs = records()
    for i in range(20):
        writer.add(Batch(recs[i : i + 1], i + 1))
        time.sleep(0.03)
        if writer.finished:
            break
    writer.close()
    year = time.strftime("%Y")
    assert writer.finished and writer.files == [f"{tmp_path}/t-{year}.smc"] * 2


def test_time_rotation_names_with_counter(tmp_path):
    rotation = Rotation(seconds=1.0)  # 0.1 s was due before the first add on a loaded machine (3 files)
    writer = CaptureWriter(str(tmp_path / "g.smc"), _header, start_state, rotation=rotation)
    writer.add(Batch(records()[:2], 1))
    time.sleep(1.05)
    writer.tick()
    writer.add(Batch(records()[2:4], 3))
    writer.close()
    assert [os.path.basename(f) for f in writer.files] == ["g.smc0", "g.smc1"]
    assert count(writer.files[1]) == 2 and open_source(writer.files[1]).header["seq"] == 1


def test_full_queue_drops_and_counts(tmp_path):
    path = str(tmp_path / "q.smc")
    writer = CaptureWriter(path, _header, start_state, queue_bytes=1)  # nothing fits
    writer.add(Batch(records()[:5], 1))
    writer.close()
    assert writer.dropped == 5 and writer.lost == 5
    src = open_source(path)
    assert list(src.batches()) == [] and src.dropped == 5 and src.warning is None


def _header(seq: int) -> dict:
    return make_header(wall_offset_ns=WALL_OFFSET_NS, snaplen=80, filter_text="", compression=None, seq=seq)


@pytest.fixture
def tiny_tmpfs(tmp_path):
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root")
    mnt = tmp_path / "tiny"
    mnt.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(mnt)]).returncode:
        pytest.skip("cannot mount a tmpfs here")
    yield mnt
    subprocess.run(["umount", str(mnt)], check=True)


def test_disk_full_is_a_clear_error_and_the_file_stays_readable(tiny_tmpfs):
    path = str(tiny_tmpfs / "full.smc")
    recs = records(rounds=40)
    with pytest.raises(CaptureError) as err:
        live_run(["-w", path], [recs[i : i + 20] for i in range(0, len(recs), 20)] * 20)
    msg = err.value.message
    assert "No space left on device" in msg and "events were lost" in msg, msg
    assert any("-C" in h for h in err.value.hints)
    src = open_source(path)
    got = sum(len(b.records) for b in src.batches())
    assert got > 0 and f"holds the {got} events" in msg
    assert src.warning is not None and "trailer" in src.warning


@pytest.mark.parametrize("n", [0, 7, 255, 256, 65535, 65536, 300_001])
def test_a_packed_frame_is_written_from_its_parts_as_msgpack_would_frame_it(n: int) -> None:
    from sysmon.capture.format import PACKED, Framer, PackedBatch, _u32le

    data = os.urandom(n)
    starts = list(range(0, n, 8))
    batch = PackedBatch(data, starts, [min(8, n - s) for s in starts], 70_000)
    framer = Framer(None)
    frame = framer.packed(batch)
    whole = framer.frame(PACKED, [batch.first_num, data, _u32le(batch.starts), _u32le(batch.lengths)])
    assert b"".join(frame.parts) == whole and len(frame) == len(whole)
    assert frame.parts[1] is data  # the records are not copied


def test_partial_writes_resume_where_the_kernel_stopped(tmp_path, monkeypatch) -> None:
    from sysmon.capture import writer

    real = os.writev
    calls = []

    def short_writev(fd, buffers):  # at most 5 bytes per call, and never more than two buffers
        calls.append(len(buffers))
        return real(fd, [bytes(memoryview(b"".join(bytes(b) for b in buffers[:2]))[:5])])

    monkeypatch.setattr(writer.os, "writev", short_writev)
    buffers = [b"abc", b"", b"defghijkl", os.urandom(23), b"m"]
    fd = os.open(tmp_path / "out", os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        assert writer._write_all(fd, list(buffers)) == (sum(map(len, buffers)), None)
    finally:
        os.close(fd)
    assert (tmp_path / "out").read_bytes() == b"".join(buffers)
    assert len(calls) == -(-sum(map(len, buffers)) // 5)


def test_a_write_error_reports_the_bytes_written_before_it(tmp_path) -> None:
    from sysmon.capture import writer

    r, w = os.pipe()
    os.close(r)  # EPIPE at the first write
    try:
        done, error = writer._write_all(w, [b"x" * 10])
    finally:
        os.close(w)
    assert done == 0 and isinstance(error, BrokenPipeError)
