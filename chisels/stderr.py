"""stderr: what processes write to their standard error (red on a terminal)."""
from __future__ import annotations

from sysmon.chisel.common import DISABLE_COLOR, FdEchoChisel


class Stderr(FdEchoChisel):
    name = "stderr"
    short_description = "Print stderr of processes"
    description = ("Print the standard error of any process on screen. Combine this chisel with a filter to "
                   "limit the output to a specific process or pid.")
    args = (DISABLE_COLOR,)
    fd_num = 2
    paint = "red"
