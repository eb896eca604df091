"""Synthetic events for tests: real event types from the schema, parameters preset (cf. sinsp_with_test_input)."""
from __future__ import annotations

import dataclasses
import ipaddress
from functools import lru_cache
from typing import Any

from sysmon.events.model import EXIT, Event, SockAddr, SockTuple
from sysmon.events.schema import EventType, Schema
from sysmon.events.syscalls import X86_64

_NR = {name: nr for nr, name in X86_64.items()}
_UNSET: Any = object()


@lru_cache(maxsize=1)
def schema() -> Schema:
    return Schema.default()


def make_event(
    type: str,
    *,
    dir: int = EXIT,
    res: int | None = _UNSET,
    params: dict[str, Any] | None = None,
    raw_args: tuple[int, ...] = (),
    tid: int = 100,
    pid: int | None = None,
    ppid: int = 1,
    comm: str = "test",
    uid: int = 0,
    gid: int = 0,
    ts_ns: int = 0,
    cpu: int = 0,
    num: int = 0,
    syscall: str | None = None,
    blobs: tuple[tuple[int, int, bytes], ...] = (),
    etype_flags: frozenset[str] | None = None,
    fd_arg: int | None = _UNSET,
) -> Event:
    """An event of sysdig type `type`; `syscall` picks the kernel call when several share the type
    (accept4 for `accept`). Raw args may be negative (fds, AT_FDCWD) and are stored as raw u64.
    `params` preset the decoded parameters; without it they are decoded from `blobs`/`raw_args`.
    `res` defaults to 0 on exits and None on enters."""
    etype: EventType = schema().by_name(type)
    if etype_flags is not None:
        etype = dataclasses.replace(etype, flags=etype_flags)
    if fd_arg is not _UNSET:
        etype = dataclasses.replace(etype, fd_arg=fd_arg)
    args = tuple(a & 0xFFFFFFFFFFFFFFFF for a in raw_args) + (0,) * (6 - len(raw_args))
    evt = Event(
        ts_ns=ts_ns,
        cpu=cpu,
        tid=tid,
        pid=tid if pid is None else pid,
        ppid=ppid,
        uid=uid,
        gid=gid,
        comm=comm,
        nr=_NR[syscall] if syscall else min(schema().nrs_of([type]), default=0),
        dir=dir,
        res=(0 if dir == EXIT else None) if res is _UNSET else res,
        raw_args=args,
        blobs=blobs,
        etype=etype,
        num=num,
    )
    if params is not None:
        evt._params = dict(params)
    return evt


def addr(ip: str, port: int) -> SockAddr:
    parsed = ipaddress.ip_address(ip)
    return SockAddr("ipv6" if parsed.version == 6 else "ipv4", parsed, port)


def sock_tuple(local: str, lport: int, remote: str, rport: int, l4proto: str = "tcp") -> SockTuple:
    """An inet tuple as the kernel reports it: this side first."""
    la = addr(local, lport)
    return SockTuple(la.family, la, addr(remote, rport), l4proto)
