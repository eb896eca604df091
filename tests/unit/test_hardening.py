"""Regression tests for issue 20, with its reproductions: backtracking regexes, crafted capture
files, deep nesting and huge filters, and the smaller list (chisels, control socket, files)."""
from __future__ import annotations

import asyncio
import gzip
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import msgpack
import pytest
import zstandard

from sysmon.capture.format import MAGIC, frame_crc
from sysmon.chisel.loader import Loader
from sysmon.daemon.config import ConfigError, load
from sysmon.daemon.control import ControlServer, TailHub
from sysmon.errors import CaptureError, ChiselError, FilterError, SeccompError
from sysmon.fields.catalogue import Catalogue
from sysmon.fields.clock import Clock
from sysmon.filter import compile_filter
from sysmon.seccomp import profile
from sysmon.state.state import FdInfo, State, ThreadInfo
from tests.capture_scenario import live_run, records, replay_run
from tests.chisel_harness import run_chisels
from tests.factories import make_event
from tests.fuzz.harness import bounded

CAT = Catalogue.default(Clock())
SYSMON = [sys.executable, "-m", "sysmon"]


def sysmon(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*SYSMON, *args], capture_output=True, text=True, timeout=timeout)


# -- 1. a backtracking regex -------------------------------------------------------------------


def test_a_backtracking_pattern_matches_in_linear_time() -> None:
    pred, _ = compile_filter("fd.name regex '/tmp/(a+)+'", CAT)
    t = ThreadInfo(tid=7, pid=7, ppid=1, comm="x")
    state = State({7: t})
    evt = make_event("read", raw_args=(3,), tid=7)
    for n in (41, 10_000):
        t.fdtable.fds[3] = FdInfo(num=3, type="file", name="/tmp/" + "a" * n + "!")
        with bounded(0.05, None):  # Python's re: minutes for n=41
            assert pred(evt, state) is False
    t.fdtable.fds[3] = FdInfo(num=3, type="file", name="/tmp/aaa")
    assert pred(evt, state) is True


def test_a_pattern_re2_refuses_is_a_filter_error_with_a_caret(tmp_path: Path) -> None:
    res = sysmon("-r", _capture(tmp_path), "fd.name regex '(a)\\1'")
    assert res.returncode == 2 and "Traceback" not in res.stderr
    assert "invalid regular expression" in res.stderr and "^~~" in res.stderr, res.stderr


# -- 4. crafted capture files -------------------------------------------------------------------


def _capture(tmp_path: Path, *extra: str) -> str:
    path = str(tmp_path / f"base{'-'.join(extra)}.smc")
    if not os.path.exists(path):
        recs = records(rounds=2)
        live_run(["-w", path, *extra], [recs[i : i + 5] for i in range(0, len(recs), 5)])
    return path


def _frames(path: str) -> list[list]:
    data = Path(path).read_bytes()
    return [list(f) for f in msgpack.Unpacker(__import__("io").BytesIO(data[len(MAGIC):]), raw=False)]


def _write_frames(path: Path, frames: list[list]) -> str:
    path.write_bytes(MAGIC + b"".join(msgpack.packb([k, p, frame_crc(k, p)], use_bin_type=True)
                                      for k, p, *_ in frames))
    return str(path)


def test_the_11_byte_file_is_a_clean_error(tmp_path: Path) -> None:
    f = tmp_path / "f.smc"
    f.write_bytes(b"\x89SMC\r\n\x1a\n\x81\x90\xc0")
    res = sysmon("-r", str(f))
    assert res.returncode == 1 and "Traceback" not in res.stderr and "corrupt at byte 8" in res.stderr, res.stderr


@pytest.mark.parametrize("offset,value", [(86, 7), (87, 200), (87, 1)])
def test_a_record_field_set_with_its_crc_recomputed_is_a_clean_error(tmp_path: Path, offset: int, value: int) -> None:
    frames = _frames(_capture(tmp_path))
    body = msgpack.unpackb(frames[2][1], raw=False)
    rec = bytearray(body[1][0])
    rec[offset] = value
    body[1][0] = bytes(rec)
    frames[2][1] = msgpack.packb(body, use_bin_type=True)
    path = _write_frames(tmp_path / "bad.smc", frames)
    res = sysmon("-r", path, "-p", "%evt.num %evt.dir %evt.info")
    assert res.returncode == 1 and "Traceback" not in res.stderr, res.stderr
    assert "malformed event batch (record" in res.stderr, res.stderr


def test_a_frame_inflating_to_2_gib_is_refused_unread(tmp_path: Path) -> None:
    """The issue's 74 KB -z file took 4.2 GB RSS."""
    frames = _frames(_capture(tmp_path, "-z"))
    cctx = zstandard.ZstdCompressor(level=1)
    chunk = b"\0" * (64 << 20)
    obj = cctx.compressobj(size=32 * len(chunk))
    bomb = b"".join(obj.compress(chunk) for _ in range(32)) + obj.flush()
    assert len(bomb) < 256 << 10 and zstandard.frame_content_size(bomb) == 2 << 30
    assert "claims 2147483648 bytes" in _refused(tmp_path / "bomb.smc", frames, bomb, 32)
    unknown = zstandard.ZstdCompressor(level=1, write_content_size=False).compress(b"\0" * (20 << 20))
    assert "cannot decompress" in _refused(tmp_path / "bomb2.smc", frames, unknown, 48)


def _refused(path: Path, frames: list[list], payload: bytes, mb: int) -> str:
    """The error replaying `frames` with the first batch's payload replaced, within `mb` MiB."""
    frames[2][1] = payload
    with bounded(5.0, mb), pytest.raises(CaptureError) as e:
        replay_run(["-r", _write_frames(path, frames)])
    return e.value.message


@pytest.mark.parametrize("wrap", ["gzip", "zstd"])
def test_a_wrapped_stream_holding_a_giant_frame_is_bounded(tmp_path: Path, wrap: str) -> None:
    """The issue's 1.8 MB gzip took 1.6 GB, a zstd-wrapped file 2.1 GB."""
    inner = MAGIC + b"\x93\xa1B\xc6\x7f\xff\xff\xff" + b"\0" * (200 << 20)
    data = gzip.compress(inner, 1) if wrap == "gzip" else zstandard.ZstdCompressor(level=1).compress(inner)
    path = tmp_path / f"wrapped.smc.{wrap}"
    path.write_bytes(data)
    with bounded(30.0, 200), pytest.raises(CaptureError) as e:
        replay_run(["-r", str(path)])
    assert "larger than the format allows" in str(e.value), e.value


def test_a_fifo_is_refused_at_once(tmp_path: Path) -> None:
    fifo = tmp_path / "f.smc"
    os.mkfifo(fifo)
    t0 = time.monotonic()
    res = sysmon("-r", str(fifo), timeout=30)
    assert time.monotonic() - t0 < 20 and res.returncode == 1 and "not a regular file" in res.stderr, res.stderr


def test_a_stub_file_is_skipped_with_a_warning(tmp_path: Path) -> None:
    good = Path(_capture(tmp_path))
    d = tmp_path / "dir"
    d.mkdir()
    (d / "sysmon-1.smc").write_bytes(good.read_bytes())
    (d / "sysmon-2.smc").write_bytes(good.read_bytes()[:428])  # the 428-byte file
    res = sysmon("-r", str(d / "sysmon-*"), "-p", "%evt.num")
    assert res.returncode == 0 and "holds no events" in res.stderr and "skipped" in res.stderr, res.stderr
    assert res.stdout.count("\n") > 10


def test_data_after_the_trailer_is_reported(tmp_path: Path) -> None:
    path = tmp_path / "extra.smc"
    path.write_bytes(Path(_capture(tmp_path)).read_bytes() + b"junk")
    _, reports = replay_run(["-r", str(path)])
    assert any("data after its trailer" in r for r in reports), reports


def test_an_unreadable_exact_path_says_why(tmp_path: Path) -> None:
    res = sysmon("-r", str(tmp_path / "missing" / "f.smc"))
    assert res.returncode == 1 and "No such file or directory" in res.stderr and "matches" not in res.stderr


# -- 5. deep nesting and huge filters -----------------------------------------------------------


def test_1000_open_brackets_exit_2_with_a_caret(tmp_path: Path) -> None:
    res = sysmon("-r", _capture(tmp_path), "(" * 1000)
    assert res.returncode == 2 and "nested too deeply" in res.stderr and "^" in res.stderr, res.stderr
    assert "Traceback" not in res.stderr


def test_198_alternating_levels_are_a_clean_error() -> None:
    text = "proc.name=x"
    for i in range(198):
        text = f"(proc.pid={i} {'and' if i % 2 else 'or'} {text})"
    with pytest.raises(FilterError) as e:
        compile_filter(text, CAT)
    assert e.value.code == "too-deep" and e.value.span is not None


def test_a_100k_term_chain_is_refused_at_once() -> None:
    for term in ("proc.pid!={i}", "a=1", "x"):
        text = " and ".join(term.format(i=i) for i in range(100_000))
        with bounded(0.5, None), pytest.raises(FilterError) as e:
            compile_filter(text, CAT)
        assert e.value.code in ("too-long", "too-many-checks")


def test_a_deeply_nested_profile_is_a_clean_error(tmp_path: Path) -> None:
    p = tmp_path / "deep.json"
    p.write_text('{"a":' * 5000 + "1" + "}" * 5000)
    with pytest.raises(SeccompError, match="nested too deeply"):
        profile.load(str(p))


# -- the smaller list ---------------------------------------------------------------------------


def test_non_utf8_and_deep_configuration_files_are_config_errors(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_bytes(b"\xff\xfe")
    with pytest.raises(ConfigError, match="not UTF-8"):
        load(bad)
    bad.write_text("a = " + "[" * 3000 + "]" * 3000)
    with pytest.raises(ConfigError, match="nested too deeply"):
        load(bad)


def test_the_control_socket_answers_non_json_and_non_objects(tmp_path: Path) -> None:
    path = str(tmp_path / "c.sock")
    server = ControlServer(path, lambda: {"state": "x"}, TailHub(lambda: None), CAT)

    async def ask(line: bytes) -> dict:
        reader, writer = await asyncio.open_unix_connection(path)
        writer.write(line)
        answer = await reader.readline()
        writer.close()
        return json.loads(answer)

    async def run() -> list[dict]:
        await server.start()
        try:
            return [await ask(x) for x in (b"\xff\xfe\n", b"[1, 2]\n", b'"status"\n', b'{"cmd": "status"}\n')]
        finally:
            await server.close()

    answers = asyncio.run(run())
    assert all("error" in a for a in answers[:3]) and answers[3] == {"state": "x"}, answers


CHISEL = '''
from sysmon.chisel.api import Chisel

class Quitter(Chisel):
    def on_event(self, evt):
        raise SystemExit(3)
'''


def test_a_chisel_raising_systemexit_is_reported_and_disabled(tmp_path: Path) -> None:
    d = tmp_path / "chisels"
    d.mkdir(mode=0o755)
    (d / "quitter.py").write_text(CHISEL)
    events = [make_event("getpid", num=i + 1, ts_ns=i) for i in range(3)]
    _, err, _ = run_chisels([("quitter", None)], events, dirs=[d])
    assert "chisel 'quitter' failed in on_event and was disabled" in err and "SystemExit" in err, err


def test_a_chisel_linked_from_an_other_writable_directory_is_refused(tmp_path: Path) -> None:
    d = tmp_path / "chisels"
    d.mkdir(mode=0o755)
    open_dir = tmp_path / "open"
    open_dir.mkdir()
    open_dir.chmod(0o777)
    target = open_dir / "quitter.py"
    target.write_text(CHISEL)
    target.chmod(0o644)
    (d / "quitter.py").symlink_to(target)
    with pytest.raises(ChiselError, match="writable by other users"):
        Loader([d], entry_points=False).find("quitter")


def test_unknown_syscall_names_are_listed(tmp_path: Path) -> None:
    prof = profile.validate({"defaultAction": "SCMP_ACT_ERRNO",
                             "syscalls": [{"names": ["read", "opne"], "action": "SCMP_ACT_ALLOW"}]})
    assert profile.unknown_names(prof) == ["opne"]
