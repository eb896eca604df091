"""Builds the pipeline a command line asks for: filter, sinks, inspector; then runs it on a source.

Sources are the live probe (sysmon/live.py) or capture files; everything after the source is the
same, so a replay prints what the live run printed.
"""
from __future__ import annotations

import argparse
import os
import signal
from dataclasses import dataclass, field
from typing import TextIO

from sysmon.chisel.runner import ChiselRunner
from sysmon.engine import Inspector, Sink, sink_flushes
from sysmon.events.schema import Schema
from sysmon.fields.catalogue import Catalogue
from sysmon.fields.clock import Clock
from sysmon.filter import KernelPlan, compile_filter
from sysmon.output.format import format_text
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
    plan: KernelPlan = field(default_factory=KernelPlan)  # types, pids, tids, comms, uids the filter pins
    chisels: ChiselRunner | None = None

    def inspector(self, state: State, args: argparse.Namespace) -> Inspector:
        insp = Inspector(state, self.clock, self.predicate, self.sinks,  # type: ignore[arg-type]
                         max_events=args.numevents, max_seconds=args.max_seconds, summary=args.summary,
                         tickers=[self.chisels.tick] if self.chisels else [])
        if self.chisels is not None:
            self.chisels.bind(state, lambda: setattr(insp, "done", True))
        return insp

    def finish(self) -> None:
        """The source is exhausted or stopped: sinks write what they hold, chisels their end-of-capture output."""
        for flush in sink_flushes(self.sinks):
            flush()
        if self.chisels is not None:
            self.chisels.end()


def build(args: argparse.Namespace, filter_text: str, out: TextIO) -> Pipeline:
    schema = Schema.default()
    clock = Clock()
    catalogue = Catalogue.default(clock)
    predicate, plan = compile_filter(filter_text, catalogue) if filter_text.strip() else (None, KernelPlan())
    pipe = Pipeline(schema, clock, catalogue, filter_text, predicate, plan.types, plan=plan)
    bufmode = args.bufmode or ""
    max_buf = None if args.verbose else 80
    fmt = format_text(args.format)
    if getattr(args, "chisels", None):  # chisels print instead of the event formatter, as in sysdig
        _add_chisels(pipe, args, filter_text, out)
        return pipe
    if args.quiet or (args.writefile and not args.format and not args.json):  # -w implies -q, as sysdig
        return pipe
    if args.json:
        pipe.sinks.append(JsonSink(fmt, catalogue, out, time_type=args.timetype, bufmode=bufmode, max_buf=max_buf,
                                   unbuffered=args.unbuffered))
    else:
        pipe.sinks.append(TextSink(fmt, catalogue, out, time_type=args.timetype, bufmode=bufmode,
                                   max_buf=max_buf, unbuffered=args.unbuffered))
    return pipe


def _add_chisels(pipe: Pipeline, args: argparse.Namespace, filter_text: str, out: TextIO) -> None:
    import sys

    from sysmon.chisel.api import RunOptions
    from sysmon.chisel.runner import start

    options = RunOptions(is_live=not args.readfile, is_tty=out.isatty(), output_format="json" if args.json else "text",
                         bufmode=args.bufmode or "", user_filter=filter_text, snaplen=args.snaplen)
    runner = start(args.chisels, pipe.catalogue, out, sys.stderr, options)
    pipe.chisels = runner
    pipe.sinks.append(runner)
    wanted = runner.kernel_types  # the user's filter AND (any chisel's filter)
    if runner.needs_every_event:  # exporting the events around matches: every event, decoded
        pipe.kernel_types = None
    elif wanted is not None:
        pipe.kernel_types = wanted if pipe.kernel_types is None else pipe.kernel_types & wanted
    args.snaplen = max(args.snaplen, runner.snaplen)


def run(args: argparse.Namespace, filter_text: str, out: TextIO) -> int:
    from sysmon.fleet.options import wants_stream

    stream = wants_stream(args)
    pipe = build(args, filter_text, out)
    if stream:
        from sysmon.fleet.replay import run as stream_run

        return stream_run(pipe, args, out)
    if args.readfile:
        import sys

        from sysmon.replay import ReplaySession

        def report(line: str) -> None:
            sys.stderr.write(line + "\n")

        return ReplaySession(pipe, args, out, report).run()
    from sysmon.live import LiveSession  # not for replays: the probe's modules

    session = LiveSession(pipe, args, out, self_pid=os.getpid())

    def stop(signum: int, _frame: object) -> None:
        """Stop between batches, so that every event shown is also written; a second Ctrl-C forces."""
        if signum == signal.SIGINT and session.stopping:
            raise KeyboardInterrupt
        session.stop()

    signal.signal(signal.SIGTERM, stop)
    if signal.getsignal(signal.SIGINT) is signal.default_int_handler:
        signal.signal(signal.SIGINT, stop)
    return session.run()
