"""Reading what a child wrote to a pseudo-terminal (pty.openpty), for tests that need a tty."""
from __future__ import annotations

import os


def read_until_closed(fd: int) -> str:
    """Everything until the child side is closed (EIO or EOF); closes `fd`."""
    chunks = []
    while True:
        try:
            data = os.read(fd, 65536)
        except OSError:  # EIO: the other side is closed
            break
        if not data:
            break
        chunks.append(data)
    os.close(fd)
    return b"".join(chunks).decode("utf-8", "replace")
