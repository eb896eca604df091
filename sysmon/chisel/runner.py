"""Runs chisels beside the capture: per-chisel filter, event-time intervals, an error barrier.

The runner is a sink of the Inspector (it gets the events that passed the user's filter) and a
ticker (it sees every event, so intervals advance even when nothing matches, and dumps of the
events around matches get them all):

    interval sample = ts - ts % interval; on_interval(sample) fires when that changes (sysdig's
    do_timeout), so a replay of a capture calls on_interval exactly as the live run did.

A chisel raising an exception is reported once on `err`, with the traceback trimmed to its own
frames, and disabled; the capture and the other chisels go on (mitmproxy's safecall).
"""
from __future__ import annotations

import os
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TextIO

from sysmon.chisel.api import Chisel, ChiselContext, RunOptions
from sysmon.chisel.argv import split_values
from sysmon.chisel.loader import Loader
from sysmon.errors import ChiselError, FilterError, SysmonError
from sysmon.fields.catalogue import Catalogue
from sysmon.filter import Predicate, compile_filter
from sysmon.output.format import Formatter

if TYPE_CHECKING:
    from sysmon.chisel.dump import AroundDump
    from sysmon.events.model import Event
    from sysmon.state.state import State


@dataclass(slots=True)
class _Active:
    chisel: Chisel
    ctx: ChiselContext
    origin: str
    predicate: Predicate | None = None
    types: frozenset[str] | None = None  # event types its filter can match (None: any)
    formatter: Formatter | None = None
    sample_ns: int | None = None  # the interval sample of the latest event
    disabled: bool = False


class ChiselRunner:
    sees_internal = True  # procinfo and other internal events of a .scap reach the chisels, as in sysdig

    def __init__(self, chisels: Sequence[tuple[Chisel, str]], catalogue: Catalogue, out: TextIO, err: TextIO,
                 options: RunOptions) -> None:
        """`chisels`: instances (arguments already bound) with their origin (file path) for tracebacks."""
        self.err = err
        self.options = options
        self._active: list[_Active] = []
        for chisel, origin in chisels:
            ctx = ChiselContext(catalogue, out, options, colors=wants_colors(options))
            chisel.ctx = ctx
            self._active.append(_Active(chisel, ctx, origin))
        self._catalogue = catalogue
        self._stop: Callable[[], None] | None = None
        self._ended = False
        self._dumps: list[AroundDump] = []

    # -- setup -----------------------------------------------------------------------------------
    def init(self) -> None:
        """Call every on_init and compile the filters. A SysmonError (bad argument, unknown field,
        broken filter) stops sysmon; any other exception disables that chisel."""
        for a in self._active:
            self._call(a, "on_init", a.ctx)
            if a.disabled:
                continue
            try:
                a.predicate, plan = compile_filter(a.ctx.filter, self._catalogue)
            except FilterError as e:
                raise ChiselError(f"chisel '{a.chisel.name}' set a bad filter {a.ctx.filter!r}: {e.message}",
                                  hints=e.hints) from e
            a.types = plan.types
            if a.ctx.event_format:
                a.formatter = Formatter(a.ctx.event_format, self._catalogue, bufmode=self.options.bufmode,
                                        max_buf=None)
        self._dumps = [d for a in self._active for d in a.ctx.dumps]

    def bind(self, state: State, stop: Callable[[], None]) -> None:
        """Give the chisels the capture's state, and the way to end the capture (ctx.end_capture)."""
        for a in self._active:
            a.ctx._state = state
            a.ctx._end = stop

    @property
    def snaplen(self) -> int:
        return max((a.ctx.snaplen for a in self._active if not a.disabled), default=0)

    @property
    def needs_every_event(self) -> bool:
        """A chisel exports events around its matches (ctx.dump_around): nothing may be filtered out
        in the kernel or left undecoded."""
        return any(a.ctx.dumps for a in self._active)

    @property
    def kernel_types(self) -> frozenset[str] | None:
        """The event types any chisel can accept (None: all); the user's plan is intersected later."""
        union: set[str] = set()
        for a in self._active:
            if a.disabled:
                continue
            if a.types is None:
                return None
            union |= a.types
        return frozenset(union)

    # -- per event -------------------------------------------------------------------------------
    def tick(self, evt: Event) -> None:
        """Every event, before filtering: advance the interval clocks."""
        ts = evt.ts_ns
        for dump in self._dumps:
            dump.feed(evt)
        for a in self._active:
            a.ctx.last_ts_ns = ts
            interval = a.ctx.interval_ns
            if not interval or a.disabled:
                continue
            sample = ts - ts % interval
            if a.sample_ns is None:
                a.sample_ns = sample
            elif sample != a.sample_ns:
                a.sample_ns = sample
                self._call(a, "on_interval", sample)

    def emit(self, evt: Event, state: State) -> None:
        """An event that passed the user's filter."""
        for a in self._active:
            if a.disabled or (a.predicate is not None and not a.predicate(evt, state)):
                continue
            keep = self._call(a, "on_event", evt)
            if keep is not False and a.formatter is not None and not a.disabled:
                if self.options.output_format == "json":
                    line = a.formatter.format_json(evt, state)
                else:
                    line = a.formatter.format(evt, state)
                if line is not None:  # the colour the chisel printed the block in ends with it
                    a.ctx.out.write(line + a.ctx.color("reset") + "\n")

    def end(self) -> None:
        """The capture is over: on_capture_end, once."""
        if self._ended:
            return
        self._ended = True
        for dump in self._dumps:  # before on_capture_end, which may report what was written
            dump.close()
        for a in self._active:
            if not a.disabled:
                self._call(a, "on_capture_end")
            if a.ctx.colors:
                a.ctx.write(a.ctx.color("reset"))

    # -- the error barrier -----------------------------------------------------------------------
    def _call(self, a: _Active, hook: str, *args: Any) -> Any:
        try:
            return getattr(a.chisel, hook)(*args)
        except (SysmonError, BrokenPipeError):  # a closed output (`| head`) ends the run quietly (cli.main)
            raise
        except KeyboardInterrupt:  # Ctrl-C (or a chisel raising it): the capture ends, but not silently
            self.err.write(f"sysmon: chisel '{a.chisel.name}' was interrupted in {hook}\n")
            self.err.flush()
            raise
        except (Exception, SystemExit) as e:  # a chisel bug (sys.exit included) must not end the capture
            a.disabled = True
            self.err.write(self._report(a, hook, e))
            self.err.flush()
            return False

    def _report(self, a: _Active, hook: str, e: BaseException) -> str:
        frames = traceback.extract_tb(e.__traceback__)
        own = [f for f in frames if f.filename == a.origin] or frames[-1:]
        lines = "".join(traceback.format_list(own[-5:]))
        what = "".join(traceback.format_exception_only(type(e), e))
        return f"sysmon: chisel '{a.chisel.name}' failed in {hook} and was disabled:\n{lines}{what}"


def load_chisels(requests: Sequence[tuple[str, str | None]], loader: Loader | None = None) -> list[tuple[Chisel, str]]:
    """The chisels named on the command line, with their arguments bound, and their origins."""
    loader = loader or Loader()
    chisels: list[tuple[Chisel, str]] = []
    for name, text in requests:
        found = loader.find(name)
        chisels.append((found.cls(**split_values(found.cls, text)), found.origin))
    return chisels


def start(chisels: Sequence[tuple[Chisel, str]], catalogue: Catalogue, out: TextIO, err: TextIO,
          options: RunOptions) -> ChiselRunner:
    """A runner of `chisels` (see load_chisels), their on_init called."""
    runner = ChiselRunner(chisels, catalogue, out, err, options)
    runner.init()
    return runner


def wants_colors(options: RunOptions) -> bool:
    """Chisels colour a terminal's text, unless NO_COLOR is set to anything (no-color.org)."""
    return options.is_tty and options.output_format != "json" and not os.environ.get("NO_COLOR")
