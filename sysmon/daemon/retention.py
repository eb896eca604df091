"""Keeps the capture directory within its limits: the oldest files go first.

Only the daemon's own files (`PATTERN`) are considered, and never the file being written. A file
is deleted while the total (the current file included) is above `max_bytes`, or when its last
write is older than `max_age_s`.
"""
from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path

PATTERN = re.compile(r"sysmon-\d{8}T\d{6}-\d+-\d+\.smc\d+")  # start time, pid, configuration number


@dataclass(slots=True)
class Usage:
    files: int = 0
    bytes: int = 0
    deleted: list[str] = field(default_factory=list)


def capture_files(directory: str | Path) -> list[tuple[float, str, int]]:
    """(mtime, path, size) of the daemon's files, oldest first."""
    found = []
    try:
        entries = list(os.scandir(directory))
    except FileNotFoundError:
        return []
    for entry in entries:
        if PATTERN.fullmatch(entry.name):
            try:
                st = entry.stat(follow_symlinks=False)
            except FileNotFoundError:
                continue
            found.append((st.st_mtime, entry.path, st.st_size))
    found.sort()
    return found


def remove_empty(directory: str | Path) -> list[str]:
    """Delete the daemon's files that hold nothing: a daemon killed between creating a file and
    writing its start leaves one (it would make `sysmon -r 'DIR/sysmon-*'` fail). Run at start."""
    removed = []
    for _, path, size in capture_files(directory):
        if size == 0:
            os.unlink(path)
            removed.append(path)
    return removed


def enforce(directory: str | Path, *, max_bytes: int | None, max_age_s: float | None,
            keep: frozenset[str] = frozenset(), now_s: float) -> Usage:
    files = capture_files(directory)
    usage = Usage(files=len(files), bytes=sum(size for _, _, size in files))
    for mtime, path, size in files:
        too_big = max_bytes is not None and usage.bytes > max_bytes
        too_old = max_age_s is not None and now_s - mtime > max_age_s
        if path in keep or not (too_big or too_old):
            continue
        try:
            os.unlink(path)
        except FileNotFoundError:
            pass
        usage.deleted.append(path)
        usage.files -= 1
        usage.bytes -= size
    return usage
