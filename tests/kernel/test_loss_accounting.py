"""End-to-end loss accounting: a storm of known size, every count checked against the others.

A copy of dd under its own name writes N bytes one at a time (N write syscalls: strace -c says so),
while `sysmon -v -w FILE "proc.name=NAME and evt.type=write"` captures with the comm pinned in the kernel.
Wanted: 2N records of that process in the file (each write's enter and exit), the kernel's sent count
equal to what userspace took from the ring, what was written equal to what the file holds, and no
drops anywhere (the 64 MiB ring holds the whole storm even if sysmon falls behind).
"""
from __future__ import annotations

import re
import shutil
import signal
import subprocess
import sys
from pathlib import Path

from sysmon.capture.reader import open_source
from tests.kernel.conftest import require_bpf
from tests.kernel.pace import slow

N = 50_000


def test_pinned_storm_of_known_size_is_counted_end_to_end(tmp_path: Path) -> None:
    require_bpf()
    storm = tmp_path / "stormdd"
    shutil.copy("/bin/dd", storm)
    out = tmp_path / "storm.smc"
    proc = subprocess.Popen([sys.executable, "-m", "sysmon", "-v", "--buffer-size", "64M", "-w", str(out),
                             "proc.name=stormdd and evt.type=write"], stderr=subprocess.PIPE, text=True)
    assert proc.stderr is not None and proc.stderr.readline().startswith("sysmon: probe:")  # attached
    subprocess.run([str(storm), "if=/dev/zero", "of=/dev/null", "bs=1", f"count={N}", "status=none"], check=True)
    proc.send_signal(signal.SIGINT)  # at once: the records still in the ring must be read, not lost
    _, err = proc.communicate(timeout=slow(120))
    assert proc.returncode == 0, err

    kernel = re.search(r"Kernel events: (\d+) produced, (\d+) delivered, (\d+) dropped .*; (\d+) received, "
                       r"(\d+) left unread", err)
    wrote = re.search(r"wrote (\d+) events to .*; (\d+) dropped \(disk too slow\)", err)
    assert kernel and wrote, err
    produced, sent, dropped, received, unread = map(int, kernel.groups())
    written, disk_dropped = map(int, wrote.groups())
    assert (dropped, disk_dropped, unread) == (0, 0, 0), err
    assert produced == sent == received, err

    lines = subprocess.run([sys.executable, "-m", "sysmon", "-r", str(out), "-p", "%proc.name %evt.type %evt.dir"],
                           capture_output=True, text=True, check=True).stdout.splitlines()
    mine = [line for line in lines if line.startswith("stormdd ")]
    assert len(mine) == 2 * N and set(mine) == {"stormdd write >", "stormdd write <"}
    src = open_source(str(out))
    in_file = sum(len(batch.records) for batch in src.batches())
    # the file also holds the state-changing events of other processes (closes, opens...) for replay
    assert in_file == written and 2 * N <= written <= received and src.dropped == 0
