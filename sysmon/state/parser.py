"""Keeps `State` current from events, the way libsinsp's parsers do.

Handlers act on exit events (the enter's raw args ride along in `evt.raw_args`), except
`procexit`, which only has an enter. Several syscalls share one event type (accept/accept4,
pipe/pipe2, ...); where they differ, the kernel syscall name comes from `evt.nr`.
A closed fd or an exited thread is removed just before the *next* event, so the close (or
procexit) event itself still resolves `fd.name` / `proc.name`: call `flush()` before evaluating
the next event if `apply()` is skipped for it.
"""
from __future__ import annotations

import copy
import ipaddress
from collections.abc import Callable
from typing import Any

from sysmon.events.model import EXIT, NO_THREAD, Event, SockAddr, SockTuple
from sysmon.events.render import resolve_path
from sysmon.events.schema import s32
from sysmon.events.syscalls import X86_64
from sysmon.state import inet
from sysmon.state.containers import parse_cgroups
from sysmon.state.state import (
    BPF_FD_CMDS,
    FCNTL_DUP_CMDS,
    FdInfo,
    FdTable,
    State,
    ThreadInfo,
)

Handler = Callable[[Event, ThreadInfo], None]

AT_FDCWD = -100
AT_EMPTY_PATH = 0x1000
O_WRONLY, O_CREAT, O_TRUNC = 0o1, 0o100, 0o1000
O_DIRECTORY = 0o200000
O_TMPFILE_ONLY = 0o20000000  # O_TMPFILE is this | O_DIRECTORY, yet makes a file
O_CLOEXEC = 0o2000000  # also SOCK_/EFD_/TFD_/EPOLL_/IN_CLOEXEC
MFD_CLOEXEC = 1
CLONE_FILES = 0x400
CLONE_THREAD = 0x10000
CLONE_NEWPID = 0x20000000
CLOSE_RANGE_UNSHARE = 2
CLOSE_RANGE_CLOEXEC = 4
F_DUPFD_CLOEXEC = 1030
F_SETFD = 2
EINPROGRESS = 115
U32_MAX = 0xFFFFFFFF
NA_COMM = "<NA>"  # libsinsp's comm and exe of a thread it made up (never seen created)

SOCK_DOMAINS = {1: "unix", 2: "ipv4", 10: "ipv6", 16: "netlink"}
SOCK_L4 = {1: "tcp", 2: "udp"}  # SOCK_STREAM, SOCK_DGRAM
SOCK_RAW = 3
IPPROTO_IP, IPPROTO_ICMP, IPPROTO_TCP, IPPROTO_UDP, IPPROTO_RAW = 0, 1, 6, 17, 255
CLONE_TYPES = frozenset({"clone", "clone3", "fork", "vfork"})
# Exits whose parameters (in a .scap) give the caller's memory figures: libsinsp's parse_brk_munmap_mmap_exit,
# parse_execve_exit, parse_clone_exit; a switch gives those of the process of the thread switched out.
MEMORY_EXITS = frozenset({"brk", "mmap", "mmap2", "munmap", "execve", "execveat"}) | CLONE_TYPES
INET = frozenset({"ipv4", "ipv6"})

# fd-creating syscalls that need no more than a type: syscall -> (fd.type, raw arg index of flags, cloexec bit).
ANON_FDS: dict[str, tuple[str, int | None, int]] = {
    "eventfd": ("event", None, 0),
    "eventfd2": ("event", 1, O_CLOEXEC),
    "signalfd": ("signalfd", None, 0),
    "signalfd4": ("signalfd", 3, O_CLOEXEC),
    "epoll_create": ("eventpoll", None, 0),
    "epoll_create1": ("eventpoll", 0, O_CLOEXEC),
    "inotify_init": ("inotify", None, 0),
    "inotify_init1": ("inotify", 0, O_CLOEXEC),
    "timerfd_create": ("timerfd", 1, O_CLOEXEC),
    "userfaultfd": ("userfaultfd", 0, O_CLOEXEC),
    "io_uring_setup": ("io_uring", None, 0),
}
# The event types (sysdig names) of those syscalls.
ANON_FD_TYPES = ("eventfd", "signalfd", "epoll_create", "inotify_init", "timerfd_create", "userfaultfd", "io_uring_setup")


def _syscall(evt: Event) -> str:
    """The kernel syscall behind `evt` (accept4 for an `accept` event, ...)."""
    return X86_64.get(evt.nr, evt.type)


def _abs(base: str, path: str) -> str:
    """`path` made absolute against `base` and normalised; unchanged if that is impossible."""
    if not path.startswith("/") and not base.startswith("/"):
        return path
    return resolve_path(base, path)


def _sock_name(tup: SockTuple, is_server: bool) -> str:
    """fd.name as sysdig prints it: unix path (after the kernel pointers when known), or `client->server`."""
    if tup.family == "unix":
        return str(tup) if tup.unix_ptrs is not None else tup.remote.path or tup.local.path
    return f"{tup.remote}->{tup.local}" if is_server else str(tup)


def _any_addr(family: str) -> SockAddr:
    """0.0.0.0:0 or [::]:0, the remote side of a bound, unconnected socket."""
    ip = ipaddress.IPv6Address(0) if family == "ipv6" else ipaddress.IPv4Address(0)
    return SockAddr(family, ip, 0)


class StateParser:
    """Applies the state-changing meaning of each event to a `State`."""

    def __init__(self, state: State) -> None:
        self.state = state
        self._closing: list[tuple[FdTable, int, FdInfo]] = []
        self._exiting: list[ThreadInfo] = []
        self._exit_handlers: dict[str, Handler] = {
            **dict.fromkeys(CLONE_TYPES, self._clone),
            "execve": self._execve,
            "execveat": self._execve,
            **dict.fromkeys(("open", "openat", "openat2", "creat"), self._open),
            "socket": self._socket,
            "connect": self._connect,
            "bind": self._bind,
            "listen": self._listen,
            "accept": self._accept,
            **dict.fromkeys(("sendto", "recvfrom", "sendmsg", "recvmsg"), self._udp_peer),
            **dict.fromkeys(("dup", "dup2", "dup3"), self._dup),
            "fcntl": self._fcntl,
            "close": self._close,
            "close_range": self._close_range,
            "pipe": self._pipe,
            "socketpair": self._socketpair,
            **dict.fromkeys(ANON_FD_TYPES, self._anon_fd),
            "memfd_create": self._memfd,
            "bpf": self._bpf,
            "chdir": self._chdir,
            "fchdir": self._fchdir,
            "setsid": self._setsid,
            "setpgid": self._setpgid,
        }
        self._enter_handlers: dict[str, Handler] = {
            "procexit": self._procexit,
            "container": self._container,
            "execve": self._exec_enter,
            "execveat": self._exec_enter,
        }
        self._exec_paths: dict[int, str] = {}  # tid -> path given to an execve still under way

    @property
    def enter_types(self) -> frozenset[str]:
        """Event types whose enter events change the state beyond their thread's header fields."""
        return frozenset(self._enter_handlers)

    def apply(self, evt: Event) -> None:
        self.flush()
        if evt.type == "switch":
            self._switch_memory(evt)
        if evt.pid == NO_THREAD:
            return
        thread = self._thread(evt)
        handlers = self._exit_handlers if evt.dir == EXIT else self._enter_handlers
        handler = handlers.get(evt.type)
        if handler is not None:
            handler(evt, thread)
        if evt.dir == EXIT and evt.type in MEMORY_EXITS:
            self._memory(evt, thread)

    # -- memory figures (VIRT, RES, FDLIMIT of ps) -------------------------------------------------

    def _memory(self, evt: Event, thread: ThreadInfo) -> None:
        """A .scap exit's vm_size/vm_rss (and fdlimit of clone/execve) for its thread; a clone's parent
        side gives them to the child it created (libsinsp copies the event's figures to it)."""
        res = evt.res
        if evt.type not in ("brk", "mmap", "mmap2", "munmap") and (res is None or res < 0):
            return  # a failed clone or execve changes nothing
        if evt.type in CLONE_TYPES and res:
            child = self.state.threads.get(res)
            if child is None:
                return
            thread = child
        _set_memory(thread, evt.params)

    def _switch_memory(self, evt: Event) -> None:
        thread = self.state.threads.get(evt.tid)
        main = self.state.threads.get(thread.pid) if thread is not None else None
        if main is not None:
            vm_size, vm_rss = evt.params.get("vm_size"), evt.params.get("vm_rss")
            if isinstance(vm_size, int) and isinstance(vm_rss, int):
                main.vmsize_kb, main.vmrss_kb = vm_size, vm_rss

    def flush(self) -> None:
        """Carry out the removals the previous event asked for (closed fds, exited threads)."""
        if self._closing:
            for table, num, fd in self._closing:
                if table.fds.get(num) is fd:
                    del table.fds[num]
            self._closing.clear()
        if self._exiting:
            threads = self.state.threads
            for thread in self._exiting:
                if threads.get(thread.tid) is thread:
                    del threads[thread.tid]
            self._exiting.clear()

    # -- threads -------------------------------------------------------------------------------

    def _thread(self, evt: Event) -> ThreadInfo:
        """The event's thread, created if unknown; header fields refreshed (the kernel knows best)."""
        thread = self.state.threads.get(evt.tid)
        if thread is None:
            thread = self._new_thread(evt)
            self.state.threads[evt.tid] = thread
        else:
            thread.comm, thread.uid, thread.gid, thread.ppid = evt.comm, evt.uid, evt.gid, evt.ppid
        return thread

    def _new_thread(self, evt: Event) -> ThreadInfo:
        thread = ThreadInfo(evt.tid, evt.pid, evt.ppid, evt.comm, uid=evt.uid, gid=evt.gid)
        sibling = self.state.process(evt.pid)
        child_side = evt.type in CLONE_TYPES and evt.dir == EXIT and evt.res == 0
        if child_side:  # libsinsp's inverted clone: the creator is the caller's process (a thread) or parent
            thread.ptid = evt.pid if (_clone_flags(evt) or 0) & CLONE_THREAD else evt.ppid
            if evt.params.get("vtid") == evt.tid:  # scap, outside any pid namespace (else _clone sets them)
                thread.vtid, thread.vpid = evt.tid, evt.pid
        if sibling is not None:  # a new thread of a known process
            _inherit(thread, sibling, share_fds=True)
        elif child_side:  # child side of a fork
            thread.start_ns = evt.ts_ns
            if "exe" in evt.params:  # a scap clone event, with the child's identity
                self._child_first(evt, thread, _clone_flags(evt) or 0)
                self._set_cgroups(evt, thread)
            else:
                parent = self.state.process(evt.ppid)
                if parent is not None:
                    _inherit(thread, parent, share_fds=bool((_clone_flags(evt) or 0) & CLONE_FILES))
        if evt.type in CLONE_TYPES and evt.dir == EXIT and evt.res == 0:
            vtid, vpid = evt.params.get("vtid"), evt.params.get("vpid")
            if isinstance(vtid, int) and isinstance(vpid, int):  # scap: the child's ids in its pid namespace
                thread.vtid, thread.vpid = vtid, vpid
        thread.exe = thread.exe or NA_COMM  # unknown, as libsinsp names the exe of a thread it made up
        return thread

    def _child_first(self, evt: Event, child: ThreadInfo, flags: int) -> None:
        """libsinsp's inverted clone: the parent is the caller's process (a new thread) or its ptid. One it
        never saw, or made up before, is made up again: pid = tid, no parent (-1), ids unknown, named from
        the clone's parameters. The child takes its exe and args from those parameters."""
        parent_tid = evt.pid if flags & CLONE_THREAD else evt.ppid
        args: list[str] = list(evt.params.get("args") or ())
        parent = self.state.threads.get(parent_tid)
        if parent is None or (parent.comm == NA_COMM and parent.uid == U32_MAX):
            parent = ThreadInfo(parent_tid, parent_tid, -1, evt.comm, exe=args[0] if args else "", args=args[1:],
                                uid=U32_MAX, gid=U32_MAX)
            self.state.threads[parent_tid] = parent
        _inherit(child, parent, share_fds=bool(flags & (CLONE_THREAD | CLONE_FILES)))
        child.ptid = parent_tid
        if args:
            child.exe, child.args = args[0], args[1:]

    def _clone(self, evt: Event, parent: ThreadInfo) -> None:
        """Parent side (res = child tid): create the child unless its own side came first."""
        child_tid = evt.res or 0
        flags = _clone_flags(evt)
        vtid, vpid = evt.params.get("vtid"), evt.params.get("vpid")  # scap only: the caller's ids in its pid ns
        in_pidns = isinstance(vtid, int) and vtid != evt.tid
        if child_tid == 0 and isinstance(vtid, int) and in_pidns and isinstance(vpid, int):  # the child's own ids
            parent.vtid, parent.vpid = vtid, vpid
        if child_tid <= 0 or child_tid in self.state.threads or flags is None:
            return  # without clone3's flags the child's own side will tell what it is
        if in_pidns:
            return  # a caller in a container sees its child's namespace pid: the child's side creates it
        if flags & CLONE_THREAD:
            child = ThreadInfo(child_tid, parent.pid, parent.ppid, parent.comm)
        else:
            child = ThreadInfo(child_tid, child_tid, parent.pid, parent.comm)
        child.uid, child.gid, child.start_ns, child.ptid = parent.uid, parent.gid, evt.ts_ns, evt.tid
        _inherit(child, parent, share_fds=bool(flags & (CLONE_THREAD | CLONE_FILES)))
        if flags & CLONE_NEWPID:  # the first process of a new pid namespace is its pid 1
            child.vpid = child.vtid = 1
        elif isinstance(vtid, int):  # scap: a caller outside any pid namespace, so is the child
            child.vtid, child.vpid = child.tid, child.pid
        self.state.threads[child_tid] = child

    def _setsid(self, evt: Event, thread: ThreadInfo) -> None:
        """A new session led by the caller: sid = its pid, its own group, no controlling tty."""
        if evt.res is not None and evt.res >= 0:
            for t in self._threads_of(thread.pid):
                t.sid, t.vpgid, t.tty = thread.pid, evt.res, 0

    def _setpgid(self, evt: Event, thread: ThreadInfo) -> None:
        """setpgid(pid, pgid) in the caller's namespace; pid 0 is the caller, pgid 0 is that pid."""
        if evt.res != 0:
            return
        vpid, vpgid = s32(evt.raw_args[0]), s32(evt.raw_args[1])
        if vpid == 0 or vpid == (thread.vpid or thread.pid):
            target = thread.pid
        else:  # a child, named by its pid in our namespace
            target = next((t.pid for t in self.state.threads.values() if (t.vpid or t.pid) == vpid), 0)
        if target:
            for t in self._threads_of(target):
                t.vpgid = vpgid or (t.vpid or t.pid)

    def _threads_of(self, pid: int) -> list[ThreadInfo]:
        return [t for t in self.state.threads.values() if t.pid == pid]

    def _exec_enter(self, evt: Event, thread: ThreadInfo) -> None:
        path = evt.param("filename") or evt.param("pathname")
        if path:
            self._exec_paths[evt.tid] = path

    def _execve(self, evt: Event, thread: ThreadInfo) -> None:
        # The path the caller asked for is only readable at enter: the exit runs in the new image.
        asked = self._exec_paths.pop(evt.tid, "")
        if evt.res != 0:
            return
        params = evt.params
        args: list[str] = list(params.get("args") or ())
        filename: str = asked or params.get("exe") or ""
        if evt.type == "execveat":
            base = self._dir_base(thread, s32(evt.raw_args[0]))
            if not filename and evt.raw_args[4] & AT_EMPTY_PATH:
                filename = base
            else:
                filename = _abs(base, filename)
        else:
            filename = _abs(thread.cwd, filename)
        thread.exe = args[0] if args else filename
        thread.exepath = filename
        self._set_cgroups(evt, thread)
        thread.args = args[1:]
        env = params.get("env")
        if isinstance(env, list):
            thread.env = env
        # The other threads died in de_thread(); the new image gets its own table minus cloexec fds.
        for other in [t for t in self.state.threads.values() if t.pid == thread.pid and t is not thread]:
            del self.state.threads[other.tid]
        thread.fdtable = FdTable({n: fd for n, fd in thread.fdtable.fds.items() if not fd.cloexec})

    def _set_cgroups(self, evt: Event, thread: ThreadInfo) -> None:
        """A new process image may run in other cgroups (a runtime moved it into a container first):
        scap events say which; live, they are read again from /proc when needed; else kept."""
        raw = evt.params.get("cgroups")
        if raw is not None:
            thread.cgroups, thread.container_id = parse_cgroups(raw), None
        elif self.state.proc_root is not None:
            thread.cgroups = thread.container_id = None

    def _procexit(self, evt: Event, thread: ThreadInfo) -> None:
        self._exiting.append(thread)

    def _container(self, evt: Event, thread: ThreadInfo) -> None:
        """A scap container event's thread is libsinsp's made up for it (no exe), and only the event's."""
        thread.exe = ""
        thread.vtid = thread.vpid = -2  # as libsinsp makes it up (sinsp_container_info::get_tinfo)
        thread.container_id = evt.comm.partition(":")[2]
        self._exiting.append(thread)

    def _chdir(self, evt: Event, thread: ThreadInfo) -> None:
        path = evt.param("path")
        if evt.res == 0 and path:
            self._set_cwd(thread, _abs(thread.cwd, path))

    def _fchdir(self, evt: Event, thread: ThreadInfo) -> None:
        fd = thread.fdtable.fds.get(s32(evt.raw_args[0]))
        if evt.res == 0 and fd is not None:
            self._set_cwd(thread, fd.name)

    def _set_cwd(self, thread: ThreadInfo, cwd: str) -> None:
        """Threads share the cwd (CLONE_FS in practice), as libsinsp assumes."""
        for t in self.state.threads.values():
            if t.pid == thread.pid:
                t.cwd = cwd
        thread.cwd = cwd

    # -- files ---------------------------------------------------------------------------------

    def _dir_base(self, thread: ThreadInfo, dirfd: int) -> str:
        if dirfd == AT_FDCWD:
            return thread.cwd
        fd = thread.fdtable.fds.get(dirfd)
        return fd.name if fd is not None else ""

    def _open(self, evt: Event, thread: ThreadInfo) -> None:
        res = evt.res
        if res is None or res < 0:
            return
        name: str = evt.param("name") or ""  # only the parameters needed: opens are many
        if evt.type == "creat":
            flags = O_WRONLY | O_CREAT | O_TRUNC
        else:
            flags = evt.param("flags") or 0
        base = thread.cwd if evt.type in ("open", "creat") else self._dir_base(thread, s32(evt.raw_args[0]))
        kind = "directory" if flags & O_DIRECTORY and not flags & O_TMPFILE_ONLY else "file"
        self._add(thread, FdInfo(res, kind, _abs(base, name), open_flags=flags, cloexec=bool(flags & O_CLOEXEC)))

    def _memfd(self, evt: Event, thread: ThreadInfo) -> None:
        if evt.res is not None and evt.res >= 0:
            name = evt.param("name") or ""
            self._add(thread, FdInfo(evt.res, "memfd", f"/memfd:{name}", cloexec=bool(evt.raw_args[1] & MFD_CLOEXEC)))

    def _anon_fd(self, evt: Event, thread: ThreadInfo) -> None:
        if evt.res is not None and evt.res >= 0:
            kind, flags_arg, cloexec_bit = ANON_FDS.get(_syscall(evt), ("unknown", None, 0))
            cloexec = flags_arg is not None and bool(evt.raw_args[flags_arg] & cloexec_bit)
            self._add(thread, FdInfo(evt.res, kind, "", cloexec=cloexec))

    def _bpf(self, evt: Event, thread: ThreadInfo) -> None:
        if evt.res is not None and evt.res >= 0 and evt.raw_args[0] in BPF_FD_CMDS:
            self._add(thread, FdInfo(evt.res, "bpf", "", cloexec=True))  # bpf fds are always O_CLOEXEC

    def _pipe(self, evt: Event, thread: ThreadInfo) -> None:
        params = evt.params
        if evt.res != 0 or "fd1" not in params or "fd2" not in params:
            return
        ino = params.get("ino", 0)
        cloexec = _syscall(evt) == "pipe2" and bool(evt.raw_args[1] & O_CLOEXEC)
        for num in (params["fd1"], params["fd2"]):  # unnamed, as in sysdig (ino tells the pipe)
            self._add(thread, FdInfo(num, "pipe", "", cloexec=cloexec, ino=ino))

    def _dup(self, evt: Event, thread: ThreadInfo) -> None:
        cloexec = evt.type == "dup3" and bool(evt.raw_args[2] & O_CLOEXEC)
        self._dup_fd(evt, thread, cloexec)

    def _fcntl(self, evt: Event, thread: ThreadInfo) -> None:
        if evt.res is None or evt.res < 0:
            return
        cmd = s32(evt.raw_args[1])
        if cmd in FCNTL_DUP_CMDS:
            self._dup_fd(evt, thread, cmd == F_DUPFD_CLOEXEC)
        elif cmd == F_SETFD:
            fd = thread.fdtable.fds.get(s32(evt.raw_args[0]))
            if fd is not None:
                fd.cloexec = bool(evt.raw_args[2] & 1)

    def _dup_fd(self, evt: Event, thread: ThreadInfo, cloexec: bool) -> None:
        res, old_num = evt.res, s32(evt.raw_args[0])
        old = thread.fdtable.fds.get(old_num)
        if res is None or res < 0 or old is None or res == old_num:
            return
        new = copy.copy(old)
        new.num, new.cloexec = res, cloexec
        self._add(thread, new)

    def _close(self, evt: Event, thread: ThreadInfo) -> None:
        num = s32(evt.raw_args[0])
        fd = thread.fdtable.fds.get(num)
        if evt.res == 0 and fd is not None:
            self._closing.append((thread.fdtable, num, fd))

    def _close_range(self, evt: Event, thread: ThreadInfo) -> None:
        if evt.res != 0:
            return
        first, last, flags = evt.raw_args[0] & U32_MAX, evt.raw_args[1] & U32_MAX, evt.raw_args[2]
        if flags & CLOSE_RANGE_UNSHARE:
            thread.fdtable = FdTable(dict(thread.fdtable.fds))
        for num, fd in thread.fdtable.fds.items():
            if first <= num <= last:
                if flags & CLOSE_RANGE_CLOEXEC:
                    fd.cloexec = True
                else:
                    self._closing.append((thread.fdtable, num, fd))

    def _add(self, thread: ThreadInfo, fd: FdInfo) -> None:
        thread.fdtable.fds[fd.num] = fd

    # -- sockets -------------------------------------------------------------------------------

    def _socket(self, evt: Event, thread: ThreadInfo) -> None:
        res = evt.res
        if res is None or res < 0:
            return
        kind = SOCK_DOMAINS.get(evt.raw_args[0] & U32_MAX, "unknown")
        sock_type = evt.raw_args[1]
        l4proto = _socket_l4proto(sock_type & U32_MAX, evt.raw_args[2] & U32_MAX) if kind in INET else ""
        self._add(thread, FdInfo(res, kind, "", l4proto=l4proto, cloexec=bool(sock_type & O_CLOEXEC)))

    def _socket_fd(self, thread: ThreadInfo, num: int, family: str) -> FdInfo:
        """The socket at `num`, created if the socket() call was missed."""
        fd = thread.fdtable.fds.get(num)
        if fd is None:
            fd = FdInfo(num, family, "")
            self._add(thread, fd)
        return fd

    def _connect(self, evt: Event, thread: ThreadInfo) -> None:
        tup: SockTuple | None = evt.param("tuple")
        if evt.res not in (0, -EINPROGRESS) or tup is None:
            return
        fd = self._socket_fd(thread, s32(evt.raw_args[0]), tup.family)
        if tup.l4proto:
            fd.l4proto = tup.l4proto
        if tup.family not in INET:
            fd.tuple, fd.is_server, fd.name = tup, False, _sock_name(tup, False)
            return
        merged = inet.merge(inet.raw(fd, tup.family), inet.event_raw(tup, False))
        if merged is not None:
            if fd.is_server and fd.l4proto == "udp":  # libsinsp: a UDP server connecting swaps the ends
                merged = inet.swap(merged)
            inet.set_raw(fd, tup.family, merged, tup.l4proto or fd.l4proto)
        if fd.is_server is None:
            fd.is_server = False

    def _bind(self, evt: Event, thread: ThreadInfo) -> None:
        addr: SockAddr | None = evt.param("addr")
        if evt.res != 0 or addr is None:
            return
        fd = self._socket_fd(thread, s32(evt.raw_args[0]), addr.family)
        fd.name = str(addr)
        if addr.family in INET:
            fd.tuple = SockTuple(addr.family, addr, _any_addr(addr.family), fd.l4proto)
            if addr.port > 0:  # libsinsp: a bound port means a server
                fd.is_server = True

    def _listen(self, evt: Event, thread: ThreadInfo) -> None:
        fd = thread.fdtable.fds.get(s32(evt.raw_args[0]))
        if evt.res == 0 and fd is not None:
            fd.is_server = True

    def _accept(self, evt: Event, thread: ThreadInfo) -> None:
        res = evt.res
        tup: SockTuple | None = evt.param("tuple")
        if res is None or res < 0:
            return
        listener = thread.fdtable.fds.get(s32(evt.raw_args[0]))
        cloexec = _syscall(evt) == "accept4" and bool(evt.raw_args[3] & O_CLOEXEC)
        fd = FdInfo(res, listener.type if listener is not None else "unknown", "", is_server=True, cloexec=cloexec)
        if listener is not None:
            fd.l4proto = listener.l4proto
            if fd.type == "unix":
                fd.name = listener.name  # the kernel tuple of a unix socket carries no path
        if tup is not None:
            fd.type, fd.tuple = tup.family, tup
            fd.name = _sock_name(tup, True) or fd.name
            if fd.type in INET:
                fd.l4proto = "tcp"  # only stream sockets accept (libsinsp says tcp for all of them)
        self._add(thread, fd)

    def _udp_peer(self, evt: Event, thread: ThreadInfo) -> None:
        """A socket without a name, or not TCP, takes the tuple of a send/receive by libsinsp's rules
        (sysmon.state.inet); an IPv4 one without a role becomes the server when it received first."""
        fd = thread.fdtable.fds.get(s32(evt.raw_args[0]))
        tup: SockTuple | None = evt.param("tuple")
        if fd is None or fd.type not in INET or tup is None or tup.family not in INET or (evt.res or 0) < 0:
            return
        l4proto = (fd.tuple.l4proto if fd.tuple is not None else "") or fd.l4proto
        if fd.name and l4proto == "tcp":
            return
        inbound = evt.type.startswith("recv")
        merged = inet.merge(inet.raw(fd, tup.family), inet.event_raw(tup, inbound))
        if merged is None:
            return
        merged = inet.fill(merged, self.state.interfaces)
        if fd.is_server is None:
            fd.is_server = inbound and tup.family == "ipv4"
        if inbound != fd.is_server:  # libsinsp keeps the client side first
            merged = inet.swap(merged)
        inet.set_raw(fd, tup.family, merged, tup.l4proto or l4proto or "udp")

    def _socketpair(self, evt: Event, thread: ThreadInfo) -> None:
        params = evt.params
        if evt.res != 0 or "fd1" not in params or "fd2" not in params:
            return
        cloexec = bool(evt.raw_args[1] & O_CLOEXEC)
        for num in (params["fd1"], params["fd2"]):
            self._add(thread, FdInfo(num, "unix", "", cloexec=cloexec))


def _socket_l4proto(sock_type: int, protocol: int) -> str:
    """The l4 protocol of a new inet socket from socket(2)'s type and protocol, as libsinsp's add_socket."""
    raw = sock_type == SOCK_RAW
    if protocol == IPPROTO_TCP:
        return "raw" if raw else "tcp"
    if protocol == IPPROTO_UDP:
        return "raw" if raw else "udp"
    if protocol == IPPROTO_IP:
        return SOCK_L4.get(sock_type & 0xFF, "") if sock_type & 0xFF != SOCK_RAW else ""
    if protocol == IPPROTO_ICMP:
        return "raw" if raw else "icmp"
    return "raw" if protocol == IPPROTO_RAW else ""


def _clone_flags(evt: Event) -> int | None:
    """Clone flags: raw for clone, from the copied clone_args for clone3 (None if missing)."""
    if evt.type == "clone":
        return evt.raw_args[0]
    if evt.type == "clone3":
        flags: int | None = evt.params.get("flags")
        return flags
    return 0


def _set_memory(thread: ThreadInfo, params: dict[str, Any]) -> None:
    vm_size, vm_rss, fdlimit = params.get("vm_size"), params.get("vm_rss"), params.get("fdlimit")
    if isinstance(vm_size, int) and isinstance(vm_rss, int):
        thread.vmsize_kb, thread.vmrss_kb = vm_size, vm_rss
    if isinstance(fdlimit, int):
        thread.fdlimit = fdlimit


def _inherit(child: ThreadInfo, parent: ThreadInfo, *, share_fds: bool) -> None:
    """Fill what a clone child takes from its parent, keeping anything already known."""
    child.exe = child.exe or parent.exe
    child.exepath = child.exepath or parent.exepath
    child.args = child.args or list(parent.args)
    child.cwd = child.cwd or parent.cwd
    child.env = child.env or parent.env
    child.sid = child.sid or parent.sid
    child.vpgid = child.vpgid or parent.vpgid
    child.tty = child.tty or parent.tty
    child.fdlimit = child.fdlimit or parent.fdlimit
    child.vmsize_kb = child.vmsize_kb or parent.vmsize_kb  # a .scap clone exit gives the child's own
    child.vmrss_kb = child.vmrss_kb or parent.vmrss_kb
    child.cgroups = child.cgroups or parent.cgroups
    if child.container_id is None:
        child.container_id = parent.container_id
    if child.loginuid == -1:
        child.loginuid = parent.loginuid
    if not child.vpid and parent.vpid == parent.pid:  # parent in the initial pid namespace: so is the child
        child.vpid, child.vtid = child.pid, child.tid
    if share_fds:
        child.fdtable = parent.fdtable
    else:
        child.fdtable = FdTable({n: copy.copy(fd) for n, fd in parent.fdtable.fds.items()})
