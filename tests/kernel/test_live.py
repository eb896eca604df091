"""Live capture of real workloads, asserted on the events the probe delivered."""
from __future__ import annotations

import ipaddress
import os
import subprocess
import time
from collections.abc import Iterator

import pytest

from sysmon.events.schema import Schema
from tests.kernel.conftest import LiveCapture, require_bpf
from tests.kernel.pace import slow

pytestmark = pytest.mark.bpf
PY = "/usr/bin/python3"
# Every feature whose absence has a fallback in the probe (sysmon/probe/kernel.py): switched off,
# the probe runs the code of a 5.10 kernel (perf buffer, enter args in a hash, task via probe reads).
OLDER_KERNEL = "ringbuf,task_storage,task_btf,task_pt_regs"


def native_choice() -> tuple[str, str]:
    """(transport, enter-arg store) the probe must pick on this kernel: ring buffer since 5.8, task storage 5.11."""
    version = tuple(int(x) for x in os.uname().release.split(".")[:2])
    return ("ringbuf" if version >= (5, 8) else "perf", "task-storage" if version >= (5, 11) else "lru-hash")


@pytest.fixture(scope="module", params=["native", "older-kernel-fallbacks"])
def live(request) -> Iterator[LiveCapture]:
    """The tests below run on the probe as this kernel builds it, and again on its fallbacks."""
    require_bpf()
    from sysmon.probe.kernel import FEATURES_OFF_ENV
    from sysmon.probe.loader import Probe, ProbeOptions
    from sysmon.probe.source import LiveSource

    schema = Schema.default()
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv(FEATURES_OFF_ENV, OLDER_KERNEL if request.param != "native" else "")
        probe = Probe(schema.capture_specs(), ProbeOptions(snaplen=256, ringbuf_bytes=64 << 20))
    expected = ("perf", "lru-hash") if request.param != "native" else native_choice()
    assert (probe.transport, probe.kernel.enter_store) == expected
    yield LiveCapture(schema, probe, LiveSource(probe))
    probe.close()


def rows_of(rows, pid, evt_type=None, direction=None):
    return [
        r for r in rows
        if r["proc.pid"] == pid and (evt_type is None or r["evt.type"] == evt_type)
        and (direction is None or r["evt.dir"] == direction)
    ]


@pytest.mark.smoke
def test_probe_reads_kernel_structs_right(live):
    rows = live.run(["/bin/true"])
    assert rows, "no events captured at all"
    counters = live.probe.counters()
    assert counters["tgid_mismatch"] == 0
    assert counters["sent"] > 0
    own = os.getpid()
    ppid_of_true = [r.evt.ppid for r in rows if r.evt.pid == live.last_pid]
    assert ppid_of_true and set(ppid_of_true) == {own}, "ppid read from task_struct must be the test process"


@pytest.mark.smoke
def test_open_n_times_gives_exactly_n_openat_exits(live, tmp_path):
    path = tmp_path / f"sysmon-open-{os.getpid()}.txt"
    path.write_text("x")
    n = 25
    script = f"import os\nfor _ in range({n}):\n    os.close(os.open({str(path)!r}, os.O_RDONLY))\n"
    rows = live.run([PY, "-c", script], fields=["fd.name", "evt.arg.name"])
    opens = [r for r in rows if r["evt.type"] == "openat" and r["evt.dir"] == "<" and r["fd.name"] == str(path)]
    assert {r.evt.pid for r in opens} == {live.last_pid}
    assert len(opens) == n
    assert {r["proc.name"] for r in opens} == {"python3"}
    closes = [r for r in rows if r["evt.type"] == "close" and r["evt.dir"] == "<" and r["fd.name"] == str(path)]
    assert len(closes) == n, "the close exit itself must still resolve fd.name (delayed removal)"


@pytest.mark.smoke
def test_connect_and_accept_show_the_full_tuple(live):
    # The server runs in a child so that its accept is not sysmon's own (excluded) syscall.
    server = (
        "import socket\ns=socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)\n"
        "s.bind(('127.0.0.1', 80)); s.listen(8)\nimport sys; sys.stdout.write('ready\\n'); sys.stdout.flush()\n"
        "c, _ = s.accept(); c.close()\n"
    )
    client = "import socket, time\nc = socket.create_connection(('127.0.0.1', 80)); c.close()\n"
    holder: dict[str, subprocess.Popen] = {}

    def workload() -> None:
        sp = subprocess.Popen([PY, "-c", server], stdout=subprocess.PIPE, text=True)
        holder["server"] = sp
        assert sp.stdout is not None and sp.stdout.readline() == "ready\n"
        cp = subprocess.Popen([PY, "-c", client])
        holder["client"] = cp
        assert cp.wait(slow(10)) == 0 and sp.wait(slow(10)) == 0
        time.sleep(0.1)

    fields = ["fd.name", "fd.sip", "fd.sport", "fd.cip", "fd.cport", "fd.l4proto", "fd.type"]
    rows = live.run(workload, fields=fields)
    connects = rows_of(rows, holder["client"].pid, "connect", "<")
    assert connects, "no connect exit from the client"
    c = connects[0]
    assert c["proc.name"] == "python3"
    assert c["fd.sip"] == ipaddress.ip_address("127.0.0.1") and c["fd.sport"] == 80
    assert c["fd.cip"] == ipaddress.ip_address("127.0.0.1") and c["fd.cport"] > 1024
    assert c["fd.name"] == f"127.0.0.1:{c['fd.cport']}->127.0.0.1:80"
    assert c["fd.l4proto"] == "tcp" and c["fd.type"] == "ipv4"
    accepts = rows_of(rows, holder["server"].pid, "accept", "<")
    assert accepts, "no accept exit from the server"
    a = accepts[0]
    assert a["fd.name"] == c["fd.name"], "the server sees the same client->server tuple"
    assert (a["fd.cport"], a["fd.sport"]) == (c["fd.cport"], 80)


@pytest.mark.smoke
def test_execve_shows_exe_and_arguments(live):
    rows = live.run(["/bin/true", "alpha", "--beta=1"], fields=["proc.cmdline", "proc.exepath", "proc.args"])
    execs = [r for r in rows if r["evt.type"] == "execve" and r["evt.dir"] == "<" and r["evt.rawres"] == 0
             and r.evt.pid == live.last_pid]
    assert execs
    assert execs[0]["proc.cmdline"] == "true alpha --beta=1"
    assert execs[0]["proc.exepath"] == "/bin/true"


def test_read_shows_file_content_in_data(live, tmp_path):
    path = tmp_path / "content.txt"
    path.write_text("hello sysmon 12345\n")
    rows = live.run(["/bin/cat", str(path)], fields=["fd.name", "evt.info", "evt.buffer"])
    reads = [r for r in rows if r["evt.type"] == "read" and r["evt.dir"] == "<" and r["fd.name"] == str(path)
             and r["evt.rawres"] and r["evt.rawres"] > 0]
    assert reads
    assert reads[0]["evt.buffer"] == b"hello sysmon 12345\n"
    assert "data=hello sysmon 12345." in reads[0]["evt.info"]


def test_sysmon_never_reports_its_own_syscalls(live, tmp_path):
    """Our own 50 stats of a path leave no event; the same 50 by another process all show (the control)."""
    marker = tmp_path / "own-syscalls"
    marker.mkdir()

    def own_work() -> None:
        for _ in range(50):
            os.stat(str(marker))
    rows = live.run(own_work, fields=["evt.info"])
    assert not [r for r in rows if r["proc.pid"] == os.getpid() or str(marker) in (r["evt.info"] or "")]
    rows = live.run([PY, "-c", f"import os\nfor _ in range(50): os.stat({str(marker)!r})"], fields=["evt.info"])
    theirs = [r for r in rows if r["evt.dir"] == "<" and r["evt.type"] != "execve"
              and str(marker) in (r["evt.info"] or "")]
    assert len(theirs) == 50 and {r["proc.pid"] for r in theirs} == {live.last_pid}


def test_threads_share_the_process_fd_table(live, tmp_path):
    path = tmp_path / "thread.txt"
    path.write_text("t")
    script = (
        "import os, threading\n"
        f"fd = os.open({str(path)!r}, os.O_RDONLY)\n"
        "t = threading.Thread(target=lambda: os.read(fd, 1)); t.start(); t.join()\n"
    )
    rows = live.run([PY, "-c", script], fields=["fd.name", "thread.ismain"])
    reads = [r for r in rows if r["evt.type"] == "read" and r["evt.dir"] == "<" and r["fd.name"] == str(path)]
    assert reads and reads[0]["thread.ismain"] is False


def test_udp_sendto_and_recvfrom_name_both_ends(live):
    """An unconnected UDP socket: the destination comes from sendto's address, the sender's local
    address from the machine's interfaces (as libsinsp fills it), the peer from recvfrom's address."""
    script = (
        "import socket\nr = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); r.bind(('127.0.0.1', 0))\n"
        "s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.sendto(b'ping', r.getsockname())\n"
        "data, peer = r.recvfrom(16)\nprint(r.getsockname()[1], peer[1])\n"
    )
    out: dict[str, str] = {}

    def workload() -> None:
        proc = subprocess.run([PY, "-c", script], capture_output=True, text=True, check=True)
        out["ports"] = proc.stdout

    rows = live.run(workload, fields=["fd.name", "fd.sip", "fd.sport", "fd.cport", "fd.l4proto"])
    server_port, client_port = (int(p) for p in out["ports"].split())
    name = f"127.0.0.1:{client_port}->127.0.0.1:{server_port}"
    sends = [r for r in rows if r["evt.type"] == "sendto" and r["evt.dir"] == "<" and r["fd.sport"] == server_port]
    recvs = [r for r in rows if r["evt.type"] == "recvfrom" and r["evt.dir"] == "<" and r["fd.cport"] == client_port]
    assert [r["fd.name"] for r in sends] == [name]
    assert [r["fd.name"] for r in recvs] == [name]
    assert sends[0]["fd.l4proto"] == "udp" and sends[0]["fd.sip"] == ipaddress.ip_address("127.0.0.1")


def test_bound_udp_socket_sending_and_a_connected_one(live):
    """A UDP socket bound before the capture that sends with sendto (502Error.scap's haproxy, live):
    the fd list gives it no role (as libsinsp's), the destination is the message's, the unset source
    the interface's, the role guessed client, so fd.cport is its own port; then a connected UDP socket:
    connect() names it, send() keeps the name."""
    script = (
        "import socket, sys\nr = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); r.bind(('127.0.0.1', 0))\n"
        "b = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); b.bind(('0.0.0.0', 0))\n"
        "print(r.getsockname()[1], b.getsockname()[1], flush=True); sys.stdin.readline()\n"
        "b.sendto(b'one', r.getsockname()); b.sendto(b'two', r.getsockname())\n"
        "c = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); c.connect(r.getsockname()); c.send(b'three')\n"
        "print(c.getsockname()[1], flush=True)\n"
    )
    helper = subprocess.Popen([PY, "-c", script], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert helper.stdin is not None and helper.stdout is not None
    server, bound = (int(p) for p in helper.stdout.readline().split())
    ports: list[int] = []

    def workload() -> None:  # the snapshot taken, the bound socket in it: now send
        helper.stdin.write("go\n")
        helper.stdin.flush()
        ports.append(int(helper.stdout.readline()))

    rows = live.run(workload, fields=["fd.name", "fd.cip", "fd.sip", "fd.cport", "fd.sport", "fd.l4proto"])
    assert helper.wait(timeout=slow(10)) == 0
    sends = [r for r in rows if r["evt.type"] == "sendto" and r["evt.dir"] == "<" and r["fd.sport"] == server]
    loop = ipaddress.ip_address("127.0.0.1")
    assert [(r["fd.name"], r["fd.cip"], r["fd.cport"], r["fd.sip"], r["fd.l4proto"]) for r in sends] == [
        (f"127.0.0.1:{port}->127.0.0.1:{server}", loop, port, loop, "udp") for port in (bound, bound, ports[0])]
