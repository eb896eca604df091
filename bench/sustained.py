"""The highest event rate sysmon sustains with zero drops: a paced syscall load at rising rates.

For each rate, sysmon runs in the given mode (default: printing every event in sysdig's format to
/dev/null), a paced getppid() loop runs for --seconds, and the kernel's drop counter is read from
sysmon's -v report. Prints one row per rate and the highest rate without a drop.

    .venv/bin/python bench/sustained.py                  # printing
    .venv/bin/python bench/sustained.py --mode json      # -j
    .venv/bin/python bench/sustained.py --mode write     # -w FILE
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


def run_rate(mode: list[str], events_per_s: int, seconds: float) -> tuple[int, int, int]:
    """(syscall events the pacer made, events sysmon delivered, events dropped) at one rate."""
    proc = subprocess.Popen([*SYSMON, "-v", *mode], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                            cwd=ROOT)
    assert proc.stderr is not None
    line = proc.stderr.readline()
    if "capturing" not in line:
        raise SystemExit(f"sysmon did not start: {line}{proc.stderr.read()}")
    pacer = subprocess.run([sys.executable, "-c", PACER, str(events_per_s / 2), str(seconds)],
                           capture_output=True, text=True, check=True)
    time.sleep(1.0)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=120)
    m = re.search(r"Kernel events: (\d+) produced, (\d+) delivered, (\d+) dropped", err)
    if not m:
        raise SystemExit(f"no drop report from sysmon: {err}")
    return 2 * int(pacer.stdout), int(m[2]), int(m[3])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--mode", choices=sorted(MODES), default="print")
    ap.add_argument("--rates", default="50000,100000,150000,200000,250000,300000,400000",
                    help="events per second to try, comma-separated, rising")
    ap.add_argument("--seconds", type=float, default=5.0)
    opts = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        mode = [a.format(dir=tmp) for a in MODES[opts.mode]]
        what = {"print": "printing sysdig lines to /dev/null", "json": "-j to /dev/null", "write": "-w FILE"}[opts.mode]
        print(f"# {time.strftime('%Y-%m-%d')} {os.uname().nodename} {os.uname().release}, {os.cpu_count()} CPUs; "
              f"sysmon -v, {what}, every event of the machine; paced getppid() load, {opts.seconds:g} s per rate")
        print(f"{'target ev/s':>12}{'load events':>13}{'delivered':>11}{'dropped':>9}")
        best = 0
        for rate in (int(r) for r in opts.rates.split(",")):
            made, delivered, dropped = run_rate(mode, rate, opts.seconds)
            print(f"{rate:>12,}{made:>13,}{delivered:>11,}{dropped:>9,}", flush=True)
            if dropped:
                break
            best = rate
        print(f"highest rate with zero drops: {best:,} events/s" if best else "drops at every rate tried")


if __name__ == "__main__":
    main()
