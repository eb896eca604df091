"""-w's path checked before anything starts (the probe takes a second to load; the writer opens its file
only once it is attached)."""
from __future__ import annotations

import os
import time

from sysmon.errors import UsageError

_HINT = "-w needs a file sysmon can create, in an existing directory it may write to"


def check_writable(path: str) -> None:
    """Raise UsageError unless a file can be made at `path` (its strftime codes filled in, as -G does).
    A file made for the test is removed; an existing one is opened, never truncated."""
    target = time.strftime(path) if "%" in path else path
    directory = os.path.dirname(target) or "."
    if not os.path.isdir(directory):
        raise UsageError(f"cannot write {path}: no directory {directory}", hints=[_HINT])
    existed = os.path.lexists(target)
    try:  # O_NONBLOCK: a FIFO without a reader must not hang the check
        fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_NONBLOCK | os.O_CLOEXEC, 0o600)
    except OSError as e:
        raise UsageError(f"cannot write {path}: {e.strerror}", hints=[_HINT]) from None
    os.close(fd)
    if not existed:
        os.unlink(target)
