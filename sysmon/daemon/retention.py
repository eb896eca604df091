"""Keeps the capture directory within its limits: the oldest files go first.

Only the daemon's own files (`PATTERN`) are considered, and never a file being written. A file
is deleted while the total (the files being written included) is above `max_bytes`, or when its
last write is older than `max_age_s`. `Retention` applies this *before* each write (the writer
threads ask it for room), so the directory never grows past `max_bytes` and then shrinks back.
"""
from __future__ import annotations

import os
import re
import threading
from collections.abc import Callable
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
            keep: frozenset[str] = frozenset(), now_s: float, extra: int = 0) -> Usage:
    """Delete what is over the limits; `extra`: bytes about to be written, counted as if there."""
    files = capture_files(directory)
    usage = Usage(files=len(files), bytes=sum(size for _, _, size in files))
    for mtime, path, size in files:
        too_big = max_bytes is not None and usage.bytes + extra > max_bytes
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


class Retention:
    """The limits of one capture directory, kept by the writer threads before each write (`room`)
    and by the daemon's heartbeat (`enforce`, for max_age). Files being written are never deleted,
    nor those `pinned` returns (paths: the files not shipped yet, sysmon/fleet)."""

    def __init__(self, directory: str, max_bytes: int | None, max_age_s: float | None,
                 pinned: Callable[[], frozenset[str]] = frozenset) -> None:
        self.directory = directory
        self.pinned = pinned
        self.max_bytes = max_bytes
        self.max_age_s = max_age_s
        self.deleted: list[str] = []  # since the last `take_deleted` (for the log)
        self._writing: dict[int, str] = {}  # writer thread -> the file it writes
        self._slack = 0  # bytes known to fit under max_bytes without looking at the directory again
        self._lock = threading.Lock()

    def room(self, path: str, nbytes: int) -> None:
        """A writer thread is about to add `nbytes` to `path`: delete the oldest files until that fits."""
        with self._lock:
            self._writing[threading.get_ident()] = path
            if self.max_bytes is None:
                return
            if nbytes <= self._slack:
                self._slack -= nbytes
                return
            usage = self._apply(enforce(self.directory, max_bytes=self.max_bytes, max_age_s=None,
                                        keep=self._keep(), now_s=0, extra=nbytes))
            # only here: a scan elsewhere could not see bytes a writer was granted and has not written yet
            self._slack = max(0, self.max_bytes - usage.bytes - nbytes)

    def closed(self, path: str) -> None:
        with self._lock:
            self._writing = {t: p for t, p in self._writing.items() if p != path}

    def enforce(self, now_s: float, keep: frozenset[str] = frozenset()) -> Usage:
        with self._lock:
            return self._apply(enforce(self.directory, max_bytes=self.max_bytes, max_age_s=self.max_age_s,
                                       keep=keep | self._keep(), now_s=now_s))

    def take_deleted(self) -> list[str]:
        with self._lock:
            deleted, self.deleted = self.deleted, []
        return deleted

    def _keep(self) -> frozenset[str]:
        return frozenset(self._writing.values()) | self.pinned()

    def _apply(self, usage: Usage) -> Usage:
        self.deleted += usage.deleted
        return usage
