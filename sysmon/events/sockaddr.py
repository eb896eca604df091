"""Socket addresses: user `struct sockaddr` bytes and the probe's kernel tuple records."""
from __future__ import annotations

import ipaddress
import struct
from typing import TYPE_CHECKING

from sysmon.events.model import BLOB_SOCKADDR, SockAddr, SockTuple

if TYPE_CHECKING:
    from sysmon.events.model import Event

AF_UNIX = 1
AF_INET = 2
AF_INET6 = 10
_L4 = {6: "tcp", 17: "udp", 1: "icmp", 58: "icmp", 255: "raw"}
TUPLE = struct.Struct("<HHHH16s16s")  # probe/sysmon.h struct sysmon_tuple


def parse_sockaddr(b: bytes) -> SockAddr | None:
    if len(b) < 2:
        return None
    family = int.from_bytes(b[:2], "little")
    if family == AF_INET and len(b) >= 8:
        return SockAddr("ipv4", ipaddress.IPv4Address(b[4:8]), int.from_bytes(b[2:4], "big"))
    if family == AF_INET6 and len(b) >= 24:
        return SockAddr("ipv6", ipaddress.IPv6Address(b[8:24]), int.from_bytes(b[2:4], "big"))
    if family == AF_UNIX:
        path = b[2:]
        if path[:1] == b"\0":  # abstract namespace, shown with a leading @ like ss(8)
            return SockAddr("unix", path="@" + path[1:].split(b"\0")[0].decode("utf-8", "replace"))
        return SockAddr("unix", path=path.split(b"\0")[0].decode("utf-8", "replace"))
    return None


def parse_tuple(b: bytes, evt: Event | None = None) -> SockTuple | None:
    if len(b) < TUPLE.size:
        return None
    family, lport, rport, proto, laddr, raddr = TUPLE.unpack_from(b)
    l4 = _L4.get(proto, "")
    if family in (AF_INET, AF_INET6):
        name = "ipv4" if family == AF_INET else "ipv6"
        ip = ipaddress.IPv4Address if family == AF_INET else ipaddress.IPv6Address
        size = 4 if family == AF_INET else 16
        local = SockAddr(name, ip(laddr[:size]), lport)
        remote = SockAddr(name, ip(raddr[:size]), rport)
        if rport == 0 and evt is not None:
            # A failed connect resets the socket: the address the caller asked for is the remote end.
            asked = _user_sockaddr(evt)
            if asked is not None and asked.family == name:
                remote = asked
        return SockTuple(name, local, remote, l4)
    if family == AF_UNIX:
        # The kernel side of a unix socket carries no path here: take the user sockaddr if any.
        asked = _user_sockaddr(evt) if evt is not None else None
        remote = asked if asked is not None and asked.family == "unix" else SockAddr("unix")
        return SockTuple("unix", SockAddr("unix"), remote)
    return None


def _user_sockaddr(evt: Event) -> SockAddr | None:
    for kind, _slot, data in evt.blobs:
        if kind == BLOB_SOCKADDR:
            return parse_sockaddr(data)
    return None
