"""sd_notify without libsystemd: datagrams to $NOTIFY_SOCKET, abstract or path, never blocking."""
from __future__ import annotations

import os
import socket
from pathlib import Path

import pytest

from sysmon.daemon.notify import Notifier


@pytest.mark.parametrize("abstract", [True, False], ids=["abstract", "path"])
def test_messages_arrive(tmp_path: Path, abstract: bool) -> None:
    name = f"@sysmon-notify-test-{os.getpid()}" if abstract else str(tmp_path / "notify")
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind("\0" + name[1:] if abstract else name)
        n = Notifier({"NOTIFY_SOCKET": name})
        assert n.send(READY=1, STATUS="recording: 5 events/s")
        assert n.send(WATCHDOG=1)
        assert sock.recv(100) == b"READY=1\nSTATUS=recording: 5 events/s"
        assert sock.recv(100) == b"WATCHDOG=1"
        n.close()


def test_without_a_socket_nothing_happens() -> None:
    n = Notifier({})
    assert not n.send(READY=1) and n.watchdog_s is None


def test_a_full_queue_never_blocks(tmp_path: Path) -> None:
    path = str(tmp_path / "notify")
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind(path)
        n = Notifier({"NOTIFY_SOCKET": path})
        results = [n.send(WATCHDOG=1) for _ in range(5000)]  # nobody reads
        assert results[0] and not results[-1]


@pytest.mark.parametrize(("env", "seconds"), [
    ({"WATCHDOG_USEC": "3000000"}, 3.0),
    ({"WATCHDOG_USEC": "3000000", "WATCHDOG_PID": str(os.getpid())}, 3.0),
    ({"WATCHDOG_USEC": "3000000", "WATCHDOG_PID": "1"}, None),  # meant for another process
    ({"WATCHDOG_USEC": "0"}, None),
])
def test_watchdog_interval(env: dict[str, str], seconds: float | None) -> None:
    assert Notifier(env).watchdog_s == seconds


def test_log_lines_carry_syslog_priorities_only_when_stderr_is_the_journal() -> None:
    import logging
    import os

    from sysmon.daemon.notify import JournalFormatter, log_formatter

    record = logging.LogRecord("sysmon", logging.ERROR, __file__, 1, "bad\nline two", None, None)
    assert JournalFormatter("%(levelname)s %(message)s").format(record) == "<3>ERROR bad\n<3>line two"
    st = os.fstat(2)
    assert isinstance(log_formatter("%(message)s", {"JOURNAL_STREAM": f"{st.st_dev}:{st.st_ino}"}), JournalFormatter)
    assert not isinstance(log_formatter("%(message)s", {"JOURNAL_STREAM": "1:2"}), JournalFormatter)
    assert not isinstance(log_formatter("%(message)s", {}), JournalFormatter)
