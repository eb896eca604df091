"""spectrogram: Visualize OS latency in real time (sysdig's spectrogram.lua, on an ANSI terminal only).

Each refresh prints one row as wide as the terminal: column x counts the calls whose latency L has
floor(log10(L) * width / 11) = x - 1 (L capped at 10^11 ns), coloured by calls per second on a
256-colour palette, then a time axis (1ns ... 10.00s).
"""
from __future__ import annotations

import math
import shutil

from sysmon.chisel.api import NS, Chisel, ChiselArg, ChiselContext, format_time_interval
from sysmon.errors import ChiselError
from sysmon.events.model import Event

COLORS = (22, 28, 64, 34, 2, 76, 46, 118, 154, 191, 227, 226, 11, 220, 209, 208, 202, 197, 9, 1)
CHARS = (" ", "░", "▒", "░")
DECADES = 11  # the X axis: latencies from 1 ns to 10^11 ns
ESC = "\x1b["
RESET = f"{ESC}0m"


def cell(n: int, per_sec: float) -> tuple[int, int, str]:
    """(foreground, background, character) of a column with n calls in a refresh (the chisel's mkcol)."""
    col = min(max(math.log10(n * per_sec + 1) / math.log10(1.6), 1), len(COLORS))
    low, high = math.floor(col), math.ceil(col)
    delta = col - low
    ch = CHARS[math.floor(delta * len(CHARS))]
    if delta > 0.75:
        return COLORS[high - 1], COLORS[low - 1], ch
    return COLORS[low - 1], COLORS[high - 1], ch


def axis(width: int) -> str:
    """`|1ns    |10ns ...`: a mark where each decade starts."""
    out, x = [], 0
    while x < width:
        if math.floor(x * DECADES / width) != math.floor((x - 1) * DECADES / width):
            text = format_time_interval(10 ** math.floor(x * DECADES / width))
            out.append("|" + text)
            x += len(text) + 1
        else:
            out.append(" ")
            x += 1
    return "".join(out)


class Spectrogram(Chisel):
    name = "spectrogram"
    short_description = "Visualize OS latency in real time."
    description = ("This console visualization shows the frequency of system call latencies. The Y axis unit is "
                   "time. By default, a new line is created twice a second, but that can be changed by specifying "
                   "a different refresh time argument. The X axis shows a range of latencies. Each latency value "
                   "has a color that can be black (no calls), green (tens of calls/s), yellow (hundreds of "
                   "calls/s) or red (Thousands of calls/s). In other words, red areas mean that there are many "
                   "system calls taking the specified time to return. Use this chisel in conjunction with "
                   "filters to visualize latencies for certain processes, types of I/O activity, file systems, "
                   "etc.")
    category = "CPU Usage"
    args = (ChiselArg("refresh_time", "Chart refresh time in milliseconds", "int", optional=True),)
    refresh_time: int | None

    def on_init(self, ctx: ChiselContext) -> None:
        if not ctx.is_tty:
            ctx.print("This chisel only works on ANSI terminals. Aborting.")
            raise ChiselError("init() for chisel spectrogram failed.")
        refresh_ns = (self.refresh_time or 500) * 1_000_000
        self.per_sec = NS / refresh_ns
        self.width = shutil.get_terminal_size().columns
        self.get_latency = ctx.request_field("evt.latency")
        self.counts: dict[int, int] = {}
        ctx.set_filter("evt.dir=<")
        ctx.set_interval_ns(refresh_ns)
        ctx.write(f"{ESC}?25l")  # hide the cursor

    def on_event(self, evt: Event) -> bool:
        latency = self.get_latency(evt)
        if latency:
            x = math.floor(min(math.log10(latency), DECADES) * self.width / DECADES) + 1
            self.counts[x] = self.counts.get(x, 0) + 1
        return True

    def on_interval(self, ts_ns: int) -> None:
        row = [f"{ESC}1F"]  # up one line: the previous axis is overwritten
        for x in range(1, self.width + 1):
            n = self.counts.get(x, 0)
            fg, bg, ch = cell(n, self.per_sec) if n else (0, 0, " ")
            row.append(f"{ESC}38;5;{fg}m{ESC}48;5;{bg}m{ch}")
        self.ctx.write("".join(row) + RESET + "\n" + axis(self.width) + "\n")
        self.counts = {}

    def on_capture_end(self) -> None:
        self.on_interval(self.ctx.last_ts_ns)
        self.ctx.write(f"{RESET}\n{ESC}?25h")  # print(terminal.reset), then show the cursor
