"""One `sysmon -w` against two shards (`--shard 0/2` and `--shard 1/2`, one process each) on the same
storm, interleaved, median of --runs: `.venv/bin/python bench/shards.py`.

The storm is one `dd bs=1` per CPU, each pinned to its CPU, so both shards have work. Printed per
setup: the storm's time and slowdown against untraced, the events the kernel produced, dropped (ring
full, or the writer behind the disk) and the writers wrote, and the consumers' CPU seconds (all sysmon processes together). docs/scaling.md
explains the design and what the figures say.
"""
from __future__ import annotations

import argparse
import os
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SYSMON = [sys.executable, "-m", "sysmon"]
KERNEL = re.compile(r"Kernel events: (\d+) produced, (\d+) delivered, (\d+) dropped")
WROTE = re.compile(r"wrote (\d+) events to .*; (\d+) dropped")


def storm(count: int) -> float:
    start = time.monotonic()
    procs = [subprocess.Popen(["taskset", "-c", str(cpu), "dd", "if=/dev/zero", "of=/dev/null", "bs=1",
                               f"count={count}", "status=none"]) for cpu in range(os.cpu_count() or 1)]
    for p in procs:
        p.wait()
    return time.monotonic() - start


def cpu_s(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def traced(shards: int, count: int, tmp: str) -> tuple[float, int, int, int, float]:
    """(storm seconds, produced, dropped, written, consumers' CPU s) with `shards` consumers (0: none)."""
    if shards == 0:
        return storm(count), 0, 0, 0, 0.0
    procs = []
    for i in range(shards):
        shard = ["--shard", f"{i}/{shards}"] if shards > 1 else []
        procs.append(subprocess.Popen([*SYSMON, "-v", *shard, "-w", f"{tmp}/s{i}.smc"], cwd=ROOT,
                                      stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True))
    for p in procs:
        assert p.stderr is not None
        if not p.stderr.readline().startswith("sysmon: probe:"):
            raise SystemExit("sysmon did not start")
    before = sum(cpu_s(p.pid) for p in procs)
    took = storm(count)
    time.sleep(0.5)
    used = sum(cpu_s(p.pid) for p in procs) - before
    produced = dropped = written = 0
    for p in procs:
        p.send_signal(signal.SIGTERM)
        _, err = p.communicate(timeout=120)
        k, w = KERNEL.search(err), WROTE.search(err)
        if not (k and w):
            raise SystemExit(f"no -v report:\n{err}")
        # dropped: in the kernel (ring full) and by the writer (disk too slow)
        produced, dropped, written = produced + int(k[1]), dropped + int(k[3]) + int(w[2]), written + int(w[1])
    return took, produced, dropped, written, used


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--count", type=int, default=500_000, help="bytes per dd (2 syscalls, 4 events each)")
    args = ap.parse_args()
    setups = {"untraced": 0, "sysmon -w (one consumer)": 1, "sysmon --shard I/2 -w (two consumers)": 2}
    results: dict[str, list[tuple[float, int, int, int, float]]] = {name: [] for name in setups}
    with tempfile.TemporaryDirectory() as tmp:
        for _ in range(args.runs):
            for name, shards in setups.items():
                results[name].append(traced(shards, args.count, tmp))
    base = statistics.median(r[0] for r in results["untraced"])
    uname = os.uname()
    print(f"# {time.strftime('%Y-%m-%d')} {uname.nodename} {uname.release}, {os.cpu_count()} CPUs; "
          f"{os.cpu_count()} x dd bs=1 count={args.count}; median of {args.runs} interleaved runs")
    print(f"{'setup':40} {'time s':>7} {'slowdown':>8} {'produced':>10} {'dropped':>10} {'written':>10} {'CPU s':>6}")
    for name, rows in results.items():
        med = [statistics.median(r[i] for r in rows) for i in range(5)]
        print(f"{name:40} {med[0]:7.2f} {med[0] / base:8.2f} {int(med[1]):>10,} {int(med[2]):>10,} "
              f"{int(med[3]):>10,} {med[4]:6.2f}")


if __name__ == "__main__":
    main()
