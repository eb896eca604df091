"""evt.* fields: the event itself, its time, its arguments and its result."""
from __future__ import annotations

import re
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from sysmon.events.flags import errno_name
from sysmon.events.model import DIR_CHARS, ENTER, EXIT
from sysmon.events.buffers import NORMAL, render_buffer
from sysmon.events.render import (
    AT_FDCWD,
    NO_CONTEXT,
    RenderContext,
    render_params_with,
    render_value,
    resolve_path,
)
from sysmon.events.schema import EF_IO_READ, EF_IO_WRITE, EF_WAIT, PROCEXIT_NR, Schema, s32
from sysmon.fields import clock as tm
from sysmon.fields.field import ArgKind, Extractor, Field, FieldClass, FieldType

if TYPE_CHECKING:
    from sysmon.events.model import Event
    from sysmon.events.schema import Param
    from sysmon.fields.clock import Clock
    from sysmon.state.state import FdInfo, State

T = FieldType
O_ACCMODE, O_WRONLY, O_RDWR, O_CREAT = 3, 1, 2, 0o100
O_TMPFILE = 0o20000000
_RESOLVED_NUMBER = re.compile(r"-?\d+\((.*)\)\Z", re.DOTALL)  # `4097(O_RDONLY|O_CLOEXEC)`, `3(<f>/etc/x)`
EXEC_BITS = 0o111
OPEN_TYPES = frozenset({"open", "openat"})  # openat2 carries its flags in user memory
# fd types -> the category sysdig gives an I/O event on them
_IO_CATEGORY = {"file": "file", "directory": "file", "ipv4": "net", "ipv6": "net", "unix": "ipc", "pipe": "ipc",
                "event": "ipc", "signalfd": "ipc", "inotify": "ipc"}
# evt.abspath: event -> ((dirfd, path) params of the source, of the destination)
_ABSPATH: dict[str, tuple[tuple[str, str], tuple[str, str]]] = {
    "openat": (("dirfd", "name"),) * 2,
    "mkdirat": (("dirfd", "path"),) * 2,
    "unlinkat": (("dirfd", "name"),) * 2,
    "fchmodat": (("dirfd", "filename"),) * 2,
    "symlinkat": (("linkdirfd", "linkpath"),) * 2,
    "renameat": (("olddirfd", "oldpath"), ("newdirfd", "newpath")),
    "renameat2": (("olddirfd", "oldpath"), ("newdirfd", "newpath")),
    "linkat": (("olddir", "oldpath"), ("newdir", "newpath")),
}


# -- helpers shared with fd.py ------------------------------------------------------------------


def render_context(evt: Event, state: State) -> RenderContext:
    """What evt.info renders fds, PIDs and paths with: the event thread's fds and cwd, thread names."""
    thread = state.thread(evt.tid)
    if thread is None:
        return RenderContext(None, state.thread_name, None)
    return RenderContext(thread.fdtable.fds.get, state.thread_name, thread.cwd, state.users.get, state.groups.get)


def abspath(evt: Event, state: State, dirfd: int, path: str) -> str | None:
    """`path` resolved against `dirfd` (AT_FDCWD: the thread's cwd) and normalised."""
    if not path.startswith("/"):
        thread = state.thread(evt.tid)
        if thread is None:
            return None
        if dirfd == AT_FDCWD:
            base = thread.cwd
        else:
            fd = thread.fdtable.fds.get(dirfd)
            base = fd.name if fd is not None else ""
        if not base.startswith("/"):
            return None
        return resolve_path(base, path)
    return resolve_path("", path)


def category(evt: Event, state: State) -> str:
    """sysdig's category of the event; I/O calls take theirs from the fd (file, net, ipc, else unknown)."""
    cat = evt.etype.category
    if cat != "io":
        return cat
    fd = _event_fd(evt, state)
    return _IO_CATEGORY.get(fd.type, "unknown") if fd is not None else "unknown"


def _event_fd(evt: Event, state: State) -> FdInfo | None:
    """libsinsp's m_fdinfo: the event's fd, on an exit only if it follows its own enter (State.exit_paired)."""
    return state.fd_of(evt) if evt.dir == ENTER or state.exit_paired else None


# -- argument rendering (also used by the formatter with its own buffer mode) ---------------------


def _param(evt: Event, arg: str | None) -> Param | None:
    params = evt.etype.params_for(evt.dir)
    if arg is None:
        return None
    if arg.isdigit():
        i = int(arg)
        return params[i] if i < len(params) else None
    return next((p for p in params if p.name == arg), None)


def info_extractor(bufmode: str, max_buf: int | None) -> Extractor:
    """evt.info / evt.args with data buffers rendered in `bufmode`, cut to `max_buf` bytes."""
    buf = lambda b: render_buffer(b, bufmode, max_buf)  # noqa: E731

    def info(evt: Event, state: State, arg: str | None) -> str:
        with_state = evt.etype.renders_with_state[evt.dir]  # else the context is never read: skip making it
        return render_params_with(evt, render_context(evt, state) if with_state else NO_CONTEXT, buf)

    return info


def arg_extractor(bufmode: str, max_buf: int | None) -> Extractor:
    """evt.arg.NAME / evt.arg[N]: one parameter as sysdig prints it, the resolved part of evt.info's
    `raw(resolved)` when it has one (`fd=3(<f>/etc/x)` -> `<f>/etc/x`, `res=-2(ENOENT)` -> `ENOENT`)."""

    def extract(evt: Event, state: State, arg: str | None) -> str | None:
        p = _param(evt, arg)
        if p is None:
            return None
        v = evt.params.get(p.name)
        if v is None:  # carried empty: NULL, as in evt.info
            return "NULL" if p.name in evt.etype.empty_params(evt) else None
        text = render_value(evt, p, v, render_context(evt, state), lambda b: render_buffer(b, bufmode, max_buf))
        if isinstance(v, int):  # the number is that of sysdig's event table (flags), not always v
            m = _RESOLVED_NUMBER.match(text)
            return text if m is None else m[1]
        if isinstance(v, str) and text.startswith(v + "(") and text.endswith(")"):  # a relative path
            return text[len(v) + 1 : -1]
        return text

    return extract


def _rawarg(evt: Event, state: State, arg: str | None) -> Any:
    p = _param(evt, arg)
    return None if p is None else evt.params.get(p.name)


# -- result ---------------------------------------------------------------------------------


def _res(evt: Event) -> int | None:
    return evt.res if evt.dir == EXIT else None


def _res_str(evt: Event, state: State, arg: str | None) -> str | None:
    res = _res(evt)
    if res is None:
        return None
    return "SUCCESS" if res >= 0 else errno_name(res)


def _failed(evt: Event) -> bool:
    res = _res(evt)
    return res is not None and res < 0


def _count_error(cat: str | None) -> Extractor:
    """1 for failed events (of category `cat`: file, net, memory, other = anything else)."""
    known = ("file", "net", "memory")

    def extract(evt: Event, state: State, arg: str | None) -> int:
        if not _failed(evt):
            return 0
        if cat is None:
            return 1
        c = category(evt, state)
        return int(c == cat if cat in known else c not in known)

    return extract


# -- I/O and open classification --------------------------------------------------------------


def _flag(name: str) -> Extractor:
    return lambda evt, state, arg: name in evt.etype.flags


def _io_dir(evt: Event, state: State, arg: str | None) -> str | None:
    flags = evt.etype.flags
    if EF_IO_WRITE in flags:
        return "write"  # sysdig prints the words, not its documented r/w
    return "read" if EF_IO_READ in flags else None


def _is_syslog(evt: Event, state: State, arg: str | None) -> bool:
    """A write to the syslog socket /dev/log."""
    if EF_IO_WRITE not in evt.etype.flags:
        return False
    fd = state.fd_of(evt)
    if fd is None:
        return False
    return fd.name == "/dev/log" or (fd.tuple is not None and fd.tuple.remote.path == "/dev/log")


def _buflen(evt: Event, state: State, arg: str | None) -> int | None:
    """libsinsp: the return value of an I/O-category exit on a known fd, when not negative."""
    res = _res(evt)
    if res is None or res < 0 or evt.etype.category != "io" or evt.etype.generic:
        return None
    return res if _event_fd(evt, state) is not None else None


def _buffer(evt: Event, state: State, arg: str | None) -> bytes | None:
    data = evt.params.get("data")
    return data if isinstance(data, bytes) else None


def _open_check(test: Callable[[int, int], bool], types: frozenset[str] = OPEN_TYPES) -> Extractor:
    def extract(evt: Event, state: State, arg: str | None) -> bool:
        if evt.dir != EXIT or evt.type not in types:
            return False
        params = evt.params
        flags = O_CREAT | O_WRONLY if evt.type == "creat" else params.get("flags", 0)
        return test(flags, params.get("mode", 0))

    return extract


def _open_exec(flags: int, mode: int) -> bool:
    return bool(flags & (O_CREAT | O_TMPFILE)) and bool(mode & EXEC_BITS)


def _abspath(evt: Event, state: State, arg: str | None) -> str | None:
    spec = _ABSPATH.get(evt.type)
    if spec is None or evt.dir != EXIT or arg not in (None, "src", "dst"):
        return None
    dirfd_name, path_name = spec[1] if arg == "dst" else spec[0]
    params = evt.params
    path, dirfd = params.get(path_name), params.get(dirfd_name)
    if path is None or dirfd is None:
        return None
    return abspath(evt, state, s32(dirfd), path)


# -- time -----------------------------------------------------------------------------------


def _ts(fn: Callable[[int], Any]) -> Extractor:
    return lambda evt, state, arg: fn(evt.ts_ns)


def _time_fields(clock: Clock) -> tuple[Field, ...]:
    def rel(evt: Event) -> int | None:
        return evt.ts_ns - clock.first_ns if clock.first_ns else None

    def rel_part(fn: Callable[[int], int]) -> Extractor:
        def extract(evt: Event, state: State, arg: str | None) -> int | None:
            ns = rel(evt)
            return None if ns is None else fn(ns)

        return extract

    return (
        Field("evt.num", T.UINT64, "event number.", lambda e, s, a: e.num),
        Field("evt.time", T.STR, "event timestamp as a time string that includes the nanosecond part.",
              _ts(tm.clock_time)),
        Field("evt.time.s", T.STR, "event timestamp as a time string with no nanoseconds.",
              _ts(lambda ns: tm.clock_time(ns, frac=False))),
        Field("evt.time.iso8601", T.STR, "event timestamp in ISO 8601 format, including nanoseconds and time zone "
              "offset (in UTC).", _ts(tm.iso8601)),
        Field("evt.datetime", T.STR, "event timestamp as a time string that includes the date.", _ts(tm.date_time)),
        Field("evt.datetime.s", T.STR, "event timestamp as a datetime string with no nanoseconds.",
              _ts(lambda ns: tm.date_time(ns, frac=False))),
        Field("evt.rawtime", T.ABSTIME, "absolute event timestamp, i.e. nanoseconds from epoch.", _ts(int)),
        Field("evt.rawtime.s", T.UINT64, "integer part of the event timestamp (e.g. seconds since epoch).",
              _ts(lambda ns: ns // tm.NS)),
        Field("evt.rawtime.ns", T.UINT64, "fractional part of the absolute event timestamp.",
              _ts(lambda ns: ns % tm.NS)),
        Field("evt.reltime", T.RELTIME, "number of nanoseconds from the beginning of the capture.", rel_part(int)),
        Field("evt.reltime.s", T.UINT64, "number of seconds from the beginning of the capture.",
              rel_part(lambda ns: ns // tm.NS)),
        Field("evt.reltime.ns", T.UINT64, "fractional part (in ns) of the time from the beginning of the capture.",
              rel_part(lambda ns: ns % tm.NS)),
        Field("evt.outputtime", T.ABSTIME, "the event timestamp in the format chosen with -t (print only).",
              _ts(int), print_only=True, hidden=True),
    )


def _latency_fields(clock: Clock) -> tuple[Field, ...]:
    def latency(fn: Callable[[int], Any], *, wait_only: bool = False) -> Extractor:
        def extract(evt: Event, state: State, arg: str | None) -> Any:
            if wait_only and (EF_WAIT not in evt.etype.flags or evt.dir != EXIT):
                return None
            ns = clock.latency_ns
            return None if ns is None else fn(ns)

        return extract

    return (
        Field("evt.latency", T.RELTIME, "delta between an exit event and the correspondent enter event, in "
              "nanoseconds.", latency(int)),
        Field("evt.latency.s", T.UINT64, "integer part of the event latency delta.", latency(lambda ns: ns // tm.NS)),
        Field("evt.latency.ns", T.UINT64, "fractional part of the event latency delta.",
              latency(lambda ns: ns % tm.NS)),
        Field("evt.latency.human", T.STR, "delta between an exit event and the correspondent enter event, as a "
              "human readable string (e.g. 10.3ms).", latency(tm.human_duration)),
        Field("evt.deltatime", T.RELTIME, "delta between this event and the previous event, in nanoseconds.",
              lambda e, s, a: clock.delta_ns),
        Field("evt.deltatime.s", T.UINT64, "integer part of the delta between this event and the previous event.",
              lambda e, s, a: clock.delta_ns // tm.NS),
        Field("evt.deltatime.ns", T.UINT64, "fractional part of the delta between this event and the previous event.",
              lambda e, s, a: clock.delta_ns % tm.NS),
        Field("evt.wait_latency", T.RELTIME, "for events that make the thread wait (e.g. sleep(), select(), poll()), "
              "this is the time spent waiting for the event to return, in nanoseconds.", latency(int, wait_only=True)),
    )


def _syscall_fields() -> tuple[Field, ...]:
    names = Schema.default().type_names()
    types = {n: i for i, n in enumerate(names)}
    return (
        Field("evt.dir", T.DIR, "event direction can be either '>' for enter events or '<' for exit events.",
              lambda e, s, a: DIR_CHARS[e.dir], symbols={">": ENTER, "<": EXIT}),
        Field("evt.type", T.STR, "The name of the event (e.g. 'open').", lambda e, s, a: e.type, symbols=types,
              kernel="type"),
        Field("evt.type.is", T.UINT64, "allows one to specify an event type, and returns 1 for events that are of "
              "that type. For example, evt.type.is.open returns 1 for open events, 0 for any other event.",
              lambda e, s, a: int(e.type == a), arg=ArgKind.REQUIRED, symbols=types),
        Field("syscall.type", T.STR, "For system call events, the name of the system call (e.g. 'open'). Unset for "
              "other events.", lambda e, s, a: e.type if e.nr < PROCEXIT_NR else None, symbols=types,
              kernel="type"),
        Field("evt.category", T.STR, "The event category. Example values are 'file' (for file operations like open "
              "and close), 'net' (for network operations like socket and bind), memory (for things like brk or "
              "mmap), and so on.", lambda e, s, a: category(e, s)),
        Field("evt.cpu", T.INT64, "number of the CPU where this event happened.", lambda e, s, a: e.cpu),
        Field("evt.hostname", T.STR, "the name of the host the event happened on (live: this host; replay: the "
              "capture's or, from a stream, the name the host ships as).", lambda e, s, a: s.hostname or None),
        Field("evt.args", T.STR, "all the event arguments, aggregated into a single string.",
              info_extractor(NORMAL, 80)),
        Field("evt.arg", T.STR, "one of the event arguments specified by name or by number. Some events (e.g. "
              "return codes or FDs) will be converted into a text representation when possible. E.g. 'evt.arg.fd' "
              "or 'evt.arg[0]'.", arg_extractor(NORMAL, 80), arg=ArgKind.REQUIRED),
        Field("evt.rawarg", T.DYNAMIC, "one of the event arguments specified by name. E.g. 'evt.rawarg.fd'.",
              _rawarg, arg=ArgKind.REQUIRED),
        Field("evt.info", T.STR, "for most events, this field returns the same value as evt.args. However, for some "
              "events (like writes to /dev/log) it provides higher level information coming from decoding the "
              "arguments.", info_extractor(NORMAL, 80)),
        Field("evt.buffer", T.BUF, "the binary data buffer for events that have one, like read(), recvfrom(), etc. "
              "Use this field in filters with 'contains' to search into I/O data buffers.", _buffer),
        Field("evt.buflen", T.UINT64, "the length of the binary data buffer for events that have one, like read(), "
              "recvfrom(), etc.", _buflen),
        Field("evt.res", T.STR, "event return value, as a string. If the event failed, the result is an error code "
              "string (e.g. 'ENOENT'), otherwise the result is the string 'SUCCESS'.", _res_str),
        Field("evt.rawres", T.INT64, "event return value, as a number (e.g. -2). Useful for range comparisons.",
              lambda e, s, a: _res(e)),
        Field("evt.failed", T.BOOL, "'true' for events that returned an error status.", lambda e, s, a: _failed(e)),
        Field("evt.is_io", T.BOOL, "'true' for events that read or write to FDs, like read(), send, recvfrom(), etc.",
              lambda e, s, a: bool(e.etype.flags & {EF_IO_READ, EF_IO_WRITE})),
        Field("evt.is_io_read", T.BOOL, "'true' for events that read from FDs, like read(), recv(), recvfrom(), etc.",
              _flag(EF_IO_READ)),
        Field("evt.is_io_write", T.BOOL, "'true' for events that write to FDs, like write(), send(), etc.",
              _flag(EF_IO_WRITE)),
        Field("evt.io_dir", T.STR, "'r' for events that read from FDs, like read(); 'w' for events that write to "
              "FDs, like write().", _io_dir),
        Field("evt.is_wait", T.BOOL, "'true' for events that make the thread wait, e.g. sleep(), select(), poll().",
              _flag(EF_WAIT)),
        Field("evt.is_syslog", T.BOOL, "'true' for events that are writes to /dev/log.", _is_syslog),
        Field("evt.count", T.UINT64, "This filter field always returns 1 and can be used to count events from "
              "inside chisels.", lambda e, s, a: 1),
        Field("evt.count.error", T.UINT64, "This filter field returns 1 for events that returned with an error, and "
              "can be used to count event failures from inside chisels.", _count_error(None)),
        Field("evt.count.error.file", T.UINT64, "This filter field returns 1 for events that returned with an error "
              "and are related to file I/O.", _count_error("file")),
        Field("evt.count.error.net", T.UINT64, "This filter field returns 1 for events that returned with an error "
              "and are related to network I/O.", _count_error("net")),
        Field("evt.count.error.memory", T.UINT64, "This filter field returns 1 for events that returned with an "
              "error and are related to memory allocation.", _count_error("memory")),
        Field("evt.count.error.other", T.UINT64, "This filter field returns 1 for events that returned with an error "
              "and are related to none of the previous categories.", _count_error("other")),
        Field("evt.count.exit", T.UINT64, "This filter field returns 1 for exit events.",
              lambda e, s, a: int(e.dir == EXIT)),
        Field("evt.abspath", T.STR, "Absolute path calculated from dirfd and name during syscalls like renameat and "
              "symlinkat. Use 'evt.abspath.src' or 'evt.abspath.dst' for syscalls that support multiple paths.",
              _abspath, arg=ArgKind.OPTIONAL),
        Field("evt.is_open_read", T.BOOL, "'true' for open/openat/openat2 events where the path was opened for "
              "reading", _open_check(lambda f, m: (f & O_ACCMODE) in (0, O_RDWR))),
        Field("evt.is_open_write", T.BOOL, "'true' for open/openat/openat2 events where the path was opened for "
              "writing", _open_check(lambda f, m: (f & O_ACCMODE) in (O_WRONLY, O_RDWR))),
        Field("evt.is_open_exec", T.BOOL, "'true' for open/openat/openat2 or creat events where a file is created "
              "with execute permissions", _open_check(_open_exec, OPEN_TYPES | {"creat"})),
    )


def field_classes(clock: Clock) -> list[FieldClass]:
    return [
        FieldClass("evt", "These fields can be used for all event types", _time_fields(clock)),
        FieldClass("evt", "Event fields applicable to syscall events. Note that for most events you can access the "
                   "individual arguments/parameters of each syscall via evt.arg, e.g. evt.arg.filename.",
                   _latency_fields(clock) + _syscall_fields()),
    ]
