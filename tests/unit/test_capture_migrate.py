"""Old captures keep replaying: a frozen sample per format version, and records of another layout."""
from __future__ import annotations

import re
import struct
from pathlib import Path

import pytest

from sysmon.capture.format import CAPTURE_VERSION, END, HEADER, MAGIC, SNAPSHOT, Batch, Framer, make_header
from sysmon.capture.migrate import migrate
from sysmon.capture.snapshot import state_to_wire
from sysmon.events.record import RECORD_FIELDS, RECORD_HEADER
from sysmon.errors import CaptureError
from tests.capture_scenario import WALL_OFFSET_NS, live_run, records, replay_run, start_state

GOLDEN = Path(__file__).parent.parent / "golden"
FMT = "*%evt.num %evt.rawtime %proc.name %thread.tid %evt.dir %evt.type %fd.name %user.name %evt.info"


@pytest.mark.parametrize("version", range(1, CAPTURE_VERSION + 1))
def test_frozen_sample_of_every_version_replays(version):
    """tests/golden/captures/vN.smc was written by the sysmon of format version N and is never regenerated."""
    lines, reports = replay_run(["-r", str(GOLDEN / "captures" / f"v{version}.smc"), "-p", FMT])
    assert lines == (GOLDEN / "expected" / f"v{version}.txt").read_text().splitlines()
    assert reports == []


def test_records_of_another_layout_are_repacked(tmp_path):
    """A file whose header describes a different record layout (fields reordered, one missing)
    replays the same as one in ours."""
    fields = [f for f in RECORD_FIELDS if f != "flags"]
    fields = fields[-1:] + fields[:-1]  # comm first
    codes_ours = re.findall(r"\d*[a-zA-Z]", RECORD_HEADER.format[1:].replace("6Q", "QQQQQQ"))
    ours = dict(zip(RECORD_FIELDS, codes_ours))  # type codes by field
    codes = "".join(ours[f] for f in fields)
    old = struct.Struct("<" + codes)
    recs = records()
    converted = []
    for r in recs:
        values = dict(zip(RECORD_FIELDS, RECORD_HEADER.unpack_from(r)))
        converted.append(old.pack(*(values[f] for f in fields)) + r[RECORD_HEADER.size:])
    header = make_header(wall_offset_ns=WALL_OFFSET_NS, snaplen=80, filter_text="", compression=None)
    header["layout"]["record"] = {"struct": old.format, "fields": fields}
    framer = Framer(None)
    path = tmp_path / "old.smc"
    path.write_bytes(MAGIC + framer.frame(HEADER, header) + framer.frame(SNAPSHOT, state_to_wire(start_state()))
                     + framer.batch(Batch(converted, 1)) + framer.frame(END, {}))
    ref = tmp_path / "ref.smc"
    live_run(["-w", str(ref)], [recs])
    assert replay_run(["-r", str(path), "-p", FMT]) == replay_run(["-r", str(ref), "-p", FMT])


def test_newer_versions_are_refused_with_a_hint():
    with pytest.raises(CaptureError, match="newer than this sysmon") as err:
        migrate({"version": CAPTURE_VERSION + 1})
    assert err.value.hints


def test_layout_of_the_decoder_is_the_one_described():
    assert struct.Struct(RECORD_HEADER.format).size == RECORD_HEADER.size
    assert len(RECORD_HEADER.unpack(bytes(RECORD_HEADER.size))) == len(RECORD_FIELDS)
