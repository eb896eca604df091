"""Base classes shared by several built-in chisels (the chisel files are content, not a package)."""
from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

from sysmon.chisel.api import Chisel, ChiselArg, ChiselContext, Getter, clock_time, format_bytes, wants_no_color
from sysmon.chisel.table import TableChisel

if TYPE_CHECKING:
    from sysmon.events.model import Event

DISABLE_COLOR = ChiselArg("disable_color", "Set to 'disable_color' if you want to disable color output",
                          "string", optional=True)


class IoBytesChisel(Chisel):
    """Bytes read and written on the fds a filter selects, printed every second of event time:
    `17:35:49 in:11562 out:110 tot:11672`."""

    category = "I/O"
    io_filter: ClassVar[str]

    def on_init(self, ctx: ChiselContext) -> None:
        self.get_bytes = ctx.request_field("evt.rawarg.res")
        self.get_is_read = ctx.request_field("evt.is_io_read")
        ctx.set_filter(self.io_filter)
        ctx.set_interval_s(1)
        self.bytes_in = self.bytes_out = 0

    def on_event(self, evt: Event) -> bool:
        n = self.get_bytes(evt)
        if isinstance(n, int) and n > 0:
            if self.get_is_read(evt):
                self.bytes_in += n
            else:
                self.bytes_out += n
        return True

    def on_interval(self, ts_ns: int) -> None:
        total = self.bytes_in + self.bytes_out
        self.ctx.print(f"{clock_time(ts_ns, frac=False)} in:{self.bytes_in} out:{self.bytes_out} tot:{total}")
        self.bytes_in = self.bytes_out = 0


class FdEchoChisel(Chisel):
    """The data a process writes to (or reads from) one standard fd, as it is, one buffer a line."""

    category = "I/O"
    fd_num: ClassVar[int]
    paint: ClassVar[str] = ""  # colour on a terminal

    def on_init(self, ctx: ChiselContext) -> None:
        self.get_data = ctx.request_field("evt.rawarg.data")
        ctx.set_snaplen(2000)
        ctx.set_filter(f"fd.num={self.fd_num} and evt.is_io=true and evt.dir=<")
        if wants_no_color(getattr(self, "disable_color", None)):
            ctx.disable_colors()

    def on_event(self, evt: Event) -> bool:
        data = self.get_data(evt)
        if data:
            text = data.decode("utf-8", "replace")
            self.ctx.print(f"{self.ctx.color(self.paint)}{text}" if self.paint else text)  # sysdig: print(buf)
        return True


class SlowerChisel(Chisel):
    """I/O or calls slower than min_ms, one line each (Brendan Gregg's *slower chisels)."""

    category = "Performance"
    args = (ChiselArg("min_ms", "Minimum millisecond threshold for showing the call", "int"), DISABLE_COLOR)
    slow_filter: ClassVar[str] = "evt.dir=<"
    min_ms: int

    def on_init(self, ctx: ChiselContext) -> None:
        self.get_latency = ctx.request_field("evt.latency")
        self.get_time = ctx.request_field("evt.datetime")
        self.get_proc = ctx.request_field("proc.name")
        self.get_type = ctx.request_field("evt.type")
        self.get_name = ctx.request_field("fd.name")
        ctx.set_filter(self.slow_filter)
        if wants_no_color(getattr(self, "disable_color", None)):
            ctx.disable_colors()
        self.header()

    def header(self) -> None:
        # sysdig's layout without -pc (which sysmon does not have): no container columns
        self.ctx.print(f"{'evt.datetime':<23.23} {'proc.name':<12.12} {'evt.type':<8} {'LATENCY(ms)':<12} fd.name")
        self.ctx.print(f"{'-' * 23} {'-' * 12} {'-' * 8} {'-' * 12} {'-' * 41}")

    def slow_ms(self, evt: Event) -> float | None:
        latency = self.get_latency(evt)
        if latency is None:
            return None
        ms = latency / 1_000_000
        return ms if ms > self.min_ms else None

    def on_event(self, evt: Event) -> bool:
        ms = self.slow_ms(evt)
        name = self.get_name(evt) or "<NA>"
        if ms is not None and self.show(name):
            self.ctx.print(f"{self.ctx.color('green')}{self.get_time(evt) or '':<23.23} {self.get_proc(evt) or '':<12.12} "
                           f"{self.get_type(evt):<8} {int(ms):>12d} {name}")
        return True

    def show(self, name: str) -> bool:
        return True


class SpyEndpointChisel(Chisel):
    """The payloads exchanged with one endpoint (spy_ip, spy_port), each after a header line, as sysdig's
    spy_ip.lua and spy_port.lua print them: the header is made when the direction changes (`------ Read
    76B`, in red; `------ Write 131B`, in blue) and printed again, unchanged, before each payload until
    the next change, so its size is that of the first payload in that direction."""

    category = "Net"
    match_field: ClassVar[str]

    def endpoint(self) -> str:
        """The value `match_field` must have (validated)."""
        raise NotImplementedError

    def on_init(self, ctx: ChiselContext) -> None:
        self.get_res = ctx.request_field("evt.rawarg.res")
        self.get_is_read = ctx.request_field("evt.is_io_read")
        ctx.set_snaplen(1000)
        ctx.set_filter(f"evt.is_io=true and evt.dir=< and (fd.type=ipv4 or fd.type=ipv6) and "
                       f"{self.match_field}={self.endpoint()}")
        ctx.set_event_formatter("%evt.arg.data")
        if wants_no_color(getattr(self, "disable_color", None)):
            ctx.disable_colors()
        self.direction: bool | None = None
        self.header = ""

    def on_event(self, evt: Event) -> bool:
        res = self.get_res(evt)
        if not isinstance(res, int) or res <= 0:
            return False
        is_read = bool(self.get_is_read(evt))
        if is_read != self.direction:
            self.direction = is_read
            color = self.ctx.color("red" if is_read else "blue")
            self.header = f"{color}------ {'Read' if is_read else 'Write'} {format_bytes(res)}"
        self.ctx.print(self.header)
        return True


class ProcinfoCpuChisel(TableChisel):
    """CPU% per key as sysdig's topprocs_cpu and topcontainers_cpu count it: each procinfo event gives a
    thread's user + system clock ticks so far; the ticks since that thread's previous procinfo (none for
    its first, at most 100: libsinsp's extract_thread_cpu, thread.cpu) add up per key, 10 ms each, shown
    as a share of the elapsed time. Subclasses set `table` (value thread.exectime, filter evt.type=procinfo)."""

    TICK_NS = 10_000_000  # the chisels' `cpu * 10000000`: USER_HZ = 100
    MAX_TICKS = 100

    def value_getter(self, ctx: ChiselContext) -> Getter:
        return lambda evt: None  # computed in on_event; thread.exectime only names it for -j, as sysdig

    def on_init(self, ctx: ChiselContext) -> None:
        super().on_init(ctx)
        self._cpu_usr = ctx.request_field("evt.rawarg.cpu_usr")
        self._cpu_sys = ctx.request_field("evt.rawarg.cpu_sys")
        self._last_ticks: dict[int, int] = {}  # tid -> user + system ticks at its previous procinfo

    def on_event(self, evt: Event) -> bool:
        usr, sys_ = self._cpu_usr(evt), self._cpu_sys(evt)
        known = evt.tid in self.ctx.state.threads  # libsinsp makes up no thread for a procinfo: no fields
        if known and isinstance(usr, int) and isinstance(sys_, int):
            self.account(evt.tid, tuple(get(evt) for get in self._keys), usr + sys_)
        return True

    def account(self, tid: int, key: tuple[Any, ...], ticks: int) -> None:
        """One procinfo reading: `ticks` of CPU used so far by thread `tid`, counted under `key`."""
        last = self._last_ticks.get(tid, 0)
        self._last_ticks[tid] = ticks
        if None in key:
            return
        delta = min((ticks - last) % (1 << 64), self.MAX_TICKS) if last else 0  # u64: a smaller count: the cap
        self._sums[key] = self._sums.get(key, 0) + delta * self.TICK_NS
