"""Write with -w while printing, replay with -r: the same lines, names resolved from the snapshot."""
from __future__ import annotations

import os
import stat

import pytest

from tests.capture_scenario import WALL_OFFSET_NS, cli_args, live_run, records, replay_run, start_state
from sysmon.capture.format import STATE_ONLY
from sysmon.capture.reader import open_source
from sysmon.capture.snapshot import state_from_wire, state_to_wire
from sysmon.errors import CaptureError

FMT = "%evt.num %evt.time %proc.name %thread.tid %evt.dir %evt.type %fd.name %user.name %evt.info"


def batches(size: int = 7) -> list[list[bytes]]:
    recs = records()
    return [recs[i : i + size] for i in range(0, len(recs), size)]


@pytest.mark.parametrize("compress", [[], ["-z"]], ids=["plain", "zstd"])
@pytest.mark.parametrize("filter_", [[], ["fd.name=/etc/hosts"], ["evt.type=read and evt.dir=<"]],
                         ids=["all", "fd.name", "read-exits"])
def test_replay_prints_what_live_printed(tmp_path, compress, filter_):
    path = str(tmp_path / "a.smc")
    live = live_run(["-w", path, "-p", FMT, *compress, *filter_], batches())
    replayed, reports = replay_run(["-r", path, "-p", FMT, *filter_])
    assert live and replayed == live
    assert reports == []


def test_names_from_before_the_capture_resolve(tmp_path):
    path = str(tmp_path / "a.smc")
    live_run(["-w", path], batches())
    lines, _ = replay_run(["-r", path, "-p", "%evt.num %proc.name %fd.name %user.name",
                           "evt.type=read and evt.dir=< and proc.name=nginx"])
    assert lines[:2] == ["2 nginx /var/log/app.log www-data", "6 nginx /etc/hosts www-data"]


@pytest.mark.parametrize("packed", [False, True], ids=["records", "ring-bytes"])
def test_w_alone_is_quiet_and_writes_every_record(tmp_path, packed):
    path = str(tmp_path / "a.smc")
    assert live_run(["-w", path], batches(), packed=packed) == []
    src = open_source(path)
    got = [(b.num(i), r) for b in src.batches() for i, r in enumerate(b.records)]
    assert got == list(enumerate(records(), 1)) and src.warning is None
    assert src.header["wall_offset_ns"] == WALL_OFFSET_NS
    assert (b"\xa1P" in open(path, "rb").read()) == packed  # ring bytes go to P frames whole


def test_ring_bytes_are_split_where_records_are_needed_one_by_one(tmp_path):
    """-e cuts files at exact event counts, also when the records arrive in ring bytes."""
    path = str(tmp_path / "a.smc")
    live_run(["-w", path, "-e", "5"], batches(), packed=True)
    files = sorted(tmp_path.glob("a.smc*"), key=lambda f: int(f.name[5:]))
    counts = [sum(len(b.records) for b in open_source(str(f)).batches()) for f in files]
    assert sum(counts) == len(records()) and set(counts[:-1]) == {5}


def test_filtered_capture_keeps_state_events_hidden(tmp_path):
    """Fat file: openat/close of fd 4 do not match but are written STATE_ONLY; replay without a filter
    shows only the matching events, with their live numbers."""
    path = str(tmp_path / "a.smc")
    live_run(["-w", path, "evt.type=read and evt.dir=<"], batches())
    src = open_source(path)
    kept = list(src.batches())
    flags = [f for b in kept for f in (b.flags or [0] * len(b.records))]
    assert STATE_ONLY in flags and 0 in flags
    lines, _ = replay_run(["-r", path, "-p", "%evt.num %evt.type %fd.name"])
    assert lines == ["2 read /var/log/app.log", "6 read /etc/hosts",
                     "18 read /var/log/app.log", "22 read /etc/hosts",
                     "36 read /var/log/app.log", "40 read /etc/hosts"]


def test_read_write_filtered_subset_is_a_capture(tmp_path):
    full, sub = str(tmp_path / "full.smc"), str(tmp_path / "sub.smc")
    live_run(["-w", full], batches())
    replay_run(["-r", full, "-w", sub, "proc.name=nginx"])
    lines, _ = replay_run(["-r", sub, "-p", "%evt.num %proc.name %fd.name", "evt.type=read and evt.dir=<"])
    expected, _ = replay_run(["-r", full, "-p", "%evt.num %proc.name %fd.name",
                              "proc.name=nginx and evt.type=read and evt.dir=<"])
    assert lines == expected and len(lines) == 6


def test_several_files_and_globs_replay_in_order(tmp_path):
    a, b = str(tmp_path / "x1.smc"), str(tmp_path / "x2.smc")
    live_run(["-w", a], batches())
    live_run(["-w", b], batches())
    one, _ = replay_run(["-r", a, "-p", "%evt.num %fd.name", "evt.type=read and evt.dir=<"])
    both, _ = replay_run(["-r", str(tmp_path / "x*.smc"), "-p", "%evt.num %fd.name", "evt.type=read and evt.dir=<"])
    assert both == one + one


def test_files_are_private(tmp_path):
    path = tmp_path / "a.smc"
    path.write_bytes(b"old")
    os.chmod(path, 0o644)
    live_run(["-w", str(path)], batches())
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600


def test_numevents_limits_what_is_written(tmp_path):
    path = str(tmp_path / "a.smc")
    live_run(["-w", path, "-n", "10"], batches())
    assert sum(len(b.records) for b in open_source(path).batches()) == 10


def test_snapshot_round_trip_keeps_shared_fd_tables():
    state = start_state()
    state.threads[501] = type(state.threads[500])(501, 500, 1, "nginx", fdtable=state.threads[500].fdtable)
    back = state_from_wire(state_to_wire(state))
    assert back.threads[501].fdtable is back.threads[500].fdtable
    assert back.threads[500].fdtable.fds[3].name == "/var/log/app.log"
    assert back.threads[500].args == ["-g", "daemon off;"] and back.users[33] == "www-data"


def test_missing_file_and_foreign_file_are_clean_errors(tmp_path):
    with pytest.raises(CaptureError, match="no capture file matches"):
        replay_run(["-r", str(tmp_path / "nope*.smc")])
    junk = tmp_path / "junk"
    junk.write_bytes(b"hello world, not a capture")
    with pytest.raises(CaptureError, match="not a capture file"):
        replay_run(["-r", str(junk)])


def test_gzipped_capture_replays(tmp_path):
    import gzip

    path = tmp_path / "a.smc"
    live_run(["-w", str(path)], batches())
    gz = tmp_path / "a.smc.gz"
    gz.write_bytes(gzip.compress(path.read_bytes()))
    assert replay_run(["-r", str(gz)])[0] == replay_run(["-r", str(path)])[0]


def test_rotation_options_need_w():
    with pytest.raises(CaptureError, match="only make sense with -w"):
        cli_args("-C", "1")
    with pytest.raises(CaptureError, match="-W needs -C, -G or -e"):
        cli_args("-w", "x", "-W", "3")
