"""Pushdown of event types onto syscall tracepoints: the selected syscalls arrive as complete as
through raw_syscalls, and the others never reach the probe."""
from __future__ import annotations

import subprocess
from collections.abc import Iterator

import pytest

from sysmon.events.schema import Schema
from tests.kernel.conftest import LiveCapture, require_bpf

pytestmark = pytest.mark.bpf
SELECTED = ("connect", "execve", "openat")


@pytest.fixture(scope="module")
def hooked() -> Iterator[LiveCapture]:
    require_bpf()
    from sysmon.probe.loader import Probe, ProbeOptions
    from sysmon.probe.source import LiveSource

    schema = Schema.default()
    probe = Probe(schema.capture_specs(), ProbeOptions(snaplen=256, ringbuf_bytes=16 << 20), schema.state_nrs())
    wanted = schema.wanted_nrs(SELECTED)
    assert wanted is not None
    probe.select(wanted)
    yield LiveCapture(schema, probe, LiveSource(probe))
    probe.close()


def test_a_type_selection_attaches_to_the_tracepoints_of_those_syscalls_and_state_ones(hooked):
    assert set(SELECTED) | {"close", "clone", "dup2"} <= set(hooked.probe.hooks)
    assert "read" not in hooked.probe.hooks and "raw_syscalls" not in hooked.probe.hooks


def test_execve_arguments_and_openat_paths_arrive_through_tracepoints(hooked, tmp_path):
    path = tmp_path / "tp.txt"
    path.write_text("x")
    rows = hooked.run(["/bin/cat", str(path)], fields=["proc.cmdline", "fd.name", "evt.arg.flags", "evt.arg.dirfd"])
    mine = [r for r in rows if r.evt.pid == hooked.last_pid]
    execs = [r for r in mine if r["evt.type"] == "execve" and r["evt.dir"] == "<" and r["evt.rawres"] == 0]
    assert execs and execs[0]["proc.cmdline"] == f"cat {path}"
    opens = [r for r in mine if r["evt.type"] == "openat" and r["evt.dir"] == "<" and r["fd.name"] == str(path)]
    assert len(opens) == 1
    assert (opens[0]["evt.arg.flags"], opens[0]["evt.arg.dirfd"]) == ("O_RDONLY", "AT_FDCWD")  # resolved, as sysdig
    assert not [r for r in mine if r["evt.type"] in ("read", "write", "fstat", "mmap")]


def test_a_storm_of_unselected_syscalls_never_reaches_the_probe(hooked):
    rows = hooked.run(["dd", "if=/dev/zero", "of=/dev/null", "bs=1", "count=100000", "status=none"])
    dd = [r for r in rows if r.evt.pid == hooked.last_pid]  # (the machine's other processes are not dd's)
    assert dd and len(dd) < 500, f"{len(dd)} events of dd's 200k-syscall storm of read/write"
    assert not [r for r in dd if r["evt.type"] in ("read", "write")]


def test_selecting_everything_again_goes_back_to_raw_syscalls(hooked):
    hooked.probe.select(None)
    try:
        assert hooked.probe.hooks == ("raw_syscalls",)
        rows = hooked.run(["/bin/true"])
        types = {r["evt.type"] for r in rows if r.evt.pid == hooked.last_pid}
        assert {"execve", "mmap", "exit_group"} <= types
    finally:
        hooked.probe.select(hooked.schema.wanted_nrs(SELECTED))
    assert "raw_syscalls" not in hooked.probe.hooks
