#!/usr/bin/env python3
"""Every number README.md states, with how it is measured; the quick ones measured again now.

    .venv/bin/python bench/readme_figures.py            # quick ones (~3 min): scap replay, pushdown,
                                                        # probe start, the unit's security score
    .venv/bin/python bench/readme_figures.py --list     # only the table, nothing run

Each row: the README's figure, the script or test whose output shows it, and (for quick ones) the
value measured on this run. Slow ones (the storm table, sustained rates, soak, replay of 1M events,
the container) name their command; run it to check them. A figure no script produces says so.
"""
from __future__ import annotations

import argparse
import re
import resource
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PY = sys.executable


@dataclass
class Figure:
    readme: str  # the figure as README.md gives it
    how: str  # the command or test whose output shows it
    measure: Callable[[], str] | None = None  # quick: measure it now


def _run(*cmd: str, timeout: float = 600) -> str:
    res = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, timeout=timeout, check=False)
    return res.stdout + res.stderr


def scap_printed() -> str:
    out = _run(PY, "bench/scap_read.py")
    m = re.search(r"pipeline \(-p default\): ([\d,]+) events printed .* = ([\d,]+) events printed/s", out)
    r = re.search(r" read: .* = ([\d,]+) events built/s", out)
    return f"{m[2]} printed/s ({m[1]} events), {r[1]} built/s" if m and r else f"? {out[-200:]}"


def pushdown() -> str:
    out = _run(PY, "bench/pushdown.py", "--runs", "1")
    rows = [line for line in out.splitlines() if line.startswith(("pushdown", "no pushdown"))]
    return ("time s, slowdown, sysmon CPU s, produced, dropped, connect seen: "
            + " | ".join(" ".join(r.split()) for r in rows)) if rows else f"? {out[-300:]}"


def probe_start() -> str:
    code = ("import time, resource; t = time.perf_counter()\n"
            "from sysmon.events.schema import Schema\nfrom sysmon.probe.loader import Probe, ProbeOptions\n"
            "s = Schema.default(); p = Probe(s.capture_specs(), ProbeOptions(), s.state_nrs())\n"
            "rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024\n"
            "print(f'{time.perf_counter() - t:.2f} s, peak RSS {rss:.0f} MB')\n"
            "p.close()")
    return _run(PY, "-c", code).strip().splitlines()[-1]


def security_score() -> str:
    out = _run("systemd-analyze", "security", "--offline=true", "systemd/sysmon.service")
    m = re.search(r"Overall exposure level for \S+: ([\d.]+ \S+)", out)
    return m[1] if m else f"? {out[-200:]}"


FIGURES = [
    Figure("setup.sh: ~25 s the first time, ~2 s after", "time scripts/setup.sh (not rerun here: it builds a venv)"),
    Figure("evt.type=connect on a storm: 0.12 CPU s instead of 2.45 (README 'In-kernel filtering'); 1.20x vs "
           "5.57x, 0.06 vs 2.50 CPU s, 392 events vs 4M (Performance)", "bench/pushdown.py --runs 3", pushdown),
    Figure("seccomp: curl needs 39 syscalls; Docker's default allows 297",
           "sysmon seccomp record (README example); tests/kernel/test_seccomp_live.py checks the profile works"),
    Figure("daemon status: 1276571 seen/written, 326k events/s", "README example output of `sysmon daemon status` "
           "(one run, not a benchmark)"),
    Figure("unit security score 2.2 OK", "systemd-analyze security --offline=true systemd/sysmon.service",
           security_score),
    Figure("tail client: ~250k events/s decoded", "NO SCRIPT: no benchmark measures the daemon's tail decoding"),
    Figure("soak: 44.2M events, 294k/s, RSS 327-352 MiB, disk at most 67.2 MiB (64 MiB cap)",
           "bench/soak.py --seconds 150 --file 8M --cap 64M (disk sampled every 10 s: a peak between samples "
           "is not seen, so 'at most' is 'at most when sampled')"),
    Figure("container: image 712 MB, build 70-100 s, 1302777 events seen/written", "bench/docker_smoke.sh"),
    Figure("~1.4 % of enter path reads fail", "NO SCRIPT: `sysmon -v` prints the failed reads "
           "('User-memory reads that failed: N') but no script computes the share"),
    Figure("LRU hash: ~225 ns per syscall more", "NO SCRIPT: measured once while choosing task storage"),
    Figure("~2-3 s of compiling the probe, ~220 MB of RSS (compiler and ring)",
           "Probe() construction timed in a fresh process (below; with the probe cache a start compiles "
           "nothing: bench/startup.py measures cold and cached starts)", probe_start),
    Figure("storm table (dd bs=1 x1M): slowdowns, delivered/dropped, CPU s, RSS per tracer",
           "bench/run.py --runs 3 --only storm"),
    Figure("sustained with zero drops: 300k ev/s printing, 300k -j, 1M -w",
           "bench/sustained.py [--mode json|write] (rows give the achieved rate; -w rates reach 1M)"),
    Figure("replay of a 1M-event capture: 358k ev/s decoding, 1.09M selective, 125k printing, 123k JSON, 214k "
           "topfiles_bytes", "bench/replay.py --runs 3"),
    Figure("502Error.scap: 255k events/s read, 105k events/s printed (counted blocks, not events: 22,381 vs 9,478)",
           "bench/scap_read.py", scap_printed),
    Figure("two shards: one sysmon -w lost 23-28% of a 2-CPU storm, two --shard I/2 0-0.5%",
           "bench/shards.py --runs 3 (docs/scaling.md)"),
]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--list", action="store_true", help="print the table without measuring")
    opts = ap.parse_args()
    print(f"# {time.strftime('%Y-%m-%d %H:%M')} load {open('/proc/loadavg').read().split()[0]}, "
          f"{resource.getpagesize()} B pages")
    for fig in FIGURES:
        now = fig.measure() if fig.measure is not None and not opts.list else ""
        print(f"- README: {fig.readme}\n  how measured: {fig.how}" + (f"\n  now: {now}" if now else ""), flush=True)


if __name__ == "__main__":
    main()
