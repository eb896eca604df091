"""The daemon on a small tmpfs (issue 20, defect 3): the capture directory never grows past
retention.max_bytes, and a full disk costs events (counted, shown by `status` and the notify
STATUS) but never the daemon: it keeps running, writes again once there is room, and starts on a
full disk without an error."""
from __future__ import annotations

import contextlib
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.kernel.conftest import require_bpf
from tests.kernel.daemon_harness import Daemon, replay
from tests.kernel.pace import slow

pytestmark = pytest.mark.bpf


@contextlib.contextmanager
def tmpfs(path: Path, size: str) -> Iterator[Path]:
    path.mkdir(parents=True, exist_ok=True)
    subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size},mode=0700", "sysmon-test", str(path)], check=True)
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], check=False)


def _storm(count: int) -> None:
    subprocess.run(["dd", "if=/dev/zero", "of=/dev/null", "bs=1", f"count={count}"], stderr=subprocess.DEVNULL,
                   check=True)


def _dir_bytes(d: Path) -> int:
    total = 0
    for p in d.glob("sysmon-*"):
        with contextlib.suppress(FileNotFoundError):
            total += p.stat().st_size
    return total


def test_the_directory_never_exceeds_the_cap(tmp_path: Path) -> None:
    require_bpf()
    cap = 12 << 20
    with tmpfs(tmp_path / "captures", "24M"):  # the daemon's capture dir; its log and socket stay outside
        d = Daemon(tmp_path, rotation={"size": "5M"}, retention={"max_bytes": "12M"}, capture={"compression": "none"})
        peak = 0
        stop = threading.Event()

        def watch() -> None:
            nonlocal peak
            while not stop.is_set():
                peak = max(peak, _dir_bytes(d.dir))
                time.sleep(0.01)

        watcher = threading.Thread(target=watch, daemon=True)
        try:
            d.wait_for("READY", slow(60))
            watcher.start()
            _storm(150_000)  # ~300k events, ~35 MB of records: three times the cap
            deadline = time.monotonic() + slow(60)
            while (st := d.status())["events"]["written"] < 250_000:
                assert time.monotonic() < deadline, st
                time.sleep(0.2)
            time.sleep(1)
            stop.set()
            watcher.join()
            assert st["events"]["dropped"]["disk"] == 0, st
            assert "retention: deleted" in d.stderr_now()
            assert peak <= cap, f"the directory reached {peak} bytes; the cap is {cap}"
            code, _ = d.stop(30)
            assert code == 0, d.stderr_now()
        finally:
            stop.set()
            d.close()
        assert _dir_bytes(d.dir) <= cap


def test_a_full_disk_costs_events_not_the_daemon(tmp_path: Path) -> None:
    require_bpf()
    with tmpfs(tmp_path / "captures", "6M") as disk:
        d = Daemon(tmp_path, rotation={"size": "2M"}, retention={"max_bytes": "1G"}, capture={"compression": "none"})
        try:
            d.wait_for("READY", slow(60))
            _storm(60_000)  # ~14 MB of records into 6 MB
            deadline = time.monotonic() + slow(60)
            while not (st := d.status())["disk"]["full"] or st["events"]["dropped"]["disk"] == 0:
                assert time.monotonic() < deadline and d.proc.poll() is None, (st, d.stderr_now())
                time.sleep(0.2)
            d.wait_for("STATUS", slow(10))
            while not any("disk full" in m.get("STATUS", "") for _, m in d.messages):
                d.wait_for("STATUS", slow(10))
            assert d.proc.poll() is None
            shown = d.cli("status")
            assert shown.returncode == 0 and "DISK FULL: writing" in shown.stdout, shown
            log = d.stderr_now()
            assert "No space left on device" in log and "retrying" in log and "Traceback" not in log, log
            assert "-C/-W" not in log  # the hint speaks of the configuration, not of CLI flags

            # An operator frees space: writing resumes, and the drops are in the file as a D frame.
            files = list(d.files())  # oldest first
            for f in files[:-1]:
                f.unlink()
            written = d.status()["events"]["written"]
            _storm(5_000)
            # (the machine's own syscalls may fill the disk again soon after: that is fine too)
            while "writing resumed" not in d.stderr_now() or (st := d.status())["events"]["written"] <= written:
                assert time.monotonic() < deadline + 30, (d.files(), d.stderr_now()[-3000:])
                time.sleep(0.2)
            code, _ = d.stop(30)
            assert code == 0, d.stderr_now()
        finally:
            d.close()
        rep = replay("-r", str(d.dir / "sysmon-*"), "-q")
        assert rep.returncode == 0 and "Traceback" not in rep.stderr, rep.stderr
        assert "were dropped" in rep.stderr, rep.stderr

        # Restarting on a full disk: the daemon comes up and stops cleanly (no AssertionError, no exit 1).
        filler = disk / "filler"
        with contextlib.suppress(OSError), filler.open("wb") as f:
            while True:
                f.write(b"\0" * (1 << 20))
        d2 = Daemon(tmp_path, rotation={"size": "2M"}, retention={"max_bytes": "1G"}, capture={"compression": "none"})
        try:
            d2.wait_for("READY", slow(60))
            _storm(2_000)
            time.sleep(slow(2.5))
            assert d2.proc.poll() is None, d2.stderr_now()
            assert d2.status()["disk"]["full"], d2.stderr_now()
            code, _ = d2.stop(30)
            log = d2.stderr_now()
            assert code == 0 and "AssertionError" not in log and "Traceback" not in log, log
        finally:
            d2.close()
        filler.unlink()
        rep = replay("-r", str(d2.dir / "sysmon-*"), "-q")
        assert rep.returncode == 0 and "Traceback" not in rep.stderr, rep.stderr
