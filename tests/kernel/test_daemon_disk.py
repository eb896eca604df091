"""The daemon under load with small files: retention holds the disk cap by deleting the oldest files,
and SIGKILL leaves every earlier file whole and the current one replayable to its last record."""
from __future__ import annotations

import signal
import subprocess
import time
from pathlib import Path

import pytest

from tests.kernel.conftest import require_bpf
from tests.kernel.daemon_harness import Daemon, replay
from tests.kernel.pace import slow

pytestmark = pytest.mark.bpf
FILE = 256 << 10
CAP = 4 << 20  # each file also starts with the machine's state snapshot (~0.5 MiB on a busy host)


def test_retention_holds_the_cap_and_sigkill_leaves_replayable_files(tmp_path: Path) -> None:
    require_bpf()
    d = Daemon(tmp_path, rotation={"size": FILE}, retention={"max_bytes": CAP},
               capture={"compression": "none"})
    try:
        d.wait_for("READY", slow(60))
        subprocess.run(["dd", "if=/dev/zero", "of=/dev/null", "bs=1", "count=40000"], stderr=subprocess.DEVNULL,
                       check=True)
        deadline = time.monotonic() + slow(30)
        while (seen := d.status()["events"]["seen"]) < 160_000:
            assert time.monotonic() < deadline, seen
            time.sleep(0.2)
        while d.status()["events"]["written"] < seen:  # the workload's events reached the disk
            assert time.monotonic() < deadline, d.status()
            time.sleep(0.2)
        # Retention makes room before every write: the directory is never over the cap.
        files = d.files()
        assert sum(files.values()) <= CAP, files
        assert max(_index(f) for f in files) * FILE > 2 * CAP  # far more was written than the cap holds
        assert not any(f.name.endswith(".smc0") for f in files)  # the oldest went first
        assert "retention: deleted" in d.stderr_now()
        d.signal(signal.SIGKILL)
        d.proc.wait(timeout=slow(10))
    finally:
        d.close()
    kept = sorted(d.dir.glob("sysmon-*"), key=_index)
    assert len(kept) >= 2
    if kept[-1].stat().st_size == 0:  # killed between creating the file and writing its start:
        kept.pop()  # it holds nothing (the next daemon start removes it); the one before was current
    for f in kept[:-1]:
        rep = replay("-r", str(f), "-p", "%evt.num")
        assert rep.returncode == 0 and rep.stderr == "", (f.name, rep.stderr)
        nums = [int(n) for n in rep.stdout.split()]
        # a whole file of events, none missing (how many depends on the state snapshot each file starts with)
        assert len(nums) > 100 and nums == list(range(nums[0], nums[0] + len(nums))), (f.name, len(nums))
        assert f.stat().st_size >= FILE * 3 // 4, (f.name, f.stat().st_size)  # rotated near its size
    last = replay("-r", str(kept[-1]), "-q")
    assert last.returncode == 0, last.stderr
    assert len(last.stderr.splitlines()) <= 1 and ("warning" in last.stderr or not last.stderr), last.stderr


def _index(f: Path) -> int:
    return int(f.name.rsplit(".smc", 1)[1])

