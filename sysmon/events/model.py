"""The decoded event and the typed values its parameters carry.

An `Event` is one record of the probe (or of a capture file): the fixed header the
kernel fills for every syscall enter/exit, the six raw syscall arguments (an exit
record carries the arguments of its enter), and the variable-length blobs the probe
copied from user or kernel memory (path strings, data buffers, socket addresses).

Parameters in sysdig's sense (`evt.arg.name`) are derived from those on demand by
the event type's schema (`sysmon.events.schema`), so an event that no filter or
formatter looks at costs no parameter decoding.
"""
from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from sysmon.events.schema import EventType

ENTER = 0
EXIT = 1
DIR_CHARS = (">", "<")

# Blob kinds: the shared vocabulary of probe/sysmon.h (SYSMON_BLOB_*) and the schema.
BLOB_STR = 1  # NUL-terminated user string (without the NUL)
BLOB_BUF = 2  # user data buffer cut to the snaplen
BLOB_SOCKADDR = 3  # raw struct sockaddr from user memory
BLOB_TUPLE = 4  # socket tuple read from the kernel socket (see decode.TUPLE)
BLOB_ARGS = 5  # NUL-separated argv of the new image (execve exit)
BLOB_CWD = 6  # reserved: working directory
BLOB_FDS = 7  # two s32 fds written by the kernel (pipe, socketpair)
# 8, 9: parameter bytes of sysdig .scap events (sysmon.scap.etypes)
BLOB_ETYPE = 10  # first blob of a record whose event type another table names (sysmon.scap.record)

# `slot` of a blob: the syscall argument index it came from, or SLOT_RET for the return value.
SLOT_RET = 7

# Event.pid of an event whose thread nobody knows (a scap scheduler event of an unseen thread):
# its proc/user fields are unavailable, and the state parser creates no thread for it (as libsinsp).
# Not -1: that is the pid of libsinsp's made-up thread of a container event.
NO_THREAD = -2


@dataclass(frozen=True, slots=True)
class SockAddr:
    """One endpoint: family is 'ipv4', 'ipv6' or 'unix'; unix endpoints carry `path`."""

    family: str
    ip: ipaddress.IPv4Address | ipaddress.IPv6Address | None = None
    port: int = 0
    path: str = ""

    def __str__(self) -> str:
        if self.family == "unix":
            return self.path
        if self.family == "ipv6":
            return f"{self.ip}:{self.port}"
        return f"{self.ip}:{self.port}"


@dataclass(frozen=True, slots=True)
class SockTuple:
    """A connection as seen from the calling process: local and remote endpoints.

    `l4proto` is 'tcp', 'udp', 'icmp', 'raw' or '' (unknown / unix). A unix tuple may carry the
    kernel addresses of its source and peer sockets (`unix_ptrs`, from the scap driver), which
    sysdig prints before the path: `ffff8800...->ffff8800... /run/x.sock`.
    """

    family: str
    local: SockAddr
    remote: SockAddr
    l4proto: str = ""
    unix_ptrs: tuple[int, int] | None = None

    def __str__(self) -> str:
        if self.unix_ptrs is not None:
            return f"{self.unix_ptrs[0]:x}->{self.unix_ptrs[1]:x} {self.remote.path or self.local.path}"
        return f"{self.local}->{self.remote}"


class Event:
    """One decoded probe record. Plain slots (no frozen __init__ cost): treat as immutable."""

    __slots__ = (
        "num",
        "ts_ns",
        "cpu",
        "tid",
        "pid",
        "ppid",
        "uid",
        "gid",
        "comm",
        "nr",
        "dir",
        "res",
        "raw_args",
        "blobs",
        "etype",
        "cgroup_id",
        "_params",
    )

    def __init__(  # positional-or-keyword: the decoder passes positionally (faster), others by name
        self,
        ts_ns: int,
        cpu: int,
        tid: int,
        pid: int,
        ppid: int,
        uid: int,
        gid: int,
        comm: str,
        nr: int,
        dir: int,
        res: int | None,
        raw_args: tuple[int, ...],
        blobs: tuple[tuple[int, int, bytes], ...],
        etype: EventType,
        num: int = 0,
        cgroup_id: int = 0,
    ) -> None:
        self.num = num
        self.cgroup_id = cgroup_id  # the kernel's cgroup id of the calling task (0: not recorded)
        self.ts_ns = ts_ns
        self.cpu = cpu
        self.tid = tid
        self.pid = pid
        self.ppid = ppid
        self.uid = uid
        self.gid = gid
        self.comm = comm
        self.nr = nr
        self.dir = dir
        self.res = res
        self.raw_args = raw_args
        self.blobs = blobs
        self.etype = etype
        self._params: dict[str, Any] | None = None

    @property
    def type(self) -> str:
        """sysdig's event name: `openat`, `connect`, `procexit`, or the syscall's own name."""
        return self.etype.name

    @property
    def is_exit(self) -> bool:
        return self.dir == EXIT

    @property
    def params(self) -> dict[str, Any]:
        """The typed parameters of this direction, in schema order (decoded once, on first use)."""
        if self._params is None:
            self._params = self.etype.decode_params(self)
        return self._params

    def param(self, name: str) -> Any:
        """`params.get(name)`, decoding only that parameter unless all are decoded already."""
        if self._params is None:
            return self.etype.param(self, name)
        return self._params.get(name)

    def blob(self, kind: int, slot: int) -> bytes | None:
        for k, s, data in self.blobs:
            if k == kind and s == slot:
                return data
        return None

    def __repr__(self) -> str:
        return (
            f"Event(num={self.num}, ts_ns={self.ts_ns}, tid={self.tid}, pid={self.pid}, "
            f"type={self.type!r}, dir={DIR_CHARS[self.dir]!r}, res={self.res})"
        )
