"""Every fuzz run bounded: wall time and Python allocations (tracemalloc) per run, the process's
peak RSS (getrusage) overall. A run that raises anything but the expected clean error fails."""
from __future__ import annotations

import contextlib
import resource
import time
import tracemalloc
from collections.abc import Iterator

from hypothesis import Phase

NO_SHRINK = (Phase.explicit, Phase.reuse, Phase.generate)  # a failure is shown as found: CI time stays bounded
MAX_RSS_MB = 1536  # the whole pytest process, peak: a run that inflates data would pass this


@contextlib.contextmanager
def bounded(seconds: float, mb: int | None) -> Iterator[None]:
    """Assert that the block took less than `seconds` and allocated at most `mb` MiB at its peak
    (mb=None: time only, for runs whose cost is allocation, which tracemalloc slows down ~3x)."""
    if mb is None:
        t0 = time.perf_counter()
        yield
        elapsed = time.perf_counter() - t0
        assert elapsed < seconds, f"took {elapsed:.2f} s (bound {seconds} s)"
        _check_rss()
        return
    started_here = not tracemalloc.is_tracing()
    if started_here:
        tracemalloc.start()
    tracemalloc.reset_peak()
    base = tracemalloc.get_traced_memory()[0]
    t0 = time.perf_counter()
    try:
        yield
    finally:
        elapsed = time.perf_counter() - t0
        peak = tracemalloc.get_traced_memory()[1] - base
        if started_here:
            tracemalloc.stop()
    assert elapsed < seconds, f"took {elapsed:.2f} s (bound {seconds} s)"
    assert peak < mb << 20, f"allocated {peak >> 20} MiB at its peak (bound {mb} MiB)"
    _check_rss()


def _check_rss() -> None:
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss >> 10
    assert rss_mb < MAX_RSS_MB, f"peak RSS {rss_mb} MiB"
