"""How libsinsp updates an inet socket from the tuples events carry, which decides what sysdig prints.

libsinsp keeps a socket as `sip:sport->dip:dport`, the client side first (`Raw` here); our FdInfo
keeps local/remote and the role, so `raw()` and `set_raw()` convert (a server's source is its peer).
Its rules (parsers.cpp set_ipv*_addresses_and_ports, ifinfo.cpp update_fd):
  - `merge`: the same tuple, either way round, changes nothing; otherwise the source address and
    port are replaced, the destination ones only while still unset (a UDP socket that talked to a
    first peer keeps its name whatever it connects or sends to later);
  - `fill`: after a send or receive, an unset source (or destination) address is inferred from the
    machine's interfaces: the one with that very address, else one on the same subnet, else the
    first that is not loopback.
"""
from __future__ import annotations

import ipaddress

from sysmon.events.model import SockAddr, SockTuple
from sysmon.state.state import FdInfo, Interface

IP = ipaddress.IPv4Address | ipaddress.IPv6Address
Raw = tuple[IP, int, IP, int]
_ANY: dict[str, IP] = {"ipv4": ipaddress.IPv4Address(0), "ipv6": ipaddress.IPv6Address(0)}
_LOOPBACK: set[IP] = {ipaddress.IPv4Address("127.0.0.1"), ipaddress.IPv6Address(1)}


def event_raw(tup: SockTuple, inbound: bool) -> Raw:
    """An event's tuple as the driver wrote it: source -> destination (the peer first when inbound)."""
    src, dst = (tup.remote, tup.local) if inbound else (tup.local, tup.remote)
    return _ip(src, tup.family), src.port, _ip(dst, tup.family), dst.port


def raw(fd: FdInfo, family: str) -> Raw:
    """The socket as libsinsp holds it; all unset when it has no tuple of that family yet, or is only
    bound (libsinsp reads a bound socket's address and port through the wrong union member)."""
    tup = fd.tuple
    if tup is None or tup.family != family or fd.is_servsock():
        return _ANY[family], 0, _ANY[family], 0
    return event_raw(tup, bool(fd.is_server))


def set_raw(fd: FdInfo, family: str, r: Raw, l4proto: str) -> None:
    src, dst = SockAddr(family, r[0], r[1]), SockAddr(family, r[2], r[3])
    fd.type = family
    fd.tuple = SockTuple(family, dst, src, l4proto) if fd.is_server else SockTuple(family, src, dst, l4proto)
    fd.name = f"{src}->{dst}"


def merge(cur: Raw, new: Raw) -> Raw | None:
    """`cur` updated with `new`; None when nothing changed."""
    if new == cur or new == (cur[2], cur[3], cur[0], cur[1]):
        return None
    sip, sport, dip, dport = cur
    out = (new[0], new[1], dip if dip != _ANY_OF[type(dip)] else new[2], dport or new[3])
    return None if out == cur else out


def swap(r: Raw) -> Raw:
    return r[2], r[3], r[0], r[1]


def fill(r: Raw, interfaces: list[Interface]) -> Raw:
    """An unset source (or destination) address inferred from the interfaces, as libsinsp's update_fd."""
    sip, sport, dip, dport = r
    unset = _ANY_OF[type(sip)]
    if sip != unset and dip != unset:
        return r
    known = dip if sip == unset else sip
    new = _infer(known, interfaces)
    if new == known and sport == dport:
        return r
    return (new, sport, dip, dport) if sip == unset else (sip, sport, new, dport)


def _infer(addr: IP, interfaces: list[Interface]) -> IP:
    same = [i for i in interfaces if i.addr.version == addr.version]
    for i in same:
        if i.addr == addr:
            return i.addr
    for i in same:
        if _same_subnet(i, addr):
            return i.addr
    return next((i.addr for i in same if i.addr not in _LOOPBACK), _ANY_OF[type(addr)])


def _same_subnet(i: Interface, addr: IP) -> bool:
    if isinstance(addr, ipaddress.IPv6Address):  # libsinsp: the first 64 bits
        return i.addr.packed[:8] == addr.packed[:8]
    mask = int(i.netmask) if i.netmask is not None else 0
    return int(i.addr) & mask == int(addr) & mask


def _ip(ep: SockAddr, family: str) -> IP:
    return ep.ip if ep.ip is not None else _ANY[family]


_ANY_OF: dict[type[IP], IP] = {ipaddress.IPv4Address: _ANY["ipv4"], ipaddress.IPv6Address: _ANY["ipv6"]}
