"""Capture files with the real probe: -w while printing, then -r prints the same; kill -9 leaves a
replayable file; processes and fds from before the capture resolve on replay."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest

from tests.kernel.conftest import require_bpf
from tests.kernel.pace import slow

pytestmark = pytest.mark.bpf
SYSMON = [sys.executable, "-m", "sysmon"]
FMT = "*%evt.num %evt.time %evt.cpu %proc.name %thread.tid %evt.dir %evt.type %fd.name %user.name %evt.info"


@pytest.fixture(autouse=True)
def _bpf() -> None:
    require_bpf()


def start(args: list[str]) -> subprocess.Popen[str]:
    proc = subprocess.Popen([*SYSMON, "-v", *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert proc.stderr is not None
    line = proc.stderr.readline()
    assert line.startswith("sysmon: probe:"), line + proc.stderr.read()
    return proc


def workload(tag: str) -> None:
    for _ in range(3):
        subprocess.run(["cat", "/etc/hostname", "/etc/passwd"], stdout=subprocess.DEVNULL, check=True)
        subprocess.run(["sh", "-c", f"echo {tag} > /dev/null; ls / > /dev/null"], check=True)
        time.sleep(0.1)


def replay(args: list[str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*SYSMON, *args], capture_output=True, text=True, timeout=slow(120))


@pytest.mark.parametrize("filter_", ["proc.name in (cat, sh, ls)", ""], ids=["filtered", "unfiltered"])
def test_replay_prints_the_lines_live_printed(tmp_path, filter_):
    path = str(tmp_path / "live.smc")
    proc = start(["-w", path, "-p", FMT, "-M", "3", *([filter_] if filter_ else [])])
    workload("capture-test")
    live_out, err = proc.communicate(timeout=slow(60))
    assert proc.returncode == 0, err
    assert os.stat(path).st_mode & 0o777 == 0o600
    # -v as the live run had it (start() uses it): full buffers, not cut at 80 bytes with "..."
    rep = replay(["-v", "-r", path, "-p", FMT, *([filter_] if filter_ else [])])
    assert rep.returncode == 0 and rep.stderr == "", rep.stderr
    live_lines = live_out.splitlines()
    assert len(live_lines) > 50 and any(" cat " in line and "/etc/hostname" in line for line in live_lines)
    assert rep.stdout.splitlines() == live_lines


def test_names_of_things_opened_before_the_capture_resolve(tmp_path):
    data = tmp_path / "held-open.txt"
    data.write_text("x" * 100)
    holder = subprocess.Popen([sys.executable, "-c",
                               f"import os, time\nfd = os.open({str(data)!r}, os.O_RDONLY)\nprint(flush=True)\n"
                               "while True:\n    os.pread(fd, 10, 0); time.sleep(0.05)\n"], stdout=subprocess.PIPE)
    try:
        assert holder.stdout is not None
        holder.stdout.readline()  # the file is open before sysmon starts
        path = str(tmp_path / "before.smc")
        proc = start(["-w", path, "-M", "2"])
        proc.communicate(timeout=slow(60))
    finally:
        holder.kill()
        holder.wait()
    rep = replay(["-r", path, "-p", "%evt.type %fd.name", f"evt.dir=< and proc.pid={holder.pid}"])
    lines = rep.stdout.splitlines()
    assert lines and set(lines) == {f"pread {data}"}, rep.stderr


def test_kill_9_leaves_a_file_that_replays_with_one_warning(tmp_path):
    path = str(tmp_path / "killed.smc")
    proc = start(["-w", path])
    workload("kill-test")
    time.sleep(0.5)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=slow(10))
    rep = replay(["-r", path, "-p", "%evt.num %proc.name %evt.type", "proc.name=cat"])
    assert rep.returncode == 0
    assert len(rep.stdout.splitlines()) > 10
    warnings = rep.stderr.splitlines()
    assert len(warnings) == 1 and "warning" in warnings[0] and "byte" in warnings[0], rep.stderr
