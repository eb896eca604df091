"""Crafted capture files: structure mutants whose CRCs are valid (so every field reaches the
validation, not just the checksum), compressed and plain, and damaged .scap files. Replaying one
prints events or ends with a CaptureError naming the byte; never a traceback, always bounded."""
from __future__ import annotations

import os

import msgpack
import pytest
import zstandard
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from sysmon.capture.format import MAGIC, frame_crc
from sysmon.errors import CaptureError
from tests.capture_scenario import live_run, records, replay_run
from tests.fuzz.harness import NO_SHRINK, bounded

SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck),
                    phases=NO_SHRINK)
PRINT = ["-p", "%evt.num %proc.name %fd.name %evt.info %evt.arg.fd %proc.aname[2]"]
SCAP_DIR = os.path.join(os.path.dirname(__file__), "..", "golden", "scap", "captures")


def _capture(tmp_path_factory: pytest.TempPathFactory, *extra: str) -> list[list]:
    path = str(tmp_path_factory.mktemp("fuzz") / "base.smc")
    recs = records(rounds=2)
    live_run(["-w", path, *extra], [recs[i : i + 5] for i in range(0, len(recs), 5)])
    with open(path, "rb") as f:
        data = f.read()
    return [list(frame) for frame in msgpack.Unpacker(__import__("io").BytesIO(data[len(MAGIC):]), raw=False)]


@pytest.fixture(scope="module")
def frames(tmp_path_factory: pytest.TempPathFactory) -> dict[str, list[list]]:
    return {"plain": _capture(tmp_path_factory), "zstd": _capture(tmp_path_factory, "-z")}


def _file(frames: list[list]) -> bytes:
    return MAGIC + b"".join(msgpack.packb([k, p, frame_crc(k, p)], use_bin_type=True) for k, p, _ in frames)


def _replay(tmp_path, data: bytes) -> None:
    path = tmp_path / "mutant.smc"
    path.write_bytes(data)
    try:
        replay_run(["-r", str(path), *PRINT])
    except CaptureError as e:
        assert str(path) in e.message or "capture files" in e.message, e.message


def _mutate_body(draw, body):  # type: ignore[no-untyped-def]
    """Replace one value somewhere in a msgpack body by another of any kind."""
    values = st.one_of(st.none(), st.booleans(), st.integers(-(2**63), 2**64 - 1), st.text(max_size=8),
                       st.binary(max_size=200), st.lists(st.integers(0, 300), max_size=5),
                       st.dictionaries(st.text(max_size=5), st.integers(-(2**63), 2**64 - 1), max_size=3))
    if isinstance(body, list) and body and draw(st.booleans()):
        i = draw(st.integers(0, len(body) - 1))
        body = list(body)
        body[i] = _mutate_body(draw, body[i])
        return body
    if isinstance(body, dict) and body and draw(st.booleans()):
        key = draw(st.sampled_from(sorted(body, key=str)))
        return {**body, key: _mutate_body(draw, body[key])}
    if isinstance(body, bytes) and body and draw(st.booleans()):  # a record: flip bytes (dir=86, nblobs=87...)
        buf = bytearray(body)
        for _ in range(draw(st.integers(1, 3))):
            at = draw(st.sampled_from([86, 87, 84, 85, 90, 112, 113, draw(st.integers(0, len(buf) - 1))]))
            buf[at % len(buf)] = draw(st.integers(0, 255))
        return bytes(buf)
    return draw(values)


@SETTINGS
@given(st.data(), st.sampled_from(["plain", "zstd"]))
def test_structure_mutants_with_valid_crcs(tmp_path_factory, frames, data, kind) -> None:
    fs, i = _pick(frames[kind], data)
    k, payload, _ = fs[i]
    compressed = kind == "zstd" and k != "H"
    raw = zstandard.ZstdDecompressor().decompress(payload) if compressed else payload
    body = _mutate_body(data.draw, msgpack.unpackb(raw, raw=False, strict_map_key=False))
    raw = msgpack.packb(body, use_bin_type=True)
    fs[i] = [k, zstandard.ZstdCompressor().compress(raw) if compressed else raw, 0]
    with bounded(3.0, 128):
        _replay(tmp_path_factory.mktemp("m"), _file(fs))


def _pick(frames: list[list], data) -> tuple[list[list], int]:  # type: ignore[no-untyped-def]
    """A copy of the frames, and which one to mutate."""
    return [list(f) for f in frames], data.draw(st.integers(0, len(frames) - 1))


@SETTINGS
@given(st.data(), st.sampled_from(["plain", "zstd"]))
def test_raw_payload_mutants_with_valid_crcs(tmp_path_factory, frames, data, kind) -> None:
    fs, i = _pick(frames[kind], data)
    payload = bytearray(fs[i][1])
    for _ in range(data.draw(st.integers(1, 4))):
        at = data.draw(st.integers(0, max(0, len(payload) - 1)))
        op = data.draw(st.sampled_from(["flip", "cut", "insert"]))
        if op == "flip" and payload:
            payload[at] ^= data.draw(st.integers(1, 255))
        elif op == "cut":
            del payload[at : at + data.draw(st.integers(1, 16))]
        else:
            payload[at:at] = data.draw(st.binary(min_size=1, max_size=8))
    fs[i][1] = bytes(payload)
    if data.draw(st.booleans()):  # drop or duplicate a frame
        j = data.draw(st.integers(0, len(fs) - 1))
        fs.insert(j, fs[j]) if data.draw(st.booleans()) else fs.pop(j)
    with bounded(3.0, 128):
        _replay(tmp_path_factory.mktemp("m"), _file(fs))


@settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck),
                    phases=NO_SHRINK)
@given(st.data(), st.sampled_from(["cat_write.scap", "connect_localhost.scap", "curl_google.scap"]))
def test_damaged_scap_files(tmp_path_factory, data, name) -> None:
    with open(os.path.join(SCAP_DIR, name), "rb") as f:
        buf = bytearray(f.read())
    for _ in range(data.draw(st.integers(1, 6))):
        at = data.draw(st.integers(0, len(buf) - 1))
        if data.draw(st.booleans()):
            buf[at] = data.draw(st.integers(0, 255))
        else:  # a length field's bytes: large values
            buf[at : at + 4] = data.draw(st.sampled_from([b"\xff\xff\xff\xff", b"\x00\x00\x00\x00",
                                                          b"\xff\xff\xff\x7f", b"\x10\x00\x00\x00"]))
    if data.draw(st.booleans()):
        del buf[data.draw(st.integers(0, len(buf) - 1)) :]
    with bounded(5.0, 256):
        _replay(tmp_path_factory.mktemp("s"), bytes(buf))
