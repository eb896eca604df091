"""Golden comparisons with sysdig on .scap captures: sysdig's expected outputs, sysmon's actual ones."""
from __future__ import annotations

import gzip
import io
from pathlib import Path

from sysmon.scap.replay import replay_formats

GOLDEN = Path(__file__).resolve().parent / "golden" / "scap"


def expected_outputs(stem: str, folder: str = "expected") -> dict[tuple[str, str], list[str]]:
    """sysdig's output for every (filter, format) of one capture, from a golden file."""
    text = gzip.decompress((GOLDEN / folder / f"{stem}.txt.gz").read_bytes()).decode("utf-8", "surrogateescape")
    out: dict[tuple[str, str], list[str]] = {}
    lines: list[str] = []
    for line in text.split("\n"):
        if line.startswith("### "):
            flt, fmt = line[4:].split(" | ", 1)
            lines = out.setdefault((flt, fmt), [])
        elif line.strip():
            lines.append(line.rstrip())
    return out


def sysmon_outputs(capture: Path, flt: str, fmts: list[str]) -> dict[str, list[str]]:
    """sysmon's output for one filter in every format: one pass over the file (CI time)."""
    bufs = [io.StringIO() for _ in fmts]
    replay_formats(capture, flt, list(zip(fmts, bufs)))
    return {fmt: [line.rstrip() for line in buf.getvalue().split("\n") if line.strip()] for fmt, buf in zip(fmts, bufs)}
