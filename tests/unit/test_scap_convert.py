"""`sysmon -r F.scap -w F.smc`, then `sysmon -r F.smc`, prints what `sysmon -r F.scap` prints.

For every corpus capture and a few formats and filters (every kind of field the golden test
covers, including fd state, evt.info and events without a thread).
"""
from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from sysmon.events.decode import Decoder
from sysmon.events.record import RECORD_HEADER
from sysmon.events.model import BLOB_ETYPE
from sysmon.events.schema import Schema
from sysmon.scap.reader import open_scap
from sysmon.scap.record import Retyper, encode
from tests.capture_scenario import replay_run

CAPTURES = sorted((Path(__file__).resolve().parent.parent / "golden" / "scap" / "captures").glob("*.scap"))
FORMATS = (
    "*%evt.num %evt.type %evt.dir %thread.tid %proc.pid %proc.ppid %proc.name %user.uid %user.name %evt.res %evt.info",
    "%evt.num %evt.time %evt.cpu %fd.num %fd.typechar %fd.name %fd.l4proto %fd.cip %fd.sport %proc.cmdline",
)
FILTERS = ("", "fd.type in (ipv4, ipv6, unix) or evt.type in (open, openat, execve, clone)")


@pytest.mark.parametrize("capture", CAPTURES, ids=lambda p: p.stem)
def test_converted_capture_replays_like_the_scap(capture: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TZ", "UTC")
    smc = tmp_path / f"{capture.stem}.smc"
    assert replay_run(["-r", str(capture), "-w", str(smc)]) == ([], [])
    assert stat.S_IMODE(os.stat(smc).st_mode) == 0o600
    compared = 0
    for flt in FILTERS:
        for fmt in FORMATS:
            want, _ = replay_run(["-r", str(capture), "-p", fmt, *([flt] if flt else [])])
            got, _ = replay_run(["-r", str(smc), "-p", fmt, *([flt] if flt else [])])
            assert got == want, (flt, fmt)
            compared += len(want)
    if capture.stem == "curl_google":  # a non-trivial file really went through: not two empty outputs
        assert compared > 1000


def test_record_round_trip_gives_the_event_back() -> None:
    cap = open_scap(CAPTURES[0].parent / "curl_google.scap")
    decoder = Decoder(Schema.default(), wall_offset_ns=0, typed=Retyper(Schema.default()))
    seen = 0
    for evt in cap.events():
        rec = encode(evt)
        assert rec[RECORD_HEADER.size + 2] == BLOB_ETYPE  # the first blob names the scap event type
        back = decoder.decode(rec)
        assert (back.ts_ns, back.cpu, back.tid, back.pid, back.ppid, back.uid, back.gid, back.comm, back.nr, back.dir,
                back.res, back.raw_args, back.blobs, back.etype.ppm_type, back.etype.syscall_id) == (
            evt.ts_ns, evt.cpu, evt.tid, evt.pid, evt.ppid, evt.uid, evt.gid, evt.comm, evt.nr, evt.dir, evt.res,
            evt.raw_args, evt.blobs, evt.etype.ppm_type, evt.etype.syscall_id), evt
        assert back.etype.name == evt.etype.name
        assert back.params == evt.params
        seen += 1
    cap.close()
    assert seen > 1000
