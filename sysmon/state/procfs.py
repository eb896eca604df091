"""The initial state, read from /proc (like scap's proc scan): threads, fd tables, sockets, users.

Every /proc read may fail because the process exited meanwhile or is not ours to read: a
process whose status is gone is skipped, anything else missing is left empty.
"""
from __future__ import annotations

import dataclasses
import fcntl
import ipaddress
import os
import socket
import struct
from collections.abc import Iterable

from sysmon.events.model import SockAddr, SockTuple
from sysmon.state.state import FdInfo, FdTable, Interface, State, ThreadInfo

SIOCGIFADDR, SIOCGIFNETMASK = 0x8915, 0x891B
O_DIRECTORY = 0o200000
O_TMPFILE_ONLY = 0o20000000
O_CLOEXEC = 0o2000000
TCP_LISTEN = "0A"

# anon_inode link targets -> fd.type; bpf objects are `anon_inode:bpf-map`, `bpf-prog`, `bpf_link`...
ANON_TYPES = {
    "anon_inode:[eventfd]": "event",
    "anon_inode:[signalfd]": "signalfd",
    "anon_inode:[eventpoll]": "eventpoll",
    "anon_inode:inotify": "inotify",
    "anon_inode:[timerfd]": "timerfd",
    "anon_inode:[userfaultfd]": "userfaultfd",
    "anon_inode:[io_uring]": "io_uring",
}
# /proc/PID/net tables: file -> (family, l4proto); unix and netlink have their own layouts.
INET_TABLES = {
    "tcp": ("ipv4", "tcp"),
    "tcp6": ("ipv6", "tcp"),
    "udp": ("ipv4", "udp"),
    "udp6": ("ipv6", "udp"),
    "raw": ("ipv4", "raw"),
    "raw6": ("ipv6", "raw"),
}


def snapshot(root: str = "/proc", *, exclude_pids: Iterable[int] = (), etc: str = "/etc") -> State:
    """All threads under `root` (with their fds), and the user/group names under `etc`."""
    state = State(users=read_names(f"{etc}/passwd"), groups=read_names(f"{etc}/group"),
                  accounts=read_accounts(f"{etc}/passwd"), proc_root=root)
    sockets = SocketTables(root)
    excluded = set(exclude_pids)
    try:
        entries = [e.name for e in os.scandir(root) if e.name.isdigit()]
    except OSError:
        return state
    for name in entries:
        if int(name) not in excluded:
            _read_process(root, int(name), state, sockets)
    state.interfaces = read_interfaces(root) if root == "/proc" else []
    state.hostname = socket.gethostname() if root == "/proc" else ""
    return state


def read_interfaces(root: str = "/proc") -> list[Interface]:
    """The machine's addresses, as scap's interface list holds them: IPv4 with netmasks (ioctl), IPv6
    from /proc/net/if_inet6. libsinsp fills a UDP socket's unset local address from these."""
    out: list[Interface] = []
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        for _, name in socket.if_nameindex():
            req = struct.pack("256s", name.encode()[:15])
            try:
                addr = fcntl.ioctl(s.fileno(), SIOCGIFADDR, req)[20:24]
                mask = fcntl.ioctl(s.fileno(), SIOCGIFNETMASK, req)[20:24]
            except OSError:  # no IPv4 address on this interface
                continue
            out.append(Interface(ipaddress.IPv4Address(addr), ipaddress.IPv4Address(mask)))
    try:
        with open(f"{root}/net/if_inet6", encoding="ascii") as f:
            out += [Interface(ipaddress.IPv6Address(bytes.fromhex(line.split()[0]))) for line in f if line.strip()]
    except (OSError, ValueError):
        pass
    return out


def read_names(path: str) -> dict[int, str]:
    """id -> name from a passwd(5) or group(5) file; the first entry of an id wins."""
    names: dict[int, str] = {}
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            for line in f:
                parts = line.split(":", 3)
                if len(parts) >= 3 and parts[2].isdigit():
                    names.setdefault(int(parts[2]), parts[0])
    except OSError:
        pass
    return names


def read_accounts(path: str) -> dict[int, tuple[str, str]]:
    """uid -> (home directory, login shell) from a passwd(5) file; the first entry of a uid wins."""
    accounts: dict[int, tuple[str, str]] = {}
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            for line in f:
                parts = line.rstrip("\n").split(":")
                if len(parts) >= 7 and parts[2].isdigit():
                    accounts.setdefault(int(parts[2]), (parts[5], parts[6]))
    except OSError:
        pass
    return accounts


def _read(path: str, *, head: bool = False) -> str:
    """A whole /proc file, or with `head` just its first block, in one read (enough for the first
    lines of status and fdinfo). Raw os calls: this runs ~20k times a snapshot."""
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    try:
        chunks = [os.read(fd, 4096 if head else 65536)]
        while not head and chunks[-1]:
            chunks.append(os.read(fd, 65536))
    finally:
        os.close(fd)
    return b"".join(chunks).decode("utf-8", "surrogateescape")


def _readlink(path: str) -> str:
    try:
        return os.readlink(path)
    except OSError:
        return ""


def _read_process(root: str, pid: int, state: State, sockets: SocketTables) -> None:
    base = f"{root}/{pid}"
    try:
        status = _parse_status(_read(f"{base}/status", head=True))
    except OSError:
        return  # gone
    comm = status.get("Name", "")
    ppid = int(status.get("PPid", "0"))
    uid = _effective_id(status.get("Uid", ""))
    gid = _effective_id(status.get("Gid", ""))
    try:
        argv = _read(f"{base}/cmdline").split("\0")
        if argv and argv[-1] == "":
            argv.pop()
    except OSError:
        argv = []
    try:
        env = [v for v in _read(f"{base}/environ").split("\0") if v]
    except OSError:
        env = []
    table = FdTable(_read_fds(base, pid, sockets))
    main = ThreadInfo(
        pid, pid, ppid, comm,
        exe=argv[0] if argv else comm,
        exepath=_readlink(f"{base}/exe"),
        args=argv[1:],
        cwd=_readlink(f"{base}/cwd"),
        uid=uid, gid=gid, fdtable=table, env=env,
        sid=_ns_id(status, "NSsid", 0), vpgid=_ns_id(status, "NSpgid", -1), vpid=_ns_id(status, "NStgid", -1),
        tty=_tty(base), loginuid=_loginuid(base), fdlimit=_fdlimit(base),
    )
    main.vmsize_kb, main.vmrss_kb = _memory_kb(base)
    main.vtid = main.vpid
    state.threads[pid] = main
    try:
        tids = [int(e.name) for e in os.scandir(f"{base}/task") if e.name.isdigit()]
    except OSError:
        tids = []
    for tid in tids:
        if tid == pid:
            continue
        try:
            tcomm = _read(f"{base}/task/{tid}/comm", head=True).rstrip("\n")
        except OSError:
            continue
        state.threads[tid] = ThreadInfo(
            tid, pid, ppid, tcomm, exe=main.exe, exepath=main.exepath, args=main.args,
            cwd=main.cwd, uid=uid, gid=gid, fdtable=table, env=env, sid=main.sid, vpgid=main.vpgid,
            vpid=main.vpid, vtid=_vtid(base, tid, main), tty=main.tty, loginuid=main.loginuid,
            fdlimit=main.fdlimit, vmsize_kb=main.vmsize_kb, vmrss_kb=main.vmrss_kb,
        )


def _parse_status(text: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for line in text.splitlines():
        key, sep, value = line.partition(":")
        if sep and key in ("Name", "PPid", "Uid", "Gid", "NStgid", "NSpid", "NSpgid", "NSsid"):
            out[key] = value.strip()
    return out


def _ns_id(status: dict[str, str], key: str, level: int) -> int:
    """An id of an `NS*` status line: level 0 as seen from the initial namespace, -1 the innermost."""
    ids = status.get(key, "").split()
    return int(ids[level]) if ids else 0


def _vtid(base: str, tid: int, main: ThreadInfo) -> int:
    if main.vpid == main.pid:  # not in a child pid namespace: ids are the same
        return tid
    try:
        status = _parse_status(_read(f"{base}/task/{tid}/status", head=True))
    except OSError:
        return 0
    ids = status.get("NSpid", "").split()
    return int(ids[-1]) if ids else 0


def _tty(base: str) -> int:
    """tty_nr, the 7th field of /proc/PID/stat (counted after the parenthesised comm)."""
    try:
        stat = _read(f"{base}/stat", head=True)
    except OSError:
        return 0
    fields = stat[stat.rfind(")") + 1 :].split()
    return int(fields[4]) if len(fields) > 4 else 0


def _loginuid(base: str) -> int:
    try:
        value = int(_read(f"{base}/loginuid", head=True))
    except (OSError, ValueError):
        return -1
    return -1 if value == 0xFFFFFFFF else value


def _fdlimit(base: str) -> int:
    try:
        text = _read(f"{base}/limits", head=True)
    except OSError:
        return 0
    for line in text.splitlines():
        if line.startswith("Max open files"):
            soft = line[len("Max open files"):].split()[0]
            return int(soft) if soft.isdigit() else 0
    return 0


def _memory_kb(base: str) -> tuple[int, int]:
    """Virtual and resident size in kB (statm counts pages), as a .scap's process list has them; 0 if gone."""
    try:
        pages = _read(f"{base}/statm", head=True).split()
    except OSError:
        return 0, 0
    if len(pages) < 2:
        return 0, 0
    kb = os.sysconf("SC_PAGE_SIZE") // 1024
    return int(pages[0]) * kb, int(pages[1]) * kb


def _effective_id(field: str) -> int:
    """`Uid:` lists real, effective, saved, fs ids: sysdig reports the effective one."""
    ids = field.split()
    return int(ids[1]) if len(ids) > 1 else int(ids[0]) if ids else 0


def _read_fds(base: str, pid: int, sockets: SocketTables) -> dict[int, FdInfo]:
    fds: dict[int, FdInfo] = {}
    try:
        entries = [(int(e.name), e.path) for e in os.scandir(f"{base}/fd")]
    except OSError:
        return fds
    for num, path in entries:
        try:
            target = os.readlink(path)
        except OSError:
            continue
        fd = _classify(num, target, pid, sockets)
        _add_flags(fd, f"{base}/fdinfo/{num}")
        fds[num] = fd
    return fds


def _classify(num: int, target: str, pid: int, sockets: SocketTables) -> FdInfo:
    if target.startswith("/"):
        if target.startswith("/memfd:"):
            return FdInfo(num, "memfd", target.removesuffix(" (deleted)"))
        return FdInfo(num, "file", target)
    kind, _, rest = target.partition(":")
    if kind == "socket":
        return sockets.lookup(pid, num, _inode(rest))
    if kind == "pipe":
        return FdInfo(num, "pipe", target, ino=_inode(rest))
    if kind == "anon_inode":
        fdtype = ANON_TYPES.get(target) or ("bpf" if rest.startswith(("bpf", "[bpf")) else "unknown")
        return FdInfo(num, fdtype, target)
    return FdInfo(num, "unknown", target)


def _inode(text: str) -> int:
    """`[12345]` -> 12345."""
    try:
        return int(text.strip("[]"))
    except ValueError:
        return 0


def _add_flags(fd: FdInfo, fdinfo_path: str) -> None:
    """Open flags and cloexec from fdinfo; a path opened with O_DIRECTORY becomes a directory."""
    try:
        text = _read(fdinfo_path, head=True)
    except OSError:
        return
    for line in text.splitlines():
        if line.startswith("flags:"):
            flags = int(line[6:].strip(), 8)
            fd.open_flags, fd.cloexec = flags, bool(flags & O_CLOEXEC)
            if fd.type == "file" and flags & O_DIRECTORY and not flags & O_TMPFILE_ONLY:
                fd.type = "directory"
            return


class SocketTables:
    """Socket inodes of each network namespace, from /proc/PID/net/*, parsed once per namespace."""

    def __init__(self, root: str) -> None:
        self.root = root
        self._by_ns: dict[str, dict[int, FdInfo]] = {}

    def lookup(self, pid: int, num: int, ino: int) -> FdInfo:
        ns = _readlink(f"{self.root}/{pid}/ns/net") or f"pid:{pid}"
        table = self._by_ns.get(ns)
        if table is None:
            table = self._by_ns[ns] = self._parse(f"{self.root}/{pid}/net")
        known = table.get(ino)
        if known is None:
            return FdInfo(num, "unknown", f"socket:[{ino}]", ino=ino)
        return dataclasses.replace(known, num=num, ino=ino)

    def _parse(self, net: str) -> dict[int, FdInfo]:
        out: dict[int, FdInfo] = {}
        for name, (family, l4proto) in INET_TABLES.items():
            _parse_inet(f"{net}/{name}", family, l4proto, out)
        _parse_unix(f"{net}/unix", out)
        _parse_netlink(f"{net}/netlink", out)
        return out


def _lines(path: str) -> list[list[str]]:
    try:
        return [line.split() for line in _read(path).splitlines()[1:]]
    except OSError:
        return []


def _parse_inet(path: str, family: str, l4proto: str, out: dict[int, FdInfo]) -> None:
    rows = [r for r in _lines(path) if len(r) > 9]
    listening = {r[1].rpartition(":")[2] for r in rows if r[3] == TCP_LISTEN}
    for r in rows:
        local, remote = _endpoint(family, r[1]), _endpoint(family, r[2])
        tup = SockTuple(family, local, remote, l4proto)
        if remote.port == 0 and not int(remote.ip or 0):  # listening or unconnected: no role yet, as libsinsp
            fd = FdInfo(-1, family, str(local), tup)
        elif l4proto == "tcp" and r[1].rpartition(":")[2] in listening:  # accepted from a listener
            fd = FdInfo(-1, family, f"{remote}->{local}", tup, True)
        else:
            fd = FdInfo(-1, family, str(tup), tup, False)
        fd.l4proto = l4proto
        out[int(r[9])] = fd


def _endpoint(family: str, text: str) -> SockAddr:
    """`0100007F:0050` (address words in host byte order) -> 127.0.0.1:80."""
    hexip, _, hexport = text.partition(":")
    raw = bytes.fromhex(hexip)
    swapped = b"".join(raw[i : i + 4][::-1] for i in range(0, len(raw), 4))
    ip = ipaddress.IPv6Address(swapped) if family == "ipv6" else ipaddress.IPv4Address(swapped)
    return SockAddr(family, ip, int(hexport, 16))


def _parse_unix(path: str, out: dict[int, FdInfo]) -> None:
    # Num RefCount Protocol Flags Type St Inode [Path]
    for r in _lines(path):
        if len(r) >= 7 and r[6].isdigit():
            name = r[7] if len(r) > 7 else ""
            out[int(r[6])] = FdInfo(-1, "unix", name)


def _parse_netlink(path: str, out: dict[int, FdInfo]) -> None:
    # sk Eth Pid Groups Rmem Wmem Dump Locks Drops Inode
    for r in _lines(path):
        if len(r) >= 10 and r[9].isdigit():
            out[int(r[9])] = FdInfo(-1, "netlink", "")
