"""How long a user waits: time to the first event, and time to exit after -n, SIGINT and SIGTERM.

    .venv/bin/python bench/startup.py [--runs 5]

Each figure is the median of --runs starts of `sysmon` as a user types it (a fresh process each
time), after one warm-up start that fills the compiled-probe cache. A cold start (empty cache,
the compiler runs) is measured once, in a private cache directory, for comparison.
Targets (issue 14): first event <= 1.0 s, exit <= 0.5 s.
"""
from __future__ import annotations

import argparse
import os
import select
import signal
import statistics
import subprocess
import sys
import tempfile
import time

SYSMON = [sys.executable, "-m", "sysmon"]


def first_event(env: dict[str, str]) -> tuple[float, float]:
    """(seconds to the first printed event, seconds from it to the exit) of `sysmon -n 1`."""
    t0 = time.monotonic()
    proc = subprocess.Popen([*SYSMON, "-n", "1"], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env)
    assert proc.stdout is not None
    line = proc.stdout.readline()
    t1 = time.monotonic()
    proc.wait(timeout=60)
    t2 = time.monotonic()
    if not line:
        raise SystemExit("sysmon printed no event")
    return t1 - t0, t2 - t1


def exit_after(sig: int, env: dict[str, str]) -> float:
    """Seconds from the signal to the exit of a capture that is attached and running."""
    proc = subprocess.Popen([*SYSMON, "-v", "proc.name=no-such-process"], stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, env=env, text=True)
    assert proc.stderr is not None
    while True:  # -v says "sysmon: probe: ..." once the probe is attached
        ready, _, _ = select.select([proc.stderr], [], [], 60)
        line = proc.stderr.readline() if ready else ""
        if not line:
            raise SystemExit("sysmon did not start")
        if line.startswith("sysmon: probe:"):
            break
    time.sleep(0.3)
    t0 = time.monotonic()
    proc.send_signal(sig)
    proc.wait(timeout=60)
    return time.monotonic() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=5)
    args = ap.parse_args()
    env = dict(os.environ)
    first_event(env)  # warm-up: fills the cache if a compile is needed
    with tempfile.TemporaryDirectory() as cold_cache:
        cold = first_event({**env, "SYSMON_PROBE_CACHE": cold_cache})[0]
    firsts, exits_n = zip(*(first_event(env) for _ in range(args.runs)))
    sigint = [exit_after(signal.SIGINT, env) for _ in range(args.runs)]
    sigterm = [exit_after(signal.SIGTERM, env) for _ in range(args.runs)]
    med = statistics.median
    print(f"# {time.strftime('%Y-%m-%d')} {os.uname().release}, {os.cpu_count()} CPUs, "
          f"load {os.getloadavg()[0]:.1f}; median of {args.runs}")
    print(f"{'what':44} {'seconds':>8} {'target':>7}  all runs")
    rows = [
        ("first event, cached probe (sysmon -n 1)", med(firsts), 1.0, firsts),
        ("first event, cold start (the compiler runs)", cold, None, (cold,)),
        ("exit after the -n event", med(exits_n), 0.5, exits_n),
        ("exit after SIGINT (Ctrl-C)", med(sigint), 0.5, sigint),
        ("exit after SIGTERM", med(sigterm), 0.5, sigterm),
    ]
    for what, value, target, runs in rows:
        shown = f"{target:.1f}" if target is not None else "-"
        print(f"{what:44} {value:8.2f} {shown:>7}  {' '.join(f'{r:.2f}' for r in runs)}")


if __name__ == "__main__":
    main()
