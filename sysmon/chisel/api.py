"""What a chisel sees: the `Chisel` base class, its declared arguments, and its `ChiselContext`.

A chisel is a Python file in a chisel directory defining one `Chisel` subclass:

    class TopThings(Chisel):
        name = "topthings"
        description = "Top things by bytes"
        category = "I/O"
        args = (ChiselArg("key", "the field to group by", "string"),)

        def on_init(self, ctx):
            self.get_key = ctx.request_field(self.key)   # declared args are attributes
            ctx.set_filter("evt.is_io=true")

        def on_event(self, evt):                         # return False: don't print it
            ...

Hooks: `on_init(ctx)`, `on_event(evt)`, `on_interval(ts_ns)` (after `ctx.set_interval_s`; driven by
event time, so a replay is deterministic) and `on_capture_end()`. Values come only from the field
catalogue (`ctx.request_field`); `ctx.state` is the process/fd table for state chisels (ps, lsof).
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from typing import TYPE_CHECKING, Any, ClassVar, TextIO

from sysmon.errors import ChiselError
from sysmon.fields.catalogue import Catalogue

if TYPE_CHECKING:
    from sysmon.chisel.dump import AroundDump
    from sysmon.events.model import Event
    from sysmon.state.state import State

NS = 1_000_000_000
ARG_TYPES = ("string", "int", "filter", "ipv4", "port")

Getter = Callable[["Event"], Any]

_ANSI = {
    "reset": "\x1b[0m", "black": "\x1b[30m", "red": "\x1b[31m", "green": "\x1b[32m", "yellow": "\x1b[33m",
    "blue": "\x1b[34m", "magenta": "\x1b[35m", "cyan": "\x1b[36m", "white": "\x1b[37m",
}
CLEAR_SCREEN = "\x1b[2J\x1b[H"


@dataclass(frozen=True, slots=True)
class ChiselArg:
    """One positional argument of a chisel, as `-i` lists it: `[type] name - description`."""

    name: str
    description: str
    type: str = "string"
    optional: bool = False
    default: Any = None


class Chisel:
    """Base of every chisel. Metadata are class attributes; argument values become instance attributes."""

    name: ClassVar[str] = ""
    description: ClassVar[str] = ""
    short_description: ClassVar[str] = ""  # the -cl line; defaults to the description's first line
    category: ClassVar[str] = "Misc"
    args: ClassVar[tuple[ChiselArg, ...]] = ()
    hidden: ClassVar[bool] = False  # not listed by -cl

    ctx: ChiselContext

    def __init__(self, **values: Any) -> None:
        for arg in self.args:
            setattr(self, arg.name, values.get(arg.name, arg.default))

    @classmethod
    def summary(cls) -> str:
        return cls.short_description or cls.description.strip().split("\n", 1)[0]

    def on_init(self, ctx: ChiselContext) -> None:
        """Request fields, set the filter, snaplen and interval. Raise ChiselError to refuse to start."""

    def on_event(self, evt: Event) -> bool | None:
        """An event that passed the user's and this chisel's filters. False: don't format it."""
        return None

    def on_interval(self, ts_ns: int) -> None:
        """The event clock crossed a multiple of the interval; ts_ns is that multiple."""

    def on_capture_end(self) -> None:
        """The capture is over (end of file, -n/-M reached, Ctrl-C)."""


@dataclass(frozen=True, slots=True)
class RunOptions:
    """What the command line tells every chisel about the run."""

    is_live: bool = False
    is_tty: bool = False
    output_format: str = "text"  # "json" under -j
    bufmode: str = ""  # -A/-x/-X/-b, for the event formatter
    user_filter: str = ""
    snaplen: int = 0  # -s


@dataclass(slots=True)
class ChiselContext:
    """One chisel's view of the run: fields, its filter, snaplen, interval and output."""

    catalogue: Catalogue
    out: TextIO
    options: RunOptions = field(default_factory=RunOptions)
    filter: str = ""
    snaplen: int = 0
    interval_ns: int = 0
    event_format: str | None = None
    colors: bool = False
    last_ts_ns: int = 0  # timestamp of the latest event seen (every event, filtered or not)
    _state: State | None = None
    _end: Callable[[], None] | None = None
    dumps: list[AroundDump] = field(default_factory=list)

    # -- run facts -------------------------------------------------------------------------------
    @property
    def is_live(self) -> bool:
        return self.options.is_live

    @property
    def is_tty(self) -> bool:
        return self.options.is_tty

    @property
    def output_format(self) -> str:
        return self.options.output_format

    @property
    def user_filter(self) -> str:
        return self.options.user_filter

    @property
    def state(self) -> State:
        """Threads and their fd tables, as of the current event."""
        if self._state is None:
            raise ChiselError("the chisel asked for the state before the capture started")
        return self._state

    # -- on_init requests ------------------------------------------------------------------------
    def request_field(self, name: str) -> Getter:
        """A getter `get(evt) -> value or None` for a catalogue field (`fd.name`, `proc.aname[2]`)."""
        found = self.catalogue.lookup(name)
        if found is None:
            suggestion = self.catalogue.suggest(name)
            raise ChiselError(f"unknown field '{name}'",
                              hints=[f"did you mean '{suggestion}'?"] if suggestion else ["'sysmon -l' lists the fields"])
        fld, arg = found
        extract = fld.extract
        if fld.multi and arg is not None:  # proc.aname[2]: one ancestor, a value rather than a list of one

            def get_one(evt: Event) -> Any:
                v = extract(evt, self.state, arg)
                return v[0] if isinstance(v, list) and len(v) == 1 else v

            return get_one

        def get(evt: Event) -> Any:
            return extract(evt, self.state, arg)

        return get

    def set_filter(self, text: str) -> None:
        """This chisel's filter, ANDed with the user's."""
        self.filter = text

    def set_snaplen(self, nbytes: int) -> None:
        """Capture at least this many bytes of I/O buffers (live only)."""
        self.snaplen = max(self.snaplen, int(nbytes))

    def set_interval_s(self, seconds: float) -> None:
        self.set_interval_ns(int(seconds * NS))

    def set_interval_ns(self, ns: int) -> None:
        if ns <= 0:
            raise ChiselError(f"interval must be positive, not {ns} ns")
        self.interval_ns = ns

    def set_event_formatter(self, fmt: str | None) -> None:
        """Print each event this chisel accepts with a -p format (None: print nothing, the default)."""
        self.event_format = fmt or None

    def dump_around(self, path: str, range_ms: int) -> AroundDump:
        """Export to the capture file `path` the events within ±range_ms of each event passed to
        the returned dump's `mark(evt)`. The chisel then sees only its matches, but every event is
        captured and decoded (no kernel-side filtering)."""
        from sysmon.chisel.dump import MS, AroundDump

        dump = AroundDump(path, range_ms * MS, lambda: self.state,
                          snaplen=max(self.options.snaplen, self.snaplen), match_filter=self.user_filter)
        self.dumps.append(dump)
        return dump

    def end_capture(self) -> None:
        """Stop the capture after this event; on_capture_end still runs."""
        if self._end is not None:
            self._end()

    # -- output ----------------------------------------------------------------------------------
    def print(self, text: str = "") -> None:
        self.out.write(text + "\n")

    def write(self, text: str) -> None:
        self.out.write(text)

    def color(self, name: str) -> str:
        """An ANSI colour code, or '' when colours are off (not a terminal, or disabled)."""
        return _ANSI[name] if self.colors else ""

    def disable_colors(self) -> None:
        self.colors = False


def format_bytes(n: int) -> str:
    """sysdig's byte counts: `832B`, `5.90KB`, `1.23M`, `2.00G` (binary units, 2 decimals)."""
    for power, unit in ((5, "P"), (4, "T"), (3, "G"), (2, "M"), (1, "KB")):
        if n > 1024**power:
            return f"{fixed2(n / 1024**power)}{unit}"
    return f"{n}B"


def fixed2(x: float) -> str:
    """`%.2f` as LuaJIT's string.format writes it: an exact tie rounds up (90.625 -> 90.63), where C's
    printf (and Python) round it to even (90.62)."""
    return str(Decimal(x).quantize(Decimal("0.01"), ROUND_HALF_UP))


def format_time_interval(ns: int) -> str:
    """sysdig's durations: `1.10s`, `250ms`, `3.50ms`, `120us`, `1.50us`, `80ns`."""
    if ns >= NS:
        return f"{ns // NS}.{ns % NS // 10_000_000:02d}s"
    if ns >= NS // 100:
        return f"{ns // 1_000_000}ms"
    if ns >= NS // 1000:
        return f"{ns // 1_000_000}.{ns % 1_000_000 // 10_000:02d}ms"
    if ns >= NS // 100_000:
        return f"{ns // 1000}us"
    if ns >= NS // 1_000_000:
        return f"{ns // 1000}.{ns % 1000 // 10:02d}us"
    return f"{ns}ns"


def extend(text: str, width: int) -> str:
    """sysdig's extend_string: pad to width, or cut to width-1 plus a space."""
    return text.ljust(width) if len(text) < width else text[: width - 1] + " "


def wants_no_color(value: Any) -> bool:
    """The disable_color argument: sysdig documents 'disable_colors' but tests 'disable_color'; take both."""
    return value in ("disable_color", "disable_colors")


def clock_time(ts_ns: int, *, frac: bool = True) -> str:
    """`17:35:48` (frac=False) or `17:35:48.514682170`, local time: evt.time(.s) of a timestamp."""
    from sysmon.fields.clock import clock_time as render

    return render(ts_ns, frac=frac)
