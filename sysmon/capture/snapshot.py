"""State <-> msgpack-ready data, for the snapshot at the start of every capture file.

Threads and fds are written field by field by name (unknown names are ignored on read, missing
ones take their defaults), so adding a field to ThreadInfo or FdInfo needs no format change.
Threads sharing one fd table (CLONE_FILES) share it again after reading.
"""
from __future__ import annotations

import dataclasses
import ipaddress
from collections.abc import Sequence
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


# What each field read from a file must be (by the dataclass annotation); anything else is refused,
# so a crafted snapshot cannot plant a value of a type the state code does not expect.
_KINDS: dict[str, Any] = {
    "int": lambda v: type(v) is int, "str": lambda v: isinstance(v, str), "bool": lambda v: isinstance(v, bool),
    "str | None": lambda v: v is None or isinstance(v, str),
    "bool | None": lambda v: v is None or isinstance(v, bool),
    "list[str]": lambda v: isinstance(v, list) and all(isinstance(x, str) for x in v),
    "tuple[tuple[str, str], ...] | None": lambda v: v is None or (isinstance(v, (list, tuple)) and all(
        isinstance(x, (list, tuple)) and len(x) == 2 and all(isinstance(y, str) for y in x) for x in v)),
}
_THREAD_KINDS = {f.name: _KINDS[str(f.type)] for f in dataclasses.fields(ThreadInfo) if f.name != "fdtable"}
_FD_KINDS = {f.name: _KINDS[str(f.type)] for f in dataclasses.fields(FdInfo) if f.name != "tuple"}


def _fields(item: Any, kinds: dict[str, Any], required: tuple[str, ...]) -> dict[str, Any]:
    if not isinstance(item, dict) or not all(name in item for name in required):
        raise ValueError("a snapshot entry is not a map with its required fields")
    kwargs = {name: item[name] for name in kinds if name in item}
    for name, value in kwargs.items():
        if not kinds[name](value):
            raise ValueError(f"snapshot field {name} holds {type(value).__name__} {value!r:.40}")
    return kwargs


def _pairs(items: Any, value_ok: Any) -> Sequence[Any]:
    if not isinstance(items, (list, tuple)) or not all(
            isinstance(p, (list, tuple)) and len(p) >= 2 and type(p[0]) is int and all(map(value_ok, p[1:])) for p in items):
        raise ValueError("a snapshot table of ids holds something else")
    return items


def state_from_wire(data: dict[str, Any]) -> State:
    """The state a snapshot describes; ValueError/TypeError/KeyError when it is not one."""
    fdtables, thread_items = data["fdtables"], data["threads"]
    if not isinstance(fdtables, list) or not isinstance(thread_items, list) or not all(
            isinstance(t, list) for t in fdtables):
        raise ValueError("snapshot threads or fd tables are not lists")
    tables = [FdTable({fd.num: fd for fd in map(_fd_from_wire, fds)}) for fds in fdtables]
    threads: dict[int, ThreadInfo] = {}
    for item in thread_items:
        kwargs = _fields(item, _THREAD_KINDS, ("tid", "pid", "ppid", "comm", "fdtable"))
        if type(item["fdtable"]) is not int or not 0 <= item["fdtable"] < len(tables):
            raise ValueError("a thread's fd table does not exist")
        for name in _TUPLE_FIELDS & kwargs.keys():
            kwargs[name] = _tuples(kwargs[name])
        thread = ThreadInfo(**kwargs, fdtable=tables[item["fdtable"]])
        threads[thread.tid] = thread
    text = lambda v: isinstance(v, str)  # noqa: E731
    accounts = {uid: (home, shell) for uid, home, shell in _pairs(data.get("accounts", []), text)}
    state = State(threads, dict(_pairs(data["users"], text)), dict(_pairs(data["groups"], text)), accounts=accounts)
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
    kwargs = _fields(item, _FD_KINDS, ("num", "type", "name"))
    tup = item.get("tuple")
    if tup is not None:
        family, l4proto, local, remote = tup
        ptrs = item.get("unix_ptrs")
        if not (isinstance(family, str) and isinstance(l4proto, str)) or (ptrs is not None and not (
                isinstance(ptrs, list) and all(type(p) is int for p in ptrs))):
            raise ValueError("an fd's socket tuple holds something else")
        kwargs["tuple"] = SockTuple(family, _addr_from_wire(local), _addr_from_wire(remote), l4proto,
                                    tuple(ptrs) if ptrs is not None else None)
    return FdInfo(**kwargs)


def _addr_to_wire(addr: SockAddr) -> list[Any]:
    return [addr.family, addr.ip.packed if addr.ip is not None else None, addr.port, addr.path]


def _addr_from_wire(item: list[Any]) -> SockAddr:
    family, ip, port, path = item
    if not (isinstance(family, str) and (ip is None or isinstance(ip, bytes)) and type(port) is int
            and isinstance(path, str)):
        raise ValueError("a socket address holds something else")
    return SockAddr(family, ipaddress.ip_address(ip) if ip is not None else None, port, path)
