#!/usr/bin/env python3
"""Reading speed of the .scap reader, in events/s: `python bench/scap_read.py [FILE.scap]`.

Three figures for the largest corpus file (502Error.scap by default): events built (no parameters
decoded), the same with every event's parameters decoded, and the whole pipeline (state, no filter,
sysdig's default format, output discarded), counted in the lines it prints. Each row also gives the
file's blocks (502Error.scap: 22,381 blocks, of which 9,478 are events sysdig prints).
"""
from __future__ import annotations

import io
import sys
import time
from pathlib import Path

from sysmon.config import RunConfig
from sysmon.pipeline import Pipeline
from sysmon.replay import ReplaySession
from sysmon.scap.reader import open_scap

DEFAULT = Path(__file__).resolve().parent.parent / "tests" / "golden" / "scap" / "captures" / "502Error.scap"


def _best(fn, repeat: int = 3) -> tuple[float, int]:  # type: ignore[no-untyped-def]
    best, n = float("inf"), 0
    for _ in range(repeat):
        t0 = time.perf_counter()
        n = fn()
        best = min(best, time.perf_counter() - t0)
    return best, n


def _read(path: Path, decode: bool) -> int:
    """Events the reader builds (each with its parameters decoded when `decode`)."""
    cap = open_scap(path)
    n = 0
    for evt in cap.events():
        if decode:
            evt.params  # noqa: B018
        n += 1
    cap.close()
    return n


def _printed(path: Path) -> int:
    """Lines the whole pipeline prints (one per event)."""
    out = io.StringIO()
    ReplaySession(Pipeline.build(RunConfig(inputs=(str(path),)), out), out, print).run()
    return out.getvalue().count("\n")


def main() -> None:
    path = Path(sys.argv[1]) if len(sys.argv) > 1 else DEFAULT
    cap = open_scap(path)
    for _ in cap.events():
        pass
    cap.close()
    blocks = cap.numbering.read
    for label, what, fn in (
        ("read", "events built", lambda: _read(path, False)),
        ("read+params", "events decoded", lambda: _read(path, True)),
        ("pipeline (-p default)", "events printed", lambda: _printed(path)),
    ):
        secs, n = _best(fn)
        print(f"{path.name} {label}: {n:,} {what} ({blocks:,} blocks) in {secs:.3f} s = {n / secs:,.0f} {what}/s")


if __name__ == "__main__":
    main()
