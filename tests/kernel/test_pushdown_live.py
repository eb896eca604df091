"""Pushdown's kernel side: the same workload under random filters pinning pid, tid, uid, comm and type
prints the same lines with the probe selecting and pinning (pushdown) as with it sending everything
(--no-pushdown).

Two probes watch one workload at once: `live` sends every syscall, the other is loaded per filter as
`sysmon FILTER` loads it (the filter's types selected, its pids, tids, comms and uids pinned; a start
from the probe cache costs little). Each side's records go through the same Feed, filter and format.
The workload is one helper process (a main thread named pdwork, a second thread, a child running as
uid 65534) that repeats the same syscalls on each request, so pids and tids are known before the
filters are drawn.
"""
from __future__ import annotations

import io
import os
import random
import subprocess
import sys
import time
from collections.abc import Iterator
from typing import Any

import pytest

from sysmon.capture.feed import Feed
from sysmon.engine import Inspector
from sysmon.events.decode import Decoder
from sysmon.fields.catalogue import Catalogue
from sysmon.fields.clock import Clock
from sysmon.filter import compile_filter
from sysmon.output.sinks import TextSink
from sysmon.state import procfs
from tests.kernel.pace import slow

FMT = "%evt.type %evt.dir %proc.name %thread.tid %user.uid %fd.name %evt.rawres"
WORKLOAD = r"""
import ctypes, os, sys, threading
ctypes.CDLL(None).prctl(15, b"pdwork", 0, 0, 0)  # PR_SET_NAME
def io_burst():
    for _ in range(3):
        with open("/etc/hostname", "rb") as f:
            f.read()
gate, done = threading.Event(), threading.Event()
def second():
    ctypes.CDLL(None).prctl(15, b"pdthread", 0, 0, 0)
    while True:
        gate.wait(); gate.clear(); io_burst(); done.set()
t = threading.Thread(target=second, daemon=True); t.start()
print(os.getpid(), threading.get_native_id() and t.native_id, flush=True)
for line in sys.stdin:
    io_burst()
    os.write(os.open("/dev/null", os.O_WRONLY), b"x")
    gate.set(); done.wait(); done.clear()
    child = os.fork()
    if child == 0:
        os.setgid(65534); os.setuid(65534); io_burst(); os._exit(0)
    os.waitpid(child, 0)
    print("done", flush=True)
"""


def _filters(pid: int, tid: int, rng: random.Random) -> list[str]:
    """Filters pinning each identity the probe can pin, with event types, drawn from `rng`."""
    types = ["openat", "read", "close", "lseek", "write", "ioctl"]
    pins = [f"proc.pid={pid}", f"thread.tid={tid}", "user.uid=65534", "proc.name=pdwork", f"thread.tid={pid}",
            "proc.name=pdthread", f"proc.pid in ({pid}, 1)"]
    out = []
    for pin in pins:
        picked = rng.sample(types, rng.randint(1, 3))
        kind = "evt.type=" + picked[0] if len(picked) == 1 else f"evt.type in ({', '.join(picked)})"
        out.append(f"{pin} and {kind}" if rng.random() < 0.8 else f"{kind} and {pin}")
    out.append(f"(proc.name=pdwork or proc.name=pdthread) and evt.type={rng.choice(types)} and evt.dir=<")
    return out


@pytest.fixture(scope="module")
def workload() -> Iterator[tuple[subprocess.Popen[str], int, int]]:
    proc = subprocess.Popen([sys.executable, "-c", WORKLOAD], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    pid, tid = map(int, proc.stdout.readline().split())
    yield proc, pid, tid
    proc.kill()
    proc.wait()


def _pushdown_probe(schema: Any, plan: Any) -> tuple[Any, Any]:
    """As LiveSession.run: a probe selecting the filter's types, its identities pinned."""
    from sysmon.probe.loader import Probe, ProbeOptions
    from sysmon.probe.source import LiveSource

    probe = Probe(schema.capture_specs(), ProbeOptions(snaplen=256, ringbuf_bytes=16 << 20), schema.state_nrs(),
                  schema.wanted_nrs(plan.types))
    probe.pin(pids=plan.pids, tids=plan.tids, comms=plan.comms, uids=plan.uids)
    return probe, LiveSource(probe)


def _lines(schema: Any, flt: str, records: list[bytes]) -> list[str]:
    clock = Clock()
    catalogue = Catalogue.default(clock)
    predicate, plan = compile_filter(flt, catalogue)
    out = io.StringIO()
    state = procfs.snapshot(exclude_pids=(os.getpid(),))
    inspector = Inspector(state, clock, predicate, [TextSink(FMT, catalogue, out)])
    feed = Feed(Decoder(schema), inspector, None, schema.wanted_nrs(plan.types), plan)
    feed.feed_live(records)
    inspector.flush()
    return out.getvalue().splitlines()


def _run(workload: subprocess.Popen[str], sources: list[Any]) -> list[list[bytes]]:
    assert workload.stdin is not None and workload.stdout is not None
    for src in sources:
        while src.poll():
            pass
    got: list[list[bytes]] = [[] for _ in sources]
    workload.stdin.write("go\n")
    workload.stdin.flush()
    assert workload.stdout.readline().strip() == "done"
    end = time.monotonic() + slow(0.3)
    while time.monotonic() < end:
        for acc, src in zip(got, sources):
            acc += src.poll()
    return got


def test_pushdown_prints_what_no_pushdown_prints(live: Any, workload: Any) -> None:
    proc, pid, tid = workload
    seed = int(os.environ.get("SYSMON_PUSHDOWN_SEED", "21"))
    rng = random.Random(seed)
    catalogue = Catalogue.default(Clock())
    checked = 0
    for flt in _filters(pid, tid, rng):
        plan = compile_filter(flt, catalogue)[1]
        assert plan.pids or plan.tids or plan.uids or plan.comms, f"nothing pinned by {flt!r}"
        probe, source = _pushdown_probe(live.schema, plan)
        try:
            everything, pushed = _run(proc, [live.source, source])
        finally:
            source.close()
            probe.close()
        want, got = _lines(live.schema, flt, everything), _lines(live.schema, flt, pushed)
        assert want, f"seed {seed}: {flt!r} matched nothing: a vacuous comparison"
        shown = "\n".join(want) + "\npushdown:\n" + "\n".join(got)
        assert got == want, f"seed {seed}: {flt!r}\n--no-pushdown:\n{shown}"
        assert len(pushed) < len(everything), f"{flt!r}: the kernel filtered nothing"
        checked += 1
    assert checked == 8
