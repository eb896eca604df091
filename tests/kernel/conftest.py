"""Kernel tier: these tests load the real probe and assert on events of real workloads.

They need root and a BPF-capable kernel. Elsewhere they skip with the reason printed, except
when SYSMON_REQUIRE_BPF=1 (CI), where a missing prerequisite fails them instead.
"""
from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import pytest

from sysmon.engine import Inspector
from sysmon.events.decode import Decoder
from sysmon.events.model import Event
from sysmon.events.schema import Schema
from sysmon.fields.catalogue import Catalogue
from sysmon.fields.clock import Clock
from sysmon.state import procfs
from sysmon.state.state import State
from tests.kernel.pace import slow

BASE_FIELDS = ("evt.num", "evt.type", "evt.dir", "evt.rawres", "proc.pid", "thread.tid", "proc.name")


def require_bpf() -> None:
    problem = None
    if os.geteuid() != 0:
        problem = "not root"
    else:
        try:
            import bcc  # noqa: F401
        except ImportError:
            problem = "bcc is not importable (apt-get install python3-bpfcc)"
    if problem:
        if os.environ.get("SYSMON_REQUIRE_BPF") == "1":
            pytest.fail(f"BPF tests required (SYSMON_REQUIRE_BPF=1) but {problem}")
        pytest.skip(f"BPF tests need root and bcc: {problem}")


def sysmon_children() -> set[int]:
    """The running `python -m sysmon` processes this pytest started."""
    me, found = str(os.getpid()), set()
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            stat = open(f"/proc/{entry.name}/stat").read()
            argv = open(f"/proc/{entry.name}/cmdline", "rb").read().split(b"\0")
        except OSError:
            continue
        state, ppid = stat.rsplit(")", 1)[1].split()[:2]
        if ppid == me and state != "Z" and argv[1:3] == [b"-m", b"sysmon"]:
            found.add(int(entry.name))
    return found


@pytest.fixture(autouse=True)
def no_sysmon_left_running() -> Iterator[None]:
    """A test that failed or timed out may leave its sysmon running, and on a slow machine (an emulated
    guest) that sysmon's load fails the tests after it: it is killed when the test ends."""
    before = sysmon_children()
    yield
    for pid in sysmon_children() - before:
        try:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
        except (ProcessLookupError, ChildProcessError):
            pass


@dataclass
class Row:
    evt: Event
    values: dict[str, Any]

    def __getitem__(self, name: str) -> Any:
        return self.values[name]


class FieldSink:
    """Extracts the requested fields at emit time (state moves on afterwards)."""

    def __init__(self, catalogue: Catalogue, fields: Sequence[str]) -> None:
        self.getters = []
        for name in fields:
            found = catalogue.lookup(name)
            assert found is not None, name
            self.getters.append((name, found[0], found[1]))
        self.rows: list[Row] = []

    def emit(self, evt: Event, state: State) -> None:
        self.rows.append(Row(evt, {name: f.extract(evt, state, arg) for name, f, arg in self.getters}))


class LiveCapture:
    def __init__(self, schema: Schema, probe: Any, source: Any) -> None:
        self.schema = schema
        self.probe = probe
        self.source = source
        self.last_pid = 0  # pid of the last argv workload: other tests may run programs of the same name

    def drain(self) -> None:
        """Read what the ring holds (what earlier tests left), up to now."""
        self._read_up_to(time.monotonic_ns())

    def _read_up_to(self, t_ns: int) -> list[bytes]:
        """Poll until the ring is empty or a record from `t_ns` on (the probe's clock is CLOCK_MONOTONIC) was
        read: on a busy or slow machine a fixed time may not reach the workload's last records."""
        records: list[bytes] = []
        deadline = time.monotonic() + slow(30)
        while time.monotonic() < deadline:
            got = self.source.poll()
            records += got
            if not got or int.from_bytes(got[-1][:8], "little") >= t_ns:
                break
        return records

    def run(
        self,
        workload: Sequence[str] | Callable[[], Any],
        fields: Iterable[str] = (),
        settle_s: float = 0.3,
        timeout_s: float = slow(30),
    ) -> list[Row]:
        """Run the workload (argv or callable) while capturing; return rows for every event seen."""
        self.drain()
        clock = Clock()
        catalogue = Catalogue.default(clock)
        sink = FieldSink(catalogue, [*BASE_FIELDS, *fields])
        inspector = Inspector(procfs.snapshot(exclude_pids=(os.getpid(),)), clock, None, [sink])
        decoder = Decoder(self.schema)
        records: list[bytes] = []
        if callable(workload):
            workload()
        else:
            proc = subprocess.Popen(workload, stdout=subprocess.DEVNULL)
            self.last_pid = proc.pid
            deadline = time.monotonic() + timeout_s
            while proc.poll() is None and time.monotonic() < deadline:
                records += self.source.poll()
            assert proc.wait(timeout=slow(5)) == 0
        time.sleep(settle_s)
        records += self._read_up_to(time.monotonic_ns())
        for rec in records:
            inspector.process(decoder.decode(rec))
        return sink.rows


@pytest.fixture(scope="session")
def live() -> Any:
    require_bpf()
    from sysmon.probe.loader import Probe, ProbeOptions
    from sysmon.probe.source import LiveSource

    schema = Schema.default()
    probe = Probe(schema.capture_specs(), ProbeOptions(snaplen=256, ringbuf_bytes=64 << 20))
    yield LiveCapture(schema, probe, LiveSource(probe))
    probe.close()
