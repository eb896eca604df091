"""For a deterministic program, sysmon's per-syscall counts equal strace's for the same command."""
from __future__ import annotations

import re
import shutil
import subprocess
from collections import Counter

import pytest

from sysmon.events.syscalls import X86_64

pytestmark = pytest.mark.bpf
WORKLOAD = ["/bin/dd", "if=/dev/zero", "of=/dev/null", "bs=512", "count=300", "status=none"]


def strace_counts(tmp_path) -> Counter[str]:
    if shutil.which("strace") is None:
        pytest.fail("strace is not installed (scripts/setup.sh installs it)")
    out = tmp_path / "strace.txt"
    subprocess.run(["strace", "-f", "-o", str(out), *WORKLOAD], check=True)
    counts: Counter[str] = Counter()
    for line in out.read_text().splitlines():
        m = re.match(r"\d+\s+(?:<\.\.\. )?(\w+)\(", line)
        if m and "resumed>" not in line:
            counts[m.group(1)] += 1
    return counts


def test_counts_equal_strace(live, tmp_path):
    rows = live.run(WORKLOAD)
    pid = live.last_pid
    enters = [r.evt for r in rows if r.evt.pid == pid and r.evt.dir == 0 and r.evt.nr < 1024]
    # strace starts at the execve; the forked child's syscalls before it are not the program's.
    start = max(i for i, e in enumerate(enters) if X86_64.get(e.nr) == "execve")
    ours = Counter(X86_64[e.nr] for e in enters[start:])
    theirs = strace_counts(tmp_path)
    assert ours == theirs
    assert ours["write"] == 300 and ours["read"] >= 300  # dd also reads its shared libraries
