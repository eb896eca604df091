"""Wall-clock allowances of the kernel tests, stretched on a slower machine: a guest of the kernel
matrix (tests/vm) sets SYSMON_TEST_SLOWDOWN to how much slower than its host it runs a CPU-bound
loop (an emulated guest: 10x or more); on a host, and in CI's `make test`, it is 1.

Only waits and deadlines are stretched (how long a test lets a process start, stop or catch up),
never what a test measures against something else in the same run."""
from __future__ import annotations

import os

SLOWDOWN = max(1.0, float(os.environ.get("SYSMON_TEST_SLOWDOWN", "1")))


def slow(seconds: float) -> float:
    return seconds * SLOWDOWN
