"""Metadata blocks (machine info, process, fd, interface and user lists) -> our State snapshot."""
from __future__ import annotations

import ipaddress
import struct
from dataclasses import dataclass, field

from sysmon.events.model import SockAddr, SockTuple
from sysmon.state.containers import parse_cgroups
from sysmon.state.state import FdInfo, FdTable, State, ThreadInfo
from sysmon.state.state import Interface as Address

# Block types (scap_savefile.h), with their legacy (*_INT) values.
SHB = 0x0A0D0D0A
MI = {0x201, 0x8002ABCD}
PL = {0x202: 1, 0x8000ABCD: 1, 0x207: 2, 0x8013ABCD: 2, 0x209: 3, 0x8014ABCD: 3, 0x210: 4, 0x211: 5, 0x212: 6,
      0x213: 7, 0x214: 8, 0x215: 9}
FDL = {0x203: 1, 0x8001ABCD: 1, 0x218: 2}
IL = {0x205: 1, 0x8011ABCD: 1, 0x219: 2}
UL = {0x206: 1, 0x8012ABCD: 1, 0x220: 2}
PPM_CL_CLONE_FILES = 1
FD_TYPES = {1: "file", 2: "directory", 3: "ipv4", 4: "ipv6", 5: "ipv4", 6: "ipv6", 7: "pipe", 8: "unix",
            9: "event", 10: "unknown", 11: "signalfd", 12: "eventpoll", 13: "inotify", 14: "timerfd", 15: "netlink",
            16: "file"}
L4 = {2: "tcp", 3: "udp", 4: "icmp", 5: "raw"}
_U16, _U32, _U64, _I64 = struct.Struct("<H"), struct.Struct("<I"), struct.Struct("<Q"), struct.Struct("<q")


class Malformed(Exception):
    """A metadata block whose contents do not parse (the reader adds file and offset)."""


@dataclass(slots=True)
class Interface:
    name: str
    addr: ipaddress.IPv4Address | ipaddress.IPv6Address


@dataclass(slots=True)
class Metadata:
    hostname: str = ""
    num_cpus: int = 0
    memory_bytes: int = 0
    interfaces: list[Interface] = field(default_factory=list)
    thread_flags: dict[int, int] = field(default_factory=dict)  # tid -> PPM_CL_* flags from the process list


class _Cursor:
    __slots__ = ("buf", "pos")

    def __init__(self, buf: bytes, pos: int = 0) -> None:
        self.buf, self.pos = buf, pos

    def take(self, n: int) -> bytes:
        if self.pos + n > len(self.buf):
            raise Malformed(f"entry overruns its block ({self.pos + n} > {len(self.buf)})")
        b = self.buf[self.pos : self.pos + n]
        self.pos += n
        return b

    def u8(self) -> int:
        return self.take(1)[0]

    def u16(self) -> int:
        return int(_U16.unpack(self.take(2))[0])

    def u32(self) -> int:
        return int(_U32.unpack(self.take(4))[0])

    def u64(self) -> int:
        return int(_U64.unpack(self.take(8))[0])

    def i64(self) -> int:
        return int(_I64.unpack(self.take(8))[0])

    def str16(self) -> str:
        return self.take(self.u16()).split(b"\0", 1)[0].decode("utf-8", "surrogateescape")

    def left(self) -> int:
        return len(self.buf) - self.pos


def _split(s: str) -> list[str]:
    return [a for a in s.split("\0") if a] if s else []


def read_machine(body: bytes, meta: Metadata) -> None:
    c = _Cursor(body)
    meta.num_cpus, meta.memory_bytes, _max_pid = c.u32(), c.u64(), c.u64()
    meta.hostname = c.take(128).split(b"\0", 1)[0].decode("utf-8", "replace")


def read_proclist(body: bytes, version: int, state: State, meta: Metadata) -> None:
    c = _Cursor(body)
    while c.left() >= 4:
        start = c.pos
        size = c.u32() if version >= 9 else 0
        tid, pid, ptid = c.u64(), c.u64(), c.u64()
        if version >= 6:
            c.u64()  # sid
        if version >= 8:
            c.u64()  # vpgid
        comm, exe = c.str16(), c.str16()
        exepath = c.str16() if version >= 7 else ""
        raw_args = c.take(c.u16())
        cwd = c.str16()
        fdlimit = c.u64()
        flags, uid, gid = c.u32(), c.u32(), c.u32()
        vmsize_kb = vmrss_kb = 0
        if version >= 2:
            vmsize_kb, vmrss_kb = c.u32(), c.u32()
            c.take(4 + 16)  # vmswap, pfmajor, pfminor
        env = c.take(c.u16()) if version >= 3 else b""
        cgroups: tuple[tuple[str, str], ...] = ()
        vtid = vpid = 0
        if version >= 4:
            vtid, vpid = _s64(c.u64()), _s64(c.u64())
            cgroups = parse_cgroups(c.take(c.u16()))
        if version >= 5:
            c.str16()  # root
        if version >= 9:
            c.pos = start + size
        t = ThreadInfo(_s64(tid), _s64(pid), _s64(ptid), comm, exe=exe, exepath=exepath,
                       args=[a.decode("utf-8", "surrogateescape") for a in raw_args.split(b"\0")[:-1]] if raw_args else [],
                       cwd=cwd, uid=uid, gid=gid, env=_split(env.decode("utf-8", "surrogateescape")), cgroups=cgroups,
                       vtid=vtid, vpid=vpid, fdlimit=_s64(fdlimit), vmsize_kb=vmsize_kb, vmrss_kb=vmrss_kb)
        state.threads[t.tid] = t
        meta.thread_flags[t.tid] = flags
    # Threads of a process share the main thread's fd table (CLONE_FILES), as libsinsp assumes.
    for t in state.threads.values():
        main = state.threads.get(t.pid)
        if main is not None and main is not t and meta.thread_flags.get(t.tid, 0) & PPM_CL_CLONE_FILES:
            t.fdtable = main.fdtable


def _s64(v: int) -> int:
    return v - (1 << 64) if v >= 1 << 63 else v


def _endpoint(family: str, ip: bytes, port: int) -> SockAddr:
    addr: ipaddress.IPv4Address | ipaddress.IPv6Address = ipaddress.ip_address(ip)
    if isinstance(addr, ipaddress.IPv6Address) and addr.ipv4_mapped is not None:
        addr = addr.ipv4_mapped
    return SockAddr(family, addr, port)


def read_fdlist(body: bytes, version: int, state: State) -> None:
    c = _Cursor(body)
    tid = _s64(c.u64())
    thread = state.threads.get(tid)
    if thread is None:
        raise Malformed(f"fd list references thread {tid}, which is not in the process list")
    table: FdTable = thread.fdtable
    while c.left() >= 4:
        start = c.pos
        size = c.u32() if version >= 2 else 0
        num, ino, kind = _s64(c.u64()), c.u64(), c.u8()
        fd = _fd_entry(c, kind, num, ino)
        if version >= 2:
            c.pos = start + size
        table.fds[num] = fd


def _fd_entry(c: _Cursor, kind: int, num: int, ino: int) -> FdInfo:
    ftype = FD_TYPES.get(kind, "unknown")
    if kind in (3, 4):
        n = 4 if kind == 3 else 16
        sip, dip, sport, dport, proto = c.take(n), c.take(n), c.u16(), c.u16(), c.u8()
        src, dst = _endpoint(ftype, sip, sport), _endpoint(ftype, dip, dport)
        tup = SockTuple(ftype, src, dst, L4.get(proto, ""))
        return FdInfo(num, ftype, f"{src}->{dst}", tuple=tup, ino=ino, l4proto=tup.l4proto)
    if kind in (5, 6):
        ip, port, proto = c.take(4 if kind == 5 else 16), c.u16(), c.u8()
        local = _endpoint(ftype, ip, port)
        any_ip = ipaddress.IPv4Address(0) if ftype == "ipv4" else ipaddress.IPv6Address(0)
        tup = SockTuple(ftype, local, SockAddr(ftype, any_ip, 0), L4.get(proto, ""))
        # no role: libsinsp's add_fd_from_scap sets none (fd.sip, fd.cport... <NA>), guessed on the first send
        return FdInfo(num, ftype, str(local), tuple=tup, ino=ino, l4proto=tup.l4proto)
    if kind == 8:
        c.u64()
        c.u64()
        name = "".join(ch for ch in c.str16() if ch.isprintable())  # as libsinsp's sanitize_string
        return FdInfo(num, ftype, name, is_server=False, ino=ino)  # libsinsp gives these a role too
    if kind == 16:
        flags = c.u32()
        return FdInfo(num, ftype, c.str16(), open_flags=flags, ino=ino)
    return FdInfo(num, ftype, c.str16(), ino=ino)


def read_iflist(body: bytes, version: int, state: State, meta: Metadata) -> None:
    c = _Cursor(body)
    while c.left() >= 4:
        start = c.pos
        size = c.u32() + 4 if version >= 2 else 0
        kind, namelen = c.u16(), c.u16()
        netmask = None
        if kind in (1, 3):
            addr: ipaddress.IPv4Address | ipaddress.IPv6Address = ipaddress.IPv4Address(c.take(4))
            netmask = ipaddress.IPv4Address(c.take(4))
            c.take(4 + (8 if kind == 1 else 0))  # broadcast, link speed
        elif kind in (2, 4):
            addr = ipaddress.IPv6Address(c.take(16))
            c.take(32 + (8 if kind == 2 else 0))
        else:
            raise Malformed(f"unknown interface entry type {kind}")
        meta.interfaces.append(Interface(c.take(namelen).decode("utf-8", "replace"), addr))
        state.interfaces.append(Address(addr, netmask))
        if version >= 2:
            c.pos = start + size


def read_userlist(body: bytes, version: int, state: State) -> None:
    c = _Cursor(body)
    while c.left() >= 4:
        start = c.pos
        size = c.u32() if version >= 2 else 0
        kind = c.u8()
        if kind == 0:
            uid, _gid = c.u32(), c.u32()
            state.users[uid] = c.str16()
            c.str16()  # home
            c.str16()  # shell
        elif kind == 1:
            gid = c.u32()
            state.groups[gid] = c.str16()
        else:
            raise Malformed(f"unknown user list entry type {kind}")
        if version >= 2:
            c.pos = start + size


def fix_proc_sockets(state: State) -> None:
    """libsinsp's fix_sockets_coming_from_proc: an IPv4 connection of the fd lists whose local port
    some process listens on is the server side (named client->server), any other the client."""
    fds = [fd for t in state.threads.values() for fd in t.fdtable.fds.values() if fd.type == "ipv4"]
    server_ports = {fd.tuple.local.port for fd in fds if fd.is_servsock() and fd.tuple is not None}
    for fd in fds:
        tup = fd.tuple
        if fd.is_server is not None or tup is None or fd.is_servsock():
            continue
        fd.is_server = tup.local.port in server_ports
        if fd.is_server:
            fd.name = f"{tup.remote}->{tup.local}"
