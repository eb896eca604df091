"""Enter records left undecoded on replay (sysmon/capture/screen.py): never a change in what is printed."""
from __future__ import annotations

import random

import pytest

from tests.capture_scenario import AT_FDCWD, live_run, record, replay_run
from sysmon.capture.screen import EnterScreen
from sysmon.events.decode import Decoder
from sysmon.events.record import (
    BLOB_HEADER,
    COMM_OFFSET,
    DIR_OFFSET,
    NBLOBS_OFFSET,
    PID_OFFSET,
    RECORD_HEADER,
    TID_OFFSET,
    UID_OFFSET,
)
from sysmon.events.model import BLOB_ETYPE, BLOB_STR, ENTER, EXIT
from sysmon.events.schema import Schema
from sysmon.fields.catalogue import Catalogue
from sysmon.filter import compile_filter
from sysmon.state.parser import StateParser
from sysmon.state.state import State

FMT = "%evt.num %evt.reltime %evt.deltatime %evt.latency %proc.name %thread.tid %evt.dir %evt.type %fd.name %evt.info"


def thread_calls(tid: int, comm: bytes, n: int) -> list[list[bytes]]:
    """Per round, the records of one thread: open, read, close of a file (fd = tid % 100)."""
    fd = tid % 100
    path = f"/srv/{tid}/f".encode()
    rounds = []
    for _ in range(n):
        rounds.append([
            record("openat", ENTER, args=(AT_FDCWD, 0, 0), blobs=((BLOB_STR, 1, path),), tid=tid, comm=comm),
            record("openat", EXIT, ret=fd, args=(AT_FDCWD, 0, 0), blobs=((BLOB_STR, 1, path),), tid=tid, comm=comm),
            record("read", ENTER, args=(fd, 0, 10), tid=tid, comm=comm),
            record("read", EXIT, ret=0, args=(fd, 0, 10), tid=tid, comm=comm),
            record("close", ENTER, args=(fd,), tid=tid, comm=comm),
            record("close", EXIT, args=(fd,), tid=tid, comm=comm),
        ])
    return rounds


def interleaved(seed: int = 7) -> list[bytes]:
    """Four threads (two unknown to the snapshot) whose records interleave at random, at uneven times."""
    rng = random.Random(seed)
    queues = [[r for rnd in thread_calls(tid, comm, 20) for r in rnd]
              for tid, comm in ((500, b"nginx"), (501, b"nginx"), (700, b"worker"), (701, b"other"))]
    out, ts = [], 1_000_000
    while any(queues):
        q = rng.choice([q for q in queues if q])
        rec = q.pop(0)
        ts += rng.randrange(1, 5000)
        out.append(RECORD_HEADER.pack(ts, *RECORD_HEADER.unpack_from(rec)[1:]) + rec[RECORD_HEADER.size:])
    return out


@pytest.mark.parametrize("filter_", [
    "evt.type=openat and evt.dir=< and proc.name=nginx",
    "evt.type=close and thread.tid=501",
    "proc.name=worker",
    "evt.type in (openat, read) and proc.pid=701",
    "evt.type=close and user.uid=33 and fd.name contains 500",
])
def test_replay_prints_the_same_with_and_without_the_screen(tmp_path, monkeypatch, filter_):
    path = str(tmp_path / "a.smc")
    recs = interleaved()
    live_run(["-w", path], [recs[i : i + 37] for i in range(0, len(recs), 37)])
    verdicts: list[bool] = []
    judge = EnterScreen.redundant

    def spy(self: EnterScreen, rec: bytes, nxt: bytes) -> bool:
        verdicts.append(judge(self, rec, nxt))
        return verdicts[-1]

    monkeypatch.setattr(EnterScreen, "redundant", spy)
    screened, _ = replay_run(["-r", path, "-p", FMT, filter_])
    monkeypatch.setattr(EnterScreen, "redundant", lambda self, rec, nxt: False)
    full, _ = replay_run(["-r", path, "-p", FMT, filter_])
    assert screened and screened == full
    assert any(verdicts)  # some enters were left undecoded


def screen(filter_: str) -> EnterScreen:
    _, plan = compile_filter(filter_, Catalogue.default())
    return EnterScreen(Decoder(Schema.default(), 0), plan, StateParser(State()).enter_types)


def pair(call: str, **kw: object) -> tuple[bytes, bytes]:
    return record(call, ENTER, args=(4,), **kw), record(call, EXIT, args=(4,), **kw)  # type: ignore[arg-type]


def test_an_enter_is_redundant_when_its_exit_follows_and_neither_can_match():
    assert screen("evt.type=openat").redundant(*pair("close"))
    assert screen("proc.name=ticker").redundant(*pair("close", comm=b"nginx"))
    assert screen("proc.pid=9 and thread.tid=8").redundant(*pair("close", tid=10))
    assert not screen("proc.pid=9 or thread.tid=8").redundant(*pair("close", tid=10))  # pins neither
    assert screen("user.uid=0").redundant(*pair("close"))  # records of uid 33


@pytest.mark.parametrize("filter_", ["evt.type=close", "proc.name=nginx", "thread.tid=500", "user.uid=33"])
def test_an_enter_is_kept_when_the_filter_may_match_the_pair(filter_):
    assert not screen(filter_).redundant(*pair("close"))


def test_an_enter_is_kept_unless_its_own_exit_follows():
    s = screen("evt.type=openat")
    enter, exit_ = pair("close")
    assert not s.redundant(enter, record("close", EXIT, args=(4,), tid=501))  # another thread's exit
    assert not s.redundant(enter, record("dup", EXIT, args=(4,)))  # another syscall's exit
    assert not s.redundant(enter, enter)
    assert not s.redundant(exit_, exit_)


def test_enters_the_state_parser_reads_are_kept():
    assert "execve" in StateParser(State()).enter_types
    assert not screen("evt.type=openat").redundant(*pair("execve"))


def test_records_typed_by_their_first_blob_are_kept():
    typed = ((BLOB_ETYPE, 0, b"\x00\x00\xff\xff\x00"),)
    enter, exit_ = (record("close", d, args=(4,), blobs=typed) for d in (ENTER, EXIT))
    assert not screen("evt.type=openat").redundant(enter, exit_)


def test_header_offsets_match_the_record_layout():
    body = BLOB_HEADER.pack(1, BLOB_STR, 0) + b"x"
    rec = RECORD_HEADER.pack(1, 0, 0, 0, 0, 0, 0, 0, 11, 22, 33, 44, 55, 3, EXIT, 1, 0, RECORD_HEADER.size + 2, 0,
                             b"comm", 0) + body
    assert int.from_bytes(rec[TID_OFFSET : TID_OFFSET + 4], "little") == 11
    assert int.from_bytes(rec[PID_OFFSET : PID_OFFSET + 4], "little") == 22
    assert int.from_bytes(rec[UID_OFFSET : UID_OFFSET + 4], "little") == 44
    assert (rec[DIR_OFFSET], rec[NBLOBS_OFFSET]) == (EXIT, 1)
    assert rec[COMM_OFFSET : COMM_OFFSET + 16] == b"comm".ljust(16, b"\0")
