"""The README's promises, end to end: the sysmon command, a real workload, the printed lines."""
from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time

import pytest

from tests.kernel.pace import slow

pytestmark = pytest.mark.bpf


def sysmon_cmd() -> list[str]:
    return [sys.executable, "-m", "sysmon"]


def run_until_output(args: list[str], workload: list[str], timeout_s: float = slow(40)) -> tuple[str, str]:
    """Start sysmon, repeat the workload until sysmon exits (-n) or time runs out."""
    proc = subprocess.Popen(sysmon_cmd() + args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + timeout_s
    try:
        while proc.poll() is None and time.monotonic() < deadline:
            subprocess.run(workload, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            time.sleep(0.2)
        out, err = proc.communicate(timeout=slow(10))
    finally:
        if proc.poll() is None:
            proc.kill()
    return out, err


@pytest.mark.parametrize("transport", ["ringbuf", "perf"])
def test_openat_line_for_cat(live, transport):
    out, err = run_until_output(
        ["--transport", transport, "-n", "1", "-p", "%proc.name %evt.type %fd.name", "evt.type=openat and evt.dir=< and fd.name=/etc/hostname"],
        ["cat", "/etc/hostname"],
    )
    assert out.splitlines() == ["cat openat /etc/hostname"], err


def test_connect_port_80_filter(live):
    srv = subprocess.Popen(
        [sys.executable, "-c",
         "import socket\ns=socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)\n"
         "s.bind(('127.0.0.1', 80)); s.listen(64)\nwhile True:\n    c, _ = s.accept(); c.close()\n"],
    )
    try:
        time.sleep(0.5)
        out, err = run_until_output(
            ["-n", "1", "evt.type=connect and evt.dir=< and fd.port=80"],
            ["/usr/bin/python3", "-c", "import socket; socket.create_connection(('127.0.0.1', 80)).close()"],
        )
    finally:
        srv.kill()
    lines = out.splitlines()
    assert len(lines) == 1, err
    assert " python3 (" in lines[0] and "< connect res=0 tuple=127.0.0.1:" in lines[0]
    assert "->127.0.0.1:80" in lines[0]


@pytest.mark.smoke
def test_storm_drops_are_counted_and_reported(live):
    """A tiny buffer and a storm while sysmon cannot read (stopped: drops whatever the machine's speed,
    an emulated guest included): drops are counted on stderr, and sysmon still stops on time."""
    storm = [sys.executable, "-c", "import os\nfor _ in range(30000): os.getppid()"]
    proc = subprocess.Popen(sysmon_cmd() + ["-v", "--buffer-size", "64k", "-M", "8", "evt.type=getppid"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    assert proc.stderr is not None and proc.stderr.readline().startswith("sysmon: probe:")  # attached
    os.kill(proc.pid, signal.SIGSTOP)
    try:
        subprocess.run(storm, check=True)  # 60k events into a 64 KiB ring (~500 records) nobody reads
    finally:
        os.kill(proc.pid, signal.SIGCONT)
    _, err = proc.communicate(timeout=slow(30))
    assert proc.returncode == 0, err
    m = [line for line in err.splitlines() if line.startswith("Kernel events:")]
    assert m, err
    produced, delivered, dropped = (int(x) for x in re.findall(r"(\d+) (?:produced|delivered|dropped)", m[0]))
    assert dropped > 0 and produced == delivered + dropped


def test_storm_drops_are_reported_without_v_too(live):
    """Without -v, one warning line at the end still says that events were lost, and where."""
    proc = subprocess.Popen(sysmon_cmd() + ["--buffer-size", "64k", "-M", "8", "-p", "%evt.type", "evt.type=getppid"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    ready = threading.Event()

    def until_attached() -> None:  # no -v: the first getppid line says the probe is attached
        while not ready.is_set() and proc.poll() is None:
            os.getppid()
            time.sleep(0.05)

    threading.Thread(target=until_attached, daemon=True).start()
    assert proc.stdout.readline().strip() == "getppid"
    ready.set()
    os.kill(proc.pid, signal.SIGSTOP)
    try:
        subprocess.run([sys.executable, "-c", "import os\nfor _ in range(30000): os.getppid()"], check=True)
    finally:
        os.kill(proc.pid, signal.SIGCONT)
    _, err = proc.communicate(timeout=slow(30))
    assert proc.returncode == 0, err
    warning = re.fullmatch(r"sysmon: warning: events were lost: (\d+) in the kernel \(its buffer was "
                                         r"full\); -v shows the counts", err.strip())
    assert warning and int(warning[1]) > 0, err


def test_identity_pushdown_keeps_matches_and_drops_the_rest_in_kernel(live):
    """proc.name=cat is pushed into the probe: a dd storm never reaches userspace, cat's reads do."""
    proc = subprocess.Popen(sysmon_cmd() + ["-v", "-M", "8", "-p", "%proc.name %evt.type %fd.name",
                                            "proc.name=cat and evt.type=read and evt.dir=<"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert proc.stderr is not None and proc.stderr.readline().startswith("sysmon: probe:")  # attached
    subprocess.run(["dd", "if=/dev/zero", "of=/dev/null", "bs=1", "count=200000", "status=none"], check=True)
    subprocess.run(["cat", "/etc/hostname"], stdout=subprocess.DEVNULL, check=True)
    out, err = proc.communicate(timeout=slow(30))
    assert "cat read /etc/hostname" in out.splitlines(), err
    m = re.search(r"Kernel events: (\d+) produced", err)
    assert m, err
    assert int(m.group(1)) < 100_000, "the 800k events of dd's storm must be dropped in the kernel"


def test_closed_pipe_ends_quietly(live):
    """`sysmon | head -3`: three lines, exit 0, no traceback."""
    proc = subprocess.Popen(sysmon_cmd(), stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert proc.stdout is not None
    lines = [proc.stdout.readline() for _ in range(3)]
    proc.stdout.close()
    _, err = proc.communicate(timeout=slow(30))
    assert all(lines) and proc.returncode == 0, err
    assert b"Traceback" not in err and err == b""


def test_sigterm_ends_with_the_summary(live):
    proc = subprocess.Popen(sysmon_cmd() + ["-v", "-S", "-p", "%evt.type", "proc.name=cat"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert proc.stderr is not None and proc.stderr.readline().startswith("sysmon: probe:")  # attached
    subprocess.run(["cat", "/etc/hostname"], stdout=subprocess.DEVNULL, check=True)
    time.sleep(0.5)
    proc.terminate()
    out, err = proc.communicate(timeout=slow(30))
    assert proc.returncode == 0, err
    assert "#Calls" in out and "< openat" in out, out[-500:]
    assert "Kernel events:" in err and "Traceback" not in err
