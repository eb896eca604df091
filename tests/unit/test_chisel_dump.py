"""Exporting the events around matches (the around chisel, spy_logs dump_file_name): exact window
membership, a file that replays on its own with names resolved, the same file live and from a replay."""
from __future__ import annotations

import os
import random

import pytest

from sysmon.capture.format import STATE_ONLY
from sysmon.capture.reader import open_source
from sysmon.chisel.dump import Windows
from sysmon.errors import ChiselError
from sysmon.events.decode import Decoder
from sysmon.events.record import RECORD_HEADER
from sysmon.events.model import BLOB_BUF, BLOB_STR, ENTER, EXIT
from sysmon.events.schema import Schema
from tests import capture_scenario as sc

MS = 1_000_000
R_MS = 50
MATCH = "fd.name=/var/log/app.log and evt.dir=<"


def at(rec: bytes, ms: float) -> bytes:
    return RECORD_HEADER.pack(int(ms * MS), *RECORD_HEADER.unpack_from(rec)[1:]) + rec[RECORD_HEADER.size:]


def stream() -> list[bytes]:
    """ticker filler every 10 ms for 1 s; nginx: /etc/hosts opened as fd 4 at 100 ms (before any
    window), log reads (the matches) at 300 and 700 ms, fd 4 closed in the first window and reopened
    as /tmp/b in the gap between windows (500 ms), then read in the second window."""
    recs: list[tuple[float, bytes]] = []
    for i in range(100):
        recs.append((i * 10 + 1, sc.record("getpid", ENTER, tid=600, comm=b"ticker")))
        recs.append((i * 10 + 2, sc.record("getpid", EXIT, ret=600, tid=600, comm=b"ticker")))

    def opened(ms: float, fd: int, path: bytes) -> None:
        blob = ((BLOB_STR, 1, path),)
        recs.append((ms, sc.record("openat", ENTER, args=(sc.AT_FDCWD, 0, 0), blobs=blob)))
        recs.append((ms + 0.5, sc.record("openat", EXIT, ret=fd, args=(sc.AT_FDCWD, 0, 0), blobs=blob)))

    def read(ms: float, fd: int, data: bytes) -> None:
        recs.append((ms, sc.record("read", ENTER, args=(fd, 0, 100))))
        recs.append((ms + 0.5, sc.record("read", EXIT, ret=len(data), args=(fd, 0, 100), blobs=((BLOB_BUF, 1, data),))))

    opened(100, 4, b"/etc/hosts")
    read(290, 4, b"127.0.0.1")
    read(300, 3, b"log line 1")
    recs.append((320, sc.record("close", ENTER, args=(4,))))
    recs.append((320.5, sc.record("close", EXIT, args=(4,))))
    opened(500, 4, b"/tmp/b")
    read(690, 4, b"bbb")
    read(700, 3, b"log line 2")
    recs.sort(key=lambda r: r[0])
    return [at(rec, ms) for ms, rec in recs]


def decoded(records: list[bytes]) -> list:
    decoder = Decoder(Schema.default(), sc.WALL_OFFSET_NS)
    return [decoder.decode(r) for r in records]


def in_windows(events, matches, r_ns: int) -> set[int]:
    return {e.num for e in events if any(abs(e.ts_ns - m.ts_ns) <= r_ns for m in matches)}


def run(argv: list[str], chisels: list[tuple[str, str | None]], records: list[bytes] | None = None) -> list[str]:
    """`sysmon ARGV -c ...`: live on `records` (the probe replaced by them), or a replay with -r."""
    cfg = sc.cli_args(*argv, chisels=chisels)
    if cfg.inputs:
        return sc.replay_output(cfg).splitlines()
    recs = records or []
    batches = [recs[i:i + 7] for i in range(0, len(recs), 7)]  # in small batches, as the probe delivers
    return sc.live_output(cfg, batches).splitlines()


def shown(path: str) -> list[str]:
    """`sysmon -r PATH -p '%evt.num %proc.name %evt.type %fd.name'`."""
    lines, reports = sc.replay_run(["-r", path, "-p", "*%evt.num %proc.name %evt.dir %evt.type %fd.name"])
    assert reports == []
    return lines


def test_windows_merge_and_cover():
    w = Windows()
    w.add(100, 200)
    w.add(400, 500)
    w.add(150, 250)  # overlaps the first
    assert len(w) == 2 and w.covers(250) and not w.covers(251) and w.covers(100) and not w.covers(99)
    w.add(240, 410)  # joins both
    assert len(w) == 1 and w.covers(300) and w.covers(500)
    w.add(0, 10)  # before, out of order
    assert len(w) == 2 and w.covers(5) and not w.covers(50)
    w.forget_before(20)
    assert len(w) == 1 and not w.covers(5)


def test_around_writes_exactly_the_events_within_the_range_of_each_match(tmp_path):
    path = str(tmp_path / "around.smc")
    records = stream()
    out = run([MATCH], [("around", f"{path} {R_MS}")], records)
    events = decoded(records)
    matches = [e for e in events if e.type == "read" and e.dir == EXIT and e.raw_args[0] == 3]
    want = in_windows(events, matches, R_MS * MS)
    assert len(matches) == 2 and 10 < len(want) < len(events) // 2
    assert out == [f"wrote {len(want)} events around 2 matches to {path}"]
    lines = shown(path)
    assert [int(line.split()[0]) for line in lines] == sorted(want)  # in order, nothing else shown
    assert os.stat(path).st_mode & 0o777 == 0o600
    # Names resolve: fd 4 opened before the file starts (snapshot), reopened between the windows.
    by_data = {line.split()[0]: line for line in lines}
    first_read = next(e for e in events if e.type == "read" and e.dir == EXIT and e.raw_args[0] == 4)
    assert by_data[str(first_read.num)].endswith("< read /etc/hosts")
    later = [e for e in events if e.type == "read" and e.dir == EXIT and e.raw_args[0] == 4][1]
    assert by_data[str(later.num)].endswith("< read /tmp/b")
    assert by_data[str(matches[0].num)].endswith("< read /var/log/app.log")


def test_state_events_between_windows_are_written_hidden(tmp_path):
    path = str(tmp_path / "around.smc")
    run([MATCH], [("around", f"{path} {R_MS}")], stream())
    src = open_source(path)
    flags = [f for b in src.batches() for f in (b.flags or [0] * len(b.records))]
    assert flags.count(STATE_ONLY) == 2  # the openat of /tmp/b (enter and exit), in the gap
    assert {t.comm for t in src.state.threads.values()} == {"nginx", "ticker"}
    assert src.state.threads[500].fdtable.fds[4].name == "/etc/hosts"  # state as of the first window


def test_events_slightly_out_of_time_order_are_still_placed_exactly(tmp_path):
    path = str(tmp_path / "around.smc")
    records = stream()
    rng = random.Random(5)
    for _ in range(200):  # swap neighbours: per-CPU buffers deliver a little out of order
        i = rng.randrange(len(records) - 1)
        records[i], records[i + 1] = records[i + 1], records[i]
    run([MATCH], [("around", f"{path} {R_MS}")], records)
    events = decoded(records)
    matches = [e for e in events if e.type == "read" and e.dir == EXIT and e.raw_args[0] == 3]
    assert {int(line.split()[0]) for line in shown(path)} == in_windows(events, matches, R_MS * MS)


def test_a_replay_exports_the_same_file_as_the_live_run(tmp_path):
    src, live, again = (str(tmp_path / n) for n in ("src.smc", "live.smc", "again.smc"))
    sc.live_run(["-w", src], [stream()])
    run([MATCH], [("around", f"{live} {R_MS}")], stream())
    out = run(["-r", src, MATCH], [("around", f"{again} {R_MS}")])
    assert out == [out[0]] and out[0].startswith("wrote ")
    assert shown(live) == shown(again) and shown(live)


def test_spy_logs_exports_around_each_log_message(tmp_path):
    path = str(tmp_path / "logs.smc")
    log_write = sc.record("write", EXIT, ret=9, args=(3, 0, 9), blobs=((BLOB_BUF, 1, b"boom err\n"),))
    records = sorted(stream() + [at(log_write, 499.9)], key=lambda r: RECORD_HEADER.unpack_from(r)[0])
    out = run([], [("spy_logs", f"{path} 20")], records)
    assert out == ["nginx /var/log/app.log boom err", f"wrote 11 events around 1 match to {path}"]
    assert [line.split(maxsplit=1)[1] for line in shown(path)] == [  # 479.9 ms to 519.9 ms
        *["ticker > getpid <NA>", "ticker < getpid <NA>"] * 2, "nginx < write /var/log/app.log",
        "nginx > openat <NA>", "nginx < openat /tmp/b", *["ticker > getpid <NA>", "ticker < getpid <NA>"] * 2]


def test_spy_logs_takes_a_lone_disable_color_as_the_colour_switch(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    run([], [("spy_logs", "disable_color")], stream())
    assert os.listdir(tmp_path) == []


def test_around_needs_a_filter_and_a_writable_file(tmp_path):
    with pytest.raises(ChiselError, match="needs a filter"):
        run([], [("around", str(tmp_path / "x.smc"))], stream())
    with pytest.raises(ChiselError, match="cannot write the dump file"):
        run([MATCH], [("around", str(tmp_path / "missing" / "x.smc"))], stream())


def test_exporting_turns_kernel_side_filtering_off():
    from sysmon.pipeline import Pipeline

    assert Pipeline.build(sc.cli_args("evt.type=connect"), sc.Out()).kernel_types is not None
    cfg = sc.cli_args("evt.type=connect", chisels=[("around", "/dev/null")])
    assert Pipeline.build(cfg, sc.Out()).kernel_types is None
