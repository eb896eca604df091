"""Real nats-server processes (Debian's) for the fleet tests: one node or a JetStream cluster,
on free 127.0.0.1 ports, with their stores in the test's directory. Stopped, killed and restarted
by the tests to stand for broker outages."""
from __future__ import annotations

import asyncio
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

import pytest


def nats_server() -> str:
    path = shutil.which("nats-server")
    if path is None:
        pytest.fail("nats-server is not installed (scripts/setup.sh installs it: apt-get install nats-server)")
    return path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Node:
    def __init__(self, tmp: Path, name: str, port: int, config: str) -> None:
        self.name = name
        self.port = port
        self.url = f"nats://127.0.0.1:{port}"
        self.config = tmp / f"{name}.conf"
        self.config.write_text(config)
        self.log = tmp / f"{name}.log"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with self.log.open("a") as log:
            self.proc = subprocess.Popen([nats_server(), "-c", str(self.config)], stdout=log, stderr=log)

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None


class Cluster:
    """n JetStream nodes; with n > 1 they form one cluster (routes between all of them)."""

    def __init__(self, tmp: Path, n: int = 3, *, auth: str = "") -> None:
        tmp.mkdir(parents=True, exist_ok=True)
        ports = [free_port() for _ in range(n)]
        routes = [free_port() for _ in range(n)]
        self.nodes: list[Node] = []
        for i in range(n):
            cluster = ""
            if n > 1:
                urls = ", ".join(f"nats://127.0.0.1:{p}" for p in routes)
                cluster = f"cluster {{ name: sysmon-test, listen: 127.0.0.1:{routes[i]}, routes: [{urls}] }}\n"
            store = tmp / f"n{i}"
            config = (f"server_name: n{i}\nlisten: 127.0.0.1:{ports[i]}\nmax_payload: 8MB\n"
                      f"jetstream {{ store_dir: \"{store}\", max_memory_store: 64MB, max_file_store: 2GB }}\n"
                      f"{cluster}{auth}")
            self.nodes.append(Node(tmp, f"n{i}", ports[i], config))
        self.urls = [node.url for node in self.nodes]

    def start(self, timeout_s: float = 60) -> None:
        for node in self.nodes:
            if node.proc is None:
                node.start()
        self.wait_ready(timeout_s)

    def stop(self) -> None:
        for node in self.nodes:
            node.stop()

    def wait_ready(self, timeout_s: float = 60, user: str | None = None, password: str | None = None) -> None:
        """Until JetStream answers (a cluster has elected its meta leader)."""
        import nats

        async def probe() -> None:
            nc = await nats.connect(self.urls, connect_timeout=2, max_reconnect_attempts=1, user=user,
                                    password=password)
            try:
                await nc.jetstream(timeout=2).account_info()
            finally:
                await nc.close()

        deadline = time.monotonic() + timeout_s
        while True:
            try:
                asyncio.run(probe())
                return
            except Exception as e:
                if time.monotonic() > deadline:
                    logs = "\n".join(n.log.read_text()[-2000:] for n in self.nodes)
                    raise AssertionError(f"JetStream not ready after {timeout_s} s: {e!r}\n{logs}") from e
                time.sleep(0.5)
