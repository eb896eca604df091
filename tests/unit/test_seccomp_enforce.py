"""Profiles enforced for real by the launcher (libseccomp; no BPF needed), and how denials are recognised."""
from __future__ import annotations

import errno
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from sysmon.events.model import ENTER, EXIT
from sysmon.events.syscalls import X86_64
from sysmon.seccomp.check import Denials, render, summary
from sysmon.seccomp.enforce import _applies, build_filter
from tests.factories import make_event

EVERYTHING = sorted(set(X86_64.values()))


def profile_without(*names: str, extra: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    return {"defaultAction": "SCMP_ACT_ERRNO", "defaultErrnoRet": 1, "architectures": ["SCMP_ARCH_X86_64"],
            "syscalls": [{"names": [n for n in EVERYTHING if n not in names], "action": "SCMP_ACT_ALLOW"},
                         *(extra or [])]}


def launch(tmp_path: Path, prof: dict[str, Any], *cmd: str) -> subprocess.CompletedProcess[str]:
    path = tmp_path / "profile.json"
    path.write_text(json.dumps(prof))
    return subprocess.run([sys.executable, "-m", "sysmon.seccomp.launch", str(path), *cmd], capture_output=True,
                          text=True, timeout=60)


def test_a_syscall_left_out_fails_with_eperm_and_the_rest_works(tmp_path: Path):
    prof = profile_without("mkdir", "mkdirat")
    denied = launch(tmp_path, prof, "mkdir", str(tmp_path / "d"))
    assert denied.returncode == 1 and "Operation not permitted" in denied.stderr
    assert not (tmp_path / "d").exists()
    assert launch(tmp_path, prof, "touch", str(tmp_path / "f")).returncode == 0 and (tmp_path / "f").exists()


def test_argument_rules_allow_only_the_families_listed(tmp_path: Path):
    prof = profile_without("socket", extra=[{"names": ["socket"], "action": "SCMP_ACT_ALLOW",
                                             "args": [{"index": 0, "value": 2, "op": "SCMP_CMP_EQ"}]}])
    ok = launch(tmp_path, prof, sys.executable, "-c", "import socket; socket.socket(socket.AF_INET).close()")
    assert ok.returncode == 0, ok.stderr
    no = launch(tmp_path, prof, sys.executable, "-c", "import socket; socket.socket(socket.AF_UNIX)")
    assert no.returncode == 1 and "PermissionError" in no.stderr


def test_the_launcher_reports_its_own_failures(tmp_path: Path):
    assert launch(tmp_path, profile_without(), "no-such-command-xyz").returncode == 127
    bad = launch(tmp_path, {"defaultAction": "NOPE"}, "true")
    assert bad.returncode == 125 and "unknown action 'NOPE'" in bad.stderr
    assert launch(tmp_path, profile_without("execve"), "true").returncode == 126  # the exec itself is denied


def test_names_of_other_architectures_are_skipped_and_docker_conditions_evaluated():
    prof = {"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [
        {"names": ["read", "chown32", "socketcall"], "action": "SCMP_ACT_ALLOW"},
        {"names": ["write"], "action": "SCMP_ACT_ERRNO"},  # the default action: nothing to add
    ]}
    _, skipped = build_filter(prof)
    assert skipped == ["chown32", "socketcall"]
    assert _applies({"includes": {"arches": ["amd64", "x32"]}}) and not _applies({"includes": {"arches": ["arm64"]}})
    assert not _applies({"excludes": {"arches": ["amd64"]}})
    assert _applies({"includes": {"minKernel": "4.8"}}) and not _applies({"includes": {"minKernel": "99.0"}})


def test_a_denial_is_an_eperm_exit_without_its_enter():
    d = Denials()
    d.add(make_event("listen", dir=EXIT, tid=7, comm="server", res=-errno.EPERM))  # seccomp: no enter
    d.add(make_event("socket", dir=ENTER, tid=7, raw_args=(17, 3, 0)))  # the kernel's own EPERM (AF_PACKET)
    d.add(make_event("socket", dir=EXIT, tid=7, raw_args=(17, 3, 0), res=-errno.EPERM))
    d.add(make_event("openat", dir=EXIT, tid=8, res=-errno.ENOENT))
    d.add(make_event("listen", dir=EXIT, tid=9, pid=9, comm="server2", res=-errno.EPERM))
    assert dict(d.calls) == {"listen": 2} and d.processes == {"listen": {7: "server", 9: "server2"}}
    prof = {"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [{"names": ["read"], "action": "SCMP_ACT_ALLOW"}]}
    result = summary(d, prof, ["srv", "-p"], 1)
    assert result["denied"] == [{"syscall": "listen", "calls": 2, "why": "not in the profile", "processes": [
        {"pid": 7, "name": "server"}, {"pid": 9, "name": "server2"}]}]
    assert render(result) == ("sysmon: `srv -p` exited with status 1 under a profile allowing 1 syscalls\n"
                              "sysmon: denied listen (not in the profile): 2 calls by server (pid 7), "
                              "server2 (pid 9)\n")
