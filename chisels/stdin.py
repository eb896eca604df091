"""stdin: what processes read from their standard input."""
from __future__ import annotations

from sysmon.chisel.common import FdEchoChisel


class Stdin(FdEchoChisel):
    name = "stdin"
    short_description = "Print stdin of processes"
    description = ("Print the standard input of any process on screen. Combine this chisel with a filter to "
                   "limit the output to a specific process or pid.")
    fd_num = 0
