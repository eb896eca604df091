"""Syscall storm: what sysmon delivers to userspace, what it drops, and what it costs the workload.

Usage (as root, after scripts/setup.sh):  .venv/bin/python bench/storm.py [--blocks N] [--runs R]

Workload: `dd if=/dev/zero of=/dev/null bs=1 count=N` (2N cheap syscalls, 4N events). Each
configuration runs interleaved with the untraced baseline, median of R runs. Printed per row:
slowdown vs untraced, events the kernel produced / delivered / dropped, and userspace events/s.
"""
from __future__ import annotations

import argparse
import re
import statistics
import subprocess
import sys
import time

CONFIGS = {
    "untraced": None,
    "sysmon ringbuf, no filter, default format": [],
    "sysmon perf buffer, no filter": ["--transport", "perf"],
    "sysmon ringbuf, evt.type=connect (kernel pushdown)": ["evt.type=connect"],
}


def workload(blocks: int) -> float:
    t0 = time.perf_counter()
    subprocess.run(["dd", "if=/dev/zero", "of=/dev/null", "bs=1", f"count={blocks}", "status=none"], check=True)
    return time.perf_counter() - t0


def traced(args: list[str], blocks: int) -> tuple[float, dict[str, float]]:
    cmd = [sys.executable, "-m", "sysmon", "-v", *args]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    assert proc.stderr is not None
    line = proc.stderr.readline()
    if "capturing" not in line:
        raise SystemExit(f"sysmon did not start: {line}{proc.stderr.read()}")
    elapsed = workload(blocks)
    time.sleep(1.0)  # let the reader drain what is buffered
    proc.send_signal(2)
    err = proc.communicate(timeout=120)[1]
    m = re.search(r"Kernel events: (\d+) produced, (\d+) delivered, (\d+) dropped", err)
    s = re.search(r"Events seen: (\d+), matched: (\d+), (\d+) ev/s", err)
    if not (m and s):
        raise SystemExit(f"no statistics from sysmon:\n{err}")
    return elapsed, {"produced": int(m[1]), "delivered": int(m[2]), "dropped": int(m[3]), "seen": int(s[1]),
                     "evps": int(s[3])}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--blocks", type=int, default=500_000)
    ap.add_argument("--runs", type=int, default=3)
    opts = ap.parse_args()
    print(f"workload: dd bs=1 count={opts.blocks} ({2 * opts.blocks} syscalls, {4 * opts.blocks} events); "
          f"median of {opts.runs} interleaved runs")
    print(f"{'configuration':<52}{'time s':>8}{'slowdown':>10}{'produced':>11}{'delivered':>11}{'dropped':>9}{'user ev/s':>11}")
    for name, args in CONFIGS.items():
        if args is None:
            continue
        base_times, times, stats = [], [], []
        for _ in range(opts.runs):
            base_times.append(workload(opts.blocks))
            t, st = traced(args, opts.blocks)
            times.append(t)
            stats.append(st)
        base = statistics.median(base_times)
        t = statistics.median(times)
        mid = sorted(stats, key=lambda s: s["produced"])[len(stats) // 2]
        print(f"{'untraced (paired)':<52}{base:>8.2f}{1.0:>10.2f}")
        print(f"{name:<52}{t:>8.2f}{t / base:>10.2f}{mid['produced']:>11}{mid['delivered']:>11}{mid['dropped']:>9}{mid['evps']:>11}")


if __name__ == "__main__":
    main()
