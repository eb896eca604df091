"""Run a .scap file through the usual pipeline (state, filter, -p format) and print like sysdig -r."""
from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TextIO

from sysmon.engine import Inspector
from sysmon.fields.catalogue import Catalogue
from sysmon.fields.clock import Clock
from sysmon.filter import compile_filter
from sysmon.output.format import format_text
from sysmon.output.sinks import TextSink
from sysmon.scap.reader import open_scap


def replay(path: str | Path, filter_text: str, fmt: str | None, out: TextIO) -> int:
    """Print the events of `path` matching `filter_text` in format `fmt`; returns the events read."""
    return replay_formats(path, filter_text, [(fmt, out)])


def replay_formats(path: str | Path, filter_text: str, outputs: Sequence[tuple[str | None, TextIO]]) -> int:
    """One pass over `path`, each matching event printed in every (format, stream) of `outputs`."""
    clock = Clock()
    catalogue = Catalogue.default(clock)
    predicate = compile_filter(filter_text, catalogue)[0] if filter_text.strip() else None
    cap = open_scap(path)
    try:
        sinks = [TextSink(format_text(fmt), catalogue, out) for fmt, out in outputs]
        Inspector(cap.state, clock, predicate, sinks).run(cap.events())
    finally:
        cap.close()
    return cap.numbering.read
