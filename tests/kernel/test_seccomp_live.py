"""Seccomp profiles from real workloads: record, enforce, remove a syscall, replay (docs/seccomp.md).

The workload (tests/kernel/seccomp_workload/) is a shell script running a file-heavy series of
coreutils, a loopback TCP server and client, and a program that forks and execs: 16 processes, all
started after the recording began, followed as one tree.
"""
from __future__ import annotations

import json
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from sysmon.events.syscalls import BY_NAME
from sysmon.seccomp.enforce import known
from tests.kernel.conftest import require_bpf
from tests.kernel.pace import slow
from tests.kernel.test_cli_live import sysmon_cmd

pytestmark = pytest.mark.bpf

WORKLOAD = Path(__file__).parent / "seccomp_workload" / "workload.sh"
TIMEOUT = ["--timeout", str(round(slow(60)))]


@dataclass
class Recording:
    profile: dict[str, Any]
    path: Path
    capture: Path
    report: str
    root_pid: int
    stderr: str


def workload(tmp: Path) -> list[str]:
    work = tmp / "work"
    work.mkdir(exist_ok=True)
    for leftover in work.iterdir():  # a failed run leaves its files: the next run starts clean
        subprocess.run(["rm", "-rf", str(leftover)], check=True)
    return ["sh", str(WORKLOAD), sys.executable, str(work)]


def sysmon(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*sysmon_cmd(), *args], capture_output=True, text=True, timeout=slow(180))


@pytest.fixture(scope="module")
def recorded(tmp_path_factory: pytest.TempPathFactory) -> Recording:
    require_bpf()
    tmp = tmp_path_factory.mktemp("seccomp")
    path, capture, report = tmp / "profile.json", tmp / "workload.smc", tmp / "report.txt"
    run = sysmon("seccomp", "record", "-o", str(path), "-w", str(capture), "--report", str(report), *TIMEOUT,
                 "--", *workload(tmp))
    assert run.returncode == 0, run.stderr
    assert "workload done" in run.stdout
    root = re.search(r"-c seccomp_profile 'root_pid=(\d+) output=FILE'", run.stderr)
    assert root is not None, run.stderr
    return Recording(json.loads(path.read_text()), path, capture, report.read_text(), int(root.group(1)), run.stderr)


def check(profile: Path, tmp: Path) -> tuple[subprocess.CompletedProcess[str], dict[str, Any]]:
    run = sysmon("seccomp", "check", "-j", *TIMEOUT, str(profile), "--", *workload(tmp))
    result = json.loads(run.stdout.strip().splitlines()[-1])
    return run, result


def without(rec: Recording, name: str, tmp: Path) -> Path:
    prof = json.loads(rec.path.read_text())
    names = prof["syscalls"][0]["names"]
    assert name in names
    names.remove(name)
    out = tmp / f"without-{name}.json"
    out.write_text(json.dumps(prof))
    return out


def test_the_profile_holds_what_the_whole_tree_did_with_kernel_names(recorded: Recording) -> None:
    prof = recorded.profile
    assert prof["defaultAction"] == "SCMP_ACT_ERRNO" and prof["architectures"] == ["SCMP_ARCH_X86_64"]
    names = prof["syscalls"][0]["names"]
    assert prof["syscalls"][0]["action"] == "SCMP_ACT_ALLOW" and names == sorted(names)
    # every name is the kernel's, by both the generated table and libseccomp's
    assert [n for n in names if n not in BY_NAME] == []
    assert [n for n in names if not known(n)] == []
    # file work, the server, the client, forks and execs, from processes started after the probe
    assert {"openat", "renameat2", "unlinkat", "mkdirat", "bind", "listen", "accept4", "connect", "sendto",
            "recvfrom", "wait4", "execve", "exit_group"} <= set(names)
    assert "stat" not in names and "pread" not in names  # sysdig's event names never appear
    processes = re.findall(r"^(\S+) \(pid \d+\): \d+ calls", recorded.report, re.M)
    assert {"sh", "cp", "sha256sum", "find", "sort", "mv", "rm", "mkfifo", "python", "echo"} <= set(processes)
    assert len(processes) == 16  # sh, 11 coreutils runs, 4 pythons (net driver, server, client, fork+exec)
    assert len(names) < 100, "a recorded profile is far smaller than Docker's ~300 syscalls"


def test_the_workload_runs_under_its_profile(recorded: Recording, tmp_path: Path) -> None:
    run, result = check(recorded.path, tmp_path)
    assert result["status"] == 0 and result["denied"] == [], run.stderr
    assert run.returncode == 0
    assert "workload done" in run.stdout


@pytest.mark.parametrize("name, program", [("listen", "python"), ("unlinkat", "rm")])
def test_without_one_syscall_it_fails_with_eperm_and_the_check_names_it(recorded: Recording, tmp_path: Path,
                                                                         name: str, program: str) -> None:
    run, result = check(without(recorded, name, tmp_path), tmp_path)
    assert run.returncode == 1
    assert result["status"] != 0
    first = result["denied"][0]  # the first denial broke the run; an error path may make others
    assert first["syscall"] == name and first["why"] == "not in the profile"
    assert {p["name"] for p in first["processes"]} == {program}
    assert "Operation not permitted" in run.stderr


def test_the_profile_from_the_capture_equals_the_live_one(recorded: Recording, tmp_path: Path) -> None:
    out = tmp_path / "replayed.json"
    run = sysmon("-r", str(recorded.capture), "-c", "seccomp_profile", f"root_pid={recorded.root_pid} output={out}")
    assert run.returncode == 0, run.stderr
    assert json.loads(out.read_text()) == recorded.profile
    assert out.read_bytes() == recorded.path.read_bytes()
    assert out.stat().st_mode & 0o777 == 0o600


def test_socket_families_become_argument_rules_that_deny_other_families(recorded: Recording, tmp_path: Path) -> None:
    out = tmp_path / "args.json"
    run = sysmon("-r", str(recorded.capture), "-c", "seccomp_profile",
                 f"root_pid={recorded.root_pid} arg_rules=yes output={out}")
    assert run.returncode == 0, run.stderr
    prof = json.loads(out.read_text())
    assert "socket" not in prof["syscalls"][0]["names"]
    assert prof["syscalls"][1:] == [{"names": ["socket"], "action": "SCMP_ACT_ALLOW",
                                     "args": [{"index": 0, "value": 2, "op": "SCMP_CMP_EQ"}]}]  # AF_INET only
    run, result = check(out, tmp_path)
    assert result["status"] == 0 and result["denied"] == [], run.stderr
    unix = sysmon("seccomp", "check", "-j", *TIMEOUT, str(out), "--",
                  sys.executable, "-I", "-c", "import socket; socket.socket(socket.AF_UNIX)")
    result = json.loads(unix.stdout.strip().splitlines()[-1])
    assert result["status"] == 1 and "PermissionError" in unix.stderr
    assert result["denied"][0]["syscall"] == "socket" and result["denied"][0]["why"] == "arguments outside its rules"
