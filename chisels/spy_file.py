"""spy_file: every read/write on files (or pipes, unix sockets), or on one file."""
from __future__ import annotations

from sysmon.chisel.api import Chisel, ChiselArg, ChiselContext, format_bytes
from sysmon.errors import ChiselError
from sysmon.events.model import Event

_TYPES = {"f": "file", "p": "pipe", "u": "unix"}


class SpyFile(Chisel):
    name = "spy_file"
    short_description = ("Echo any read/write made by any process to all files. Optionally, you can provide the "
                         "name of one file to only intercept reads/writes to that file.")
    description = ("Intercept all reads and writes to files of the given types: files, pipes or unix sockets. "
                   "Terminals are skipped unless named, since watching them loops in a live capture.")
    category = "I/O"
    args = (
        ChiselArg("read_or_write", "'R' for reads only, 'W' for writes only, 'RW' (default) for both", "string",
                  optional=True),
        ChiselArg("type_of_file", "'F' files (default), 'P' pipes, 'U' unix sockets, or a combination like 'FP'",
                  "string", optional=True),
        ChiselArg("spy_on_file_name", "only the reads/writes of the file with this name", "string", optional=True),
    )
    read_or_write: str | None
    type_of_file: str | None
    spy_on_file_name: str | None

    def on_init(self, ctx: ChiselContext) -> None:
        self.get_time = ctx.request_field("evt.time")
        self.get_proc = ctx.request_field("proc.name")
        self.get_pid = ctx.request_field("proc.pid")
        self.get_is_write = ctx.request_field("evt.is_io_write")
        self.get_res = ctx.request_field("evt.rawarg.res")
        self.get_name = ctx.request_field("fd.name")
        self.get_data = ctx.request_field("evt.rawarg.data")
        ctx.set_snaplen(2000)
        parts = []
        if self.spy_on_file_name:
            parts.append(f"fd.name={_quote(self.spy_on_file_name)}")
        else:
            parts.append("not fd.name contains /dev/pt and not fd.name contains /dev/tty")
        rw = (self.read_or_write or "RW").upper()
        parts.append({"R": "evt.is_io_read=true", "W": "evt.is_io_write=true"}.get(rw, "evt.is_io=true"))
        kinds = (self.type_of_file or "F").lower()
        if any(k not in _TYPES for k in kinds):
            raise ChiselError(f"spy_file: type_of_file must combine F, P and U, not {self.type_of_file!r}")
        parts.append("(" + " or ".join(f"fd.type={_TYPES[k]}" for k in dict.fromkeys(kinds)) + ")")
        parts.append("evt.dir=< and evt.failed=false")
        ctx.set_filter(" and ".join(parts))

    def on_event(self, evt: Event) -> bool:
        data = self.get_data(evt) or b""
        text = "".join(chr(b) if 32 <= b < 127 or b in (9, 10) else "." for b in data)
        rw = "W" if self.get_is_write(evt) else "R"
        self.ctx.print(f"{self.get_time(evt)} {self.get_proc(evt)}({self.get_pid(evt)}) {rw} "
                       f"{format_bytes(self.get_res(evt) or 0)} {self.get_name(evt)} {text}")
        return True


def _quote(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
