"""stdout: what processes write to their standard output."""
from __future__ import annotations

from sysmon.chisel.common import FdEchoChisel


class Stdout(FdEchoChisel):
    name = "stdout"
    short_description = "Print stdout of processes"
    description = ("Print the standard output of any process on screen. Combine this chisel with a filter to "
                   "limit the output to a specific process or pid.")
    fd_num = 1
