"""--shard I/N with the real probe: each shard records the events of its CPUs only, nothing twice and
nothing missing, and the shards' files replay as one capture in time order (docs/scaling.md)."""
from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tests.kernel.conftest import require_bpf
from tests.kernel.pace import slow

pytestmark = pytest.mark.bpf
SYSMON = [sys.executable, "-m", "sysmon"]
BYTES = 500  # dd bs=1: one read and one write per byte


def _replay(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*SYSMON, *args], capture_output=True, text=True, timeout=slow(120))


@pytest.mark.skipif((os.cpu_count() or 1) < 2, reason="two shards need two CPUs")
def test_two_shards_split_by_cpu_and_replay_as_one(tmp_path: Path) -> None:
    require_bpf()
    prog = tmp_path / "shard_dd"
    shutil.copy("/bin/dd", prog)
    procs = []
    try:
        for i in range(2):
            procs.append(subprocess.Popen([*SYSMON, "-v", "--shard", f"{i}/2", "-w", str(tmp_path / f"s{i}.smc"),
                                           "proc.name=shard_dd"], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                          text=True))
        for p in procs:
            assert p.stderr is not None
            line = p.stderr.readline()
            assert line.startswith("sysmon: probe:"), line + p.stderr.read()
        for cpu in (0, 1, 0, 1):
            subprocess.run(["taskset", "-c", str(cpu), prog, "if=/dev/zero", "of=/dev/null", "bs=1", f"count={BYTES}",
                            "status=none"], check=True)
    finally:
        for p in procs:
            p.send_signal(signal.SIGTERM)
        errs = [p.communicate(timeout=slow(60))[1] for p in procs]
    assert all(p.returncode == 0 for p in procs), errs
    reads = "proc.name=shard_dd and evt.type=read and evt.dir=<"
    for i in range(2):  # each shard: its CPU's reads only, all of them (2 runs of BYTES, and dd's own few)
        cpus = _replay("-r", str(tmp_path / f"s{i}.smc"), "-p", "%evt.cpu", reads).stdout.split()
        assert set(cpus) == {str(i)} and 2 * BYTES <= len(cpus) <= 2 * BYTES + 20, (i, len(cpus), set(cpus))
    merged = _replay("-r", str(tmp_path / "s1.smc"), "-r", str(tmp_path / "s0.smc"), "-p",
                     "%evt.rawtime %evt.num %evt.cpu", "proc.name=shard_dd")
    assert merged.returncode == 0 and not merged.stderr, merged.stderr
    rows = [tuple(map(int, line.split())) for line in merged.stdout.splitlines()]
    assert [r[0] for r in rows] == sorted(r[0] for r in rows)  # one time order across both files
    assert [r[1] for r in rows] == sorted({r[1] for r in rows})  # numbered once, in that order
    runs = [r[2] for r in rows]  # the four dd runs alternate CPUs: 0, 1, 0, 1 in the merged stream
    switches = [cpu for k, cpu in enumerate(runs) if k == 0 or cpu != runs[k - 1]]
    assert switches[:4] == [0, 1, 0, 1], switches[:10]
    missing = _replay("-r", str(tmp_path / "s1.smc"), "-r", str(tmp_path / "s1.smc"), "-q")
    assert missing.returncode != 0 and "shard 0 of 2 missing" in missing.stderr, missing.stderr
