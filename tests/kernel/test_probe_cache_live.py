"""The compiled-probe cache on the real kernel: a start from the cache captures what a compile does,
excludes its own process, and two probes made from one entry run side by side."""
from __future__ import annotations

import os
import pty
import subprocess
import sys

import pytest

from sysmon.events.schema import Schema
from tests.kernel.conftest import LiveCapture, require_bpf
from tests.kernel.pace import slow
from tests.terminal import read_until_closed

pytestmark = pytest.mark.bpf
PY = "/usr/bin/python3"


def opens_of(live: LiveCapture, path: str, n: int) -> list:
    script = f"import os\nfor _ in range({n}):\n    os.close(os.open({path!r}, os.O_RDONLY))\n"
    rows = live.run([PY, "-c", script], fields=["fd.name"])
    return [r for r in rows if r.evt.pid == live.last_pid and r["evt.type"] == "openat" and r["evt.dir"] == "<"
            and r["fd.name"] == path]


def test_a_cached_start_skips_the_compiler_and_captures_the_same(tmp_path):
    require_bpf()
    from sysmon.probe.loader import Probe, ProbeOptions
    from sysmon.probe.source import LiveSource

    schema = Schema.default()
    target = tmp_path / "cached.txt"
    target.write_text("x")
    opts = ProbeOptions(ringbuf_bytes=16 << 20, probe_cache=tmp_path / "cache")
    compiles = []
    first = Probe(schema.capture_specs(), opts, on_compile=lambda: compiles.append(1))
    assert first.describe()["compiled"] == "now" and compiles == [1]
    entries = list((tmp_path / "cache").iterdir())
    assert len(entries) == 1 and entries[0].stat().st_mode & 0o777 == 0o600
    second = Probe(schema.capture_specs(), opts, on_compile=lambda: compiles.append(2))
    try:
        assert second.describe()["compiled"] == "cached" and compiles == [1]
        lives = [LiveCapture(schema, p, LiveSource(p)) for p in (first, second)]
        # Both probes, one compiled now and one from the cache, see the same 7 opens.
        for live in lives:
            assert len(opens_of(live, str(target), 7)) == 7
        own = [r for r in lives[1].run(lambda: os.close(os.open(str(target), os.O_RDONLY)))
               if r.evt.pid == os.getpid()]
        assert own == [], "the cached probe must exclude its own process (patched SELF_PID)"
        assert second.counters()["tgid_mismatch"] == 0
    finally:
        second.close()
        first.close()


def test_a_damaged_cache_entry_is_compiled_again(tmp_path):
    require_bpf()
    from sysmon.probe.loader import Probe, ProbeOptions

    schema = Schema.default()
    opts = ProbeOptions(ringbuf_bytes=1 << 20, probe_cache=tmp_path / "cache")
    Probe(schema.capture_specs(), opts).close()
    (entry,) = (tmp_path / "cache").iterdir()
    entry.write_bytes(entry.read_bytes()[:1000])
    probe = Probe(schema.capture_specs(), opts)
    try:
        assert probe.describe()["compiled"] == "now"
    finally:
        probe.close()


def test_the_cli_announces_a_first_compile_on_a_tty_and_later_starts_come_from_the_cache(tmp_path):
    require_bpf()
    env = {**os.environ, "SYSMON_PROBE_CACHE": str(tmp_path / "cache")}
    errs = []
    for _ in range(2):
        master, slave = pty.openpty()  # stderr on a terminal, as a user at a shell has it
        done = subprocess.run([sys.executable, "-m", "sysmon", "-v", "-n", "1"], stdout=subprocess.DEVNULL,
                              stderr=slave, env=env, timeout=slow(180))
        os.close(slave)
        errs.append(read_until_closed(master))
        assert done.returncode == 0, errs[-1]
    assert "compiling the probe" in errs[0] and "probe compiled now" in errs[0]
    assert "compiling the probe" not in errs[1] and "probe from the cache" in errs[1]
