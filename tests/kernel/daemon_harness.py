"""Runs `sysmon daemon` as a subprocess under a notify socket bound by the test, as systemd would."""
from __future__ import annotations

import json
import os
import queue
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

from tests.kernel.pace import slow

SYSMON = [sys.executable, "-m", "sysmon"]


def write_config(path: Path, capture_dir: Path, sock: Path, **sections: dict[str, Any]) -> None:
    body = {"capture": {"dir": str(capture_dir)}, "control": {"socket": str(sock)}, "log": {"level": "info"}}
    for name, values in sections.items():
        body.setdefault(name, {}).update(values)
    lines = []
    for name, values in body.items():
        lines.append(f"[{name}]")
        lines += [f"{key} = {json.dumps(value)}" for key, value in values.items()]
    path.write_text("\n".join(lines) + "\n")


class Daemon:
    def __init__(self, tmp: Path, watchdog_usec: int = 200_000, **sections: dict[str, Any]) -> None:
        self.tmp = tmp
        self.dir = tmp / "captures"
        self.sock = tmp / "run" / "control.sock"
        self.config = tmp / "sysmon.toml"
        write_config(self.config, self.dir, self.sock, **sections)
        self.notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.notify_path = f"@sysmon-test-{os.getpid()}-{id(self)}"
        self.notify.bind("\0" + self.notify_path[1:])
        self.messages: list[tuple[float, dict[str, str]]] = []  # as wait_for took them from the inbox
        self.inbox: queue.Queue[tuple[float, dict[str, str]]] = queue.Queue()
        threading.Thread(target=self._listen, daemon=True).start()
        env = {**os.environ, "NOTIFY_SOCKET": self.notify_path, "WATCHDOG_USEC": str(watchdog_usec)}
        self.log = tmp / "daemon.log"  # a file, not a pipe: a pipe nobody reads would block the daemon
        with self.log.open("w") as log:
            self.proc = subprocess.Popen([*SYSMON, "daemon", "--config", str(self.config)], env=env,
                                         stdout=subprocess.DEVNULL, stderr=log)

    def _listen(self) -> None:
        """Receive as systemd does, all the time: an unread notify queue would drop messages."""
        while True:
            try:
                data = self.notify.recv(4096)
            except OSError:
                return
            msg = dict(line.split("=", 1) for line in data.decode().splitlines())
            self.inbox.put((time.monotonic(), msg))

    def wait_for(self, key: str, timeout_s: float = slow(30), value: str | None = None) -> dict[str, str]:
        deadline = time.monotonic() + timeout_s
        while (left := deadline - time.monotonic()) > 0:
            try:
                t, msg = self.inbox.get(timeout=min(left, 0.5))
            except queue.Empty:
                if self.proc.poll() is not None and self.inbox.empty():
                    break
                continue
            self.messages.append((t, msg))
            if key in msg and (value is None or msg[key] == value):
                return msg
        raise AssertionError(f"no {key} from the daemon; exit {self.proc.poll()}: {self.stderr_now()}")

    def stderr_now(self) -> str:
        return self.log.read_text()

    def cli(self, *args: str, timeout: float = slow(20)) -> subprocess.CompletedProcess[str]:
        word, *rest = args
        return subprocess.run([*SYSMON, word, "--socket", str(self.sock), *rest], capture_output=True,
                              text=True, timeout=timeout)

    def status(self) -> dict[str, Any]:
        res = self.cli("status", "-j")
        assert res.returncode == 0, res.stderr
        return dict(json.loads(res.stdout))

    def files(self) -> dict[Path, int]:
        """The capture files and their sizes, oldest first (files retention deletes meanwhile left out)."""
        found = []
        for path in self.dir.glob("sysmon-*.smc*"):
            try:
                st = path.stat()
            except FileNotFoundError:
                continue
            found.append((st.st_mtime, path, st.st_size))
        return {path: size for _, path, size in sorted(found)}

    def signal(self, sig: int) -> None:
        self.proc.send_signal(sig)

    def stop(self, timeout_s: float = slow(10)) -> tuple[int, float]:
        """SIGTERM; returns (exit status, seconds it took)."""
        start = time.monotonic()
        self.proc.send_signal(signal.SIGTERM)
        code = self.proc.wait(timeout=timeout_s)
        return code, time.monotonic() - start

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self.notify.shutdown(socket.SHUT_RDWR)
        self.notify.close()


def named_program(tmp: Path, name: str) -> Path:
    """/bin/cat under another name: its events carry a comm no other process has."""
    prog = tmp / name
    shutil.copy("/bin/cat", prog)
    return prog


def replay(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*SYSMON, *args], capture_output=True, text=True, timeout=slow(120))
