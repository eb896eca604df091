"""Threads that `top -H`, `ps -L` and /proc name as Python does (Python 3.11 leaves the OS name alone)."""
from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any


def start(target: Callable[..., Any], name: str, *args: Any) -> threading.Thread:
    """A daemon thread running target(*args), its kernel name `name` (cut to the kernel's 15 bytes)."""
    def run() -> None:
        try:
            with open("/proc/thread-self/comm", "w") as f:
                f.write(name[:15])
        except OSError:
            pass  # no /proc (a restricted container): only the name is lost
        target(*args)

    thread = threading.Thread(target=run, name=name, daemon=True)
    thread.start()
    return thread
