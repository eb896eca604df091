"""sysmon.service as users run it: installed, enabled and driven with systemctl under a real systemd."""
from __future__ import annotations

import re
import time

from nspawn_guest import Guest

CONFIG = """[capture]
filter = "{filter}"
[log]
level = "info"
"""


def _wait(predicate, timeout: float = 60.0, what: str = "") -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.5)


def test_the_service_under_systemd(guest: Guest) -> None:
    # A fresh machine: tracefs not mounted. The unit pulls in sys-kernel-tracing.mount before its sandbox.
    guest.run("umount", "/sys/kernel/tracing")
    guest.write("/etc/sysmon/sysmon.toml", CONFIG.format(filter="proc.name=cat"))

    # enable --now returns once the daemon sent READY=1 (Type=notify)
    res = guest.run("systemctl", "enable", "--now", "sysmon", timeout=180)
    assert res.returncode == 0, res.stderr + guest.journal()
    props = guest.show("ActiveState", "SubState", "MainPID", "StatusText", "UnitFileState")
    assert (props["ActiveState"], props["SubState"], props["UnitFileState"]) == ("active", "running", "enabled")
    pid = props["MainPID"]
    assert guest.run("mountpoint", "-q", "/sys/kernel/tracing").returncode == 0

    # systemctl status shows the STATUS= line (events/s and drops), refreshed by the daemon
    _wait(lambda: "events/s" in guest.run("systemctl", "status", "sysmon", "--no-pager").stdout, 30, "STATUS=")
    status = guest.run("systemctl", "status", "sysmon", "--no-pager").stdout
    assert re.search(r'Status: "recording: \d+ events/s, \d+ seen, \d+ written, \d+ dropped', status), status

    # sysmon status answers through the control socket (the unit's RuntimeDirectory)
    res = guest.run("sysmon", "status")
    assert res.returncode == 0, res.stderr
    assert f"recording (pid {pid})" in res.stdout
    assert "filter:  proc.name=cat" in res.stdout and "tracefs unavailable" not in res.stdout, res.stdout

    # a real workload inside the guest is captured
    for _ in range(3):
        guest.run("cat", "/etc/hostname", check=True)

    # reload re-reads the config; an invalid one is refused, logged, and the old one kept
    guest.write("/etc/sysmon/sysmon.toml", CONFIG.format(filter="proc.name=head"))
    assert guest.run("systemctl", "reload", "sysmon").returncode == 0
    _wait(lambda: "filter:  proc.name=head" in guest.run("sysmon", "status").stdout, 30, "the reloaded filter")
    guest.write("/etc/sysmon/sysmon.toml", CONFIG.format(filter="proc.name="))
    assert guest.run("systemctl", "reload", "sysmon").returncode == 0
    _wait(lambda: "reload refused" in guest.journal("-p", "err", "-o", "cat"), 30, "the refusal in the journal")
    assert guest.show("ActiveState", "MainPID") == {"ActiveState": "active", "MainPID": pid}
    assert "filter:  proc.name=head" in guest.run("sysmon", "status").stdout

    # stop: SIGTERM, the capture flushed and closed; the files replay whole
    assert guest.run("systemctl", "stop", "sysmon", timeout=60).returncode == 0
    assert guest.show("ActiveState", "Result") == {"ActiveState": "inactive", "Result": "success"}
    res = guest.run("sh", "-c", "sysmon -r '/var/lib/sysmon/sysmon-*' proc.name=cat and evt.type=openat "
                    "and fd.name=/etc/hostname")
    assert res.returncode == 0 and res.stderr == "", res.stderr
    assert res.stdout.count("/etc/hostname") >= 3, res.stdout

    # the journal carries sysmon's own messages, with their priorities
    journal = guest.journal("-o", "cat", "-p", "info")
    assert "INFO recording into /var/lib/sysmon" in journal and "INFO stopped:" in journal, journal
    errors = guest.journal("-o", "cat", "-p", "err")
    assert "ERROR reload refused" in errors and "INFO" not in errors, errors
