"""Soak test of `sysmon daemon`: a loop of workloads at a high event rate for a few minutes, with small
files and a small retention cap, sampling the daemon's RSS and the capture directory's size.

    sudo .venv/bin/python bench/soak.py [--seconds 150] [--file 8M] [--cap 64M]

Workloads, round-robin: a syscall storm (dd bs=1), process churn (sh -c true x200: the thread table
must not grow), file churn (create/open/close/unlink), socket churn (a unix socketpair ping-pong).
Not part of CI.
"""
from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SYSMON = [sys.executable, "-m", "sysmon"]
WORKLOADS = [
    ["dd", "if=/dev/zero", "of=/dev/null", "bs=1", "count=200000"],
    ["sh", "-c", "for i in $(seq 200); do sh -c true; done"],
    [sys.executable, "-c", "import os\nfor i in range(20000):\n    fd = os.open(f'/tmp/soak-{os.getpid()}', "
     "os.O_CREAT | os.O_WRONLY); os.write(fd, b'x'); os.close(fd); os.unlink(f'/tmp/soak-{os.getpid()}')"],
    [sys.executable, "-c", "import socket\na, b = socket.socketpair()\nfor i in range(50000):\n"
     "    a.send(b'x'); b.recv(1)"],
]


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def status(sock: Path) -> dict[str, object]:
    out = subprocess.run([*SYSMON, "status", "-j", "--socket", str(sock)], capture_output=True, text=True,
                         timeout=30, cwd=ROOT)
    return dict(json.loads(out.stdout))


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=150)
    ap.add_argument("--file", default="8M")
    ap.add_argument("--cap", default="64M")
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="sysmon-soak-"))
    sock = tmp / "control.sock"
    config = tmp / "sysmon.toml"
    config.write_text(f'[capture]\ndir = "{tmp}/cap"\ncompression = "none"\n[rotation]\nsize = "{args.file}"\n'
                      f'[retention]\nmax_bytes = "{args.cap}"\n[control]\nsocket = "{sock}"\n')
    log = (tmp / "daemon.log").open("w")
    daemon = subprocess.Popen([*SYSMON, "daemon", "--config", str(config)], stderr=log, cwd=ROOT)
    try:
        while not sock.exists():
            time.sleep(0.1)
        while status(sock)["state"] != "recording":
            time.sleep(0.2)
        time.sleep(1)
        start_rss = rss_kib(daemon.pid)
        t0 = time.monotonic()
        samples = []
        i = 0
        next_sample = t0
        while time.monotonic() - t0 < args.seconds:
            subprocess.run(WORKLOADS[i % len(WORKLOADS)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            i += 1
            if time.monotonic() >= next_sample:
                st = status(sock)
                disk = st["disk"]["bytes"]  # type: ignore[index]
                samples.append((round(time.monotonic() - t0), rss_kib(daemon.pid), disk, st["events"]))
                next_sample += 10
        st = status(sock)
        end_rss = rss_kib(daemon.pid)
        daemon.send_signal(signal.SIGTERM)
        code = daemon.wait(timeout=30)
    finally:
        if daemon.poll() is None:
            daemon.kill()
        log.close()
    ev = st["events"]
    print(f"{'t_s':>5} {'rss_MiB':>8} {'disk_MiB':>9}  events")
    for t, rss, disk, events in samples:
        print(f"{t:>5} {rss / 1024:>8.1f} {disk / 2**20:>9.1f}  {events}")
    print(f"workload runs: {i}; {args.seconds:.0f} s; exit status {code}")
    print(f"RSS start {start_rss / 1024:.1f} MiB, end {end_rss / 1024:.1f} MiB, "
          f"max {max(s[1] for s in samples) / 1024:.1f} MiB")
    print(f"disk max {max(s[2] for s in samples) / 2**20:.1f} MiB (cap {args.cap}, file {args.file})")
    print(f"events: {ev}; average {ev['seen'] / args.seconds:.0f}/s")  # type: ignore[index]
    print(f"logs and files in {tmp}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
