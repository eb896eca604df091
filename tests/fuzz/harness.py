"""Every fuzz run bounded: CPU time and wall time, Python allocations (tracemalloc) per run, the
process's peak RSS (getrusage) overall. A run that raises anything but the expected clean error fails.

The bound is on the process's CPU time; wall time gets WALL_FACTOR times as much, because CI machines
(and this one: 2 CPUs shared by ~8 jobs) lend the CPU out: a hang still fails, a busy neighbour does not."""
from __future__ import annotations

import contextlib
import resource
import time
import tracemalloc
from collections.abc import Iterator

from hypothesis import Phase

NO_SHRINK = (Phase.explicit, Phase.reuse, Phase.generate)  # a failure is shown as found: CI time stays bounded
MAX_RSS_GROWTH_MB = 512  # how far one bounded run may raise the process's peak RSS (the whole suite's
# earlier tests set the starting peak: over 1.5 GiB in a full `make test`)
WALL_FACTOR = 4


@contextlib.contextmanager
def bounded(seconds: float, mb: int | None) -> Iterator[None]:
    """Assert that the block took less than `seconds` and allocated at most `mb` MiB at its peak
    (mb=None: time only, for runs whose cost is allocation, which tracemalloc slows down ~3x)."""
    rss0 = _peak_rss_mb()
    if mb is None:
        with _timed(seconds):
            yield
        _check_rss(rss0)
        return
    started_here = not tracemalloc.is_tracing()
    if started_here:
        tracemalloc.start()
    tracemalloc.reset_peak()
    base = tracemalloc.get_traced_memory()[0]
    try:
        with _timed(seconds):
            yield
    finally:
        peak = tracemalloc.get_traced_memory()[1] - base
        if started_here:
            tracemalloc.stop()
    assert peak < mb << 20, f"allocated {peak >> 20} MiB at its peak (bound {mb} MiB)"
    _check_rss(rss0)


@contextlib.contextmanager
def _timed(seconds: float) -> Iterator[None]:
    cpu0, wall0 = time.process_time(), time.perf_counter()
    yield
    cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
    assert cpu < seconds, f"took {cpu:.2f} s of CPU (bound {seconds} s)"
    assert wall < seconds * WALL_FACTOR, f"took {wall:.2f} s (bound {seconds * WALL_FACTOR} s)"


def _peak_rss_mb() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss >> 10


def _check_rss(before_mb: int) -> None:
    grown = _peak_rss_mb() - before_mb
    assert grown < MAX_RSS_GROWTH_MB, f"peak RSS grew by {grown} MiB (bound {MAX_RSS_GROWTH_MB} MiB)"
