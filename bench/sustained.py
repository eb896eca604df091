"""The highest event rate sysmon sustains with zero drops: a paced syscall load at rising rates.

For each rate, sysmon runs in the given mode (default: printing every event in sysdig's format to
/dev/null), --pacers paced getppid() loops run for --seconds, and sysmon's -v report gives the
kernel's sent and dropped counts, what userspace received, and with -w the events the writer dropped
(disk too slow). Each row shows the rate the load achieved (a loaded machine may not reach the
target), and the result is the highest achieved rate with no drop anywhere and everything the load
made delivered.

    .venv/bin/python bench/sustained.py                  # printing, up to 400k ev/s
    .venv/bin/python bench/sustained.py --mode json      # -j
    .venv/bin/python bench/sustained.py --mode write     # -w FILE, up to 1M ev/s (2 pacers)
"""
from __future__ import annotations

import argparse
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SYSMON = [sys.executable, "-m", "sysmon"]
MODES = {"print": [], "json": ["-j"], "write": ["-w", "{dir}/sustained.smc"]}

# Paced load: `rate` syscalls per second (2 events each: enter and exit) in 1 ms steps.
PACER = """
import os, sys, time
rate, seconds = float(sys.argv[1]), float(sys.argv[2])
start = time.monotonic()
done = 0
while True:
    now = time.monotonic() - start
    if now >= seconds:
        break
    due = int(now * rate)
    for _ in range(due - done):
        os.getppid()
    done = due
    time.sleep(0.001)
print(done)
"""


RATES = {"print": "50000,100000,150000,200000,250000,300000,400000",
         "json": "50000,100000,150000,200000,250000,300000,400000",
         "write": "200000,400000,600000,800000,1000000"}


def run_rate(mode: list[str], events_per_s: int, seconds: float, pacers: int) -> tuple[int, int, int, int, int]:
    """(syscall events the pacers made, events the kernel sent, dropped in the kernel, dropped by the
    writer, left unread in the ring) at one rate."""
    proc = subprocess.Popen([*SYSMON, "-v", *mode], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                            cwd=ROOT)
    assert proc.stderr is not None
    line = proc.stderr.readline()
    if not line.startswith("sysmon: probe:"):  # attached
        raise SystemExit(f"sysmon did not start: {line}{proc.stderr.read()}")
    load = [subprocess.Popen([sys.executable, "-c", PACER, str(events_per_s / 2 / pacers), str(seconds)],
                             stdout=subprocess.PIPE, text=True) for _ in range(pacers)]
    made = sum(2 * int(p.communicate()[0]) for p in load)
    time.sleep(1.0)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=300)
    m = re.search(r"Kernel events: \d+ produced, (\d+) delivered, (\d+) dropped .*; (\d+) received, (\d+) left", err)
    if not m:
        raise SystemExit(f"no drop report from sysmon: {err}")
    disk = re.search(r"; (\d+) dropped \(disk too slow\)", err)
    return made, int(m[1]), int(m[2]), int(disk[1]) if disk else 0, int(m[4])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--mode", choices=sorted(MODES), default="print")
    ap.add_argument("--rates", help="events per second to try, comma-separated, rising (default: per mode)")
    ap.add_argument("--seconds", type=float, default=5.0)
    ap.add_argument("--pacers", type=int, help="load processes sharing the rate (default: 2 for write, else 1)")
    opts = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        mode = [a.format(dir=tmp) for a in MODES[opts.mode]]
        what = {"print": "printing sysdig lines to /dev/null", "json": "-j to /dev/null", "write": "-w FILE"}[opts.mode]
        pacers = opts.pacers or (2 if opts.mode == "write" else 1)
        print(f"# {time.strftime('%Y-%m-%d')} {os.uname().nodename} {os.uname().release}, {os.cpu_count()} CPUs; "
              f"sysmon -v, {what}, every event of the machine; {pacers} paced getppid() load(s), "
              f"{opts.seconds:g} s per rate")
        print(f"{'target ev/s':>12}{'achieved':>10}{'load events':>13}{'sent':>11}{'dropped':>9}{'disk drop':>10}"
              f"{'unread':>8}")
        best = 0
        for rate in (int(r) for r in (opts.rates or RATES[opts.mode]).split(",")):
            made, sent, dropped, disk, unread = run_rate(mode, rate, opts.seconds, pacers)
            achieved = int(made / opts.seconds)
            print(f"{rate:>12,}{achieved:>10,}{made:>13,}{sent:>11,}{dropped:>9,}{disk:>10,}{unread:>8,}", flush=True)
            if dropped or disk or unread or sent < made:
                break
            best = max(best, achieved)
        print(f"highest achieved rate with zero drops: {best:,} events/s" if best else "drops at every rate tried")


if __name__ == "__main__":
    main()
