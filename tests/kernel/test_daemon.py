"""`sysmon daemon` with the real probe, under a notify socket bound by the test (as systemd runs it):
READY after the probe attaches, WATCHDOG and STATUS, the control socket (status, tail, a client that
stops reading), SIGHUP (new file; a bad configuration is refused and the old one kept), SIGTERM."""
from __future__ import annotations

import json
import re
import select
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.kernel.conftest import require_bpf
from tests.kernel.daemon_harness import SYSMON, Daemon, named_program, replay
from tests.kernel.pace import slow

pytestmark = pytest.mark.bpf
STATUS = re.compile(r"recording: (\d+) events/s, (\d+) seen, (\d+) written, (\d+) dropped")


@pytest.fixture(scope="module")
def daemon(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Daemon]:
    require_bpf()
    tmp = tmp_path_factory.mktemp("daemon")
    d = Daemon(tmp, rotation={"size": "64M"})
    try:
        d.ready = d.wait_for("READY", slow(60))  # type: ignore[attr-defined]
        # Straight after READY: if the probe were not attached yet, these events would be missing.
        subprocess.run([named_program(tmp, "sysmonready"), "/etc/hostname"], stdout=subprocess.DEVNULL, check=True)
        yield d
    finally:
        d.close()


def test_ready_then_watchdog_pings_and_status_with_figures(daemon: Daemon) -> None:
    assert daemon.ready["READY"] == "1"  # type: ignore[attr-defined]
    start = time.monotonic()
    status = daemon.wait_for("STATUS", slow(10))
    while not (m := STATUS.search(status["STATUS"])) or int(m[1]) == 0 or time.monotonic() - start < 1:
        status = daemon.wait_for("STATUS", slow(10))
    rate, seen, written, _ = map(int, m.groups())
    assert rate > 0 and seen > 0 and written > 0
    pings = [t for t, msg in daemon.messages if msg.get("WATCHDOG") == "1" and t >= start]
    assert len(pings) >= 5, daemon.messages  # WATCHDOG_USEC 200 ms: a ping every 100 ms


def test_status_command(daemon: Daemon) -> None:
    res = daemon.cli("status")
    assert res.returncode == 0, res.stderr
    assert res.stdout.startswith("sysmon daemon: recording (pid ")
    assert re.search(r"^events:  \d+ seen, \d+ written, \d+ dropped", res.stdout, re.M), res.stdout
    st = daemon.status()
    assert st["state"] == "recording" and st["events"]["seen"] > 0
    assert st["file"].startswith(str(daemon.dir)) and st["disk"]["files"] >= 1


def _read_lines(proc: subprocess.Popen[str], until: float, needle: str) -> list[str]:
    """Lines until half a second after one holding `needle` (or until the time is up)."""
    assert proc.stdout is not None
    lines: list[str] = []
    while time.monotonic() < until:
        ready, _, _ = select.select([proc.stdout], [], [], max(0.0, until - time.monotonic()))
        if not ready:
            break
        line = proc.stdout.readline()
        if not line:
            break
        lines.append(line)
        if needle in line:
            until = min(until, time.monotonic() + slow(0.5))
    return lines


def _wait_clients(daemon: Daemon, n: int) -> None:
    deadline = time.monotonic() + slow(10)
    while daemon.status()["tail_clients"] != n:
        assert time.monotonic() < deadline, "tail client not registered"
        time.sleep(0.1)


@pytest.mark.parametrize("as_json", [False, True], ids=["text", "json"])
def test_tail_streams_the_events_its_filter_selects(daemon: Daemon, tmp_path: Path, as_json: bool) -> None:
    prog = named_program(tmp_path, "sysmontail")
    tail = subprocess.Popen([*SYSMON, "tail", "--socket", str(daemon.sock), *(["-j"] if as_json else []),
                             "proc.name=sysmontail"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        _wait_clients(daemon, 1)
        subprocess.run([prog, "/etc/hostname"], stdout=subprocess.DEVNULL, check=True)
        lines = _read_lines(tail, time.monotonic() + slow(20), "/etc/hostname")
    finally:
        tail.terminate()
        tail.wait()
    assert len(lines) > 10
    if as_json:
        rows = [json.loads(line) for line in lines]
        assert {row["proc.name"] for row in rows} == {"sysmontail"}
        assert any("/etc/hostname" in row["evt.info"] for row in rows)
    else:
        assert all(" sysmontail (" in line for line in lines), lines[:5]
        assert any("/etc/hostname" in line for line in lines)
    _wait_clients(daemon, 0)


def test_tail_with_a_bad_filter_exits_2_with_a_caret(daemon: Daemon) -> None:
    res = daemon.cli("tail", "proc.nam=x")
    assert res.returncode == 2
    assert 'unknown field "proc.nam"' in res.stderr and "^" in res.stderr, res.stderr


def test_a_client_that_stops_reading_does_not_stall_the_daemon(daemon: Daemon) -> None:
    stuck = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    stuck.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    stuck.connect(str(daemon.sock))
    stuck.sendall(b'{"cmd": "tail", "filter": ""}\n')
    assert b'"ok"' in stuck.recv(64)
    try:
        before = daemon.status()
        load = subprocess.Popen(["dd", "if=/dev/zero", "of=/dev/null", "bs=1", "count=20000"],
                                stderr=subprocess.DEVNULL)
        slowest = 0.0
        while load.poll() is None or slowest == 0.0:
            t0 = time.monotonic()
            after = daemon.status()
            slowest = max(slowest, time.monotonic() - t0)
            time.sleep(0.2)
        deadline = time.monotonic() + slow(10)
        while (after := daemon.status())["events"]["seen"] - before["events"]["seen"] < 80_000:
            assert time.monotonic() < deadline, after
            time.sleep(0.2)
    finally:
        stuck.close()
    assert slowest < slow(2.0)
    assert after["events"]["dropped"]["tail"] > 0
    _wait_clients(daemon, 0)


def test_sighup_starts_a_new_file_and_a_bad_reload_keeps_the_old_config(daemon: Daemon) -> None:
    first = daemon.status()["file"]
    daemon.signal(signal.SIGHUP)
    daemon.wait_for("READY", slow(10))
    st = daemon.status()
    assert st["file"] != first and st["reloads"] == 1 and st["reload_error"] is None
    assert Path(first).exists()

    good = daemon.config.read_text()
    daemon.config.write_text(good.replace('size = "64M"', 'size = "ten"'))
    try:
        daemon.signal(signal.SIGHUP)
        msg = daemon.wait_for("STATUS", slow(10))
        while "reload refused" not in msg["STATUS"]:
            msg = daemon.wait_for("STATUS", slow(10))
        assert "rotation.size" in msg["STATUS"]
        st2 = daemon.status()
        assert st2["reloads"] == 1 and st2["file"] == st["file"] and "rotation.size" in st2["reload_error"]
    finally:
        daemon.config.write_text(good)


def test_sigterm_flushes_and_the_files_replay_with_the_workload(daemon: Daemon, tmp_path: Path) -> None:
    subprocess.run([named_program(tmp_path, "sysmonlast"), "/etc/hostname"], stdout=subprocess.DEVNULL, check=True)
    code, took = daemon.stop()
    assert code == 0 and took < slow(5), daemon.stderr_now()
    daemon.wait_for("STOPPING", slow(5))
    files = list(daemon.files())
    assert len(files) == 2 and all(f.stat().st_mode & 0o777 == 0o600 for f in files)
    rep = replay("-r", str(daemon.dir / "sysmon-*"), "-p", "%proc.name %evt.type %fd.name",
                 "proc.name in (sysmonready, sysmonlast) and evt.type=openat and evt.dir=<")
    assert rep.returncode == 0 and rep.stderr == "", rep.stderr
    lines = set(rep.stdout.splitlines())
    assert {"sysmonready openat /etc/hostname", "sysmonlast openat /etc/hostname"} <= lines, lines

