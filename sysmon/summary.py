"""End-of-run reports: -S per-event-type counts, -v capture statistics."""
from __future__ import annotations

from sysmon.engine import Stats
from sysmon.events.model import DIR_CHARS


def format_summary(stats: Stats) -> str:
    rows = sorted(stats.by_type.items(), key=lambda kv: (-kv[1], kv[0][1], kv[0][0]))
    lines = [f"{'Event':<30}#Calls", "-" * 40]
    lines += [f"{DIR_CHARS[d]} {name:<28}{n}" for (d, name), n in rows]
    return "\n".join(lines) + "\n"


def format_stats(stats: Stats, counters: dict[str, int], perf_lost: int = 0, received: int | None = None) -> str:
    """`received`: the records userspace took from the buffer (LiveSource.delivered), checked against
    what the kernel says it sent: a difference is what was still in the buffer when the capture ended."""
    sent, dropped = counters.get("sent", 0), counters.get("dropped", 0) + perf_lost
    produced = sent + dropped
    span_s = max((stats.last_ns - stats.first_ns) / 1e9, 1e-9)
    pct = 100.0 * dropped / produced if produced else 0.0
    unread = "" if received is None else f"; {received} received, {sent - received} left unread"
    return (
        f"Kernel events: {produced} produced, {sent} delivered, {dropped} dropped ({pct:.2f}%){unread}\n"
        f"Events seen: {stats.seen}, matched: {stats.matched}, {stats.seen / span_s:.0f} ev/s over {span_s:.2f} s\n"
        f"User-memory reads that failed: {counters.get('read_failed', 0)}\n"
    )
