"""State <-> msgpack-ready data, for the snapshot at the start of every capture file.

Threads and fds are written field by field by name (unknown names are ignored on read, missing
ones take their defaults), so adding a field to ThreadInfo or FdInfo needs no format change.
Threads sharing one fd table (CLONE_FILES) share it again after reading.
"""
from __future__ import annotations

import dataclasses
import ipaddress
from typing import Any

from sysmon.events.model import SockAddr, SockTuple
from sysmon.state.state import FdInfo, FdTable, Interface, State, ThreadInfo

_THREAD_FIELDS = tuple(f.name for f in dataclasses.fields(ThreadInfo) if f.name != "fdtable")
_FD_FIELDS = tuple(f.name for f in dataclasses.fields(FdInfo) if f.name != "tuple")
# Fields declared as tuples come back from msgpack as lists: turn them back.
_TUPLE_FIELDS = frozenset(f.name for f in dataclasses.fields(ThreadInfo) if str(f.type).startswith("tuple"))


def _tuples(value: Any) -> Any:
    return tuple(_tuples(v) for v in value) if isinstance(value, list) else value


def state_to_wire(state: State) -> dict[str, Any]:
    tables: list[list[dict[str, Any]]] = []
    table_ids: dict[int, int] = {}
    threads = []
    for thread in state.threads.values():
        if thread.is_main and state.proc_root is not None:
            state.cgroups(thread)  # read now: a replay has no /proc to read them from
        tid = table_ids.get(id(thread.fdtable))
        if tid is None:
            tid = table_ids[id(thread.fdtable)] = len(tables)
            tables.append([_fd_to_wire(fd) for fd in thread.fdtable.fds.values()])
        item = {name: getattr(thread, name) for name in _THREAD_FIELDS}
        item["fdtable"] = tid
        threads.append(item)
    return {
        "threads": threads,
        "fdtables": tables,
        "users": list(state.users.items()),
        "groups": list(state.groups.items()),
        "accounts": [[uid, home, shell] for uid, (home, shell) in state.accounts.items()],
        "interfaces": [[str(i.addr), None if i.netmask is None else str(i.netmask)] for i in state.interfaces],
        "containers": state.containers.full().to_wire(),
        "no_cgroups_is_host": state.no_cgroups_is_host,
    }


def state_from_wire(data: dict[str, Any]) -> State:
    tables = [FdTable({fd.num: fd for fd in map(_fd_from_wire, fds)}) for fds in data["fdtables"]]
    threads: dict[int, ThreadInfo] = {}
    for item in data["threads"]:
        kwargs = {name: item[name] for name in _THREAD_FIELDS if name in item}
        for name in _TUPLE_FIELDS & kwargs.keys():
            kwargs[name] = _tuples(kwargs[name])
        thread = ThreadInfo(**kwargs, fdtable=tables[item["fdtable"]])
        threads[thread.tid] = thread
    accounts = {uid: (home, shell) for uid, home, shell in data.get("accounts", ())}
    state = State(threads, dict(data["users"]), dict(data["groups"]), accounts=accounts)
    state.interfaces = [Interface(ipaddress.ip_address(addr), None if mask is None else ipaddress.IPv4Address(mask))
                        for addr, mask in data.get("interfaces", ())]
    state.containers.apply_wire(data.get("containers") or {})
    state.no_cgroups_is_host = bool(data.get("no_cgroups_is_host"))
    return state


def _fd_to_wire(fd: FdInfo) -> dict[str, Any]:
    item = {name: getattr(fd, name) for name in _FD_FIELDS}
    if fd.tuple is not None:
        t = fd.tuple
        item["tuple"] = [t.family, t.l4proto, _addr_to_wire(t.local), _addr_to_wire(t.remote)]
        if t.unix_ptrs is not None:
            item["unix_ptrs"] = list(t.unix_ptrs)
    return item


def _fd_from_wire(item: dict[str, Any]) -> FdInfo:
    kwargs = {name: item[name] for name in _FD_FIELDS if name in item}
    tup = item.get("tuple")
    if tup is not None:
        family, l4proto, local, remote = tup
        ptrs = item.get("unix_ptrs")
        kwargs["tuple"] = SockTuple(family, _addr_from_wire(local), _addr_from_wire(remote), l4proto,
                                    tuple(ptrs) if ptrs is not None else None)
    return FdInfo(**kwargs)


def _addr_to_wire(addr: SockAddr) -> list[Any]:
    return [addr.family, addr.ip.packed if addr.ip is not None else None, addr.port, addr.path]


def _addr_from_wire(item: list[Any]) -> SockAddr:
    family, ip, port, path = item
    return SockAddr(family, ipaddress.ip_address(ip) if ip is not None else None, port, path)
