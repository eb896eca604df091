"""sd_notify without libsystemd: one datagram per message to $NOTIFY_SOCKET (sd_notify(3)).

A leading '@' names a socket in the abstract namespace. Without NOTIFY_SOCKET (not started by
systemd, or NotifyAccess=none) every call does nothing.
"""
from __future__ import annotations

import logging
import os
import socket


class Notifier:
    def __init__(self, env: dict[str, str] | None = None) -> None:
        env = dict(os.environ) if env is None else env
        path = env.get("NOTIFY_SOCKET", "")
        self.address = "\0" + path[1:] if path.startswith("@") else path
        self._sock: socket.socket | None = None
        if self.address:
            self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC)
        usec = env.get("WATCHDOG_USEC", "")
        pid = env.get("WATCHDOG_PID", "")
        ours = not pid or pid == str(os.getpid())
        self.watchdog_s = int(usec) / 1e6 if usec.isdigit() and int(usec) > 0 and ours else None

    def send(self, **fields: object) -> bool:
        """notify(READY=1, STATUS="...") -> "READY=1\\nSTATUS=...". False when there is no socket
        or the manager is gone (the daemon carries on)."""
        if self._sock is None:
            return False
        message = "\n".join(f"{key}={value}" for key, value in fields.items())
        try:
            self._sock.sendto(message.encode(), socket.MSG_DONTWAIT, self.address)
        except OSError:  # includes a full queue: the daemon never waits for its manager
            return False
        return True

    def close(self) -> None:
        if self._sock is not None:
            self._sock.close()
            self._sock = None


class JournalFormatter(logging.Formatter):
    """Each line prefixed with its syslog priority ("<3>"), which journald reads (sd-daemon(3))."""

    PRIORITY = {logging.DEBUG: 7, logging.INFO: 6, logging.WARNING: 4, logging.ERROR: 3, logging.CRITICAL: 2}

    def format(self, record: logging.LogRecord) -> str:
        prefix = f"<{self.PRIORITY.get(record.levelno, 6)}>"
        return "\n".join(prefix + line for line in super().format(record).split("\n"))


def log_formatter(fmt: str, env: dict[str, str] | None = None) -> logging.Formatter:
    """JournalFormatter when stderr is the journal ($JOURNAL_STREAM names its device:inode), else plain."""
    env = dict(os.environ) if env is None else env
    try:
        st = os.fstat(2)
    except OSError:
        return logging.Formatter(fmt)
    journal = env.get("JOURNAL_STREAM", "") == f"{st.st_dev}:{st.st_ino}"
    return JournalFormatter(fmt) if journal else logging.Formatter(fmt)
