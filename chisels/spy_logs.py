"""spy_logs: every write to a log file, one line per message."""
from __future__ import annotations

from sysmon.chisel.api import Chisel, ChiselArg, ChiselContext, wants_no_color
from sysmon.events.model import Event

LOG_FILES = ("(fd.name contains .log or fd.name contains _log or fd.name contains /var/log) and "
             "not (fd.name contains .gz or fd.name contains .tgz)")


class SpyLogs(Chisel):
    name = "spy_logs"
    short_description = ("Echo any write made by any process to a log file. Optionally, export the events around "
                         "each log message to file.")
    description = ("Intercept all the writes to files containing '.log' or '_log' in their name (or under "
                   "/var/log), and print them line by line as 'process file message'. Combine it with filters "
                   "like 'proc.name=foo' or 'evt.buffer contains foo'. On a terminal a line is green, yellow when "
                   "it contains 'warn', red when it contains 'err'. With dump_file_name, the events of every process "
                   "within dump_range_ms of each message are saved to that capture file.")
    category = "Logs"
    args = (
        ChiselArg("dump_file_name", "the capture file to save the events around each log message to "
                  "(a lone 'disable_color' is taken as disable_color)", "string", optional=True),
        ChiselArg("dump_range_ms", "the time, in milliseconds, to save before and after each log message",
                  "int", optional=True, default=1000),
        ChiselArg("disable_color", "Set to 'disable_color' if you want to disable color output", "string",
                  optional=True),
    )
    dump_file_name: str | None
    dump_range_ms: int
    disable_color: str | None

    def on_init(self, ctx: ChiselContext) -> None:
        if wants_no_color(self.dump_file_name):  # `-c spy_logs disable_color`: surely not a file name
            self.dump_file_name, self.disable_color = None, self.dump_file_name
        self.dump = ctx.dump_around(self.dump_file_name, self.dump_range_ms) if self.dump_file_name else None
        self.get_buf = ctx.request_field("evt.buffer")
        self.get_proc = ctx.request_field("proc.name")
        self.get_name = ctx.request_field("fd.name")
        ctx.set_snaplen(2000)
        ctx.set_filter(f"({LOG_FILES}) and evt.is_io_write=true and evt.dir=< and evt.failed=false")
        if wants_no_color(self.disable_color):
            ctx.disable_colors()

    def on_event(self, evt: Event) -> bool:
        buf = self.get_buf(evt)
        if not buf:
            return True
        if self.dump is not None:
            self.dump.mark(evt)
        prefix = f"{self.get_proc(evt)} {self.get_name(evt)} "
        for msg in buf.decode("utf-8", "replace").split("\n"):
            if msg:
                low = msg.lower()
                color = "yellow" if "warn" in low else "red" if "err" in low else "green"
                self.ctx.print(f"{self.ctx.color(color)}{prefix}{msg}")
        return True

    def on_capture_end(self) -> None:
        if self.dump is not None:
            self.ctx.print(self.dump.summary())
