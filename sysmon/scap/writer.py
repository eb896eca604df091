"""Writing .scap files that sysdig, Falco and Stratoshark open (pcapng-style blocks, scap 1.2).

Layout as libscap's scap_setup_dump writes it (../shared/docs/scap-format.md): section header,
machine info, interface list, user list, process list (one block), one fd list per fd table, then
one event block per event (EV_V2, or EVF_V2 with SCAP_DF_STATE_ONLY for events written only to
keep the state right). The metadata comes from a State snapshot; the writer then keeps its own copy
of the state current with the events it writes, so that events describing a process (clone and
execve exits) carry that process's identity at that moment.

`ScapWriter` is a drop-in for capture.writer.CaptureWriter on the producer side (add/room/tick/
check/close): it takes the pump's record batches, decodes them and writes synchronously.
Rotation is not supported for .scap output.
"""
from __future__ import annotations

import gzip
import ipaddress
import os
import socket
import struct
from collections.abc import Callable, Iterable
from typing import IO

from sysmon.capture.format import STATE_ONLY, Batch, PackedBatch
from sysmon.capture.rotate import Rotation
from sysmon.capture.snapshot import state_from_wire, state_to_wire
from sysmon.errors import CaptureError
from sysmon.events.decode import Decoder
from sysmon.events.flags import open_flags
from sysmon.events.model import Event
from sysmon.events.schema import Schema
from sysmon.scap import snapshot as blocks
from sysmon.scap.encode import encode_event
from sysmon.scap.record import Retyper
from sysmon.state.parser import StateParser
from sysmon.state.state import FdInfo, State, ThreadInfo

PL_V9, FDL_V2, IL_V2, UL_V2, MI = 0x215, 0x218, 0x219, 0x220, 0x201
EV_V2, EVF_V2, EV_V2_LARGE, EVF_V2_LARGE = 0x216, 0x217, 0x221, 0x222
SCAP_DF_STATE_ONLY = 1
MAX_BLOCK = 65536  # libscap's READER_BUF_SIZE: a larger event goes in a *_LARGE block
PPM_CL_CLONE_FILES, PPM_CL_CLONE_THREAD = 1, 1 << 13
FD_KINDS = {"file": 16, "directory": 2, "pipe": 7, "unix": 8, "event": 9, "signalfd": 11, "eventpoll": 12,
            "inotify": 13, "timerfd": 14, "netlink": 15}
L4 = {"tcp": 2, "udp": 3, "icmp": 4, "raw": 5}
_EVT_HDR = struct.Struct("<QQIHI")
# libscap refuses a metadata string past its fixed buffers (scap_limits.h): "invalid argslen 25713"
MAX_PATH, MAX_LIST, MAX_CREDENTIAL = 1023, 4095, 255


def block(btype: int, body: bytes) -> bytes:
    pad = -len(body) % 4
    total = 12 + len(body) + pad
    return struct.pack("<II", btype, total) + body + b"\0" * pad + struct.pack("<I", total)


def _str16(s: str | bytes, limit: int = MAX_PATH) -> bytes:
    b = s.encode("utf-8", "surrogateescape") if isinstance(s, str) else s
    b = b[:limit]
    return struct.pack("<H", len(b)) + b


def _nul_list(items: Iterable[str], limit: int = MAX_LIST) -> bytes:
    """NUL-terminated items, as many whole ones as fit in limit (the first cut short if it alone does not)."""
    out = b""
    for item in items:
        b = item.encode("utf-8", "surrogateescape") + b"\0"
        if len(out) + len(b) > limit:
            return out or b[:limit - 1] + b"\0"
        out += b
    return out


def section_header() -> bytes:
    return block(blocks.SHB, struct.pack("<IHHQ", 0x1A2B3C4D, 1, 2, 0xFFFFFFFFFFFFFFFF))


def machine_info() -> bytes:
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    try:
        with open("/proc/sys/kernel/pid_max") as f:
            max_pid = int(f.read())
    except (OSError, ValueError):
        max_pid = 0
    host = socket.gethostname().encode()[:127].ljust(128, b"\0")
    return block(MI, struct.pack("<IQQ", os.cpu_count() or 1, mem, max_pid) + host + b"\0" * 32)


def interface_list(state: State) -> bytes:
    """The state's addresses (a live state reads them from the machine: procfs.read_interfaces), unnamed."""
    body = b""
    for i, iface in enumerate(state.interfaces):
        addr, mask, n = iface.addr, iface.netmask, f"if{i}".encode()
        if addr.version == 4:
            m = mask or ipaddress.IPv4Address("255.255.255.255")
            bcast = int(addr) | (~int(m) & 0xFFFFFFFF)
            entry = struct.pack("<HH", 1, len(n)) + addr.packed + m.packed + struct.pack(">I", bcast) + b"\0" * 8 + n
        else:
            entry = struct.pack("<HH", 2, len(n)) + addr.packed + b"\0" * 32 + b"\0" * 8 + n
        body += struct.pack("<I", len(entry)) + entry
    return block(IL_V2, body)


def user_list(state: State) -> bytes:
    body = b""
    for uid, name in state.users.items():
        home, shell = state.accounts.get(uid, ("", ""))
        entry = struct.pack("<BII", 0, uid & 0xFFFFFFFF, 0) + _str16(name, MAX_CREDENTIAL) + _str16(home) + _str16(shell)
        body += struct.pack("<I", len(entry) + 4) + entry
    for gid, name in state.groups.items():
        entry = struct.pack("<BI", 1, gid & 0xFFFFFFFF) + _str16(name, MAX_CREDENTIAL)
        body += struct.pack("<I", len(entry) + 4) + entry
    return block(UL_V2, body)


def _owners(state: State) -> tuple[dict[int, ThreadInfo], set[int]]:
    """Which thread writes each fd table (its main thread if it has it), and the threads sharing one."""
    owner: dict[int, ThreadInfo] = {}
    for t in sorted(state.threads.values(), key=lambda t: (not t.is_main, t.tid)):
        owner.setdefault(id(t.fdtable), t)
    sharing = {t.tid for t in state.threads.values() if owner[id(t.fdtable)] is not t}
    return owner, sharing


def process_list(state: State, sharing: set[int]) -> bytes:
    body = b""
    for t in state.threads.values():
        flags = PPM_CL_CLONE_FILES | (PPM_CL_CLONE_THREAD if not t.is_main else 0) if t.tid in sharing else 0
        entry = (struct.pack("<qqqqq", t.tid, t.pid, t.parent_tid, t.sid or -1, t.vpgid or -1)
                 + _str16(t.comm) + _str16(t.exe) + _str16(t.exepath) + _str16(_nul_list(t.args), MAX_LIST) + _str16(t.cwd)
                 + struct.pack("<QIII", t.fdlimit, flags, t.uid & 0xFFFFFFFF, t.gid & 0xFFFFFFFF)
                 + struct.pack("<IIIQQ", t.vmsize_kb, t.vmrss_kb, 0, 0, 0) + _str16(_nul_list(t.env), MAX_LIST)
                 + struct.pack("<qq", t.vtid or t.tid, t.vpid or t.pid)
                 + _str16(_nul_list(f"{c}={p}" for c, p in t.cgroups or ()), MAX_LIST) + _str16("/")
                 + struct.pack("<iB", t.loginuid, 0))
        body += struct.pack("<I", len(entry) + 4) + entry
    return block(PL_V9, body)


def _ip16(addr: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bytes:
    return addr.packed if addr.version == 6 else b"\0" * 10 + b"\xff\xff" + addr.packed


def _fd_entry(fd: FdInfo) -> bytes:
    head = struct.pack("<qQ", fd.num, fd.ino)
    tup = fd.tuple
    if fd.type in ("ipv4", "ipv6") and tup is not None and tup.local.ip is not None and tup.remote.ip is not None:
        v4 = fd.type == "ipv4" and tup.local.ip.version == 4 and tup.remote.ip.version == 4
        ip = (lambda a: a.packed) if v4 else _ip16
        l4 = L4.get(tup.l4proto or fd.l4proto, 0)
        if fd.is_servsock() and not int(tup.remote.ip):  # bound, no peer: a SERVSOCK (listening or bound)
            payload = bytes([5 if v4 else 6]) + ip(tup.local.ip) + struct.pack("<HB", tup.local.port, l4)
        else:
            payload = (bytes([3 if v4 else 4]) + ip(tup.local.ip) + ip(tup.remote.ip)
                       + struct.pack("<HHB", tup.local.port, tup.remote.port, l4))
    elif fd.type == "unix":
        ptrs = tup.unix_ptrs if tup is not None and tup.unix_ptrs else (0, 0)
        payload = bytes([8]) + struct.pack("<QQ", *ptrs) + _str16(fd.name)
    elif fd.type == "file":
        payload = bytes([16]) + struct.pack("<I", open_flags(fd.open_flags)[0]) + _str16(fd.name) + struct.pack("<I", 0)
    else:
        payload = bytes([FD_KINDS.get(fd.type, 10)]) + _str16(fd.name)
    entry = head + payload
    return struct.pack("<I", len(entry) + 4) + entry


def fd_lists(state: State, owner: dict[int, ThreadInfo]) -> list[bytes]:
    out = []
    for t in owner.values():
        fds = t.fdtable.fds
        if fds:
            out.append(block(FDL_V2, struct.pack("<Q", t.tid & 0xFFFFFFFFFFFFFFFF)
                             + b"".join(_fd_entry(fd) for fd in fds.values())))
    return out


def snapshot_blocks(state: State) -> list[bytes]:
    owner, sharing = _owners(state)
    return [section_header(), machine_info(), interface_list(state), user_list(state),
            process_list(state, sharing), *fd_lists(state, owner)]


def event_block(ppm: int, params: list[bytes], ts: int, tid: int, cpu: int, dump_flags: int = 0) -> bytes:
    lens = struct.pack(f"<{len(params)}H", *(len(p) for p in params))
    length = _EVT_HDR.size + len(lens) + sum(len(p) for p in params)
    evt = _EVT_HDR.pack(ts, tid & 0xFFFFFFFFFFFFFFFF, length, ppm, len(params)) + lens + b"".join(params)
    if dump_flags:
        body = struct.pack("<HI", cpu, dump_flags) + evt
        return block(EVF_V2 if len(body) + 16 <= MAX_BLOCK else EVF_V2_LARGE, body)
    body = struct.pack("<H", cpu) + evt
    return block(EV_V2 if len(body) + 16 <= MAX_BLOCK else EV_V2_LARGE, body)


class ScapWriter:
    """Events into one .scap file (gzip'd with compress): the producer side of CaptureWriter."""

    def __init__(self, path: str, state: Callable[[], State], wall_offset_ns: int, *, compress: bool = False,
                 schema: Schema | None = None) -> None:
        schema = schema or Schema.default()
        self.files = [path]
        self.rotation = Rotation()
        self.finished = False
        self.accepted = self.written = self.dropped = 0
        self._decoder = Decoder(schema, wall_offset_ns=wall_offset_ns, typed=Retyper(schema))
        snap = state()
        self._state = state_from_wire(state_to_wire(snap))  # our own copy, kept current by what we write
        self._state.interfaces = list(snap.interfaces)
        self._parser = StateParser(self._state)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            raw = os.fdopen(fd, "wb")
            self._f: IO[bytes] = gzip.GzipFile(fileobj=raw, mode="wb") if compress else raw  # type: ignore[assignment]
            self._raw = raw
            self._f.writelines(snapshot_blocks(self._state))
        except OSError as e:
            raise CaptureError(f"cannot write {path}: {e.strerror}") from e

    def room(self) -> int | None:
        return None

    def tick(self) -> None:
        return None

    def check(self) -> None:
        return None

    def add(self, batch: Batch | PackedBatch) -> None:
        if isinstance(batch, PackedBatch):
            batch = batch.unpack()
        flags = batch.flags
        out = []
        for i, rec in enumerate(batch.records):
            self._decoder.count = batch.num(i) - 1
            evt = self._decoder.decode(rec)
            out.append(self.encode(evt, SCAP_DF_STATE_ONLY if flags is not None and flags[i] & STATE_ONLY else 0))
        try:
            self._f.writelines(out)
        except OSError as e:
            raise CaptureError(f"cannot write {self.files[0]}: {e.strerror}") from e
        self.accepted += len(out)
        self.written += len(out)

    def encode(self, evt: Event, dump_flags: int = 0) -> bytes:
        self._parser.apply(evt)
        ppm, params = encode_event(evt, self._state)
        return event_block(ppm, params, evt.ts_ns, evt.tid, evt.cpu, dump_flags)

    def close(self) -> None:
        try:
            self._f.close()
            if self._f is not self._raw:
                self._raw.close()
        except OSError as e:
            raise CaptureError(f"cannot write {self.files[0]}: {e.strerror}") from e
