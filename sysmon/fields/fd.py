"""fd.* fields: the file descriptor an event is about (`State.fd_of`).

Client/server sides of an inet socket: a connected socket (is_server False) is the client, so
client=local and server=remote; an accepted or listening one (is_server True) is the server.
"""
from __future__ import annotations

import posixpath
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from sysmon.events.model import EXIT
from sysmon.events.render import AT_FDCWD, TYPECHARS
from sysmon.events.schema import EF_CREATES_FD, EF_USES_FD, s32
from sysmon.fields.field import Extractor, Field, FieldClass, FieldType
from sysmon.fields.container import container_id
from sysmon.fields.evt import abspath
from sysmon.state.state import result_fd

if TYPE_CHECKING:
    from sysmon.events.model import Event, SockAddr
    from sysmon.state.state import FdInfo, State

T = FieldType
INET = frozenset({"ipv4", "ipv6"})
FD_TYPES = ("file", "directory", "ipv4", "ipv6", "unix", "pipe", "event", "signalfd", "eventpoll", "inotify",
            "timerfd", "memfd", "netlink", "bpf", "userfaultfd", "io_uring", "unknown")
_OPENERS = frozenset({"open", "openat", "openat2", "creat"})
_FD_FLAGS = frozenset({EF_USES_FD, EF_CREATES_FD})
# fd.typechar of an fd sysdig does not know, guessed from the event (it says ipv4 for any socket)
_GUESSED_TYPECHAR = {**dict.fromkeys(_OPENERS, "f"), "socket": "4", "accept": "4", "pipe": "p", "eventfd": "e",
                     "signalfd": "s", "timerfd_create": "t", "inotify_init": "i"}


def _of_fd(fn: Callable[[FdInfo], Any]) -> Extractor:
    def extract(evt: Event, state: State, arg: str | None) -> Any:
        fd = state.fd_of(evt)
        return None if fd is None else fn(fd)

    return extract


# -- names ------------------------------------------------------------------------------------


def _opened_path(evt: Event, state: State) -> str | None:
    """The path a failed open asked for: sysdig still names the fd on those exits."""
    if evt.dir != EXIT or evt.type not in _OPENERS:
        return None
    name = evt.params.get("name")
    if name is None:
        return None
    dirfd = evt.params.get("dirfd")
    return abspath(evt, state, s32(dirfd) if dirfd is not None else AT_FDCWD, name)


def _fd_event(evt: Event, state: State) -> bool:
    """An event about an fd, by a known thread: sysdig gives it fd.num, fd.typechar and fd.name
    even when the fd itself is unknown (a failed call, or one opened before the capture)."""
    return bool(evt.etype.flags & _FD_FLAGS) and state.thread(evt.tid) is not None


def _tuple_text(evt: Event) -> str:
    """The tuple parameter as evt.info shows it (NULL when the event carries it empty)."""
    tup = evt.params.get("tuple")
    if tup is not None:
        return str(tup)
    return "NULL" if "tuple" in evt.etype.empty_params(evt) else ""


def _name(evt: Event, state: State, arg: str | None) -> str | None:
    """The fd's name; without one, what the call named (path, peer), or "" on other fd exits."""
    fd = state.fd_of(evt)
    if fd is not None:
        if evt.type == "connect" and evt.dir == EXIT and evt.res is not None and evt.res < 0:
            return _tuple_text(evt)  # sysdig names a failed connect by its tuple
        return fd.name
    if not _fd_event(evt, state) or evt.dir != EXIT:
        return None
    if evt.type in ("connect", "accept"):
        return _tuple_text(evt)
    return _opened_path(evt, state) or ""


def _num(evt: Event, state: State, arg: str | None) -> int | None:
    """fd.num: the fd, else the number the event names (-1 for a call that made none)."""
    fd = state.fd_of(evt)
    if fd is not None:
        return fd.num
    if not _fd_event(evt, state):
        return None
    num = result_fd(evt)
    if num is None and evt.etype.fd_arg is not None:
        num = s32(evt.raw_args[evt.etype.fd_arg])
    if num is None and EF_USES_FD in evt.etype.flags and not evt.etype.params_for(evt.dir):
        return None  # the fd argument is not in the event (an old .scap's enter)
    return -1 if num is None else num


def _typechar(evt: Event, state: State, arg: str | None) -> str | None:
    """fd.typechar; for an unknown fd, sysdig's guess from the event that made it."""
    fd = state.fd_of(evt)
    if fd is not None:
        return TYPECHARS.get(fd.type, "o")
    if not _fd_event(evt, state):
        return None
    return _GUESSED_TYPECHAR.get(evt.type, "o")


def _path(evt: Event, state: State) -> tuple[str, str] | None:
    """(path, fd type) of a file or directory fd, or of a failed open."""
    fd = state.fd_of(evt)
    if fd is not None:
        return (fd.name, fd.type) if fd.type in ("file", "directory") else None
    path = _opened_path(evt, state)
    return None if path is None else (path, "file")


def _directory(evt: Event, state: State, arg: str | None) -> str | None:
    p = _path(evt, state)
    if p is None:
        return None
    return p[0] if p[1] == "directory" else posixpath.dirname(p[0]) or "/"


def _filename(evt: Event, state: State, arg: str | None) -> str | None:
    p = _path(evt, state)
    return posixpath.basename(p[0]) if p is not None and p[1] == "file" else None


# -- sockets ----------------------------------------------------------------------------------


def connected(fd: FdInfo) -> bool:
    tup = fd.tuple
    if tup is None:
        return False
    return bool(tup.remote.path) if tup.family == "unix" else tup.remote.port != 0


def endpoint(fd: FdInfo, side: str) -> SockAddr | None:
    """The inet endpoint on `side`: l(ocal), r(emote), c(lient) or s(erver)."""
    tup = fd.tuple
    if tup is None or tup.family not in INET:
        return None
    if side in "cs":
        if fd.is_server is None:
            return None
        side = "l" if (side == "s") == fd.is_server else "r"
    if side == "l":
        return tup.local
    return tup.remote if connected(fd) else None


def _ip(side: str) -> Extractor:
    def extract(evt: Event, state: State, arg: str | None) -> Any:
        fd = state.fd_of(evt)
        ep = endpoint(fd, side) if fd is not None else None
        return None if ep is None else ep.ip

    return extract


def _port(side: str) -> Extractor:
    def extract(evt: Event, state: State, arg: str | None) -> int | None:
        fd = state.fd_of(evt)
        if fd is None:
            return None
        if side == "c" and fd.is_server is not None and (fd.type not in INET or fd.is_server and not connected(fd)):
            return 0  # sysdig 0.29: a listening or unix socket has client port 0 (it reads an empty string)
        if side == "s" and fd.is_servsock():
            return fd.tuple.local.port if fd.tuple is not None else None  # a SERVSOCK's port, whatever its role
        ep = endpoint(fd, side)
        return None if ep is None else ep.port

    return extract


def _both(get: Callable[[SockAddr], Any]) -> Extractor:
    """fd.ip / fd.port / fd.net: the values of both ends (multi)."""

    def extract(evt: Event, state: State, arg: str | None) -> list[Any] | None:
        fd = state.fd_of(evt)
        if fd is None:
            return None
        eps = [endpoint(fd, "l"), endpoint(fd, "r")]
        return [get(ep) for ep in eps if ep is not None] or None

    return extract


def _l4proto(fd: FdInfo) -> str:
    return fd.effective_l4proto() or "<NA>"  # sysdig: this text for an fd that is no IP socket


def _sockfamily(fd: FdInfo) -> str | None:
    return "ip" if fd.type in INET else "unix" if fd.type == "unix" else None


def _with_container(get: Extractor) -> Extractor:
    """fd.containername / fd.containerdirectory: `container.id:value`."""

    def extract(evt: Event, state: State, arg: str | None) -> str | None:
        value = get(evt, state, arg)
        cid = container_id(evt, state) if value is not None else None
        return None if cid is None else f"{cid}:{value}"

    return extract


def _net_fields() -> tuple[Field, ...]:
    ip_fields = []
    for side, word in (("c", "client"), ("s", "server"), ("l", "local"), ("r", "remote")):
        ip_fields += [
            Field(f"fd.{side}ip", T.IPADDR, f"{word} IP address.", _ip(side)),
            Field(f"fd.{side}port", T.PORT, f"for TCP/UDP FDs, the {word} port.", _port(side)),
            Field(f"fd.{side}net", T.IPNET, f"(FILTER ONLY) matches the {word} IP network of the fd.", _ip(side),
                  filter_only=True),
        ]
    return (
        *ip_fields,
        Field("fd.ip", T.IPADDR, "(FILTER ONLY) matches the ip address (client or server) of the fd.",
              _both(lambda ep: ep.ip), multi=True, filter_only=True),
        Field("fd.port", T.PORT, "(FILTER ONLY) matches the port (either client or server) of the fd.",
              _both(lambda ep: ep.port), multi=True, filter_only=True),
        Field("fd.net", T.IPNET, "(FILTER ONLY) matches the IP network (client or server) of the fd.",
              _both(lambda ep: ep.ip), multi=True, filter_only=True),
        Field("fd.l4proto", T.STR, "the IP protocol of a socket. Can be 'tcp', 'udp', 'icmp' or 'raw'.",
              _of_fd(_l4proto)),
        Field("fd.sockfamily", T.STR, "the socket family for socket events. Can be 'ip' or 'unix'.",
              _of_fd(_sockfamily)),
        Field("fd.is_server", T.BOOL, "'true' if the process owning this FD is the server endpoint in the "
              "connection.", _of_fd(lambda fd: fd.is_server is True or fd.is_servsock())),
        Field("fd.connected", T.BOOL, "for TCP/UDP FDs, 'true' if the socket is connected.", _of_fd(connected)),
    )


def field_classes() -> list[FieldClass]:
    return [
        FieldClass("fd", "Every syscall that has a file descriptor in its arguments has these fields set with "
                   "information related to the file.", (
            Field("fd.num", T.INT64, "the unique number identifying the file descriptor.", _num),
            Field("fd.type", T.STR, "type of FD. Can be 'file', 'directory', 'ipv4', 'ipv6', 'unix', 'pipe', "
                  "'event', 'signalfd', 'eventpoll', 'inotify' or 'signalfd'.", _of_fd(lambda fd: fd.type),
                  symbols={t: i for i, t in enumerate(FD_TYPES)}),
            Field("fd.typechar", T.STR, "type of FD as a single character. Can be 'f' for file, 4 for IPv4 socket, 6 "
                  "for IPv6 socket, 'u' for unix socket, p for pipe, 'e' for eventfd, 's' for signalfd, 'l' for "
                  "eventpoll, 'i' for inotify, 'o' for unknown.", _typechar),
            Field("fd.name", T.STR, "FD full name. If the fd is a file, this field contains the full path. If the FD "
                  "is a socket, this field contain the connection tuple.", _name),
            Field("fd.directory", T.STR, "If the fd is a file, the directory that contains it.", _directory),
            Field("fd.filename", T.STR, "If the fd is a file, the filename without the path.", _filename),
            *_net_fields(),
            Field("fd.uid", T.STR, "a unique identifier for the FD, created by chaining the FD number and the "
                  "thread ID.", lambda e, s, a: f"{e.tid}{fd.num}" if (fd := s.fd_of(e)) is not None else None),
            Field("fd.containername", T.STR, "chaining of the container ID and the FD name. Useful when trying to "
                  "identify which container an FD belongs to.", _with_container(_name)),
            Field("fd.containerdirectory", T.STR, "chaining of the container ID and the directory name. Useful when "
                  "trying to identify which container a directory belongs to.", _with_container(_directory)),
        )),
    ]
