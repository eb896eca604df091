"""spy_ip: the data exchanged with one IP address."""
from __future__ import annotations

import ipaddress

from sysmon.chisel.api import ChiselArg
from sysmon.chisel.common import DISABLE_COLOR, SpyEndpointChisel
from sysmon.errors import ChiselError


class SpyIp(SpyEndpointChisel):
    name = "spy_ip"
    short_description = "Show the data exchanged with the given IP address"
    description = ("Show the network payloads exchanged with an IP endpoint. Combine it with -A, -x or -X to "
                   "choose how the data is shown.")
    args = (ChiselArg("host_ip", "the remote host IP address", "ipv4"), DISABLE_COLOR)
    match_field = "fd.ip"
    host_ip: str

    def endpoint(self) -> str:
        try:
            return str(ipaddress.ip_address(self.host_ip))
        except ValueError:
            raise ChiselError(f"spy_ip: {self.host_ip!r} is not an IP address") from None
