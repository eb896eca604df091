"""Run chisels on a list of synthetic events, as `sysmon -r FILE -c NAME` would, and return the output."""
from __future__ import annotations

import io
from collections.abc import Iterable, Sequence
from pathlib import Path

from sysmon.chisel.api import RunOptions
from sysmon.chisel.loader import Loader, builtin_dir
from sysmon.chisel.runner import ChiselRunner, load_chisels, start
from sysmon.engine import Inspector
from sysmon.events.model import Event
from sysmon.fields.catalogue import Catalogue
from sysmon.fields.clock import Clock
from sysmon.filter import compile_filter
from sysmon.state.state import State


def run_chisels(
    requests: Sequence[tuple[str, str | None]],
    events: Iterable[Event],
    state: State | None = None,
    *,
    options: RunOptions = RunOptions(),
    user_filter: str = "",
    dirs: Sequence[Path] | None = None,
    entry_points: bool = False,
) -> tuple[str, str, ChiselRunner]:
    """(stdout, stderr, runner) after the events and the end of the capture."""
    clock = Clock()
    catalogue = Catalogue.default(clock)
    out, err = io.StringIO(), io.StringIO()
    loader = Loader([builtin_dir()] if dirs is None else dirs, entry_points=entry_points)
    runner = start(load_chisels(requests, loader), catalogue, out, err, options)
    state = State() if state is None else state
    predicate = compile_filter(user_filter, catalogue)[0] if user_filter else None
    inspector = Inspector(state, clock, predicate, [runner], tickers=[runner.tick])
    runner.bind(state, lambda: setattr(inspector, "done", True))
    for evt in events:
        inspector.process(evt)
        if inspector.done:
            break
    runner.end()
    return out.getvalue(), err.getvalue(), runner
