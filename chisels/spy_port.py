"""spy_port: the data exchanged on one TCP/UDP port."""
from __future__ import annotations

from sysmon.chisel.api import ChiselArg
from sysmon.chisel.common import DISABLE_COLOR, SpyEndpointChisel
from sysmon.errors import ChiselError


class SpyPort(SpyEndpointChisel):
    name = "spy_port"
    short_description = "Show the data exchanged using the given IP port number"
    description = ("Show the network payloads exchanged using a port number, either side of the connection. "
                   "Combine it with -A, -x or -X to choose how the data is shown.")
    args = (ChiselArg("host_port", "the remote host IP port number", "int"), DISABLE_COLOR)
    match_field = "fd.port"
    host_port: int

    def endpoint(self) -> str:
        if not 0 < self.host_port < 65536:
            raise ChiselError(f"spy_port: {self.host_port} is not a port number")
        return str(self.host_port)
