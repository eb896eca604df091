"""Tail clients never cost the daemon its recording (issue 20, defect 2): during a syscall storm the
tail thread takes under 5% of the daemon's CPU where the daemon drops, and the kernel drops with 1
and 20 `tail` clients (no filter: the costliest, every event formatted) stay near the figure with
none; the clients' own drops are counted as theirs.
A 3,000-term tail filter does not make `status` slow."""
from __future__ import annotations

import socket
import statistics
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.kernel.conftest import require_bpf
from tests.kernel.daemon_harness import Daemon
from tests.kernel.pace import slow

pytestmark = pytest.mark.bpf
STORM = 300_000  # dd bs=1: two syscalls (four events) per byte
ROUNDS = 4


class Client:
    """A tail client that reads and discards (a socket, not a process: 20 interpreters would take the CPU)."""

    def __init__(self, sock_path: Path, filt: str = "") -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.connect(str(sock_path))
        self.sock.sendall(('{"cmd": "tail", "filter": %s}\n' % __import__("json").dumps(filt)).encode())
        self.reply = self.sock.recv(4096)
        self.received = 0
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        while True:
            try:
                data = self.sock.recv(1 << 16)
            except OSError:
                return
            if not data:
                return
            self.received += len(data)

    def close(self) -> None:
        self.sock.close()


def _cpu_ns(pid: int) -> dict[str, int]:
    """Nanoseconds on a CPU per thread name (schedstat), the whole process under "*"."""
    out: dict[str, int] = {"*": 0}
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            name = (task / "comm").read_text().strip()
            ns = int((task / "schedstat").read_text().split()[0])
        except (FileNotFoundError, ProcessLookupError):
            continue
        out[name] = out.get(name, 0) + ns
        out["*"] += ns
    return out


def _storm_drops(d: Daemon, cpu: list[tuple[float, int]] | None = None) -> tuple[int, int]:
    """(kernel drops, events seen) over one storm; appends (tail thread's share of the daemon's CPU,
    kernel drops) to `cpu`."""
    before = d.status()["events"]
    ns0 = _cpu_ns(d.proc.pid)
    subprocess.run(["dd", "if=/dev/zero", "of=/dev/null", "bs=1", f"count={STORM}"], stderr=subprocess.DEVNULL,
                   check=True)
    ns1 = _cpu_ns(d.proc.pid)
    time.sleep(1.0)  # the ring drained
    after = d.status()["events"]
    drops = after["dropped"]["kernel"] - before["dropped"]["kernel"]
    if cpu is not None:
        tail = ns1.get("sysmon-tail", 0) - ns0.get("sysmon-tail", 0)
        cpu.append((tail / max(1, ns1["*"] - ns0["*"]), drops))
    return drops, after["seen"] - before["seen"]


def _wait_clients(d: Daemon, n: int) -> None:
    deadline = time.monotonic() + slow(30)
    while d.status()["tail_clients"] != n:
        assert time.monotonic() < deadline
        time.sleep(0.1)


@pytest.fixture
def tmpfs_home(tmp_path: Path) -> Iterator[Path]:
    """The captures on a tmpfs: the disk's writeback (100+ MB per storm) competes with the daemon for
    the CPU and doubles the spread of the drop figures; the tail's cost is what is measured here."""
    captures = tmp_path / "captures"
    captures.mkdir(mode=0o700)
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1G,mode=0700", "tmpfs", str(captures)], check=True)
    try:
        yield tmp_path
    finally:
        subprocess.run(["umount", "-l", str(captures)], check=False)


def test_tail_clients_do_not_raise_the_daemons_kernel_drops(tmpfs_home: Path) -> None:
    """Storms in rounds (none, 1 client, 20 clients): the figures of one condition spread by 20-40% of a
    storm from run to run on this 2-CPU VM (dd's own speed varies 2x), so the median with clients is
    compared with the worst round without."""
    require_bpf()
    d = Daemon(tmpfs_home, capture={"compression": "none"}, rotation={"size": "64M"},
               retention={"max_bytes": "512M"})
    figures: dict[int, list[int]] = {0: [], 1: [], 20: []}
    cpu: list[tuple[float, int]] = []  # storms with clients: (tail thread's share of the CPU, kernel drops)
    try:
        d.wait_for("READY", slow(60))
        for _ in range(ROUNDS):
            figures[0].append(_storm_drops(d)[0])
            for n in (1, 20):
                clients = [Client(d.sock) for _ in range(n)]
                assert all(b'"ok"' in c.reply for c in clients)
                _wait_clients(d, n)
                figures[n].append(_storm_drops(d, cpu)[0])
                assert sum(c.received for c in clients) > 0  # the clients were served
                for c in clients:
                    c.close()
                _wait_clients(d, 0)
        tail_drops = d.status()["events"]["dropped"]["tail"]
    finally:
        d.close()
    print("kernel drops per storm:", figures, "tail drops:", tail_drops,
          "tail thread's share of the daemon's CPU per storm with clients:", [f"{c:.1%}" for c, _ in cpu])
    # The direct measure, free of the drop figures' spread: while the ring holds a backlog the tail
    # thread waits, so in a storm that cost the daemon drops the tail took little of its CPU (1-4%)
    # (without that wait: 12.7%, and 4-8% of a storm in kernel drops). Where the daemon kept up
    # (0 drops) the tail may use the time left over (its duty cycle, 10%).
    assert all(share < 0.05 for share, drops in cpu if drops), cpu
    # The drop figures catch the gross defect (a tail client cost the daemon 90% of a storm). Their
    # spread is too wide for more: CI's machine saw 0 drops in every round without clients and
    # [108478, 84090, 0, 0] with 20 (9% of a storm at worst) while the tail thread took < 5% of the CPU.
    events = 4 * STORM
    base = max(figures[0])
    for n in (1, 20):
        assert statistics.median(figures[n]) <= base * 1.1 + events // 10, figures


def _slowest_status_during_a_storm(d: Daemon) -> float:
    load = subprocess.Popen(["dd", "if=/dev/zero", "of=/dev/null", "bs=1", "count=100000"], stderr=subprocess.DEVNULL)
    slowest = 0.0
    while load.poll() is None:
        t0 = time.monotonic()
        d.status()
        slowest = max(slowest, time.monotonic() - t0)
    return slowest


def test_a_3000_term_tail_filter_does_not_slow_status(tmp_path: Path) -> None:
    """Issue 20: such a client made `status` take 8.6 s. `sysmon status` is itself an interpreter start
    (~0.3 s idle, seconds on a loaded machine), so it is compared with the same storm without the client."""
    require_bpf()
    d = Daemon(tmp_path, capture={"compression": "none"})
    try:
        d.wait_for("READY", slow(60))
        alone = _slowest_status_during_a_storm(d)
        filt = " or ".join(f"fd.name=/nonexistent/{i}" for i in range(3000))
        client = Client(d.sock, filt)
        assert b'"ok"' in client.reply, client.reply
        _wait_clients(d, 1)
        with_client = _slowest_status_during_a_storm(d)
        client.close()
        print(f"slowest status during a storm: {alone:.2f} s alone, {with_client:.2f} s with a 3,000-term tail")
        assert with_client < max(2 * alone, alone + 1.0)
    finally:
        d.close()
