"""Chisels against real workloads: `sysmon -c ...` as a subprocess, the workload repeated until it shows."""
from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable

import pytest

from tests.kernel.pace import slow
from tests.kernel.test_cli_live import sysmon_cmd

pytestmark = pytest.mark.bpf


def run_with(args: list[str], workload: Callable[[int], None], *, timeout_s: float = slow(60),
             until: Callable[[str], bool] | None = None, stop: int = signal.SIGINT) -> tuple[str, str]:
    """Run sysmon; call workload(i) every 0.3 s, until the output satisfies `until` or time is up;
    then stop sysmon with `stop` (SIGINT: Ctrl-C), so that chisels print their end."""
    proc = subprocess.Popen(sysmon_cmd() + args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(proc.stdout), daemon=True)  # type: ignore[arg-type]
    reader.start()
    deadline = time.monotonic() + timeout_s
    i = 0
    try:
        while proc.poll() is None and time.monotonic() < deadline:
            workload(i)
            i += 1
            time.sleep(0.3)
            if until is not None and until("".join(lines)):
                break
        if proc.poll() is None:
            proc.send_signal(stop)
        proc.wait(timeout=slow(60))  # a loaded machine may still be compiling the probe
    finally:
        if proc.poll() is None:
            proc.kill()
    reader.join(timeout=slow(5))
    return "".join(lines), proc.stderr.read()  # type: ignore[union-attr]


def test_echo_fds_shows_the_bytes_written_to_a_file_and_a_socket(live, tmp_path):
    path = tmp_path / f"echo-{uuid.uuid4().hex[:8]}"
    srv = socket.create_server(("127.0.0.1", 0))
    port = srv.getsockname()[1]
    payload = f"chisel-{uuid.uuid4().hex[:6]}"
    writer = (f"import socket\nopen({str(path)!r}, 'w').write({payload!r} + '-file')\n"
              f"c = socket.create_connection(('127.0.0.1', {port})); c.sendall({payload!r}.encode() + b'-net'); c.close()")

    def workload(i: int) -> None:
        subprocess.run([sys.executable, "-c", writer], check=True)
        conn, _ = srv.accept()
        conn.recv(100)
        conn.close()

    want = f"{payload}-net"
    out, err = run_with(["-c", "echo_fds", f"fd.name={path} or fd.sport={port}"], workload,
                        until=lambda text: want in text and f"{payload}-file" in text)
    srv.close()
    lines = out.splitlines()
    assert re.search(rf"^------ Write 18B to   {re.escape(str(path))} \(python3?\)$", out, re.M), out + err
    assert f"{payload}-file" in lines
    assert re.search(rf"^------ Write 17B to   127\.0\.0\.1:\d+->127\.0\.0\.1:{port} \(python3?\)$", out, re.M), out
    assert re.search(rf"^------ Read 17B from   127\.0\.0\.1:\d+->127\.0\.0\.1:{port} \(python3?\)$", out, re.M), out
    assert lines.count(want) >= 2  # what the client wrote is what the server read


def test_spy_users_shows_the_commands_a_shell_runs(live):
    marker = f"spy{uuid.uuid4().hex[:6]}"
    script = f"cd /tmp; /bin/echo {marker} >/dev/null; /bin/true {marker}"

    def workload(i: int) -> None:
        subprocess.run(["bash", "-c", script], check=True)

    out, err = run_with(["-c", "spy_users"], workload,
                        until=lambda text: f"/bin/true {marker}" in text)
    assert re.search(rf"^\s*\d+ \d\d:\d\d:\d\d root\) /bin/echo {marker}$", out, re.M), out + err
    assert re.search(r"^\s*\d+ \d\d:\d\d:\d\d root\) cd /tmp$", out, re.M), out


def test_topfiles_bytes_counts_what_was_written(live, tmp_path):
    prefix = str(tmp_path / "topfiles-")

    def workload(i: int) -> None:
        with open(f"{prefix}{i}", "wb") as f:
            f.write(b"x" * 300_000)

    out, err = run_with(["-c", "topfiles_bytes", f"fd.name startswith {prefix}"], workload,
                        timeout_s=slow(12))
    lines = out.splitlines()
    assert lines[:2] == ["Bytes               Filename", "-" * 80], out + err
    rows = lines[2:]
    assert rows and all(re.fullmatch(rf"292\.97KB {{12}}{re.escape(prefix)}\d+", r) for r in rows), out


def test_topconns_ranks_connections_by_bytes(live):
    srv = socket.create_server(("127.0.0.1", 0))
    port = srv.getsockname()[1]

    def serve() -> None:
        while True:
            try:
                conn, _ = srv.accept()
            except OSError:
                return
            while conn.recv(65536):
                pass
            conn.close()

    threading.Thread(target=serve, daemon=True).start()
    client = f"import socket\nc = socket.create_connection(('127.0.0.1', {port})); c.sendall(b'y' * 5000); c.close()"

    def workload(i: int) -> None:
        subprocess.run([sys.executable, "-c", client], check=True)

    out, err = run_with(["-c", "topconns", f"fd.sport={port}"], workload, timeout_s=slow(12))
    srv.close()
    rows = out.splitlines()[2:]
    assert rows, out + err
    for row in rows:  # each connection: 5000 bytes written by the client and read by the server
        assert re.fullmatch(rf"9\.77KB {{14}}tcp {{17}}127\.0\.0\.1:\d+->127\.0\.0\.1:{port}", row), out


def test_lsof_lists_a_file_a_process_holds_open(live, tmp_path):
    path = tmp_path / f"lsof-{uuid.uuid4().hex[:8]}"
    path.write_text("held")
    holder = subprocess.Popen([sys.executable, "-c", f"f = open({str(path)!r}); import time; time.sleep(60)"])
    try:
        time.sleep(0.5)
        out = subprocess.run(sysmon_cmd() + ["-c", "lsof", f"'fd.name={path}'"], capture_output=True, text=True,
                             timeout=slow(60))
    finally:
        holder.kill()
    lines = out.stdout.splitlines()
    assert lines[0] == "COMMAND             PID     TID     USER    FD      TYPE        NAME", out.stderr
    assert len(lines) == 2, out.stdout
    assert re.fullmatch(rf"python3?\s+{holder.pid}\s+{holder.pid}\s+root\s+\d+\s+file\s+{path}", lines[1]), lines[1]
    assert os.path.exists(path)


def test_echo_fds_shows_the_exact_bytes_with_direction_size_file_and_process(live):
    path = f"/tmp/x-{uuid.uuid4().hex[:8]}"
    writer = f"f = open({path!r}, 'wb'); f.write(b'hello\\x00world\\n'); f.close(); open({path!r}, 'rb').read()"

    def workload(i: int) -> None:
        subprocess.run([sys.executable, "-c", writer], check=True)

    out, err = run_with(["-c", "echo_fds", "fd.name", "contains", path], workload,
                        until=lambda text: "------ Read" in text)
    lines = out.splitlines()
    starts = [n for n, line in enumerate(lines) if line.startswith("------ Write")]
    assert starts, out + err
    i = starts[0]
    assert re.fullmatch(rf"------ Write 12B to   {path} \(python3?\)", lines[i]), out
    assert lines[i + 1] == "hello.world."
    assert re.fullmatch(rf"------ Read 12B from   {path} \(python3?\)", lines[i + 2]), out
    assert lines[i + 3] == "hello.world."


def test_a_replay_prints_the_topfiles_bytes_table_of_the_live_run_that_wrote_it(live, tmp_path):
    capture = str(tmp_path / "top.smc")
    prefix = str(tmp_path / "top-")

    def workload(i: int) -> None:
        with open(f"{prefix}{i}", "wb") as f:
            f.write(b"z" * (100_000 + i))

    live_out, err = run_with(["-w", capture, "-c", "topfiles_bytes", f"fd.name startswith {prefix}"], workload,
                             timeout_s=slow(25))
    assert live_out.startswith("Bytes               Filename\n"), live_out + err
    assert prefix in live_out
    replay = subprocess.run(sysmon_cmd() + ["-r", capture, "-c", "topfiles_bytes"], capture_output=True, text=True,
                            timeout=slow(120))
    assert replay.stdout == live_out, replay.stderr
