"""Replay speed: events/s of `sysmon -r` on a large capture, with and without filters and output.

Usage:  .venv/bin/python bench/replay.py [--events 1000000] [--runs 3] [--keep FILE | --capture FILE]

Builds a capture of N synthetic probe records (the RECORD_HEADER layout: a web-server-like mix of
reads and writes with data buffers, opens, closes and cheap calls over 50 processes) with the real
CaptureWriter (or reuses one made with --keep), then times `sysmon -r` as a subprocess for each
configuration, output to /dev/null: the median of --runs, runs of the configurations interleaved.
Times include the interpreter's start (about 0.2 s).
"""
from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from sysmon.capture.format import Batch, make_header  # noqa: E402
from sysmon.capture.reader import open_source  # noqa: E402
from sysmon.capture.writer import CaptureWriter  # noqa: E402
from sysmon.events.record import BLOB_HEADER, RECORD_HEADER  # noqa: E402
from sysmon.events.model import BLOB_BUF, BLOB_STR, ENTER, EXIT  # noqa: E402
from sysmon.events.syscalls import BY_NAME  # noqa: E402
from sysmon.state.state import FdInfo, FdTable, State, ThreadInfo  # noqa: E402

AT_FDCWD = 2**64 - 100
PROCS = 50


def rec(ts: int, tid: int, call: str, direction: int, ret: int = 0, args: tuple[int, ...] = (),
        blobs: tuple[tuple[int, int, bytes], ...] = ()) -> bytes:
    body = b"".join(BLOB_HEADER.pack(len(d), k, s) + d for k, s, d in blobs)
    a = tuple(args) + (0,) * (6 - len(args))
    return RECORD_HEADER.pack(ts, *a, ret, tid, tid, 1, 33, 33, BY_NAME[call], direction, len(blobs), tid % 8,
                              RECORD_HEADER.size + len(body), 0, b"worker%d" % (tid % PROCS), 0) + body


def cycle(ts: int, tid: int) -> list[bytes]:
    """One request of a worker: 20 events."""
    page = b"GET /index.html HTTP/1.1\r\nHost: example\r\n\r\n"
    path = b"/var/www/index.html"
    return [
        rec(ts, tid, "read", ENTER, args=(3, 0, 4096)),
        rec(ts + 1, tid, "read", EXIT, len(page), (3, 0, 4096), ((BLOB_BUF, 1, page),)),
        rec(ts + 2, tid, "openat", ENTER, args=(AT_FDCWD, 0, 0), blobs=((BLOB_STR, 1, path),)),
        rec(ts + 3, tid, "openat", EXIT, 5, (AT_FDCWD, 0, 0), ((BLOB_STR, 1, path),)),
        rec(ts + 4, tid, "read", ENTER, args=(5, 0, 8192)),
        rec(ts + 5, tid, "read", EXIT, 80, (5, 0, 8192), ((BLOB_BUF, 1, b"<html>" + b"x" * 74),)),
        rec(ts + 6, tid, "close", ENTER, args=(5,)),
        rec(ts + 7, tid, "close", EXIT, 0, (5,)),
        rec(ts + 8, tid, "write", ENTER, args=(3, 0, 200), blobs=((BLOB_BUF, 1, b"HTTP/1.1 200 OK\r\n" + b"y" * 63),)),
        rec(ts + 9, tid, "write", EXIT, 200, (3, 0, 200)),
        *[rec(ts + 10 + i, tid, "getpid", ENTER if i % 2 == 0 else EXIT, tid if i % 2 else 0) for i in range(10)],
    ]


def start_state() -> State:
    threads = {}
    for i in range(PROCS):
        tid = 1000 + i
        t = ThreadInfo(tid, tid, 1, f"worker{tid % PROCS}", exe="worker", uid=33, gid=33)
        t.fdtable = FdTable({3: FdInfo(3, "ipv4", f"10.0.0.1:80->10.0.1.{i}:4000{i % 10}")})
        threads[tid] = t
    return State(threads, {33: "www-data"}, {33: "www-data"})


def build(path: str, events: int) -> int:
    state = start_state()
    header = lambda seq: make_header(wall_offset_ns=1_700_000_000 * 10**9, snaplen=80,  # noqa: E731
                                     filter_text="", compression=None, seq=seq)
    writer = CaptureWriter(path, header, lambda: state, queue_bytes=1 << 40)
    n, ts = 0, 10**9
    while n < events:
        batch: list[bytes] = []
        for i in range(PROCS):
            batch += cycle(ts, 1000 + i)
            ts += 1000
        writer.add(Batch(batch, n + 1))
        n += len(batch)
    writer.close()
    return n


CONFIGS = [
    ("no filter, quiet (-q)", ["-q"]),
    ("selective filter, printed", ["-p", "%proc.name %fd.name", "evt.type=openat and evt.dir=< and proc.name=worker7"]),
    ("full default format to /dev/null", []),
    ("JSON (-j) default fields to /dev/null", ["-j"]),
]


def timed(path: str, extra: list[str]) -> float:
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-m", "sysmon", "-r", path, *extra], stdout=subprocess.DEVNULL, check=True)
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--events", type=int, default=1_000_000)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--keep", metavar="FILE", help="write the capture here and keep it")
    ap.add_argument("--capture", metavar="FILE", help="time this capture (made with --keep) instead of building one")
    ap.add_argument("--chisel", metavar="NAME", default="topfiles_bytes", help="chisel to time, if chisels exist")
    opts = ap.parse_args()
    if opts.capture:
        path = opts.capture
        n = sum(len(batch.records) for batch in open_source(path).batches())
    else:
        path = opts.keep or tempfile.mktemp(suffix=".smc")
        t0 = time.perf_counter()
        n = build(path, opts.events)
        print(f"capture: {n} events, {os.path.getsize(path) / 1e6:.1f} MB, built in {time.perf_counter() - t0:.1f} s")
    configs = list(CONFIGS)
    help_text = subprocess.run([sys.executable, "-m", "sysmon", "--help"], capture_output=True, text=True).stdout
    if "--chisel" in help_text:
        configs.append((f"chisel {opts.chisel}", ["-c", opts.chisel]))
    print(f"{'configuration':40} {'seconds':>8} {'events/s':>12}   (median of {opts.runs})")
    try:
        times: dict[str, list[float]] = {name: [] for name, _ in configs}
        for _ in range(opts.runs):
            for name, extra in configs:
                times[name].append(timed(path, extra))
        for name, _ in configs:
            secs = statistics.median(times[name])
            print(f"{name:40} {secs:8.2f} {n / secs:12,.0f}")
    finally:
        if not opts.keep and not opts.capture:
            os.unlink(path)


if __name__ == "__main__":
    main()
