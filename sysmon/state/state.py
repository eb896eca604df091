"""The state that gives events meaning: threads, their fd tables, users and groups.

The interface here is what fields, chisels and output read. `StateParser`
(sysmon/state/parser.py) keeps it current from events.
"""
from __future__ import annotations

import ipaddress
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from sysmon.events.model import EXIT, SockTuple
from sysmon.events.schema import s32
from sysmon.state.containers import ContainerTable

if TYPE_CHECKING:
    from sysmon.events.model import Event


@dataclass(slots=True)
class FdInfo:
    """One open file descriptor.

    `type` uses sysdig's names: file, directory, ipv4, ipv6, unix, pipe, event, signalfd,
    eventpoll, inotify, timerfd, memfd, netlink, bpf, userfaultfd, io_uring, unknown.
    `name` is what sysdig prints as fd.name: an absolute path, `lip:lport->rip:rport`
    for inet sockets, the unix path, `pipe:[ino]`-like text for anonymous objects.
    """

    num: int
    type: str
    name: str
    tuple: SockTuple | None = None
    is_server: bool | None = None  # for inet sockets: this side accepted (True) or connected (False)
    open_flags: int = 0
    cloexec: bool = False
    ino: int = 0
    l4proto: str = ""  # tcp/udp/raw for inet sockets, known from socket() before any tuple

    def effective_l4proto(self) -> str:
        """The l4 protocol sysdig shows (fd.l4proto, the `<4t>` tag): none for a socket with no
        role yet (neither connected nor accepted/bound), except raw; '' when unknown."""
        if self.type not in ("ipv4", "ipv6"):
            return ""
        l4 = (self.tuple.l4proto if self.tuple is not None else "") or self.l4proto
        return l4 if l4 == "raw" or self.is_server is not None or self.is_servsock() else ""

    def is_servsock(self) -> bool:
        """Bound to a port with no peer: libsinsp's SERVSOCK, whose fd.sport and fd.l4proto show
        whatever its role (a server socket of the fd lists has none until it sends or receives)."""
        tup = self.tuple
        return tup is not None and tup.family in ("ipv4", "ipv6") and tup.local.port > 0 and not tup.remote.port


@dataclass(frozen=True, slots=True)
class Interface:
    """A network interface address of the machine (netmask for IPv4 only)."""

    addr: ipaddress.IPv4Address | ipaddress.IPv6Address
    netmask: ipaddress.IPv4Address | None = None


@dataclass(slots=True)
class FdTable:
    """Shared by all threads of a process (CLONE_FILES)."""

    fds: dict[int, FdInfo] = field(default_factory=dict)


@dataclass(slots=True)
class ThreadInfo:
    tid: int
    pid: int
    ppid: int
    comm: str
    exe: str = ""  # argv[0]
    exepath: str = ""  # full path of the executable
    args: list[str] = field(default_factory=list)  # argv[1:]
    cwd: str = ""
    uid: int = 0
    gid: int = 0
    start_ns: int = 0
    fdtable: FdTable = field(default_factory=FdTable)
    env: list[str] = field(default_factory=list)
    # 0 = unknown for the ids below (pid 0 is never a user process): from /proc at the snapshot,
    # inherited at clone, changed by setsid/setpgid.
    sid: int = 0  # session id
    vpgid: int = 0  # process group id, in the process's pid namespace
    vpid: int = 0  # pid and tid in the process's pid namespace
    vtid: int = 0
    tty: int = 0  # controlling terminal device number (0: none)
    loginuid: int = -1  # audit uid; -1 when unset (4294967295 in /proc)
    fdlimit: int = 0  # RLIMIT_NOFILE soft limit (0: unknown)
    vmsize_kb: int = 0  # virtual and resident memory, as a .scap's process list has them (0: unknown)
    vmrss_kb: int = 0
    cgroups: tuple[tuple[str, str], ...] | None = None  # (controllers, path), read lazily: State.cgroups
    container_id: str | None = None  # short id, "" on the host; None until resolved (State.container_id)
    # libsinsp's m_ptid: the tid of the thread that cloned this one (a thread's is its creator, not its
    # process's parent); None: the same as ppid (threads from /proc). proc.pname and proc.apid follow it.
    ptid: int | None = None

    @property
    def is_main(self) -> bool:
        return self.tid == self.pid

    @property
    def parent_tid(self) -> int:
        return self.ppid if self.ptid is None else self.ptid

    @property
    def cmdline(self) -> str:
        return " ".join([self.comm, *self.args])


# Calls whose success result is 0 (the new fds are params) rather than an fd.
_NO_FD_RESULT = frozenset({"pipe", "pipe2", "socketpair"})
FCNTL_DUP_CMDS = frozenset({0, 1030})  # F_DUPFD, F_DUPFD_CLOEXEC: the only fcntl returning an fd
# bpf(2) commands returning a new fd: MAP_CREATE, PROG_LOAD, OBJ_GET, *_GET_FD_BY_ID, RAW_TRACEPOINT_OPEN,
# BTF_LOAD, BTF_GET_FD_BY_ID, LINK_CREATE, LINK_GET_FD_BY_ID, ENABLE_STATS, ITER_CREATE.
BPF_FD_CMDS = frozenset({0, 5, 7, 13, 14, 17, 18, 19, 28, 30, 32, 33})


def result_fd(evt: Event) -> int | None:
    """The fd a successful fd-creating exit returned, or None (also for errors and non-fd results)."""
    res = evt.res
    if evt.dir != EXIT or res is None or res < 0 or "creates_fd" not in evt.etype.flags:
        return None
    name = evt.type
    if name in _NO_FD_RESULT:
        return None
    if name == "fcntl" and s32(evt.raw_args[1]) not in FCNTL_DUP_CMDS:
        return None
    if name == "bpf" and evt.raw_args[0] not in BPF_FD_CMDS:
        return None
    return res


def _new_pair_fd(evt: Event, thread: ThreadInfo) -> FdInfo | None:
    """The fd a pipe/socketpair exit is about, as libsinsp: the second pipe end, the first socket."""
    num = evt.params.get("fd1" if evt.type == "socketpair" else "fd2")
    return thread.fdtable.fds.get(num) if isinstance(num, int) else None


class State:
    """Threads by tid (threads of a process share one FdTable), plus uid/gid names."""

    __slots__ = ("accounts", "containers", "exit_paired", "groups", "hostname", "interfaces", "no_cgroups_is_host",
                 "proc_root", "threads", "users")

    def __init__(
        self,
        threads: dict[int, ThreadInfo] | None = None,
        users: dict[int, str] | None = None,
        groups: dict[int, str] | None = None,
        *,
        accounts: dict[int, tuple[str, str]] | None = None,
        proc_root: str | None = None,
    ) -> None:
        self.threads: dict[int, ThreadInfo] = threads if threads is not None else {}
        self.users: dict[int, str] = users if users is not None else {}
        self.groups: dict[int, str] = groups if groups is not None else {}
        self.accounts: dict[int, tuple[str, str]] = accounts if accounts is not None else {}  # uid -> (home, shell)
        self.proc_root = proc_root  # the live /proc to read lazily (cgroups); None on replay and in tests
        self.interfaces: list[Interface] = []  # the machine's addresses, from a scap file's interface list
        self.containers = ContainerTable()
        self.no_cgroups_is_host = False  # sysdig's rule for .scap files: a thread without a cgroup list is the host's
        # whether the exit being processed follows its own enter, seen and not filtered out (libsinsp's
        # lastevent data validity): only then is its fd known as the event's fd (evt.buflen, evt.category)
        self.exit_paired = True
        self.hostname = ""  # the machine's name (evt.hostname): this one's live, the capture's or stream's on replay

    def thread(self, tid: int) -> ThreadInfo | None:
        return self.threads.get(tid)

    def thread_name(self, tid: int) -> str | None:
        """The comm of thread `tid`, if known (how sysdig names PID arguments: `20072(cat)`)."""
        thread = self.threads.get(tid)
        return thread.comm if thread is not None else None

    def process(self, pid: int) -> ThreadInfo | None:
        """The main thread of `pid`, or any surviving thread of it once the main one is gone."""
        main = self.threads.get(pid)
        if main is not None and main.pid == pid:
            return main
        return next((t for t in self.threads.values() if t.pid == pid), None)

    def ancestors(self, thread: ThreadInfo) -> Iterator[ThreadInfo]:
        """Parent, grandparent, ... by ppid; stops at an unknown pid or a cycle."""
        seen = {thread.pid}
        ppid = thread.ppid
        while ppid > 0 and ppid not in seen:
            parent = self.process(ppid)
            if parent is None:
                return
            yield parent
            seen.add(ppid)
            ppid = parent.ppid

    def fd_of(self, evt: Event) -> FdInfo | None:
        """The fd `evt` is about: the fd an fd-creating exit returned, else its fd argument."""
        thread = self.threads.get(evt.tid)
        if thread is None:
            return None
        fd = result_fd(evt)
        if fd is None:
            fd_arg = evt.etype.fd_arg
            if fd_arg is None:
                if evt.type in _NO_FD_RESULT and evt.dir == EXIT and evt.res == 0:
                    return _new_pair_fd(evt, thread)
                return None
            fd = s32(evt.raw_args[fd_arg])
            if evt.dir == EXIT and evt.type == "copy_file_range":  # libsinsp: the exit is about the output fd
                out = evt.params.get("fdout")
                fd = out if isinstance(out, int) else fd
        return thread.fdtable.fds.get(fd)

    def cgroups(self, thread: ThreadInfo) -> tuple[tuple[str, str], ...] | None:
        """The process's cgroups, read from `proc_root` on first use and kept with the process."""
        main = self.process(thread.pid) or thread
        if main.cgroups is None and self.proc_root is not None:
            main.cgroups = read_cgroups(f"{self.proc_root}/{main.pid}/cgroup")
        return main.cgroups

    def container_id(self, evt: Event) -> str | None:
        """Short id of the container `evt` happened in, "" on the host, None when unknown: from the
        kernel's cgroup id when the record has one, else from the process's cgroups."""
        by_id = self.containers.of_cgroup_id(evt.cgroup_id) if evt.cgroup_id else None
        if by_id:
            return by_id
        # The host by the cgroup id: confirmed by the process's cgroups when they can be read (on hybrid
        # systems a runtime may leave the v2 hierarchy alone), else taken as it is.
        thread = self.threads.get(evt.tid) or self.process(evt.pid)
        cid = None if thread is None else self.thread_container_id(thread)
        return by_id if cid is None else cid

    def thread_container_id(self, thread: ThreadInfo) -> str | None:
        """Short id of the container of `thread`'s process ("" on the host), from its cgroups."""
        main = self.process(thread.pid) or thread
        if main.container_id is None:
            cgroups = self.cgroups(main)
            if cgroups is None:
                if not self.no_cgroups_is_host:
                    return None
                cgroups = ()
            main.container_id = self.containers.of_cgroups(cgroups)
        return main.container_id

    def user_name(self, uid: int) -> str | None:
        return self.users.get(uid)

    def group_name(self, gid: int) -> str | None:
        return self.groups.get(gid)


def read_cgroups(path: str) -> tuple[tuple[str, str], ...] | None:
    """`/proc/PID/cgroup` lines `id:controllers:path` as (controllers, path); None if unreadable."""
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            lines = f.read().splitlines()
    except OSError:
        return None
    out = []
    for line in lines:
        _, _, rest = line.partition(":")
        controllers, sep, cgpath = rest.partition(":")
        if sep:
            out.append((controllers, cgpath))
    return tuple(out)
