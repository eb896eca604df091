"""Golden comparisons with sysdig on .scap captures: sysdig's expected outputs, sysmon's actual ones."""
from __future__ import annotations

import gzip
import io
from pathlib import Path

from sysmon.config import OutputConfig, RunConfig
from sysmon.output.format import format_text
from sysmon.output.sinks import TextSink
from sysmon.pipeline import Pipeline
from sysmon.replay import ReplaySession

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
    out = io.StringIO()
    pipe = Pipeline.build(RunConfig(filter=flt, inputs=(str(capture),), output=OutputConfig(quiet=True)), out)
    pipe.sinks += [TextSink(format_text(fmt), pipe.catalogue, buf) for fmt, buf in zip(fmts, bufs)]
    ReplaySession(pipe, out, lambda line: None).run()
    return {fmt: [line.rstrip() for line in buf.getvalue().split("\n") if line.strip()] for fmt, buf in zip(fmts, bufs)}
