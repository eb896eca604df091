"""sysmon in a pid namespace of its own (a container without --pid=host, `unshare -p`): its pid there
is not the kernel's, and the probe must still leave sysmon's own syscalls out (else every line it
prints makes more events: a feedback loop)."""
from __future__ import annotations

import subprocess
import sys
import threading
import time

import pytest

from tests.kernel.conftest import require_bpf
from tests.kernel.pace import slow

pytestmark = pytest.mark.bpf


def test_sysmon_in_its_own_pid_namespace_does_not_record_itself() -> None:
    require_bpf()
    proc = subprocess.Popen(["unshare", "--pid", "--fork", "--mount-proc", sys.executable, "-m", "sysmon", "-M",
                             str(round(slow(3))),
                             "-p", "%thread.tid %proc.pid %evt.type"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    time.sleep(slow(1.5))
    children = subprocess.run(["pgrep", "-P", str(proc.pid)], capture_output=True, text=True).stdout.split()
    assert len(children) == 1, children  # unshare --fork: sysmon, pid 1 inside, this pid outside
    sysmon_pid = children[0]

    def workload() -> None:  # events of this machine while sysmon runs (an idle VM has few of its own)
        while proc.poll() is None:
            subprocess.run(["cat", "/etc/hostname"], stdout=subprocess.DEVNULL)
            time.sleep(0.1)

    threading.Thread(target=workload, daemon=True).start()
    out, err = proc.communicate(timeout=slow(60))
    assert proc.returncode == 0, err
    rows = [line.split() for line in out.splitlines()]
    assert len(rows) > 20, (out, err)  # the machine's events are there
    assert not [r for r in rows if sysmon_pid in r[:2]], [r for r in rows if sysmon_pid in r[:2]][:5]
