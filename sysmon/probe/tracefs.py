"""tracefs, which per-syscall tracepoints need (raw tracepoints do not).

A fresh machine often has it unmounted. As perf and bpftrace do, sysmon mounts it itself, as root,
at /sys/kernel/tracing; where that fails, the caller falls back to raw_syscalls and says what it costs.
"""
from __future__ import annotations

import ctypes
import ctypes.util
import os
from dataclasses import dataclass
from pathlib import Path

MOUNT_POINT = Path("/sys/kernel/tracing")
DEBUGFS_TRACING = Path("/sys/kernel/debug/tracing")


@dataclass(frozen=True, slots=True)
class Tracefs:
    path: Path | None  # where tracefs is mounted, None if it is not available
    note: str  # what was found or done, for -v and status


def _usable(path: Path) -> bool:
    return (path / "events").is_dir()


def find(mount_point: Path = MOUNT_POINT) -> Path | None:
    """Where tracefs is mounted now, if anywhere (nothing is mounted)."""
    return next((path for path in (mount_point, DEBUGFS_TRACING) if _usable(path)), None)


def ensure(mount_point: Path = MOUNT_POINT) -> Tracefs:
    """Find tracefs, mounting it at `mount_point` when it is not there."""
    found = find(mount_point)
    if found is not None:
        return Tracefs(found, f"tracefs at {found}")
    if not mount_point.is_dir():
        return Tracefs(None, f"tracefs unavailable: {mount_point} does not exist")
    libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
    if libc.mount(b"tracefs", str(mount_point).encode(), b"tracefs", 0, None) != 0:
        err = ctypes.get_errno()
        return Tracefs(None, f"tracefs unavailable: mounting it at {mount_point} failed: {os.strerror(err)}")
    if not _usable(mount_point):
        return Tracefs(None, f"tracefs unavailable: mounted at {mount_point} but it has no events/")
    return Tracefs(mount_point, f"tracefs was not mounted: sysmon mounted it at {mount_point}")
