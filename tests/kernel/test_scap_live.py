"""Live captures written as sysdig .scap files, read by sysdig 0.29.3 (Debian's package, no driver needed).

- `sysmon -w live.scap`: sysdig and sysmon print the same lines from it (default format with evt.num,
  and a `%proc.name %fd.name %fd.sip %evt.args` format);
- `sysmon -w live.smc`, converted with `sysmon -r live.smc -w conv.scap`: sysdig prints from conv.scap
  what sysmon prints from live.smc, for the event types whose parameters sysmon's live table has as
  sysdig's does (file and socket I/O; evt.num left out: sysdig numbers the blocks of the file).
"""
from __future__ import annotations

import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.kernel.conftest import require_bpf
from tests.kernel.pace import slow

pytestmark = pytest.mark.bpf
SYSMON = [sys.executable, "-m", "sysmon"]
FILTER = "proc.name in (cat, sh, python3) or evt.type in (clone, clone3, fork, vfork, execve, procexit)"
DEFAULT = "%evt.num %evt.outputtime %evt.cpu %proc.name (%thread.tid) %evt.dir %evt.type %evt.info"
FDS = "*%proc.name %fd.name %fd.sip %evt.args"
# Events whose parameters and state effects sysmon's live table has as sysdig 0.29.3's: not the openat
# enter (its path is read at exit), the connect exit (sysmon adds fd=), the sendto exit (sysmon adds the
# tuple), python3's close (of an epoll_create1 fd, a generic event without an fd in sysdig 0.29.3).
SAME_SCHEMA = ("((proc.name=cat and evt.type in (openat, read, write, close)) or (proc.name=python3 and evt.type in"
               " (openat, read, write, socket)) or (proc.name=python3 and evt.type in (connect, sendto) and evt.dir=>))"
               " and not (evt.type=openat and evt.dir=>)")


@pytest.fixture(autouse=True)
def _bpf() -> None:
    require_bpf()
    assert shutil.which("sysdig"), "sysdig is a test dependency: run scripts/setup.sh"


def run(argv: list[str], pids: list[int]) -> None:
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL)
    pids.append(proc.pid)
    assert proc.wait(timeout=slow(60)) == 0


def capture(path: Path) -> str:
    """Capture a workload (cat, sh, a TCP connection to 127.0.0.1) into `path` with FILTER; returns a filter
    for the workload's processes (other processes on the machine may predate what the capture saw)."""
    pids: list[int] = []
    proc = subprocess.Popen([*SYSMON, "-v", "-w", str(path), FILTER], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    assert proc.stderr is not None
    line = proc.stderr.readline()
    assert line.startswith("sysmon: probe:"), line + proc.stderr.read()
    with socket.socket() as srv:
        srv.bind(("127.0.0.1", 0))
        srv.listen()
        port = srv.getsockname()[1]
        for _ in range(3):
            run(["/usr/bin/cat", "/etc/hostname"], pids)
            run(["/bin/sh", "-c", "echo hi > /dev/null"], pids)
            run(["/usr/bin/python3", "-c", f"import socket; s = socket.create_connection(('127.0.0.1', {port}));"
                                          " s.sendall(b'hello'); s.close()"], pids)
            conn, _ = srv.accept()
            conn.recv(16)
            conn.close()
            time.sleep(0.1)
    time.sleep(0.5)  # the probe's ring is read every few ms: let the last events arrive
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=slow(120))
    assert proc.returncode == 0, err
    assert path.stat().st_mode & 0o777 == 0o600
    return f"proc.pid in ({', '.join(map(str, pids))})"


def sysdig(path: Path, fmt: str, flt: str = "") -> list[str]:
    res = subprocess.run(["sysdig", "-r", str(path), "-p", fmt, *([flt] if flt else [])], capture_output=True,
                         text=True, timeout=slow(120))
    assert res.returncode == 0, res.stderr
    return [line.rstrip() for line in res.stdout.splitlines()]


def sysmon(path: Path, fmt: str, flt: str = "") -> list[str]:
    res = subprocess.run([*SYSMON, "-r", str(path), "-p", fmt, *([flt] if flt else [])], capture_output=True,
                         text=True, timeout=slow(120))
    assert res.returncode == 0 and not res.stderr, res.stderr
    return [line.rstrip() for line in res.stdout.splitlines()]


def test_live_scap_reads_the_same_in_sysdig_and_sysmon(tmp_path: Path) -> None:
    path = tmp_path / "live.scap"
    workload = capture(path)
    lines = sysdig(path, DEFAULT, workload)
    assert any(" cat " in line and "/etc/hostname" in line for line in lines), lines[:20]
    assert any(" connect " in line and "127.0.0.1" in line for line in lines), lines[:20]
    assert sysmon(path, DEFAULT, workload) == lines
    assert sysmon(path, FDS, workload) == sysdig(path, FDS, workload)


def test_smc_converted_to_scap_prints_what_sysmon_printed(tmp_path: Path) -> None:
    smc, scap = tmp_path / "live.smc", tmp_path / "conv.scap"
    flt = f"{capture(smc)} and {SAME_SCHEMA}"
    res = subprocess.run([*SYSMON, "-r", str(smc), "-w", str(scap)], capture_output=True, text=True, timeout=slow(120))
    assert res.returncode == 0 and not res.stderr, res.stderr
    fmt = DEFAULT.removeprefix("%evt.num ")
    live = sysmon(smc, fmt, flt)
    assert any(" > read " in line and "/etc/hostname" in line for line in live), live[:20]
    assert any(" > connect " in line and "127.0.0.1" in line for line in live), live[:20]
    assert sysdig(scap, fmt, flt) == live
    assert sysmon(scap, fmt, flt) == live
    live_fds = sysmon(smc, FDS, flt)
    assert sysdig(scap, FDS, flt) == live_fds == sysmon(scap, FDS, flt)
