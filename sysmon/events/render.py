"""evt.info / evt.args text, parameter by parameter, as sysdig renders it.

Some parameters render with state, as libsinsp's `get_param_as_str` does: an fd shows its type
and name (`3(<f>/etc/passwd)`), a PID the thread's name (`20072(cat)`), a relative path the
path it resolves to (`name=x(/home/x)`), an fd list the fds' type chars. `RenderContext` gives
that state: the event thread's fds and cwd, and any thread's name.
"""
from __future__ import annotations

import posixpath
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, NamedTuple, Protocol

from sysmon.events.buffers import render_buffer
from sysmon.events.flags import errno_name, render_flag_table, render_flags, signal_name
from sysmon.events.model import SockTuple

if TYPE_CHECKING:
    from sysmon.events.model import Event
    from sysmon.events.schema import Param

AT_FDCWD = -100
TYPECHARS = {
    "file": "f", "directory": "d", "ipv4": "4", "ipv6": "6", "unix": "u", "pipe": "p", "event": "e",
    "signalfd": "s", "eventpoll": "l", "inotify": "i", "timerfd": "t", "netlink": "n", "memfd": "m",
    "bpf": "b", "userfaultfd": "o", "io_uring": "r",
}
_L4CHARS = {"tcp": "t", "udp": "u", "icmp": "i", "raw": "r"}
_INBOUND = frozenset({"accept", "recvfrom", "recvmsg"})  # events whose tuple has the peer as its source
_I64 = 1 << 63
_U64_MAX = (1 << 64) - 1

class FdView(Protocol):
    """What rendering reads of an open fd (state.FdInfo is one)."""

    @property
    def type(self) -> str: ...
    @property
    def name(self) -> str: ...
    def effective_l4proto(self) -> str: ...


FdLookup = Callable[[int], "FdView | None"]
NameLookup = Callable[[int], "str | None"]
BufRenderer = Callable[[bytes], str]


class RenderContext(NamedTuple):
    """The state a parameter renders with; None fields mean "unknown" (sysdig: no thread)."""

    fd: FdLookup | None = None  # fd number -> its FdInfo, in the event thread's table
    thread_name: NameLookup | None = None  # tid -> comm of any known thread
    cwd: str | None = None  # the event thread's working directory
    user_name: NameLookup | None = None  # uid -> user name; set when the event's thread is known
    group_name: NameLookup | None = None  # gid -> group name; likewise


NO_CONTEXT = RenderContext()


def fd_tag(info: FdView) -> str:
    """`<f>`-style tag: type char, plus the l4 protocol for inet sockets (`<4t>`)."""
    return f"<{TYPECHARS.get(info.type, 'o')}{_L4CHARS.get(info.effective_l4proto(), '')}>"


def render_fd(fd: int, lookup: FdLookup | None) -> str:
    if fd < 0:
        return f"{fd}(AT_FDCWD)" if fd == AT_FDCWD else f"{fd}({errno_name(fd)})"
    info = lookup(fd) if lookup else None
    if info is None or not info.name and info.type == "file":
        return str(fd)
    return f"{fd}({fd_tag(info)}{info.name})"


def resolve_path(base: str, path: str) -> str:
    """libsinsp's concatenate_paths: `path` joined to `base` unless absolute, then normalised."""
    if not path.startswith("/"):
        path = f"{base}/{path}" if base else path
    norm = posixpath.normpath(path)
    return "/" + norm.lstrip("/") if path.startswith("/") else norm


def _path_text(evt: Event, p: Param, v: Any, ctx: RenderContext) -> str:
    """FSPATH/FSRELPATH: `rel(resolved)` for a relative path of a known thread, else the path."""
    if not isinstance(v, str) or v.startswith("/") or ctx.cwd is None or v == "<NA>":
        return str(v)
    base = ctx.cwd
    if p.type == "FSRELPATH":
        dirfd = _dirfd_before(evt, p)
        if dirfd is not None and dirfd != AT_FDCWD:
            info = ctx.fd(dirfd) if ctx.fd else None
            base = info.name if info is not None else ""
    return f"{v}({resolve_path(base, v)})"


def _dirfd_before(evt: Event, p: Param) -> int | None:
    """The FD parameter a relative path is relative to: the nearest one before it."""
    params = evt.etype.params_for(evt.dir)
    for i in range(params.index(p) - 1, -1, -1):
        if params[i].type == "FD":
            v = evt.params.get(params[i].name)
            return v if isinstance(v, int) else None
    return None


def _fdlist_text(v: Any, ctx: RenderContext) -> str:
    """poll's fds: `fd:<type char><events hex>` each, `?` for an unknown fd (nothing without a thread)."""
    if ctx.cwd is None or not isinstance(v, list):
        return ""
    out = []
    for fd, events in v:
        info = ctx.fd(fd) if ctx.fd else None
        ch = TYPECHARS.get(info.type, "o") if info is not None else "?"
        out.append(f"{fd}:{ch}{events & 0xFFFFFFFF:x}")
    return " ".join(out)


def _id_text(v: Any, names: NameLookup | None) -> str:
    """UID/GID: `0(root)`, `<NA>` for an unknown id, `-1(<NONE>)` for none (names only with a thread)."""
    if not isinstance(v, int) or names is None:
        return str(v)
    if v == 0xFFFFFFFF:
        return "-1(<NONE>)"
    return f"{v}({names(v) or '<NA>'})"


def _pid_text(v: Any, ctx: RenderContext) -> str:
    name = ctx.thread_name(v) if ctx.thread_name is not None and isinstance(v, int) else None
    return f"{v}({name})" if name is not None else str(v)


ValueRenderer = Callable[["Event", Any, RenderContext, BufRenderer], str]
_STATEFUL_TYPES = frozenset({"FD", "PID", "FSPATH", "FSRELPATH", "UID", "GID", "FDLIST"})


def uses_state(p: Param) -> bool:
    """Whether the parameter's text reads the RenderContext (see value_renderer)."""
    return p.type in _STATEFUL_TYPES


def value_renderer(p: Param) -> ValueRenderer:
    """The text function for one parameter, chosen once by its type (render_params' hot path)."""
    t = p.type
    if t == "FD":
        return lambda evt, v, ctx, buf: render_fd(v, ctx.fd)
    if t == "ERRNO":
        return lambda evt, v, ctx, buf: f"{v}({errno_name(v)})" if v < 0 else str(v)
    if t == "PID":
        return lambda evt, v, ctx, buf: _pid_text(v, ctx)
    if t in ("FSPATH", "FSRELPATH"):
        return lambda evt, v, ctx, buf: _path_text(evt, p, v, ctx)
    if t == "UID":
        return lambda evt, v, ctx, buf: _id_text(v, ctx.user_name)
    if t == "GID":
        return lambda evt, v, ctx, buf: _id_text(v, ctx.group_name)
    if t == "FDLIST":
        return lambda evt, v, ctx, buf: _fdlist_text(v, ctx)
    if isinstance(p.flagset, tuple):
        table = p.flagset
        return lambda evt, v, ctx, buf: render_flag_table(table, v)
    if p.flagset:
        flagset = p.flagset
        return lambda evt, v, ctx, buf: render_flags(flagset, v)
    if p.fmt == "hex":
        return lambda evt, v, ctx, buf: f"{v:X}" if isinstance(v, int) else str(v)
    if p.fmt == "oct":
        return lambda evt, v, ctx, buf: f"0{v:o}" if isinstance(v, int) and v else str(v)
    if t == "UINT64":  # sysdig prints it through int64_t
        return lambda evt, v, ctx, buf: str(v - (1 << 64)) if isinstance(v, int) and v >= _I64 else str(v)
    if t == "RELTIME":  # nanoseconds, with sysdig's %lg seconds
        return lambda evt, v, ctx, buf: (("none" if v in (-1, _U64_MAX) else f"{v}({v / 1e9:g}s)")
                                         if isinstance(v, int) else str(v))
    if t == "SIGTYPE":
        return lambda evt, v, ctx, buf: f"{v}({signal_name(v)})" if v else "0"
    if t == "SOCKTUPLE":
        def tuple_text(evt: Event, v: Any, ctx: RenderContext, buf: BufRenderer) -> str:
            if evt.type in _INBOUND and isinstance(v, SockTuple) and v.family != "unix":
                return f"{v.remote}->{v.local}"  # sysdig prints the tuple as the kernel gave it: peer first
            return str(v)
        return tuple_text
    if t == "BYTEBUF":
        def buffer_text(evt: Event, v: Any, ctx: RenderContext, buf: BufRenderer) -> str:
            if isinstance(v, list):  # execve args: argv[1:] NUL-separated, a buffer as sysdig's BYTEBUF (cut at 80)
                return buf(b"".join(a.encode("utf-8", "surrogateescape") + b"\0" for a in v[1:]))
            return buf(v)
        return buffer_text
    if t == "MODE":
        return lambda evt, v, ctx, buf: f"0{v:o}"
    if t == "SYSCALLID":  # a generic event's syscall (its type is named after it)
        return lambda evt, v, ctx, buf: f"{v}({evt.etype.name})"
    return lambda evt, v, ctx, buf: str(v)


def render_value(evt: Event, p: Param, v: Any, ctx: RenderContext, buf: BufRenderer) -> str:
    return p.render(evt, v, ctx, buf)


def render_params(evt: Event, ctx: RenderContext = NO_CONTEXT, bufmode: str = "", max_buf: int | None = 80) -> str:
    """`fd=3(<f>/etc/passwd) name=/etc/passwd flags=4097(O_RDONLY|O_CLOEXEC) mode=0`.

    A parameter the event carries empty renders as NULL (sysdig); one it lacks is left out.
    """
    return render_params_with(evt, ctx, lambda b: render_buffer(b, bufmode, max_buf))


def render_params_with(evt: Event, ctx: RenderContext, buf: BufRenderer) -> str:
    """render_params with the data buffer renderer given (made once per output, not per event)."""
    etype = evt.etype
    if etype.generic:
        return ""  # sysdig shows no arguments for generic syscall events
    params = evt.params
    out = []
    empty: frozenset[str] | None = None
    for p in etype.params_for(evt.dir):
        v = params.get(p.name)
        if v is not None:
            out.append(f"{p.name}={p.render(evt, v, ctx, buf)}")
        else:
            if empty is None:
                empty = etype.empty_params(evt)
            if p.name in empty:
                out.append(f"{p.name}=NULL")
    return " ".join(out)
