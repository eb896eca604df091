"""Retention: the oldest of the daemon's files go first, never the current one nor other files."""
from __future__ import annotations

import os
from pathlib import Path

from sysmon.daemon.retention import enforce, remove_empty


def _files(tmp_path: Path, n: int, size: int) -> list[Path]:
    paths = []
    for i in range(n):
        p = tmp_path / f"sysmon-20250101T000000-42-1.smc{i}"
        p.write_bytes(b"x" * size)
        os.utime(p, (1000 + i, 1000 + i))
        paths.append(p)
    return paths


def test_oldest_deleted_until_under_the_cap(tmp_path: Path) -> None:
    paths = _files(tmp_path, 5, 100)
    other = tmp_path / "notes.txt"
    other.write_bytes(b"y" * 1000)
    usage = enforce(tmp_path, max_bytes=250, max_age_s=None, now_s=2000)
    assert usage.deleted == [str(p) for p in paths[:3]]
    assert (usage.files, usage.bytes) == (2, 200)
    assert other.exists()


def test_the_current_file_is_kept_even_over_the_cap(tmp_path: Path) -> None:
    paths = _files(tmp_path, 3, 100)
    usage = enforce(tmp_path, max_bytes=50, max_age_s=None, keep=frozenset({str(paths[0])}), now_s=2000)
    assert usage.deleted == [str(p) for p in paths[1:]] and paths[0].exists()


def test_files_older_than_max_age_go(tmp_path: Path) -> None:
    paths = _files(tmp_path, 4, 10)
    usage = enforce(tmp_path, max_bytes=None, max_age_s=1.5, now_s=1004)  # ages 4, 3, 2, 1
    assert usage.deleted == [str(p) for p in paths[:3]]


def test_no_limits_and_no_directory(tmp_path: Path) -> None:
    _files(tmp_path, 3, 10)
    assert enforce(tmp_path, max_bytes=None, max_age_s=None, now_s=9e9).deleted == []
    assert enforce(tmp_path / "missing", max_bytes=1, max_age_s=1, now_s=0).files == 0


def test_empty_files_left_by_a_killed_daemon_are_removed(tmp_path: Path) -> None:
    paths = _files(tmp_path, 3, 10)
    paths[2].write_bytes(b"")
    empty_other = tmp_path / "empty.txt"
    empty_other.touch()
    assert remove_empty(tmp_path) == [str(paths[2])]
    assert paths[0].exists() and paths[1].exists() and empty_other.exists()


def test_room_deletes_the_oldest_before_a_write_would_pass_the_cap(tmp_path: Path) -> None:
    from sysmon.daemon.retention import Retention

    paths = _files(tmp_path, 4, 100)  # 400 bytes
    r = Retention(str(tmp_path), max_bytes=450, max_age_s=None)
    r.room(str(paths[3]), 40)  # fits: nothing goes
    assert all(p.exists() for p in paths)
    r.room(str(paths[3]), 100)  # 400 + 100 > 450: the oldest goes, never the file being written
    assert not paths[0].exists() and paths[3].exists() and r.take_deleted() == [str(paths[0])]
    r.closed(str(paths[3]))
    r2 = Retention(str(tmp_path), max_bytes=50, max_age_s=None)
    r2.room(str(paths[1]), 10)
    assert paths[1].exists() and not paths[2].exists() and not paths[3].exists()
