"""The .scap reader: framing, gzip sniffing, unknown blocks, numbering, truncation, params and snapshot."""
from __future__ import annotations

import gzip
import struct
from pathlib import Path

import pytest

from sysmon.errors import CaptureError
from sysmon.events.model import SockTuple
from sysmon.scap.reader import open_scap, sniff

CAPTURES = Path(__file__).resolve().parent.parent / "golden" / "scap" / "captures"
SAMPLE = CAPTURES / "sample.scap"  # plain scap 1.2
CAT = CAPTURES / "cat_write.scap"  # gzip, scap 1.0 (v1 events)


def _blocks(data: bytes) -> list[tuple[int, int, int]]:
    """(offset, type, length) of every block of an uncompressed capture."""
    out, off = [], 0
    while off < len(data):
        btype, length = struct.unpack_from("<II", data, off)
        out.append((off, btype, length))
        off += length
    return out


def _events(path: Path) -> list[tuple[int, str, str, int]]:
    cap = open_scap(path)
    try:
        return [(e.num, e.type, "<" if e.dir else ">", e.tid) for e in cap.events()]
    finally:
        cap.close()


def test_gzip_is_detected_by_magic_not_suffix(tmp_path: Path) -> None:
    plain = tmp_path / "cat.bin"
    plain.write_bytes(gzip.decompress(CAT.read_bytes()))
    assert sniff(CAT) and sniff(plain) and not sniff(CAPTURES / "SOURCES.md")
    assert _events(plain) == _events(CAT)


def test_numbering_counts_hidden_events_like_sysdig() -> None:
    cap = open_scap(CAT)
    evts = list(cap.events())
    cap.close()
    # sysdig -r cat_write.scap prints 85 events numbered 131..215; 345 blocks, the procinfo ones hidden but numbered
    assert len(evts) == 85 and evts[0].num == 131 and evts[-1].num == 215
    assert cap.numbering.read == 345 and cap.numbering.hidden == 260


def test_old_enter_events_carry_fewer_params() -> None:
    cap = open_scap(CAT)
    opens = [e for e in cap.events() if e.type == "open"]
    cap.close()
    enter, exit_ = opens[0], opens[1]
    assert enter.params == {}  # scap 1.0 `open >` has none of today's 3 parameters
    assert exit_.params["name"] == "/etc/ld.so.cache" and exit_.res == 3


def test_snapshot_and_params(tmp_path: Path) -> None:
    cap = open_scap(CAPTURES / "connect_localhost.scap")
    assert cap.meta.hostname and cap.state.threads[466].comm == "systemd-udevd"
    connects = [e for e in cap.events() if e.type == "connect" and e.dir == 1]
    cap.close()
    tup = connects[0].params["tuple"]
    assert isinstance(tup, SockTuple) and str(tup) == "127.0.0.1:47192->127.0.0.1:80"
    assert connects[0].res == -115


def test_unknown_blocks_are_skipped_by_length(tmp_path: Path) -> None:
    data = SAMPLE.read_bytes()
    first_event = next(off for off, btype, _ in _blocks(data) if btype == 0x216)
    foreign = struct.pack("<II", 0x7777, 20) + b"\xab" * 8 + struct.pack("<I", 20)
    path = tmp_path / "foreign.scap"
    path.write_bytes(data[:first_event] + foreign + data[first_event:])
    assert _events(path) == _events(SAMPLE)


def test_truncated_file_reads_what_is_intact_then_one_error(tmp_path: Path) -> None:
    data = SAMPLE.read_bytes()
    blocks = _blocks(data)
    off, _btype, length = blocks[-10]
    path = tmp_path / "cut.scap"
    path.write_bytes(data[: off + length // 2])
    cap = open_scap(path)
    got = []
    with pytest.raises(CaptureError, match=f"truncated block .* at offset {off}"):
        for e in cap.events():
            got.append((e.num, e.type))
    cap.close()
    full = [(n, t) for n, t, _d, _tid in _events(SAMPLE)]
    assert got and got == full[: len(got)] and len(got) >= len(full) - 10


def test_corrupt_gzip_and_bad_headers_are_errors(tmp_path: Path) -> None:
    cut = tmp_path / "cut.gz.scap"
    raw = CAT.read_bytes()
    cut.write_bytes(raw[: len(raw) // 2])
    with pytest.raises(CaptureError, match="corrupt compressed data .* at offset"):
        list(open_scap(cut).events())
    not_scap = tmp_path / "x.scap"
    not_scap.write_bytes(b"hello world, not a capture")
    with pytest.raises(CaptureError, match="not a scap capture"):
        open_scap(not_scap)
