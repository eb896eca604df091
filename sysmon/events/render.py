"""evt.info / evt.args text, parameter by parameter, as sysdig renders it."""
from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from sysmon.events.flags import errno_name, render_flags, signal_name
from sysmon.events.model import SockTuple

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


def render_value(evt: Event, p: Param, v: Any, lookup: FdLookup | None, buf: BufRenderer) -> str:
    t = p.type
    if t == "FD":
        return render_fd(v, lookup)
    if t == "ERRNO":
        return f"{v}({errno_name(v)})" if v < 0 else str(v)
    if t == "PID" and isinstance(v, int) and v < 0:
        return f"{v}({errno_name(v)})"
    if p.flagset:
        return render_flags(p.flagset, v)
    if t == "SIGTYPE":
        return f"{v}({signal_name(v)})" if v else "0"
    if t == "SOCKTUPLE":
        if evt.type == "accept" and isinstance(v, SockTuple):
            return f"{v.remote}->{v.local}"  # sysdig prints client->server
        return str(v)
    if t == "BYTEBUF":
        if isinstance(v, list):  # execve args: argv[1:] NUL-separated, as sysdig's BYTEBUF
            return "".join(a + "." for a in v[1:])
        return buf(v)
    if t == "MODE":
        return f"0{v:o}"
    return str(v)


def render_params(evt: Event, fd_lookup: FdLookup | None, bufmode: str = "", max_buf: int | None = 80) -> str:
    """`fd=3(<f>/etc/passwd) name=/etc/passwd flags=4097(O_RDONLY|O_CLOEXEC) mode=0`."""
    from sysmon.output.buffers import render_buffer  # noqa: PLC0415 (rendering helpers live in output)

    params = evt.params
    out = []
    for p in evt.etype.params_for(evt.dir):
        v = params.get(p.name)
        if v is None:
            continue
        text = render_value(evt, p, v, fd_lookup, lambda b: render_buffer(b, bufmode, max_buf))
        out.append(f"{p.name}={text}")
    return " ".join(out)
