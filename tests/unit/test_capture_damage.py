"""Files cut anywhere replay every complete record and warn once; corrupted files fail cleanly."""
from __future__ import annotations

import msgpack
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sysmon.capture.format import MAGIC
from sysmon.capture.reader import open_source
from sysmon.errors import CaptureError
from tests.capture_scenario import Out, live_run, records, replay_run


def small_capture(tmp_path, *extra: str) -> bytes:
    path = str(tmp_path / "small.smc")
    recs = records(rounds=2)
    live_run(["-w", path, *extra], [recs[i : i + 5] for i in range(0, len(recs), 5)])
    with open(path, "rb") as f:
        return f.read()


def frame_ends(data: bytes) -> list[int]:
    """File offsets where each frame ends, and the number of records in batch frames."""
    unpacker = msgpack.Unpacker(raw=False)
    unpacker.feed(data[len(MAGIC):])
    ends = []
    for _ in unpacker:
        ends.append(len(MAGIC) + unpacker.tell())
    return ends


def read_all(path: str):
    src = open_source(path)
    got = [r for b in src.batches() for r in b.records]
    return got, src.warning


@pytest.mark.parametrize("extra", [[], ["-z"]], ids=["plain", "zstd"])
def test_truncation_at_every_offset(tmp_path, extra):
    data = small_capture(tmp_path, *extra)
    ends = frame_ends(data)
    all_records = records(rounds=2)
    batch_sizes = [5] * (len(all_records) // 5) + ([len(all_records) % 5] if len(all_records) % 5 else [])
    snapshot_end = ends[1]
    path = str(tmp_path / "cut.smc")
    for cut in range(len(data)):
        with open(path, "wb") as f:
            f.write(data[:cut])
        if cut < snapshot_end:  # a stub (a writer stopped as it began the file): skipped with a warning
            got, warning = read_all(path)
            assert got == [] and warning is not None and "holds no events" in warning, cut
            continue
        got, warning = read_all(path)
        complete = sum(1 for e in ends[2 : 2 + len(batch_sizes)] if e <= cut)
        assert got == all_records[: sum(batch_sizes[:complete])], cut
        assert warning is not None and f"byte {max(e for e in ends if e <= cut)}" in warning, cut
    got, warning = read_all(_write(path, data))
    assert got == all_records and warning is None


def test_cut_file_warns_once_on_replay(tmp_path):
    data = small_capture(tmp_path)
    path = _write(str(tmp_path / "cut.smc"), data[: len(data) - 30])
    lines, reports = replay_run(["-r", path])
    assert lines and len(reports) == 1 and "cut short at byte" in reports[0]


def _write(path: str, data: bytes) -> str:
    with open(path, "wb") as f:
        f.write(data)
    return path


FMT = "%evt.num %proc.name %fd.name %evt.info"


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.data())
def test_corruption_gives_clean_errors(tmp_path, data):
    """Damaged bytes: a clean error or not, but every event of the frames before the first damaged
    byte prints exactly as from the intact file (no silently wrong decoding of what is intact)."""
    original = small_capture(tmp_path, *data.draw(st.sampled_from([[], ["-z"]])))
    buf = bytearray(original)
    flipped = [data.draw(st.integers(0, len(buf) - 1)) for _ in range(data.draw(st.integers(1, 4)))]
    for pos in flipped:
        buf[pos] ^= data.draw(st.integers(1, 255))
    path = _write(str(tmp_path / "bad.smc"), bytes(buf))
    intact, _ = replay_run(["-r", _write(str(tmp_path / "good.smc"), original), "-p", FMT])
    ends = frame_ends(original)
    out = Out()
    try:
        replay_run(["-r", path, "-p", FMT], out)
    except CaptureError as e:
        assert "byte" in e.message or "not a capture file" in e.message or "header" in e.message, e.message
    if min(flipped) >= ends[1]:  # header and state snapshot intact: so is every batch before the damage
        last_intact = sum(1 for e in ends[2:] if e <= min(flipped)) * 5  # small_capture: 5 records a batch
        want = [line for line in intact if int(line.split(" ", 1)[0]) <= last_intact]
        assert out.lines()[: len(want)] == want


def test_corrupt_batch_reports_offset_and_count(tmp_path):
    data = small_capture(tmp_path)
    ends = frame_ends(data)
    buf = bytearray(data)
    buf[ends[3] - 10] ^= 0xFF  # inside the second batch
    path = _write(str(tmp_path / "bad.smc"), bytes(buf))
    with pytest.raises(CaptureError) as err:
        replay_run(["-r", path])
    assert f"corrupt at byte {ends[2]}" in err.value.message and "5 events were read" in err.value.message


def test_other_files_still_replay_after_a_corrupt_one(tmp_path):
    good = small_capture(tmp_path)
    buf = bytearray(good)
    buf[frame_ends(good)[3] - 10] ^= 0xFF
    bad_path = _write(str(tmp_path / "a-bad.smc"), bytes(buf))
    good_path = _write(str(tmp_path / "b-good.smc"), good)
    with pytest.raises(CaptureError, match="1 of 2 capture files"):
        replay_run(["-r", bad_path, "-r", good_path])
    alone, _ = replay_run(["-r", good_path, "-p", "%evt.num"])
    out: list[str] = []
    from tests.capture_scenario import Out, cli_args
    from sysmon.pipeline import Pipeline
    from sysmon.replay import ReplaySession

    o = Out()
    with pytest.raises(CaptureError):
        ReplaySession(Pipeline.build(cli_args("-r", bad_path, "-r", good_path, "-p", "%evt.num"), o), o,
                      out.append).run()
    assert o.lines()[-len(alone):] == alone and len(out) == 1 and "corrupt" in out[0]
