"""Golden tests: every built-in chisel, and -p/default output, replaying tests/golden/captures/chisels.smc.

The capture comes from tests/golden/make_captures.py (deterministic, no secrets). Expected outputs live
in tests/golden/expected/; they change only with SYSMON_UPDATE_GOLDEN=1, which rewrites the capture and
every expected file (review them in the diff):

    SYSMON_UPDATE_GOLDEN=1 .venv/bin/python -m pytest -q tests/content/test_golden_chisels.py
"""
from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from sysmon.chisel.loader import Loader, builtin_dir
from sysmon.cli import main
from tests.golden.make_captures import CAPTURE, write_capture

GOLDEN = Path(__file__).resolve().parent.parent / "golden"
EXPECTED = GOLDEN / "expected"
UPDATE = os.environ.get("SYSMON_UPDATE_GOLDEN") == "1"

# case name -> sysmon arguments after `-r chisels.smc`; one case per built-in chisel at least.
CHISEL_CASES: dict[str, list[str]] = {
    "around": ["-c", "around", "around.smc 20", "evt.type=connect and evt.failed=true"],
    "bottlenecks": ["-c", "bottlenecks"],
    "echo_fds": ["-c", "echo_fds"],
    "echo_fds-filter": ["-c", "echo_fds", "fd.type=ipv6 or fd.type=unix"],
    "fdbytes_by": ["-c", "fdbytes_by", "proc.name"],
    "fdcount_by": ["-c", "fdcount_by", "fd.type"],
    "fdtime_by": ["-c", "fdtime_by", "fd.name"],
    "fileslower": ["-c", "fileslower", "100"],
    "httplog": ["-c", "httplog"],
    "iobytes": ["-c", "iobytes"],
    "iobytes_file": ["-c", "iobytes_file"],
    "iobytes_net": ["-c", "iobytes_net"],
    "lscontainers": ["-c", "lscontainers"],
    "lsof": ["-c", "lsof"],
    "netlower": ["-c", "netlower", "100"],
    "netstat": ["-c", "netstat"],
    "proc_exec_time": ["-c", "proc_exec_time"],
    "ps": ["-c", "ps"],
    "scallslower": ["-c", "scallslower", "100"],
    "seccomp_profile": ["-c", "seccomp_profile", "proc.name=curl"],
    "spy_file": ["-c", "spy_file"],
    "spy_ip": ["-c", "spy_ip", "10.0.0.5"],
    "spy_logs": ["-c", "spy_logs"],
    "spy_logs-dump": ["-c", "spy_logs", "logs.smc 20"],
    "spy_port": ["-c", "spy_port", "80"],
    "spy_users": ["-c", "spy_users"],
    "stderr": ["-c", "stderr"],
    "stdin": ["-c", "stdin"],
    "stdout": ["-c", "stdout"],
    "topconns": ["-c", "topconns"],
    "topcontainers_cpu": ["-c", "topcontainers_cpu"],
    "topcontainers_error": ["-c", "topcontainers_error"],
    "topcontainers_file": ["-c", "topcontainers_file"],
    "topcontainers_net": ["-c", "topcontainers_net"],
    "topfiles_bytes": ["-c", "topfiles_bytes"],
    "topfiles_bytes-json": ["-c", "topfiles_bytes", "-j"],
    "topfiles_errors": ["-c", "topfiles_errors"],
    "topfiles_time": ["-c", "topfiles_time"],
    "topports_server": ["-c", "topports_server"],
    "topprocs_cpu": ["-c", "topprocs_cpu"],
    "topprocs_errors": ["-c", "topprocs_errors"],
    "topprocs_file": ["-c", "topprocs_file"],
    "topprocs_net": ["-c", "topprocs_net"],
    "topscalls": ["-c", "topscalls"],
    "topscalls_time": ["-c", "topscalls_time"],
}
FORMAT_CASES: dict[str, list[str]] = {
    "default": [],
    "format": ["-p", "*%evt.num %evt.time %evt.cpu %user.name %proc.name (%proc.pid:%thread.tid) ppid=%proc.ppid "
                     "%evt.dir %evt.type lat=%evt.latency %fd.typechar %fd.name %evt.info"],
    "containers": ["-pc"],
    "k8s": ["-pk", "container.name != host"],
    "container-fields": ["-p", "*%evt.num %container.id %container.name %container.image %container.image.id "
                               "%container.type %container.privileged %container.mounts %container.mount.dest[/srv/*] "
                               "%container.label.maintainer %container.ip %container.image.repository "
                               "%container.image.tag %container.healthcheck %k8s.pod.name %k8s.ns.name %k8s.pod.uid "
                               "%k8s.pod.labels %k8s.pod.label.app", "evt.type in (accept, connect, openat, procexit) and evt.dir=<"],
}
# Chisels that refuse to run here (a replay into a pipe), with their message, checked below.
REFUSING = {"spectrogram": "init() for chisel spectrogram failed"}
# The files a case writes (relative to its working directory), replayed after its own output.
WRITES = {"around": "around.smc", "spy_logs-dump": "logs.smc"}
DUMP_FORMAT = "*%evt.num %evt.time %proc.name (%thread.tid) %evt.dir %evt.type %fd.name"


@pytest.fixture(autouse=True)
def utc(monkeypatch):
    monkeypatch.setenv("TZ", "UTC")
    monkeypatch.delenv("SYSMON_CHISEL_PATH", raising=False)
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


@pytest.fixture(scope="module")
def capture() -> Path:
    if UPDATE:
        write_capture(CAPTURE)
    return CAPTURE


def sysmon(argv: list[str], capsys) -> str:
    capsys.readouterr()
    code = main(argv)
    out, err = capsys.readouterr()
    assert code == 0 and err == "", err
    return out


def check(path: Path, text: str) -> None:
    if UPDATE:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    assert path.exists(), f"{path} is missing: run with SYSMON_UPDATE_GOLDEN=1 and review it"
    assert text == path.read_text(), f"{path.name} differs: fix it, or regenerate with SYSMON_UPDATE_GOLDEN=1 and review"


def test_the_committed_capture_is_what_the_generator_writes(tmp_path, capture):
    write_capture(tmp_path / "again.smc")
    assert (tmp_path / "again.smc").read_bytes() == capture.read_bytes()


def test_every_builtin_chisel_has_a_golden_case():
    found, _ = Loader([builtin_dir()], entry_points=False).all()
    assert {f.name for f in found} <= {case.split("-")[0] for case in CHISEL_CASES} | set(REFUSING)


@pytest.mark.parametrize("name", sorted(REFUSING))
def test_refusing_chisels_say_why(name, capture, capsys):
    assert main(["-r", str(capture), "-c", name]) == 1
    assert REFUSING[name] in capsys.readouterr().err


@pytest.mark.parametrize("case", sorted(CHISEL_CASES))
def test_chisel_output_on_the_golden_capture(case, capture, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    text = sysmon(["-r", str(capture), *CHISEL_CASES[case]], capsys)
    written = WRITES.get(case)
    if written is not None:
        text += f"--- sysmon -r {written} -p '{DUMP_FORMAT}'\n" + sysmon(["-r", written, "-p", DUMP_FORMAT], capsys)
    assert text.strip()
    check(EXPECTED / "chisels" / f"{case}.txt", text)


@pytest.mark.parametrize("case", sorted(FORMAT_CASES))
def test_event_output_on_the_golden_capture(case, capture, capsys):
    check(EXPECTED / "format" / f"{case}.txt", sysmon(["-r", str(capture), *FORMAT_CASES[case]], capsys))
