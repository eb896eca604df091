"""evt.info / evt.args text, parameter by parameter, as sysdig renders it."""
from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from sysmon.events.flags import errno_name, render_flag_table, render_flags, signal_name
from sysmon.events.model import SockTuple
from sysmon.output.buffers import render_buffer

if TYPE_CHECKING:
    from sysmon.events.model import Event
    from sysmon.events.schema import Param
    from sysmon.state.state import FdInfo

AT_FDCWD = -100
TYPECHARS = {
    "file": "f", "directory": "d", "ipv4": "4", "ipv6": "6", "unix": "u", "pipe": "p", "event": "e",
    "signalfd": "s", "eventpoll": "l", "inotify": "i", "timerfd": "t", "netlink": "n", "memfd": "m",
    "bpf": "b", "userfaultfd": "o", "io_uring": "r",
}
_L4CHARS = {"tcp": "t", "udp": "u", "icmp": "i", "raw": "r"}

FdLookup = Callable[[int], "FdInfo | None"]
BufRenderer = Callable[[bytes], str]


def fd_tag(info: FdInfo) -> str:
    """`<f>`-style tag: type char, plus the l4 protocol for inet sockets (`<4t>`)."""
    ch = TYPECHARS.get(info.type, "o")
    if info.tuple is not None and info.type in ("ipv4", "ipv6"):
        ch += _L4CHARS.get(info.tuple.l4proto, "")
    return f"<{ch}>"


def render_fd(fd: int, lookup: FdLookup | None) -> str:
    if fd < 0:
        return f"{fd}(AT_FDCWD)" if fd == AT_FDCWD else f"{fd}({errno_name(fd)})"
    info = lookup(fd) if lookup else None
    if info is None or not info.name and info.type == "file":
        return str(fd)
    return f"{fd}({fd_tag(info)}{info.name})"


ValueRenderer = Callable[["Event", Any, "FdLookup | None", BufRenderer], str]


def value_renderer(p: Param) -> ValueRenderer:
    """The text function for one parameter, chosen once by its type (render_params' hot path)."""
    t = p.type
    if t == "FD":
        return lambda evt, v, lookup, buf: render_fd(v, lookup)
    if t == "ERRNO":
        return lambda evt, v, lookup, buf: f"{v}({errno_name(v)})" if v < 0 else str(v)
    if t == "PID":
        return lambda evt, v, lookup, buf: f"{v}({errno_name(v)})" if isinstance(v, int) and v < 0 else str(v)
    if isinstance(p.flagset, tuple):
        table = p.flagset
        return lambda evt, v, lookup, buf: render_flag_table(table, v)
    if p.flagset:
        flagset = p.flagset
        return lambda evt, v, lookup, buf: render_flags(flagset, v)
    if p.fmt == "hex":
        return lambda evt, v, lookup, buf: f"{v:X}" if isinstance(v, int) else str(v)
    if p.fmt == "oct":
        return lambda evt, v, lookup, buf: f"0{v:o}" if isinstance(v, int) and v else str(v)
    if t == "SIGTYPE":
        return lambda evt, v, lookup, buf: f"{v}({signal_name(v)})" if v else "0"
    if t == "SOCKTUPLE":
        def tuple_text(evt: Event, v: Any, lookup: FdLookup | None, buf: BufRenderer) -> str:
            if evt.type == "accept" and isinstance(v, SockTuple):
                return f"{v.remote}->{v.local}"  # sysdig prints client->server
            return str(v)
        return tuple_text
    if t == "BYTEBUF":
        def buffer_text(evt: Event, v: Any, lookup: FdLookup | None, buf: BufRenderer) -> str:
            if isinstance(v, list):  # execve args: argv[1:] NUL-separated, as sysdig's BYTEBUF
                return "".join(a + "." for a in v[1:])
            return buf(v)
        return buffer_text
    if t == "MODE":
        return lambda evt, v, lookup, buf: f"0{v:o}"
    return lambda evt, v, lookup, buf: str(v)


def render_value(evt: Event, p: Param, v: Any, lookup: FdLookup | None, buf: BufRenderer) -> str:
    return p.render(evt, v, lookup, buf)


def render_params(evt: Event, fd_lookup: FdLookup | None, bufmode: str = "", max_buf: int | None = 80) -> str:
    """`fd=3(<f>/etc/passwd) name=/etc/passwd flags=4097(O_RDONLY|O_CLOEXEC) mode=0`."""
    params = evt.params
    if not params:
        return ""
    out = []
    buf: BufRenderer = lambda b: render_buffer(b, bufmode, max_buf)  # noqa: E731
    for p in evt.etype.params_for(evt.dir):
        v = params.get(p.name)
        if v is not None:
            out.append(f"{p.name}={p.render(evt, v, fd_lookup, buf)}")
    return " ".join(out)
