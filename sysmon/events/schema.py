"""The event table: sysdig's event names, directions and parameters, and where each value comes from.

One row per event type drives the decoder (`EventType.decode_params`), `evt.info` rendering,
`evt.arg.NAME`, `sysmon -L`, and the probe: `specs` say which user/kernel memory the probe
copies for the syscall, and at which direction. Syscalls without a row still appear, under
their kernel name, with no parameters (sysdig's generic `syscall` event does the same).

A parameter's source is one of: `A(i)` raw syscall argument i, `RET` the return value,
`STR(i)` the string read from argument i, `BUF` the data buffer, `SADDR(i)` a sockaddr,
`TUPLE` the kernel socket tuple, `ARGV` the new image's argv, `FDS(k)` the k-th of two fds
the kernel wrote to user memory, `CONST(v)`.
"""
from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, NamedTuple

from sysmon.events import sockaddr
from sysmon.events.model import (
    BLOB_ARGS,
    BLOB_BUF,
    BLOB_FDS,
    BLOB_SOCKADDR,
    BLOB_STR,
    BLOB_TUPLE,
    ENTER,
    EXIT,
    SLOT_RET,
)
from sysmon.events.syscalls import X86_64

if TYPE_CHECKING:
    from sysmon.events.model import Event

SCHEMA_VERSION = 1
PROCEXIT_NR = 1024

# Probe capture spec kinds (probe/sysmon.h SPEC_*) and directions.
SPEC_STR, SPEC_BUF, SPEC_SOCKADDR, SPEC_TUPLE, SPEC_ARGS = 1, 2, 3, 4, 5
SPEC_IOVEC, SPEC_MSGHDR, SPEC_FDS, SPEC_FIXED = 7, 8, 9, 10
AT_ENTER, AT_EXIT, AT_BOTH = 1, 2, 3
LEN_PTR = 0x10  # SPEC_SOCKADDR aux flag: the length is an int behind argument (aux & 7)

# Event flags.
EF_MODIFIES_STATE = "modifies_state"
EF_USES_FD = "uses_fd"
EF_CREATES_FD = "creates_fd"
EF_IO_READ = "io_read"
EF_IO_WRITE = "io_write"
EF_WAIT = "wait"


class Spec(NamedTuple):
    kind: int
    when: int
    slot: int
    aux: int = 0


def s32(v: int) -> int:
    """A raw u64 syscall argument read as a C int (fds, AT_FDCWD)."""
    v &= 0xFFFFFFFF
    return v - 0x100000000 if v & 0x80000000 else v


def s64(v: int) -> int:
    v &= 0xFFFFFFFFFFFFFFFF
    return v - 0x10000000000000000 if v & 0x8000000000000000 else v


Source = Callable[["Event"], Any]


def A(i: int) -> Source:
    return lambda e: e.raw_args[i]


def RET(e: Event) -> Any:
    return e.res


def STR(i: int) -> Source:
    def get(e: Event) -> Any:
        b = e.blob(BLOB_STR, i)
        return None if b is None else b.decode("utf-8", "surrogateescape")

    return get


def BUF(e: Event) -> Any:
    for kind, _slot, data in e.blobs:
        if kind == BLOB_BUF:
            return data
    return None


def SADDR(i: int) -> Source:
    def get(e: Event) -> Any:
        b = e.blob(BLOB_SOCKADDR, i)
        return None if b is None else sockaddr.parse_sockaddr(b)

    return get


def TUPLE(e: Event) -> Any:
    for kind, _slot, data in e.blobs:
        if kind == BLOB_TUPLE:
            return sockaddr.parse_tuple(data, e)
    return None


def ARGV(e: Event) -> Any:
    """argv of the new image; the blob's slot is argc (255 = at least 255)."""
    for kind, argc, data in e.blobs:
        if kind == BLOB_ARGS:
            args = [a.decode("utf-8", "surrogateescape") for a in data.rstrip(b"\0").split(b"\0")]
            return args if argc == 255 else args[:argc]
    return None


def EXE(e: Event) -> Any:
    argv = ARGV(e)
    return argv[0] if argv else None


def FDS(k: int) -> Source:
    def get(e: Event) -> Any:
        for kind, _slot, data in e.blobs:
            if kind == BLOB_FDS and len(data) >= 8:
                return int.from_bytes(data[4 * k : 4 * k + 4], "little", signed=True)
        return None

    return get


def CONST(v: Any) -> Source:
    return lambda e: v


# Conversion of raw u64 values per parameter type.
_SIGNED32 = {"FD", "INT32", "PID", "ERRNO", "SIGTYPE", "INT16", "INT8"}
_SIGNED64 = {"INT64", "RELTIME"}
_UNSIGNED32 = {"UINT32", "FLAGS32", "MODE", "UID", "GID", "UINT16", "UINT8", "FLAGS16", "FLAGS8"}


def _converter(ptype: str) -> Callable[[Any], Any] | None:
    """Raw u64 -> the parameter's integer type (None: kept as it comes)."""
    if ptype in _SIGNED32:
        return s32
    if ptype in _SIGNED64:
        return s64
    if ptype in _UNSIGNED32:
        return lambda v: v & 0xFFFFFFFF
    return None


@dataclass(frozen=True, slots=True)
class Param:
    name: str
    type: str  # sysdig's type name: FD, ERRNO, FSPATH, BYTEBUF, SOCKTUPLE, FLAGS32, ...
    source: Source = field(compare=False)
    flagset: str | tuple[tuple[str, int], ...] = ""  # flags.py table name, or an inline sysdig (name, value) table
    fmt: str = ""  # "hex" / "oct": sysdig's print format for numbers (PF_HEX, PF_OCT); decimal otherwise
    convert: Callable[[Any], Any] | None = field(init=False, compare=False, repr=False)
    render: Callable[..., str] = field(init=False, compare=False, repr=False)  # see render.render_params

    def __post_init__(self) -> None:
        from sysmon.events.render import value_renderer  # noqa: PLC0415 (render imports this module's types)

        object.__setattr__(self, "convert", _converter(self.type))
        object.__setattr__(self, "render", value_renderer(self))

    def value(self, evt: Event) -> Any:
        v = self.source(evt)
        if v is None or self.convert is None or v.__class__ is not int:
            return v
        return self.convert(v)


@dataclass(frozen=True, slots=True)
class EventType:
    name: str
    category: str
    flags: frozenset[str]
    enter_params: tuple[Param, ...] = ()
    exit_params: tuple[Param, ...] = ()
    specs: tuple[Spec, ...] = ()
    fd_arg: int | None = None
    syscalls: tuple[str, ...] = ()  # kernel syscall names mapped to this event
    generic: bool = False  # a syscall without its own row (sysdig's `syscall` event): no arguments shown
    # per direction: whether evt.info needs the thread's state (fds, cwd, names) to render the parameters
    renders_with_state: tuple[bool, bool] = field(init=False, compare=False, repr=False)
    # per direction: parameter name -> Param, for `param`
    _by_name: tuple[dict[str, Param], dict[str, Param]] = field(init=False, compare=False, repr=False)

    def __post_init__(self) -> None:
        from sysmon.events.render import uses_state  # noqa: PLC0415 (render imports this module's types)

        object.__setattr__(self, "renders_with_state", tuple(
            not self.generic and any(uses_state(p) for p in params) for params in (self.enter_params, self.exit_params)
        ))
        object.__setattr__(self, "_by_name", tuple(
            {p.name: p for p in params} for params in (self.enter_params, self.exit_params)
        ))

    def params_for(self, direction: int) -> tuple[Param, ...]:
        return self.enter_params if direction == ENTER else self.exit_params

    def decode_params(self, evt: Event) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for p in self.enter_params if evt.dir == ENTER else self.exit_params:
            v = p.source(evt)
            if v is not None:
                conv = p.convert
                out[p.name] = conv(v) if conv is not None and v.__class__ is int else v
        return out

    def param(self, evt: Event, name: str) -> Any:
        """One parameter of `evt`, decoded alone (None if absent): what `decode_params(evt).get(name)` gives."""
        p = self._by_name[evt.dir].get(name)
        return None if p is None else p.value(evt)

    def empty_params(self, evt: Event) -> frozenset[str]:
        """Parameters the event carries with no value (rendered NULL); the live probe has none."""
        return frozenset()

    def signature(self, direction: int) -> str:
        ps = ", ".join(f"{p.type} {p.name}" for p in self.params_for(direction))
        return f"{'>' if direction == ENTER else '<'} {self.name}({ps})"


def P(name: str, ptype: str, source: Source, flagset: str = "") -> Param:
    return Param(name, ptype, source, flagset)


# Frequently used parameter shapes.
def FD_ARG(i: int, name: str = "fd") -> Param:
    return P(name, "FD", A(i))


RES = P("res", "ERRNO", RET)
FD_RES = P("fd", "FD", RET)
DATA = P("data", "BYTEBUF", BUF)
MS = EF_MODIFIES_STATE
USES = EF_USES_FD
CREATES = EF_CREATES_FD

_CLONE_EXIT = (
    P("res", "PID", RET),
    P("flags", "FLAGS32", A(0), "clone"),
)

_EXEC_EXIT = (
    RES,
    P("exe", "CHARBUF", EXE),  # argv[0], as sysdig
    P("args", "BYTEBUF", ARGV),
)


def _io(name: str, syscalls: tuple[str, ...], flag: str, *, vec: bool = False, pos: bool = False) -> EventType:
    size = P("size", "UINT32", A(2))
    enter = [FD_ARG(0)] + ([] if vec and flag == EF_IO_READ else [size])
    if pos:
        enter.append(P("pos", "UINT64", A(3)))
    spec = Spec(SPEC_IOVEC, AT_EXIT, 1, 2) if vec else Spec(SPEC_BUF, AT_EXIT, 1, SLOT_RET)
    exit_ = (RES, P("size", "UINT32", RET), DATA) if vec and flag == EF_IO_READ else (RES, DATA)
    return EventType(name, "io", frozenset({USES, flag}), tuple(enter), exit_, (spec,), 0, syscalls)


def _path_only(name: str, syscalls: tuple[str, ...], pname: str = "path", extra: tuple[Param, ...] = ()) -> EventType:
    return EventType(
        name, "file", frozenset(), (), (RES, P(pname, "FSPATH", STR(0)), *extra), (Spec(SPEC_STR, AT_BOTH, 0),), None, syscalls
    )


def _fd_creator(name: str, syscalls: tuple[str, ...], category: str, enter: tuple[Param, ...] = ()) -> EventType:
    return EventType(name, category, frozenset({MS, CREATES}), enter, (P("res", "FD", RET),), (), None, syscalls)


def _table() -> list[EventType]:
    open_flags = P("flags", "FLAGS32", A(1), "open")
    return [
        EventType(
            "open", "file", frozenset({MS, CREATES}),
            (P("name", "FSPATH", STR(0)), open_flags, P("mode", "UINT32", A(2))),
            (FD_RES, P("name", "FSPATH", STR(0)), open_flags, P("mode", "UINT32", A(2)), P("dev", "UINT32", CONST(0))),
            (Spec(SPEC_STR, AT_BOTH, 0),), None, ("open",),
        ),
        EventType(
            "openat", "file", frozenset({MS, CREATES}),
            (FD_ARG(0, "dirfd"), P("name", "FSRELPATH", STR(1)), P("flags", "FLAGS32", A(2), "open"), P("mode", "UINT32", A(3))),
            (FD_RES, FD_ARG(0, "dirfd"), P("name", "FSRELPATH", STR(1)), P("flags", "FLAGS32", A(2), "open"),
             P("mode", "UINT32", A(3)), P("dev", "UINT32", CONST(0))),
            (Spec(SPEC_STR, AT_BOTH, 1),), None, ("openat",),
        ),
        EventType(
            "openat2", "file", frozenset({MS, CREATES}),
            (FD_ARG(0, "dirfd"), P("name", "FSRELPATH", STR(1))),
            (FD_RES, FD_ARG(0, "dirfd"), P("name", "FSRELPATH", STR(1))),
            (Spec(SPEC_STR, AT_BOTH, 1),), None, ("openat2",),
        ),
        EventType(
            "creat", "file", frozenset({MS, CREATES}),
            (P("name", "FSPATH", STR(0)), P("mode", "UINT32", A(1))),
            (FD_RES, P("name", "FSPATH", STR(0)), P("mode", "UINT32", A(1)), P("dev", "UINT32", CONST(0))),
            (Spec(SPEC_STR, AT_BOTH, 0),), None, ("creat",),
        ),
        EventType("close", "io", frozenset({MS, USES}), (FD_ARG(0),), (RES,), (), 0, ("close",)),
        EventType("close_range", "io", frozenset({MS}), (P("first", "UINT32", A(0)), P("last", "UINT32", A(1)),
                  P("flags", "FLAGS32", A(2))), (RES,), (), None, ("close_range",)),
        _io("read", ("read",), EF_IO_READ),
        _io("write", ("write",), EF_IO_WRITE),
        _io("pread", ("pread64",), EF_IO_READ, pos=True),
        _io("pwrite", ("pwrite64",), EF_IO_WRITE, pos=True),
        _io("readv", ("readv",), EF_IO_READ, vec=True),
        _io("writev", ("writev",), EF_IO_WRITE, vec=True),
        _io("preadv", ("preadv", "preadv2"), EF_IO_READ, vec=True, pos=True),
        _io("pwritev", ("pwritev", "pwritev2"), EF_IO_WRITE, vec=True, pos=True),
        EventType("sendfile", "io", frozenset({USES}), (FD_ARG(0, "out_fd"), FD_ARG(1, "in_fd"), P("size", "UINT64", A(3))),
                  (RES,), (), 0, ("sendfile",)),
        EventType("socket", "net", frozenset({MS, CREATES}),
                  (P("domain", "FLAGS32", A(0), "family"), P("type", "UINT32", A(1)), P("proto", "UINT32", A(2))),
                  (FD_RES,), (), None, ("socket",)),
        EventType("socketpair", "net", frozenset({MS}),
                  (P("domain", "FLAGS32", A(0), "family"), P("type", "UINT32", A(1)), P("proto", "UINT32", A(2))),
                  (RES, P("fd1", "FD", FDS(0)), P("fd2", "FD", FDS(1))), (Spec(SPEC_FDS, AT_EXIT, 3),), None, ("socketpair",)),
        EventType("connect", "net", frozenset({MS, USES}), (FD_ARG(0), P("addr", "SOCKADDR", SADDR(1))),
                  (RES, P("tuple", "SOCKTUPLE", TUPLE), FD_ARG(0)),
                  (Spec(SPEC_SOCKADDR, AT_BOTH, 1, 2), Spec(SPEC_TUPLE, AT_EXIT, 0)), 0, ("connect",)),
        EventType("accept", "net", frozenset({MS, CREATES}), (P("flags", "INT32", A(3)),),
                  (FD_RES, P("tuple", "SOCKTUPLE", TUPLE), P("queuepct", "UINT8", CONST(0))),
                  (Spec(SPEC_TUPLE, AT_EXIT, SLOT_RET),), None, ("accept", "accept4")),
        EventType("bind", "net", frozenset({MS, USES}), (FD_ARG(0),), (RES, P("addr", "SOCKADDR", SADDR(1))),
                  (Spec(SPEC_SOCKADDR, AT_EXIT, 1, 2),), 0, ("bind",)),
        EventType("listen", "net", frozenset({MS, USES}), (FD_ARG(0), P("backlog", "UINT32", A(1))), (RES,), (), 0, ("listen",)),
        EventType("shutdown", "net", frozenset({USES}), (FD_ARG(0), P("how", "FLAGS8", A(1))), (RES,), (), 0, ("shutdown",)),
        EventType("sendto", "net", frozenset({MS, USES, EF_IO_WRITE}),
                  (FD_ARG(0), P("size", "UINT32", A(2)), P("tuple", "SOCKTUPLE", TUPLE)),
                  (RES, DATA, P("tuple", "SOCKTUPLE", TUPLE)),
                  (Spec(SPEC_BUF, AT_EXIT, 1, SLOT_RET), Spec(SPEC_TUPLE, AT_ENTER | AT_EXIT, 0),
                   Spec(SPEC_SOCKADDR, AT_ENTER | AT_EXIT, 4, 5)), 0, ("sendto",)),
        EventType("recvfrom", "net", frozenset({MS, USES, EF_IO_READ}), (FD_ARG(0), P("size", "UINT32", A(2))),
                  (RES, DATA, P("tuple", "SOCKTUPLE", TUPLE)),
                  (Spec(SPEC_BUF, AT_EXIT, 1, SLOT_RET), Spec(SPEC_TUPLE, AT_EXIT, 0),
                   Spec(SPEC_SOCKADDR, AT_EXIT, 4, 0x10 | 5)), 0, ("recvfrom",)),
        EventType("sendmsg", "net", frozenset({MS, USES, EF_IO_WRITE}), (FD_ARG(0),),
                  (RES, DATA, P("tuple", "SOCKTUPLE", TUPLE)),
                  (Spec(SPEC_MSGHDR, AT_EXIT, 1), Spec(SPEC_TUPLE, AT_EXIT, 0)), 0, ("sendmsg",)),
        EventType("recvmsg", "net", frozenset({MS, USES, EF_IO_READ}), (FD_ARG(0),),
                  (RES, P("size", "UINT32", RET), DATA, P("tuple", "SOCKTUPLE", TUPLE)),
                  (Spec(SPEC_MSGHDR, AT_EXIT, 1), Spec(SPEC_TUPLE, AT_EXIT, 0)), 0, ("recvmsg",)),
        EventType("getsockopt", "net", frozenset({USES}), (), (RES, FD_ARG(0), P("level", "FLAGS8", A(1)),
                  P("optname", "FLAGS8", A(2))), (), 0, ("getsockopt",)),
        EventType("setsockopt", "net", frozenset({USES}), (), (RES, FD_ARG(0), P("level", "FLAGS8", A(1)),
                  P("optname", "FLAGS8", A(2))), (), 0, ("setsockopt",)),
        EventType("execve", "process", frozenset({MS}), (P("filename", "FSPATH", STR(0)),), _EXEC_EXIT,
                  (Spec(SPEC_STR, AT_ENTER, 0), Spec(SPEC_ARGS, AT_EXIT, 0)), None, ("execve",)),
        EventType("execveat", "process", frozenset({MS}),
                  (FD_ARG(0, "dirfd"), P("pathname", "FSRELPATH", STR(1)), P("flags", "FLAGS32", A(4))), _EXEC_EXIT,
                  (Spec(SPEC_STR, AT_ENTER, 1), Spec(SPEC_ARGS, AT_EXIT, 0)), None, ("execveat",)),
        EventType("clone", "process", frozenset({MS}), (), _CLONE_EXIT, (), None, ("clone",)),
        EventType("clone3", "process", frozenset({MS}), (),
                  (P("res", "PID", RET), P("flags", "FLAGS32", lambda e: _u64_blob(e), "clone")),
                  (Spec(SPEC_FIXED, AT_ENTER | AT_EXIT, 0, 8),), None, ("clone3",)),
        EventType("fork", "process", frozenset({MS}), (), (P("res", "PID", RET),), (), None, ("fork",)),
        EventType("vfork", "process", frozenset({MS}), (), (P("res", "PID", RET),), (), None, ("vfork",)),
        EventType("exit", "process", frozenset(), (P("status", "INT32", A(0)),), (), (), None, ("exit",)),
        EventType("exit_group", "process", frozenset(), (P("status", "INT32", A(0)),), (), (), None, ("exit_group",)),
        EventType("procexit", "process", frozenset({MS}),
                  (P("status", "ERRNO", RET), P("ret", "ERRNO", lambda e: (e.res or 0) >> 8 & 0xFF),
                   P("sig", "SIGTYPE", lambda e: (e.res or 0) & 0x7F)), (), (), None, ()),
        EventType("chdir", "file", frozenset({MS}), (), (RES, P("path", "CHARBUF", STR(0))), (Spec(SPEC_STR, AT_BOTH, 0),), None, ("chdir",)),
        EventType("fchdir", "file", frozenset({MS, USES}), (FD_ARG(0),), (RES,), (), 0, ("fchdir",)),
        EventType("mkdir", "file", frozenset(), (P("mode", "UINT32", A(1)),), (RES, P("path", "FSPATH", STR(0))),
                  (Spec(SPEC_STR, AT_BOTH, 0),), None, ("mkdir",)),
        EventType("mkdirat", "file", frozenset(), (), (RES, FD_ARG(0, "dirfd"), P("path", "FSRELPATH", STR(1)),
                  P("mode", "UINT32", A(2))), (Spec(SPEC_STR, AT_BOTH, 1),), None, ("mkdirat",)),
        _path_only("rmdir", ("rmdir",)),
        _path_only("unlink", ("unlink",)),
        EventType("unlinkat", "file", frozenset(), (), (RES, FD_ARG(0, "dirfd"), P("name", "FSRELPATH", STR(1)),
                  P("flags", "FLAGS32", A(2))), (Spec(SPEC_STR, AT_BOTH, 1),), None, ("unlinkat",)),
        EventType("rename", "file", frozenset(), (), (RES, P("oldpath", "FSPATH", STR(0)), P("newpath", "FSPATH", STR(1))),
                  (Spec(SPEC_STR, AT_BOTH, 0), Spec(SPEC_STR, AT_BOTH, 1)), None, ("rename",)),
        EventType("renameat", "file", frozenset(), (), (RES, FD_ARG(0, "olddirfd"), P("oldpath", "FSRELPATH", STR(1)),
                  FD_ARG(2, "newdirfd"), P("newpath", "FSRELPATH", STR(3))),
                  (Spec(SPEC_STR, AT_BOTH, 1), Spec(SPEC_STR, AT_BOTH, 3)), None, ("renameat",)),
        EventType("renameat2", "file", frozenset(), (), (RES, FD_ARG(0, "olddirfd"), P("oldpath", "FSRELPATH", STR(1)),
                  FD_ARG(2, "newdirfd"), P("newpath", "FSRELPATH", STR(3)), P("flags", "FLAGS32", A(4))),
                  (Spec(SPEC_STR, AT_BOTH, 1), Spec(SPEC_STR, AT_BOTH, 3)), None, ("renameat2",)),
        EventType("link", "file", frozenset(), (), (RES, P("oldpath", "FSPATH", STR(0)), P("newpath", "FSPATH", STR(1))),
                  (Spec(SPEC_STR, AT_BOTH, 0), Spec(SPEC_STR, AT_BOTH, 1)), None, ("link",)),
        EventType("linkat", "file", frozenset(), (), (RES, FD_ARG(0, "olddir"), P("oldpath", "FSRELPATH", STR(1)),
                  FD_ARG(2, "newdir"), P("newpath", "FSRELPATH", STR(3)), P("flags", "FLAGS32", A(4))),
                  (Spec(SPEC_STR, AT_BOTH, 1), Spec(SPEC_STR, AT_BOTH, 3)), None, ("linkat",)),
        EventType("symlink", "file", frozenset(), (), (RES, P("target", "CHARBUF", STR(0)), P("linkpath", "FSPATH", STR(1))),
                  (Spec(SPEC_STR, AT_BOTH, 0), Spec(SPEC_STR, AT_BOTH, 1)), None, ("symlink",)),
        EventType("symlinkat", "file", frozenset(), (), (RES, P("target", "CHARBUF", STR(0)), FD_ARG(1, "linkdirfd"),
                  P("linkpath", "FSRELPATH", STR(2))), (Spec(SPEC_STR, AT_BOTH, 0), Spec(SPEC_STR, AT_BOTH, 2)), None, ("symlinkat",)),
        EventType("chmod", "file", frozenset(), (), (RES, P("filename", "FSPATH", STR(0)), P("mode", "MODE", A(1))),
                  (Spec(SPEC_STR, AT_BOTH, 0),), None, ("chmod",)),
        EventType("fchmod", "file", frozenset({USES}), (), (RES, FD_ARG(0), P("mode", "MODE", A(1))), (), 0, ("fchmod",)),
        EventType("fchmodat", "file", frozenset(), (), (RES, FD_ARG(0, "dirfd"), P("filename", "FSRELPATH", STR(1)),
                  P("mode", "MODE", A(2))), (Spec(SPEC_STR, AT_BOTH, 1),), None, ("fchmodat", "fchmodat2")),
        EventType("chown", "file", frozenset(), (), (RES, P("path", "FSPATH", STR(0)), P("uid", "UINT32", A(1)),
                  P("gid", "UINT32", A(2))), (Spec(SPEC_STR, AT_BOTH, 0),), None, ("chown",)),
        EventType("lchown", "file", frozenset(), (), (RES, P("path", "FSPATH", STR(0)), P("uid", "UINT32", A(1)),
                  P("gid", "UINT32", A(2))), (Spec(SPEC_STR, AT_BOTH, 0),), None, ("lchown",)),
        EventType("fchown", "file", frozenset({USES}), (), (RES, FD_ARG(0), P("uid", "UINT32", A(1)), P("gid", "UINT32", A(2))),
                  (), 0, ("fchown",)),
        EventType("fchownat", "file", frozenset(), (), (RES, FD_ARG(0, "dirfd"), P("pathname", "FSRELPATH", STR(1)),
                  P("uid", "UINT32", A(2)), P("gid", "UINT32", A(3)), P("flags", "FLAGS32", A(4))),
                  (Spec(SPEC_STR, AT_BOTH, 1),), None, ("fchownat",)),
        _path_only("stat", ("stat",)),
        _path_only("lstat", ("lstat",)),
        EventType("fstat", "file", frozenset({USES}), (FD_ARG(0),), (RES,), (), 0, ("fstat",)),
        EventType("newfstatat", "file", frozenset(), (), (RES, FD_ARG(0, "dirfd"), P("path", "FSRELPATH", STR(1)),
                  P("flags", "FLAGS32", A(3))), (Spec(SPEC_STR, AT_BOTH, 1),), None, ("newfstatat",)),
        EventType("statx", "file", frozenset(), (), (RES, FD_ARG(0, "dirfd"), P("path", "FSRELPATH", STR(1)),
                  P("flags", "FLAGS32", A(2))), (Spec(SPEC_STR, AT_BOTH, 1),), None, ("statx",)),
        EventType("access", "file", frozenset(), (P("mode", "FLAGS32", A(1)),), (RES, P("name", "FSPATH", STR(0))),
                  (Spec(SPEC_STR, AT_BOTH, 0),), None, ("access",)),
        EventType("faccessat", "file", frozenset(), (), (RES, FD_ARG(0, "dirfd"), P("pathname", "FSRELPATH", STR(1)),
                  P("mode", "UINT32", A(2))), (Spec(SPEC_STR, AT_BOTH, 1),), None, ("faccessat", "faccessat2")),
        _path_only("chroot", ("chroot",)),
        EventType("mount", "file", frozenset(), (P("flags", "FLAGS32", A(3)),),
                  (RES, P("dev", "CHARBUF", STR(0)), P("dir", "FSPATH", STR(1)), P("type", "CHARBUF", STR(2))),
                  (Spec(SPEC_STR, AT_BOTH, 0), Spec(SPEC_STR, AT_BOTH, 1), Spec(SPEC_STR, AT_BOTH, 2)), None, ("mount",)),
        EventType("umount", "file", frozenset(), (P("flags", "FLAGS32", A(1)),), (RES, P("name", "FSPATH", STR(0))),
                  (Spec(SPEC_STR, AT_BOTH, 0),), None, ("umount2",)),
        EventType("mmap", "memory", frozenset({USES}),
                  (P("addr", "UINT64", A(0)), P("length", "UINT64", A(1)), P("prot", "FLAGS32", A(2), "prot"),
                   P("flags", "FLAGS32", A(3), "mmap"), FD_ARG(4), P("offset", "UINT64", A(5))),
                  (P("res", "UINT64", RET),), (), 4, ("mmap",)),
        EventType("munmap", "memory", frozenset(), (P("addr", "UINT64", A(0)), P("length", "UINT64", A(1))), (RES,), (), None, ("munmap",)),
        EventType("mprotect", "memory", frozenset(), (P("addr", "UINT64", A(0)), P("length", "UINT64", A(1)),
                  P("prot", "FLAGS32", A(2), "prot")), (RES,), (), None, ("mprotect",)),
        EventType("brk", "memory", frozenset(), (P("addr", "UINT64", A(0)),), (P("res", "UINT64", RET),), (), None, ("brk",)),
        EventType("dup", "io", frozenset({MS, USES, CREATES}), (FD_ARG(0),), (P("res", "FD", RET),), (), None, ("dup",)),
        EventType("dup2", "io", frozenset({MS, USES, CREATES}), (FD_ARG(0),), (P("res", "FD", RET), FD_ARG(0, "oldfd"),
                  FD_ARG(1, "newfd")), (), None, ("dup2",)),
        EventType("dup3", "io", frozenset({MS, USES, CREATES}), (FD_ARG(0),), (P("res", "FD", RET), FD_ARG(0, "oldfd"),
                  FD_ARG(1, "newfd"), P("flags", "FLAGS32", A(2))), (), None, ("dup3",)),
        EventType("fcntl", "io", frozenset({MS, USES}), (FD_ARG(0), P("cmd", "FLAGS8", A(1), "fcntl")), (P("res", "FD", RET),),
                  (), 0, ("fcntl",)),
        EventType("pipe", "ipc", frozenset({MS}), (), (RES, P("fd1", "FD", FDS(0)), P("fd2", "FD", FDS(1))),
                  (Spec(SPEC_FDS, AT_EXIT, 0),), None, ("pipe", "pipe2")),
        _fd_creator("eventfd", ("eventfd", "eventfd2"), "ipc", (P("initval", "UINT64", A(0)),)),
        _fd_creator("signalfd", ("signalfd", "signalfd4"), "signal", (FD_ARG(0),)),
        _fd_creator("inotify_init", ("inotify_init", "inotify_init1"), "file"),
        _fd_creator("epoll_create", ("epoll_create", "epoll_create1"), "file"),
        _fd_creator("timerfd_create", ("timerfd_create",), "time", (P("clockid", "UINT8", A(0)),)),
        _fd_creator("userfaultfd", ("userfaultfd",), "memory"),
        EventType("memfd_create", "memory", frozenset({MS, CREATES}), (),
                  (P("fd", "FD", RET), P("name", "CHARBUF", STR(0)), P("flags", "FLAGS32", A(1))),
                  (Spec(SPEC_STR, AT_BOTH, 0),), None, ("memfd_create",)),
        EventType("select", "wait", frozenset({EF_WAIT}), (), (RES,), (), None, ("select", "pselect6")),
        EventType("poll", "wait", frozenset({EF_WAIT}), (P("timeout", "INT64", A(2)),), (RES,), (), None, ("poll",)),
        EventType("ppoll", "wait", frozenset({EF_WAIT}), (), (RES,), (), None, ("ppoll",)),
        EventType("epoll_wait", "wait", frozenset({EF_WAIT, USES}), (P("maxevents", "ERRNO", A(2)),), (RES,), (), 0,
                  ("epoll_wait", "epoll_pwait", "epoll_pwait2")),
        EventType("nanosleep", "time", frozenset({EF_WAIT}), (), (RES,), (), None, ("nanosleep", "clock_nanosleep")),
        EventType("futex", "ipc", frozenset({EF_WAIT}), (P("addr", "UINT64", A(0)), P("op", "FLAGS16", A(1)),
                  P("val", "UINT64", A(2))), (RES,), (), None, ("futex",)),
        EventType("kill", "signal", frozenset(), (P("pid", "PID", A(0)), P("sig", "SIGTYPE", A(1))), (RES,), (), None, ("kill",)),
        EventType("tkill", "signal", frozenset(), (P("tid", "PID", A(0)), P("sig", "SIGTYPE", A(1))), (RES,), (), None, ("tkill",)),
        EventType("tgkill", "signal", frozenset(), (P("pid", "PID", A(0)), P("tid", "PID", A(1)), P("sig", "SIGTYPE", A(2))),
                  (RES,), (), None, ("tgkill",)),
        EventType("ptrace", "process", frozenset(), (P("request", "FLAGS16", A(0)), P("pid", "PID", A(1))), (RES,), (), None, ("ptrace",)),
        EventType("setuid", "user", frozenset(), (P("uid", "UID", A(0)),), (RES,), (), None, ("setuid",)),
        EventType("setgid", "user", frozenset(), (P("gid", "GID", A(0)),), (RES,), (), None, ("setgid",)),
        EventType("setresuid", "user", frozenset(), (P("ruid", "UID", A(0)), P("euid", "UID", A(1)), P("suid", "UID", A(2))),
                  (RES,), (), None, ("setresuid",)),
        EventType("setresgid", "user", frozenset(), (P("rgid", "GID", A(0)), P("egid", "GID", A(1)), P("sgid", "GID", A(2))),
                  (RES,), (), None, ("setresgid",)),
        EventType("capset", "user", frozenset(), (), (RES,), (), None, ("capset",)),
        EventType("ioctl", "io", frozenset({USES}), (FD_ARG(0), P("request", "UINT64", A(1)), P("argument", "UINT64", A(2))),
                  (RES,), (), 0, ("ioctl",)),
        EventType("lseek", "file", frozenset({USES}), (FD_ARG(0), P("offset", "UINT64", A(1)), P("whence", "FLAGS8", A(2))),
                  (RES,), (), 0, ("lseek",)),
        EventType("prctl", "process", frozenset(), (P("option", "FLAGS32", A(0)),), (RES,), (), None, ("prctl",)),
        EventType("bpf", "other", frozenset({MS}), (P("cmd", "INT64", A(0)),), (P("res_or_fd", "INT64", RET),), (), None, ("bpf",)),
        EventType("seccomp", "process", frozenset(), (P("op", "UINT64", A(0)),), (RES,), (), None, ("seccomp",)),
        EventType("init_module", "other", frozenset(), (P("len", "UINT64", A(1)),), (RES,), (), None, ("init_module",)),
        EventType("finit_module", "other", frozenset({USES}), (FD_ARG(0),), (RES,), (), 0, ("finit_module",)),
        EventType("getdents", "file", frozenset({USES}), (FD_ARG(0),), (RES,), (), 0, ("getdents",)),
        EventType("getdents64", "file", frozenset({USES}), (FD_ARG(0),), (RES,), (), 0, ("getdents64",)),
        EventType("setns", "process", frozenset({USES}), (FD_ARG(0), P("nstype", "FLAGS32", A(1))), (RES,), (), 0, ("setns",)),
        EventType("unshare", "process", frozenset(), (P("flags", "FLAGS32", A(0), "clone"),), (RES,), (), None, ("unshare",)),
        EventType("flock", "file", frozenset({USES}), (FD_ARG(0), P("operation", "FLAGS32", A(1))), (RES,), (), 0, ("flock",)),
        EventType("splice", "io", frozenset({USES}), (FD_ARG(0, "fd_in"), FD_ARG(2, "fd_out"), P("size", "UINT64", A(4))),
                  (RES,), (), 0, ("splice",)),
        EventType("getcwd", "file", frozenset(), (), (RES, P("path", "CHARBUF", STR(0))), (Spec(SPEC_STR, AT_EXIT, 0),), None, ("getcwd",)),
        EventType("setsid", "process", frozenset({MS}), (), (P("res", "PID", RET),), (), None, ("setsid",)),
        EventType("setpgid", "process", frozenset({MS}), (P("pid", "PID", A(0)), P("pgid", "PID", A(1))), (P("res", "PID", RET),), (), None,
                  ("setpgid",)),
        EventType("copy_file_range", "io", frozenset({USES}), (FD_ARG(0, "fdin"), P("len", "UINT64", A(4))),
                  (RES, FD_ARG(2, "fdout")), (), 0, ("copy_file_range",)),
    ]


def _u64_blob(e: Event) -> int | None:
    b = e.blob(BLOB_BUF, 0)
    return None if b is None or len(b) < 8 else int.from_bytes(b[:8], "little")


@dataclass(slots=True)
class Schema:
    """Event types by name and by syscall number (x86_64)."""

    by_type_name: dict[str, EventType]
    by_nr_map: dict[int, EventType]
    syscall_names: Mapping[int, str]

    @staticmethod
    def default() -> Schema:
        types = _table()
        by_name = {t.name: t for t in types}
        by_nr: dict[int, EventType] = {}
        names = {name: nr for nr, name in X86_64.items()}
        for t in types:
            for sc in t.syscalls:
                if sc in names:
                    by_nr[names[sc]] = t
        by_nr[PROCEXIT_NR] = by_name["procexit"]
        for nr, sc in X86_64.items():
            if nr not in by_nr:
                generic = by_name.get(sc) or EventType(sc, _generic_category(sc), frozenset(), (), (RES,), (), None,
                                                       (sc,), generic=True)
                by_name.setdefault(sc, generic)
                by_nr[nr] = generic
        return Schema(by_name, by_nr, X86_64)

    def by_name(self, name: str) -> EventType:
        return self.by_type_name[name]

    def by_nr(self, nr: int) -> EventType:
        t = self.by_nr_map.get(nr)
        if t is None:
            name = f"syscall_{nr}"
            t = self.by_type_name.get(name) or EventType(name, "other", frozenset(), (), (RES,), (), None, ())
            self.by_type_name.setdefault(name, t)
            self.by_nr_map[nr] = t
        return t

    def names(self) -> list[str]:
        return sorted(self.by_type_name)

    def nrs_of(self, names: Iterable[str]) -> set[int]:
        wanted = set(names)
        return {nr for nr, t in self.by_nr_map.items() if t.name in wanted}

    def state_nrs(self) -> set[int]:
        """Syscalls that keep the thread and fd tables right: always on in the kernel."""
        return {nr for nr, t in self.by_nr_map.items() if EF_MODIFIES_STATE in t.flags}

    def wanted_nrs(self, event_types: Iterable[str] | None) -> frozenset[int] | None:
        """Syscall numbers to decode for a filter that can only match `event_types` (None: all)."""
        if event_types is None:
            return None
        return frozenset(self.nrs_of(event_types) | self.state_nrs() | {PROCEXIT_NR})

    def capture_specs(self) -> dict[int, tuple[Spec, ...]]:
        return {nr: t.specs for nr, t in self.by_nr_map.items() if t.specs and nr < PROCEXIT_NR}


def _generic_category(name: str) -> str:
    for prefix, cat in (("get", "other"), ("set", "other"), ("sched_", "process"), ("timer", "time"), ("clock", "time")):
        if name.startswith(prefix):
            return cat
    return "other"
