"""httplog: HTTP requests log.

sysdig's http.lua parser: on each socket fd (per process) a buffer starting like `GET /path` opens a
transaction; the next buffer on that fd holding `HTTP/x.y CODE` closes it, and one line is printed.
Buffers are read as sysdig's evt.buffer renders them for a chisel: whole (as captured), non-printable
bytes as '.', so a CRLF is `..`.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

from sysmon.chisel.api import NS, Chisel, ChiselContext
from sysmon.events.buffers import render_buffer
from sysmon.events.model import Event

# Lua's patterns of http.lua: %u = [A-Z], %g = printable but space, %d = [0-9], %. = '.'
REQUEST = re.compile(r"([A-Z]+) ([\x21-\x7e]+)")
HOST = re.compile(r"Host: ([\x21-\x7e]+)\.\.")
RESPONSE = re.compile(r"HTTP/[\x21-\x7e]+ ([0-9]+)")
CONTENT_LENGTH = re.compile(r"Content-Length: ([0-9]+)\.\.")
DIRECTIONS = {"read": "<", "write": ">"}


@dataclass(slots=True)
class Request:
    method: str
    url: str
    ts_ns: int
    direction: str  # '<' a request read (a server), '>' one written (a client)


class Httplog(Chisel):
    name = "httplog"
    short_description = "HTTP requests log"
    description = "Show a log of all HTTP requests"
    category = "Application"

    def on_init(self, ctx: ChiselContext) -> None:
        ctx.set_filter("evt.is_io = true and evt.buflen > 0 and (fd.sockfamily = ip or fd.sockfamily = unix)")
        self.get_buffer = ctx.request_field("evt.buffer")
        self.get_fd = ctx.request_field("fd.num")
        self.get_pid = ctx.request_field("proc.pid")
        self.get_datetime = ctx.request_field("evt.datetime")
        self.get_io_dir = ctx.request_field("evt.io_dir")
        ctx.set_snaplen(1024)
        self.open: dict[tuple[object, object], Request] = {}  # (pid, fd) -> its request awaiting a response

    def on_event(self, evt: Event) -> bool:
        data = self.get_buffer(evt)
        buf = render_buffer(data, self.ctx.options.bufmode, None) if isinstance(data, bytes) else ""
        key = (self.get_pid(evt), self.get_fd(evt))
        request = self.open.get(key)
        if request is None:
            m = REQUEST.match(buf)
            if m:
                host = HOST.search(buf)
                url = host[1] + m[2] if host else m[2]
                self.open[key] = Request(m[1], url, evt.ts_ns, DIRECTIONS.get(self.get_io_dir(evt), "<NA>"))
            return True
        m = RESPONSE.search(buf)
        if m:
            length = CONTENT_LENGTH.search(buf)
            latency_ms = (evt.ts_ns - request.ts_ns) * 1000 // NS
            self.ctx.print(f"{self.get_datetime(evt)} {request.direction} method={request.method} url={request.url} "
                           f"response_code={int(m[1])} latency={latency_ms}ms size={int(length[1]) if length else 0}B")
            del self.open[key]
        return True
