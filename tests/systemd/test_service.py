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
    before_stop = guest.run("sysmon", "status").stdout
    assert guest.run("systemctl", "stop", "sysmon", timeout=60).returncode == 0
    assert guest.show("ActiveState", "Result") == {"ActiveState": "inactive", "Result": "success"}
    res = guest.run("sh", "-c", "sysmon -r '/var/lib/sysmon/sysmon-*' proc.name=cat and evt.type=openat "
                    "and fd.name=/etc/hostname")
    assert res.returncode == 0 and res.stderr == "", res.stderr
    opens = [line for line in res.stdout.splitlines() if " < openat " in line]
    assert len(opens) == 3, (res.stdout, before_stop)

    # the journal carries sysmon's own messages, with their priorities
    journal = guest.journal("-o", "cat", "-p", "info")
    assert "INFO recording into /var/lib/sysmon" in journal and "INFO stopped:" in journal, journal
    errors = guest.journal("-o", "cat", "-p", "err")
    assert "ERROR reload refused" in errors and "INFO" not in errors, errors


def _restart_with(guest: Guest, config: str, dropin: str = "") -> None:
    guest.run("systemctl", "stop", "sysmon")
    guest.run("systemctl", "reset-failed", "sysmon")
    guest.write("/etc/sysmon/sysmon.toml", config)
    guest.write("/etc/systemd/system/sysmon.service.d/test.conf", dropin or "[Service]\n", mode="0644")
    guest.run("systemctl", "daemon-reload", check=True)


def test_a_bad_config_fails_once_and_is_not_restarted(guest: Guest) -> None:
    _restart_with(guest, "[capture]\nbogus = 1\n")
    assert guest.run("systemctl", "start", "sysmon", timeout=60).returncode != 0
    time.sleep(5)  # RestartSec=2s: a restart would have happened by now
    props = guest.show("ActiveState", "Result", "NRestarts", "ExecMainStatus")
    assert props == {"ActiveState": "failed", "Result": "exit-code", "NRestarts": "0", "ExecMainStatus": "78"}, props
    assert "capture.bogus: unknown key" in guest.journal("-p", "err", "-o", "cat")


def test_a_hung_daemon_is_restarted_by_the_watchdog(guest: Guest) -> None:
    _restart_with(guest, CONFIG.format(filter="proc.name=cat"), "[Service]\nWatchdogSec=4s\nTimeoutStopSec=5s\n")
    assert guest.run("systemctl", "start", "sysmon", timeout=180).returncode == 0
    hung = guest.show("MainPID")["MainPID"]
    guest.run("kill", "-STOP", hung, check=True)  # alive, but no WATCHDOG=1 any more
    _wait(lambda: guest.show("NRestarts")["NRestarts"] == "1" and guest.show("ActiveState")["ActiveState"] == "active"
          and guest.show("MainPID")["MainPID"] not in ("0", hung), 90, "the watchdog restart")
    assert "Watchdog timeout" in guest.journal("-o", "cat")
    assert guest.run("sysmon", "status").returncode == 0
    guest.run("systemctl", "stop", "sysmon")


def test_a_failure_that_repeats_stops_at_the_start_limit(guest: Guest) -> None:
    # a failure that is not the configuration's and does not go away: the capture directory is a file
    _restart_with(guest, '[capture]\ndir = "/var/lib/sysmon/not-a-dir/x"\n', "[Service]\nRestartSec=0.5s\n")
    guest.run("sh", "-c", "mkdir -p /var/lib/sysmon && touch /var/lib/sysmon/not-a-dir", check=True)
    assert guest.run("systemctl", "start", "sysmon", timeout=120).returncode != 0
    _wait(lambda: guest.show("ActiveState")["ActiveState"] == "failed", 120, "the unit to give up")
    time.sleep(3)  # and it stays failed
    assert guest.show("ActiveState", "NRestarts") == {"ActiveState": "failed", "NRestarts": "5"}  # StartLimitBurst=5
    assert "Start request repeated too quickly" in guest.journal("-o", "cat")


def test_a_runtime_socket_in_run_is_reachable_from_the_sandbox(guest: Guest) -> None:
    """Container metadata (docker.sock, containerd.sock: root, 0660, under /run) needs no unit option:
    ProtectSystem=strict makes /run read-only, and connecting to a socket on a read-only mount is allowed."""
    sock = "/run/containerd/containerd.sock"
    server = guest.run("sh", "-c", f"mkdir -p /run/containerd && (timeout 60 python3 -c \"import socket, os; "
                       f"s = socket.socket(socket.AF_UNIX); s.bind('{sock}'); os.chmod('{sock}', 0o660); s.listen(); "
                       f"s.accept()[0].send(b'hello')\" > /dev/null 2>&1 &)")
    assert server.returncode == 0
    _wait(lambda: guest.run("test", "-S", sock).returncode == 0, 10, "the socket")
    probe = f"import socket; s = socket.socket(socket.AF_UNIX); s.connect('{sock}'); print(s.recv(5).decode())"
    _restart_with(guest, CONFIG.format(filter="proc.name=cat"), f'[Service]\nExecStartPre=/usr/bin/python3 -c "{probe}"\n')
    assert guest.run("systemctl", "start", "sysmon", timeout=180).returncode == 0
    assert "hello" in guest.journal("-o", "cat", "-n", "20")
    guest.run("systemctl", "stop", "sysmon")
