"""Profiles: built from an observation, merged with a baseline, read back and checked; the chisel."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from sysmon.errors import ChiselError, SeccompError
from sysmon.events.model import ENTER, EXIT
from sysmon.events.syscalls import BY_NAME
from sysmon.seccomp import profile
from sysmon.seccomp.chisel import parse_options
from sysmon.seccomp.observe import Observation
from tests.chisel_harness import run_chisels
from tests.factories import make_event, schema


def syscall(name: str, **kw: object):
    """An event of the kernel syscall `name`, whatever sysdig event type it falls under."""
    return make_event(schema().by_nr(BY_NAME[name]).name, syscall=name, **kw)  # type: ignore[arg-type]


def observed(*calls: tuple[str, tuple[int, ...]]) -> Observation:
    obs = Observation()
    for name, args in calls:
        obs.add(syscall(name, dir=ENTER, tid=10, comm="app", raw_args=args))
    return obs


def test_the_profile_allows_what_was_seen_and_what_every_process_needs():
    prof = profile.build(observed(("pread64", ()), ("newfstatat", ()), ("exit_group", ())))
    assert prof == {"defaultAction": "SCMP_ACT_ERRNO", "defaultErrnoRet": 1, "architectures": ["SCMP_ARCH_X86_64"],
                    "syscalls": [{"names": ["execve", "exit", "exit_group", "newfstatat", "pread64",
                                            "restart_syscall", "rt_sigreturn"], "action": "SCMP_ACT_ALLOW"}]}
    assert profile.unknown_names(prof) == [] and profile.validate(prof) is prof


def test_argument_rules_allow_only_the_socket_families_seen():
    obs = observed(("read", ()), ("socket", (2, 1, 0)), ("socket", (10, 2, 0)))
    assert "socket" in profile.build(obs)["syscalls"][0]["names"]  # off by default
    prof = profile.build(obs, arg_rules=True)
    assert "socket" not in prof["syscalls"][0]["names"]
    assert prof["syscalls"][1:] == [
        {"names": ["socket"], "action": "SCMP_ACT_ALLOW", "args": [{"index": 0, "value": 2, "op": "SCMP_CMP_EQ"}]},
        {"names": ["socket"], "action": "SCMP_ACT_ALLOW", "args": [{"index": 0, "value": 10, "op": "SCMP_CMP_EQ"}]},
    ]
    assert profile.conditional(prof) == {"socket"}
    obs.add(make_event("socket", dir=EXIT, tid=11, res=4))  # a call whose family is unknown: no rule is safe
    assert "socket" in profile.build(obs, arg_rules=True)["syscalls"][0]["names"]


def test_a_baseline_merges_for_x86_64_only():
    baseline = {"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [
        {"names": ["read", "chown32", "uname"], "action": "SCMP_ACT_ALLOW"},  # chown32 is 32-bit x86 only
        {"names": ["socket"], "action": "SCMP_ACT_ALLOW", "args": [{"index": 0, "value": 40, "op": "SCMP_CMP_NE"}]},
        {"names": ["clone3"], "action": "SCMP_ACT_ERRNO", "errnoRet": 38},
        {"names": ["ptrace", "read"], "action": "SCMP_ACT_ALLOW", "includes": {"caps": ["CAP_SYS_PTRACE"]}},
    ]}
    prof = profile.build(observed(("read", ()), ("clone3", ())), baseline=baseline)
    assert prof["syscalls"] == [
        {"names": ["clone3", "execve", "exit", "exit_group", "read", "restart_syscall", "rt_sigreturn", "uname"],
         "action": "SCMP_ACT_ALLOW"},
        # kept for names not allowed outright; clone3 is allowed (it was seen), so its ENOSYS rule goes
        {"names": ["socket"], "action": "SCMP_ACT_ALLOW", "args": [{"index": 0, "value": 40, "op": "SCMP_CMP_NE"}]},
        {"names": ["ptrace"], "action": "SCMP_ACT_ALLOW", "includes": {"caps": ["CAP_SYS_PTRACE"]}},
    ]
    assert profile.unknown_names(prof) == []
    with pytest.raises(SeccompError, match="allows every syscall by default"):
        profile.build(observed(("read", ())), baseline={"defaultAction": "SCMP_ACT_ALLOW", "syscalls": []})


def test_profiles_are_written_0600_and_read_back(tmp_path: Path):
    prof = profile.build(observed(("read", ())))
    path = tmp_path / "p.json"
    path.write_text("old")
    path.chmod(0o644)
    profile.write(prof, str(path))
    assert path.stat().st_mode & 0o777 == 0o600
    assert profile.load(str(path)) == prof


@pytest.mark.parametrize("text, where", [
    ("{", "not JSON"),
    ('{"defaultAction": "DENY"}', "defaultAction: unknown action 'DENY'"),
    ('{"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [{"action": "SCMP_ACT_ALLOW"}]}', "syscalls[0]: each rule"),
    ('{"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [{"names": ["read"], "action": "ALLOW"}]}',
     "syscalls[0].action"),
    ('{"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [{"names": ["socket"], "action": "SCMP_ACT_ALLOW", '
     '"args": [{"index": 9, "value": 1, "op": "SCMP_CMP_EQ"}]}]}', "syscalls[0].args[0].index"),
    ('{"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [{"names": ["socket"], "action": "SCMP_ACT_ALLOW", '
     '"args": [{"index": 0, "value": 1, "op": "EQ"}]}]}', "syscalls[0].args[0].op"),
])
def test_a_wrong_profile_is_refused_with_where(tmp_path: Path, text: str, where: str):
    path = tmp_path / "bad.json"
    path.write_text(text)
    with pytest.raises(SeccompError) as e:
        profile.load(str(path))
    assert str(path) in e.value.message and where in e.value.message


def test_unknown_names_are_named_against_the_kernel_table():
    prof = {"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [{"names": ["read", "pread", "stat64"],
                                                             "action": "SCMP_ACT_ALLOW"}]}
    assert profile.unknown_names(prof) == ["pread", "stat64"]
    assert set(profile.ESSENTIAL) <= set(BY_NAME)


def test_the_chisel_writes_the_profile_and_a_report_of_the_matching_processes(tmp_path: Path):
    out = tmp_path / "nginx.json"
    events = [make_event("read", dir=ENTER, tid=200, comm="nginx", raw_args=(5,)),
              make_event("read", dir=EXIT, tid=200, comm="nginx", raw_args=(5,), res=10),
              syscall("epoll_wait", dir=ENTER, tid=201, pid=200, comm="nginx"),
              make_event("write", dir=ENTER, tid=300, comm="curl", raw_args=(3,))]
    text, err, runner = run_chisels([("seccomp_profile", f"output={out}")], events, user_filter="proc.name=nginx")
    assert err == "" and not runner._active[0].disabled
    assert json.loads(out.read_text())["syscalls"][0]["names"] == [
        "epoll_wait", "execve", "exit", "exit_group", "read", "restart_syscall", "rt_sigreturn"]
    assert text.splitlines()[:5] == [
        "Observed 2 calls of 2 syscalls in 1 process (the events the filter matched).", "",
        "nginx (pid 200): 2 calls, 2 syscalls", "         1  epoll_wait", "         1  read"]
    assert text.splitlines()[-1] == ("Profile: 7 syscalls allowed; added without being seen: execve, exit, "
                                     "exit_group, restart_syscall, rt_sigreturn.")
    stdout, _, _ = run_chisels([("seccomp_profile", None)], events)  # no output=: the profile on stdout
    assert "curl" not in stdout and json.loads(stdout)["syscalls"][0]["names"][-1] == "write"


def test_the_chisel_ends_the_capture_when_its_root_exits_and_refuses_an_empty_profile():
    events = [make_event("read", dir=ENTER, tid=50), make_event("procexit", dir=ENTER, tid=50),
              make_event("write", dir=ENTER, tid=50)]
    text, _, _ = run_chisels([("seccomp_profile", "root_pid=50")], events)
    assert json.loads(text)["syscalls"][0]["names"].count("write") == 0  # after the root's end: not seen
    with pytest.raises(SeccompError, match="no syscall was seen"):
        run_chisels([("seccomp_profile", "root_pid=51")], events)


@pytest.mark.parametrize("text, message", [("root_pid=abc", "root_pid must be a process id"),
                                           ("out=x", "unknown option 'out=x'"),
                                           ("arg_rules=maybe", "arg_rules is yes or no")])
def test_chisel_options_are_checked(text: str, message: str):
    with pytest.raises(ChiselError, match=message):
        parse_options(text)
    assert parse_options("root_pid=7 arg_rules=yes output=a.json").root_pid == 7
