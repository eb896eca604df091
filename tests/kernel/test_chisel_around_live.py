"""Exporting the events around matches, live: the dump holds exactly the events within the range of
each match, checked against a full capture of the same run (-w, same event numbers)."""
from __future__ import annotations

import signal
import subprocess
import sys
import uuid

import pytest

from sysmon.chisel.loader import Loader, builtin_dir
from tests.kernel.pace import slow
from tests.kernel.test_chisels_live import run_with
from tests.kernel.test_cli_live import sysmon_cmd

pytestmark = pytest.mark.bpf
RANGE_MS = 200


def replay(path: str, *argv: str) -> list[str]:
    out = subprocess.run(sysmon_cmd() + ["-r", path, *argv], capture_output=True, text=True, timeout=slow(300))
    assert out.returncode == 0, out.stderr
    return out.stdout.splitlines()


def test_spy_logs_dump_holds_exactly_the_events_around_each_log_write(live, tmp_path):
    log = tmp_path / f"marker-{uuid.uuid4().hex[:6]}.log"
    full, dump = str(tmp_path / "full.smc"), str(tmp_path / "around.smc")
    marker = f"around-{uuid.uuid4().hex[:6]}"
    # The log is opened well before the write (outside the window): the dump's snapshot must know it.
    writer = (f"import time\nf = open({str(log)!r}, 'a')\ntime.sleep(0.5)\nf.write({marker!r} + ' {{}}\\n'.format(1))\n"
              "f.flush()\ntime.sleep(0.5)\n")

    def workload(i: int) -> None:
        subprocess.run([sys.executable, "-c", writer], check=True)

    # SIGTERM ends between batches, so -w and the dump saw the same events (on SIGINT, the events
    # of the batch under way when it lands reach the chisels but not the -w file).
    out, err = run_with(["-w", full, "-c", "spy_logs", f"{dump} {RANGE_MS}"], workload, timeout_s=slow(60),
                        until=lambda text: marker in text, stop=signal.SIGTERM)
    assert f"python3 {log} {marker} 1" in out.splitlines() or f"python {log} {marker} 1" in out.splitlines(), out + err
    summary = out.splitlines()[-1]
    assert summary.startswith("wrote ") and summary.endswith(f" to {dump}"), out + err

    everything = [line.split() for line in replay(full, "-p", "*%evt.num %evt.rawtime")]
    # spy_logs marks every write to any log file (journald's too), as its own filter says.
    log_files = sys.modules[Loader([builtin_dir()]).find("spy_logs").cls.__module__].LOG_FILES
    matches = [int(t) for t in replay(full, "-p", "%evt.rawtime", f"({log_files}) and evt.is_io_write=true and "
                                      "evt.dir=< and evt.failed=false and evt.rawres>0")]
    assert matches
    r = RANGE_MS * 1_000_000
    want = {int(num) for num, ts in everything if any(abs(int(ts) - m) <= r for m in matches)}
    got = replay(dump, "-p", "*%evt.num %proc.name %evt.type %fd.name")
    assert {int(line.split()[0]) for line in got} == want
    assert f"{len(want)} events around {len(matches)} match" in summary
    # Every write to the marker log (opened before its window) is there with the file name resolved.
    writes = [line for line in got if line.split()[2:] == ["write", str(log)]]
    assert writes and len(writes) == len(replay(full, "-p", "%evt.num", f"fd.name={log} and evt.type=write"))
