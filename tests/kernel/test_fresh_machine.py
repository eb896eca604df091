"""A fresh machine: tracefs not mounted. sysmon mounts it itself and keeps per-syscall tracepoints.

Each test runs sysmon in a private mount namespace where tracefs (and debugfs's automount of it)
has been unmounted, as on a machine that just booted; the host's mounts are untouched."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap

import pytest

from tests.kernel.conftest import require_bpf
from tests.kernel.pace import slow

pytestmark = pytest.mark.bpf

# Inside the namespace: unmount every tracefs, prove it is gone, then run sysmon while a client
# connects to a listener on 127.0.0.1 until sysmon prints it.
SCRIPT = textwrap.dedent("""\
    import os, socket, subprocess, sys, threading, time
    for _ in range(4):
        for line in reversed(open("/proc/self/mounts").read().splitlines()):
            dev, point, fstype = line.split()[:3]
            if fstype in ("tracefs", "debugfs"):
                subprocess.run(["umount", "-l", point], check=True)
    assert not os.path.isdir("/sys/kernel/tracing/events"), "tracefs still mounted"
    srv = socket.create_server(("127.0.0.1", 0), backlog=128)
    port = srv.getsockname()[1]
    threading.Thread(target=lambda: [srv.accept()[0].close() for _ in iter(int, 1)], daemon=True).start()
    mon = subprocess.Popen([sys.executable, "-m", "sysmon", "-v", "-n", "1", "-p", "%evt.type %evt.res",
                            f"evt.type=connect and evt.dir=< and fd.port={port}"],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + WAIT_S
    while mon.poll() is None and time.monotonic() < deadline:
        subprocess.run([sys.executable, "-c", f"import socket; socket.create_connection(('127.0.0.1', {port}), timeout=5)"])
        time.sleep(0.5)
    try:
        out, err = mon.communicate(timeout=STOP_S)
    finally:
        mon.kill()  # never left behind, whatever happened
    print(out, end=""); print(err, end="", file=sys.stderr)
""")


def test_sysmon_mounts_tracefs_and_attaches_per_syscall_tracepoints():
    require_bpf()
    script = f"WAIT_S, STOP_S = {slow(120)}, {slow(30)}\n{SCRIPT}"  # the waits inside, stretched as ours
    proc = subprocess.Popen(["unshare", "--mount", "--propagation", "private", sys.executable, "-c", script],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        out, err = proc.communicate(timeout=slow(240))
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)  # sysmon too: it runs in this session
    done = subprocess.CompletedProcess(proc.args, proc.returncode, out, err)
    assert done.returncode == 0, done.stderr
    assert "sysmon mounted it at /sys/kernel/tracing" in done.stderr
    assert "syscall tracepoints" in done.stderr, done.stderr
    assert "warning" not in done.stderr
    assert done.stdout.split()[0] == "connect"  # (res is EINPROGRESS: a connect with a timeout)
