"""libsinsp's rules for updating an inet socket from event tuples (sysmon.state.inet)."""
from __future__ import annotations

from ipaddress import IPv4Address, IPv6Address, ip_address

from sysmon.events.model import SockAddr, SockTuple
from sysmon.state import inet
from sysmon.state.state import FdInfo, Interface


def _tup(src: str, sport: int, dst: str, dport: int, family: str = "ipv4") -> SockTuple:
    return SockTuple(family, SockAddr(family, ip_address(src), sport), SockAddr(family, ip_address(dst), dport), "udp")


def test_merge_keeps_a_destination_once_set_and_ignores_the_same_tuple() -> None:
    cur = inet.event_raw(_tup("::1", 38255, "::1", 2345, "ipv6"), False)
    assert inet.merge(cur, cur) is None
    assert inet.merge(cur, inet.swap(cur)) is None
    other = inet.event_raw(_tup("::1", 38255, "2001:4860:4860::8888", 53, "ipv6"), False)
    assert inet.merge(cur, other) is None  # only the destination differs: it stays
    moved = inet.merge(cur, inet.event_raw(_tup("::1", 40000, "2001:4860:4860::8888", 53, "ipv6"), False))
    assert moved == (IPv6Address(1), 40000, IPv6Address(1), 2345)


def test_fill_infers_an_unset_source_from_the_interfaces() -> None:
    ifaces = [Interface(IPv4Address("127.0.0.1"), IPv4Address("255.0.0.0")),
              Interface(IPv4Address("10.0.0.79"), IPv4Address("255.255.255.0")),
              Interface(IPv6Address(1))]
    zero = IPv4Address(0)
    assert inet.fill((zero, 5, IPv4Address("127.0.0.1"), 514), ifaces)[0] == IPv4Address("127.0.0.1")  # that address
    assert inet.fill((zero, 5, IPv4Address("10.0.0.7"), 53), ifaces)[0] == IPv4Address("10.0.0.79")  # same subnet
    assert inet.fill((zero, 5, IPv4Address("8.8.8.8"), 53), ifaces)[0] == IPv4Address("10.0.0.79")  # not loopback
    assert inet.fill((IPv6Address(0), 0, IPv6Address(1), 2345), ifaces)[0] == IPv6Address(1)
    same_ports = (zero, 53, IPv4Address("127.0.0.1"), 53)
    assert inet.fill(same_ports, ifaces) == same_ports  # libsinsp leaves a tuple to itself alone


def test_raw_and_set_raw_keep_the_client_side_first() -> None:
    fd = FdInfo(3, "ipv4", "", is_server=True)
    inet.set_raw(fd, "ipv4", inet.event_raw(_tup("10.0.0.2", 40000, "10.0.0.1", 53), True), "udp")
    assert fd.name == "10.0.0.1:53->10.0.0.2:40000"  # the peer sent it: client 10.0.0.1
    assert fd.tuple is not None and str(fd.tuple.local) == "10.0.0.2:40000"
    assert inet.raw(fd, "ipv4") == (IPv4Address("10.0.0.1"), 53, IPv4Address("10.0.0.2"), 40000)
    assert inet.raw(fd, "ipv6") == (IPv6Address(0), 0, IPv6Address(0), 0)  # nothing of that family yet
