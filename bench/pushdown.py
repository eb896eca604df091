"""Kernel pushdown, measured: a storm by another process while sysmon runs a filter matching only connect.

Usage: .venv/bin/python bench/pushdown.py [--runs 3] [--blocks 1000000]
Side by side, interleaved: untraced, sysmon 'evt.type=connect' with pushdown (the default) and with
--no-pushdown (every event goes to userspace and is filtered there). A client connects during the
storm; both must report its connect (no matching event lost). Prints slowdown, sysmon CPU seconds,
kernel events produced/dropped, and whether the connect was seen.
"""
from __future__ import annotations

import argparse
import re
import signal
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CONNECT = ["/usr/bin/python3", "-c",
           "import socket\ns = socket.socket(); s.bind(('127.0.0.1', 0)); s.listen(1)\n"
           "c = socket.create_connection(s.getsockname()); c.close()\n"]


def storm(blocks: int) -> float:
    t0 = time.perf_counter()
    subprocess.run(["dd", "if=/dev/zero", "of=/dev/null", "bs=1", f"count={blocks}", "status=none"], check=True)
    return time.perf_counter() - t0


def traced(blocks: int, extra: list[str]) -> tuple[float, float, int, int, bool]:
    cmd = [sys.executable, "-m", "sysmon", "-v", "-p", "%proc.name %evt.type", *extra, "evt.type=connect and evt.dir=<"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT)
    assert proc.stderr is not None and proc.stderr.readline().startswith("sysmon: probe:")  # attached
    cpu0 = cpu_seconds(proc.pid)
    client = subprocess.Popen(CONNECT)
    elapsed = storm(blocks)
    client.wait()
    time.sleep(1.0)
    cpu = cpu_seconds(proc.pid) - cpu0
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=600)
    m = re.search(r"Kernel events: (\d+) produced, (\d+) delivered, (\d+) dropped", err)
    assert m, err
    return elapsed, cpu, int(m[1]), int(m[3]), "python3 connect" in out


def cpu_seconds(pid: int) -> float:
    import os

    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--blocks", type=int, default=1_000_000)
    opts = ap.parse_args()
    rows: dict[str, list[tuple[float, float, int, int, bool]]] = {"untraced": [], "pushdown": [], "no pushdown": []}
    for _ in range(opts.runs):
        rows["untraced"].append((storm(opts.blocks), 0.0, 0, 0, True))
        rows["pushdown"].append(traced(opts.blocks, []))
        rows["no pushdown"].append(traced(opts.blocks, ["--no-pushdown"]))
    base = statistics.median(r[0] for r in rows["untraced"])
    print(f"storm: dd bs=1 count={opts.blocks} ({2 * opts.blocks} syscalls) + one connect; "
          f"filter 'evt.type=connect'; median of {opts.runs}")
    print(f"{'sysmon':<14}{'time s':>8}{'slowdown':>10}{'sysmon CPU s':>14}{'produced':>11}{'dropped':>10}"
          f"{'connect seen':>14}")
    for name, rs in rows.items():
        mid = sorted(rs)[len(rs) // 2]
        seen = all(r[4] for r in rs)
        print(f"{name:<14}{mid[0]:>8.2f}{mid[0] / base:>10.2f}{mid[1]:>14.2f}{mid[2]:>11,}{mid[3]:>10,}"
              f"{('yes' if seen else 'NO'):>14}")


if __name__ == "__main__":
    main()
