"""Builds the pipeline a command line asks for: filter, sinks, inspector; then runs it on a source.

Sources are the live probe (sysmon/live.py) or capture files; everything after the source is the
same, so a replay prints what the live run printed.
"""
from __future__ import annotations

import argparse
import os
from dataclasses import dataclass, field
from typing import TextIO

from sysmon.engine import Inspector, Sink
from sysmon.events.schema import Schema
from sysmon.fields.catalogue import Catalogue
from sysmon.fields.clock import Clock
from sysmon.filter import compile_filter
from sysmon.output.format import DEFAULT_FORMAT
from sysmon.output.sinks import JsonSink, TextSink
from sysmon.state.state import State


@dataclass(slots=True)
class Pipeline:
    schema: Schema
    clock: Clock
    catalogue: Catalogue
    filter_text: str
    predicate: object
    kernel_types: frozenset[str] | None  # event types the probe must deliver (None = all)
    sinks: list[Sink] = field(default_factory=list)

    def inspector(self, state: State, args: argparse.Namespace) -> Inspector:
        return Inspector(state, self.clock, self.predicate, self.sinks,  # type: ignore[arg-type]
                         max_events=args.numevents, max_seconds=args.max_seconds, summary=args.summary)


def build(args: argparse.Namespace, filter_text: str, out: TextIO) -> Pipeline:
    schema = Schema.default()
    clock = Clock()
    catalogue = Catalogue.default(clock)
    predicate, plan = compile_filter(filter_text, catalogue) if filter_text.strip() else (None, None)
    pipe = Pipeline(schema, clock, catalogue, filter_text, predicate, plan)
    bufmode = args.bufmode or ""
    max_buf = None if args.verbose else 80
    fmt = args.format or DEFAULT_FORMAT
    if args.json:
        pipe.sinks.append(JsonSink(fmt, catalogue, out, time_type=args.timetype, bufmode=bufmode, max_buf=max_buf))
    else:
        pipe.sinks.append(TextSink(fmt, catalogue, out, time_type=args.timetype, bufmode=bufmode,
                                   max_buf=max_buf, unbuffered=args.unbuffered))
    return pipe


def run(args: argparse.Namespace, filter_text: str, out: TextIO) -> int:
    from sysmon.live import LiveSession

    pipe = build(args, filter_text, out)
    session = LiveSession(pipe, args, out, self_pid=os.getpid())
    import signal

    signal.signal(signal.SIGTERM, lambda *_: session.stop())
    return session.run()
