"""Events -> sysdig event records: the ppm event type and its parameters' bytes, as the scap driver writes them.

A .scap event (read with sysmon.scap.reader) keeps its own type and parameter bytes. A live event is
mapped the way sysdig's driver maps the syscall (g_syscall_table, ppm_table.SYSCALL_ROUTING): its own
event type, or the generic `syscall` event with the PPM_SC code. Each parameter of sysdig's row is
taken from the event's parameters by name, else from the thread (clone and execve exits describe the
process: tid, pid, cwd, comm...), else written empty; flag values go from Linux's encoding to
sysdig's (PPM_*) through their names.
"""
from __future__ import annotations

import struct
from typing import Any

from sysmon.events.flags import flag_names, open_flags
from sysmon.events.model import ENTER, Event, SockAddr, SockTuple
from sysmon.events.ppm_table import EVENTS, FLAGSETS, SYSCALL_NAMES, SYSCALL_ROUTING
from sysmon.events.schema import PROCEXIT_NR, sysdig_rows
from sysmon.events.syscalls import X86_64
from sysmon.scap.etypes import BLOB_SCAP, INBOUND, ScapEventType
from sysmon.scap.params import PPM_AF_INET, PPM_AF_INET6, PPM_AF_UNIX
from sysmon.state.state import State, ThreadInfo

MAX_PARAM = 0xFFFF  # u16 lengths: longer strings and buffers are cut
PROCEXIT_PPM = 186  # PPME_PROCEXIT_1_E
PT_FLAGS = (28, 29, 30)
_INT = {1: "<b", 2: "<h", 3: "<i", 4: "<q", 5: "<B", 6: "<H", 7: "<I", 8: "<Q", 11: "<q", 14: "<q", 15: "<q",
        18: "<H", 19: "<B", 20: "<Q", 21: "<Q", 22: "<H", 23: "<B", 24: "<B", 25: "<I", 28: "<B", 29: "<H",
        30: "<I", 31: "<I", 32: "<I", 34: "<I", 42: "<I", 33: "<d"}
_STRUCTS = {pt: struct.Struct(f) for pt, f in _INT.items()}
_SC_CODE = {name: i for i, name in enumerate(SYSCALL_NAMES) if name}
_NR = {name: nr for nr, name in X86_64.items()}


_ROWS = sysdig_rows()


def ppm_type_of(name: str, nr: int) -> tuple[int, int]:
    """(enter ppm type, PPM_SC code) for a live event: the driver's routing of its syscall, else by name;
    (0, code) is the generic `syscall` event."""
    if nr == PROCEXIT_NR:
        return PROCEXIT_PPM, 0
    routed = SYSCALL_ROUTING.get(nr)
    if routed is not None and routed[0]:
        return routed  # the driver's own choice (dup2 and dup3 are sysdig's `dup`)
    code = routed[1] if routed is not None else _SC_CODE.get(name, 0)
    return _ROWS.get(name, 0), code


def encode_event(evt: Event, state: State) -> tuple[int, list[bytes]]:
    """(ppm event type, parameter bytes) of one event; `state` is the state after the event was applied."""
    et = evt.etype
    if isinstance(et, ScapEventType):
        own = {i: d for kind, i, d in evt.blobs if kind == BLOB_SCAP}
        n = max(own) + 1 if own else 0
        return et.ppm_type + evt.dir, [own.get(i, b"") for i in range(n)]
    enter, code = ppm_type_of(evt.type, evt.nr)
    ppm = enter + (evt.dir if enter != PROCEXIT_PPM else 0)
    if enter == 0:  # generic: ID, and on the enter the native syscall number
        ids = [struct.pack("<H", code)]
        return ppm, ids + [struct.pack("<H", evt.nr & 0xFFFF)] if evt.dir == ENTER else ids
    name = EVENTS[ppm][0]
    values = _values(evt, state)
    out = []
    for pname, pt, _fmt, info in EVENTS[ppm][3]:
        out.append(_encode(pt, _value(evt, pname, pt, info, values), name in INBOUND)[:MAX_PARAM])
    return ppm, out


def _values(evt: Event, state: State) -> dict[str, Any]:
    """What the driver reads from the task: the thread's identity, for parameters the event lacks."""
    t: ThreadInfo | None = state.threads.get(evt.tid)
    base: dict[str, Any] = {"tid": evt.tid, "pid": evt.pid, "ptid": evt.ppid, "comm": evt.comm, "uid": evt.uid,
                            "gid": evt.gid}
    if t is not None:
        base.update(exe=t.exe, cwd=t.cwd, fdlimit=t.fdlimit, env=t.env, vtid=t.vtid or t.tid, vpid=t.vpid or t.pid,
                    tty=t.tty, pgid=t.vpgid, loginuid=t.loginuid,
                    cgroups=[f"{c}={p}" for c, p in t.cgroups or ()])
        base.setdefault("args", [t.exe, *t.args])
    return base


def _value(evt: Event, pname: str, pt: int, info: object, values: dict[str, Any]) -> Any:
    v = evt.params.get(pname)
    if v is None:
        v = values.get(pname)
    if pname == "res" and v is None:
        v = evt.res
    if pname == "args" and isinstance(v, list):
        v = v[1:]  # our argv starts with argv[0]; sysdig's args follow it
    if isinstance(v, int) and pt in PT_FLAGS and isinstance(info, str):
        v = _to_ppm(evt.etype.params_for(evt.dir), pname, v, FLAGSETS[info])
    return v


def _to_ppm(params: tuple[Any, ...], pname: str, raw: int, table: tuple[tuple[str, int], ...]) -> int:
    """A Linux flag value as sysdig's table encodes it, through the names of our flag set."""
    flagset = next((p.flagset for p in params if p.name == pname), "")
    if flagset == "open":
        return open_flags(raw)[0]
    names = flag_names(flagset, raw) if isinstance(flagset, str) else None
    if names is None:
        return raw
    by_name = dict(table)
    return sum({by_name[n] for n in names if n in by_name})


def _encode(pt: int, v: Any, inbound: bool) -> bytes:
    """A parameter's bytes; an unknown number is written 0 and an unknown string "" (libsinsp reads
    them without checking their length), an unknown buffer or address empty (NULL)."""
    s = _STRUCTS.get(pt)
    if s is not None:
        if not isinstance(v, (int, float)):
            v = 0
        return s.pack(v if pt == 33 else _fit(int(v), s.size, s.format[-1].islower()))
    if pt in (9, 17, 43):  # CHARBUF, FSPATH, FSRELPATH: with their NUL (an unknown one is just that)
        return b"\0" if v is None else str(v).encode("utf-8", "surrogateescape")[: MAX_PARAM - 1] + b"\0"
    if v is None:
        return b""
    if pt == 10:  # BYTEBUF; argv (after argv[0]), env and cgroups as NUL-terminated strings
        if isinstance(v, list):
            return b"".join(str(a).encode("utf-8", "surrogateescape") + b"\0" for a in v)
        return bytes(v) if isinstance(v, (bytes, bytearray)) else b""
    if pt == 12:
        return _sockaddr(v) if isinstance(v, SockAddr) else b""
    if pt == 13:
        return _socktuple(v, inbound) if isinstance(v, SockTuple) else b""
    if pt == 16 and isinstance(v, list):
        return struct.pack("<H", len(v)) + b"".join(struct.pack("<qh", fd, flags) for fd, flags in v)
    return b""


def _fit(v: int, size: int, signed: bool) -> int:
    bits = size * 8
    v &= (1 << bits) - 1
    return v - (1 << bits) if signed and v >= 1 << (bits - 1) else v


def _sockaddr(a: SockAddr) -> bytes:
    if a.family == "unix":
        return bytes([PPM_AF_UNIX]) + a.path.encode("utf-8", "surrogateescape") + b"\0"
    if a.ip is None:
        return b""
    if a.ip.version == 4 and a.family == "ipv4":
        return bytes([PPM_AF_INET]) + a.ip.packed + struct.pack("<H", a.port)
    return bytes([PPM_AF_INET6]) + _v6(a) + struct.pack("<H", a.port)


def _v6(a: SockAddr) -> bytes:
    assert a.ip is not None
    return a.ip.packed if a.ip.version == 6 else b"\0" * 10 + b"\xff\xff" + a.ip.packed


def _socktuple(t: SockTuple, inbound: bool) -> bytes:
    src, dst = (t.remote, t.local) if inbound else (t.local, t.remote)
    if t.family == "unix":
        ptrs = t.unix_ptrs or (0, 0)
        path = t.remote.path or t.local.path
        return bytes([PPM_AF_UNIX]) + struct.pack("<QQ", *ptrs) + path.encode("utf-8", "surrogateescape") + b"\0"
    if src.ip is None or dst.ip is None:
        return b""
    if t.family == "ipv4" and src.ip.version == 4 and dst.ip.version == 4:
        return (bytes([PPM_AF_INET]) + src.ip.packed + struct.pack("<H", src.port) + dst.ip.packed
                + struct.pack("<H", dst.port))
    return bytes([PPM_AF_INET6]) + _v6(src) + struct.pack("<H", src.port) + _v6(dst) + struct.pack("<H", dst.port)
