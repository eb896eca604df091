"""scap parameter bytes -> the typed values of our Event model (sysmon/events/model.py).

One decoder per `PT_*` type. Values follow docs/INTERFACES.md: ints, str (no trailing NUL),
bytes, SockAddr, SockTuple, ipaddress objects.
"""
from __future__ import annotations

import ipaddress
import struct
from collections.abc import Callable
from typing import Any

from sysmon.events.model import SockAddr, SockTuple

Decoder = Callable[[bytes], Any]

# PT_* -> sysdig's type name as `sysdig -L` prints it (and our schema's Param.type uses).
PT_NAMES = {
    0: "NONE", 1: "INT8", 2: "INT16", 3: "INT32", 4: "INT64", 5: "UINT8", 6: "UINT16", 7: "UINT32", 8: "UINT64",
    9: "CHARBUF", 10: "BYTEBUF", 11: "ERRNO", 12: "SOCKADDR", 13: "SOCKTUPLE", 14: "FD", 15: "PID", 16: "FDLIST",
    17: "FSPATH", 18: "SYSCALLID", 19: "SIGTYPE", 20: "RELTIME", 21: "ABSTIME", 22: "PORT", 23: "L4PROTO",
    24: "SOCKFAMILY", 25: "BOOL", 26: "IPV4ADDR", 27: "DYNAMIC", 28: "FLAGS8", 29: "FLAGS16", 30: "FLAGS32",
    31: "UID", 32: "GID", 33: "DOUBLE", 34: "SIGSET", 35: "CHARBUFARRAY", 36: "CHARBUF_PAIR_ARRAY",
    37: "IPV4NET", 38: "IPV6ADDR", 39: "IPV6NET", 40: "IPADDR", 41: "IPNET", 42: "MODE", 43: "FSRELPATH",
}
PPM_AF_UNIX, PPM_AF_INET, PPM_AF_INET6 = 1, 2, 10

_INT = {1: "<b", 2: "<h", 3: "<i", 4: "<q", 5: "<B", 6: "<H", 7: "<I", 8: "<Q", 11: "<q", 14: "<q", 15: "<q",
        18: "<H", 19: "<B", 20: "<Q", 21: "<Q", 22: "<H", 23: "<B", 24: "<B", 25: "<I", 28: "<B", 29: "<H",
        30: "<I", 31: "<I", 32: "<I", 34: "<I", 42: "<I"}
_U16 = struct.Struct("<H")


def _int(fmt: str) -> Decoder:
    s = struct.Struct(fmt)
    size = s.size
    unpack = s.unpack_from

    def dec(b: bytes) -> int | None:
        # sysdig reads fixed-size values even from longer payloads; shorter ones are unusable
        return unpack(b)[0] if len(b) >= size else None

    return dec


def _str(b: bytes) -> str:
    return b.split(b"\0", 1)[0].decode("utf-8", "surrogateescape")


def _bytes(b: bytes) -> bytes:
    return b


def _ip(b: bytes) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
    return ipaddress.IPv4Address(b) if len(b) == 4 else ipaddress.IPv6Address(b)


def _v6(b: bytes) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
    """An IPv6 address; IPv4-mapped ones are shown as IPv4, as sysdig does."""
    ip = ipaddress.IPv6Address(b)
    return ip.ipv4_mapped or ip


def sockaddr(b: bytes) -> SockAddr | None:
    if not b:
        return None
    fam = b[0]
    if fam == PPM_AF_INET and len(b) >= 7:
        return SockAddr("ipv4", ipaddress.IPv4Address(b[1:5]), _U16.unpack_from(b, 5)[0])
    if fam == PPM_AF_INET6 and len(b) >= 19:
        return SockAddr("ipv6", _v6(b[1:17]), _U16.unpack_from(b, 17)[0])
    if fam == PPM_AF_UNIX:
        return SockAddr("unix", path=_str(b[1:]))
    return None


def socktuple(b: bytes, inbound: bool) -> SockTuple | None:
    """The scap tuple is source -> destination; `inbound` events (accept, recv*) have the peer as source."""
    if not b:
        return None
    fam = b[0]
    if fam == PPM_AF_INET and len(b) >= 13:
        src = SockAddr("ipv4", ipaddress.IPv4Address(b[1:5]), _U16.unpack_from(b, 5)[0])
        dst = SockAddr("ipv4", ipaddress.IPv4Address(b[7:11]), _U16.unpack_from(b, 11)[0])
        family = "ipv4"
    elif fam == PPM_AF_INET6 and len(b) >= 37:
        sip, dip = _v6(b[1:17]), _v6(b[19:35])
        family = "ipv4" if sip.version == 4 and dip.version == 4 else "ipv6"
        src = SockAddr(family, sip, _U16.unpack_from(b, 17)[0])
        dst = SockAddr(family, dip, _U16.unpack_from(b, 35)[0])
    elif fam == PPM_AF_UNIX and len(b) >= 17:
        path = _str(b[17:])
        ptrs = struct.unpack_from("<QQ", b, 1)
        return SockTuple("unix", SockAddr("unix", path=""), SockAddr("unix", path=path), unix_ptrs=ptrs)
    else:
        return None
    return SockTuple(family, dst, src) if inbound else SockTuple(family, src, dst)


def _fdlist(b: bytes) -> list[tuple[int, int]]:
    if len(b) < 2:
        return []
    n = _U16.unpack_from(b)[0]
    return [struct.unpack_from("<qh", b, 2 + 10 * i) for i in range(n) if 2 + 10 * i + 10 <= len(b)]


def decoder(pt: int, dyn: tuple[tuple[str, int, int], ...] | None = None) -> Decoder:
    """The decoder for one PT_* type (DYN: the choice list of that parameter)."""
    if pt in _INT:
        return _int(_INT[pt])
    if pt in (9, 17, 43):
        return _str
    if pt == 12:
        return sockaddr
    if pt in (26, 38, 40):
        return _ip
    if pt == 16:
        return _fdlist
    if pt == 33:
        return _int("<d")
    if pt == 27 and dyn:
        choices = [decoder(t) for _n, t, _f in dyn]
        return lambda b: choices[b[0]](b[1:]) if b and b[0] < len(choices) else None
    return _bytes
