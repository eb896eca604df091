"""The drain after a stop (sysmon/live.py _drain): every record still in the ring is read however long
that takes (an emulated guest reads ~17x slower than the host), and it ends when caught up, when nothing
comes any more, or on a second Ctrl-C."""
from __future__ import annotations

import time
from collections.abc import Callable

from sysmon.live import _drain


def ring(batches: int, batch_s: float) -> tuple[Callable[[], bool], list[int]]:
    """A ring holding `batches` batches, each taking `batch_s` to read; step() reads one."""
    read = [0]

    def step() -> bool:
        if read[0] == batches:
            return False
        time.sleep(batch_s)
        read[0] += 1
        return True
    return step, read


def test_a_slow_drain_reads_everything_past_the_stall_bound() -> None:
    step, read = ring(batches=60, batch_s=0.05)  # 3 s of reading, 3x the stall bound
    start = time.monotonic()
    _drain(step, lambda: read[0] == 60, stall_s=1.0)
    assert read[0] == 60
    assert time.monotonic() - start < 4.0


def test_caught_up_ends_at_once() -> None:
    start = time.monotonic()
    _drain(lambda: False, lambda: True, stall_s=5.0)
    assert time.monotonic() - start < 0.1


def test_a_record_that_never_comes_ends_after_the_stall() -> None:
    step, read = ring(batches=3, batch_s=0.0)
    start = time.monotonic()
    _drain(step, lambda: False, stall_s=0.3)  # the kernel's count says more, none comes
    took = time.monotonic() - start
    assert read[0] == 3
    assert 0.3 <= took < 1.0


def test_a_second_ctrl_c_stops_the_drain() -> None:
    calls = [0]

    def step() -> bool:
        calls[0] += 1
        if calls[0] == 5:
            raise KeyboardInterrupt
        return True
    _drain(step, lambda: False, stall_s=10.0)
    assert calls[0] == 5
