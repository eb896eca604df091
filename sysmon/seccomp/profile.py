"""Seccomp profiles in the OCI/Docker JSON format: built from an Observation, merged, loaded, checked.

    {"defaultAction": "SCMP_ACT_ERRNO", "defaultErrnoRet": 1, "architectures": ["SCMP_ARCH_X86_64"],
     "syscalls": [{"names": [...], "action": "SCMP_ACT_ALLOW"},
                  {"names": ["socket"], "action": "SCMP_ACT_ALLOW",
                   "args": [{"index": 0, "value": 2, "op": "SCMP_CMP_EQ"}]}]}

Every name is the kernel's for x86_64 (sysmon/events/syscalls.py). What every process needs to
start and end is always allowed (ESSENTIAL, explained in docs/seccomp.md). Argument rules are only
derived where a value observed is the whole story: the address family of socket/socketpair.
"""
from __future__ import annotations

import json
import os
from collections.abc import Iterable, Mapping
from typing import Any

from sysmon.errors import SeccompError
from sysmon.events.syscalls import X86_64
from sysmon.seccomp.observe import DOMAIN_CALLS, Observation

ARCH = "SCMP_ARCH_X86_64"
ALLOW = "SCMP_ACT_ALLOW"
EPERM = 1
KERNEL_NAMES = frozenset(X86_64.values())

# Allowed in every generated profile, whether or not the recording saw them.
ESSENTIAL: dict[str, str] = {
    "execve": "the runtime installs the filter, then execs the program: that execve runs under it",
    "exit": "a thread must be able to end (a denied exit leaves glibc spinning into a crash)",
    "exit_group": "a process must be able to end",
    "rt_sigreturn": "returning from any signal handler; a recording that caught no signal never shows it",
    "restart_syscall": "the kernel resumes a sleep or wait interrupted by a stop signal (SIGSTOP/SIGCONT) with it",
}

ACTIONS = frozenset({"SCMP_ACT_KILL", "SCMP_ACT_KILL_PROCESS", "SCMP_ACT_KILL_THREAD", "SCMP_ACT_TRAP",
                     "SCMP_ACT_ERRNO", "SCMP_ACT_TRACE", "SCMP_ACT_ALLOW", "SCMP_ACT_LOG", "SCMP_ACT_NOTIFY"})
OPS = frozenset({"SCMP_CMP_NE", "SCMP_CMP_LT", "SCMP_CMP_LE", "SCMP_CMP_EQ", "SCMP_CMP_GE", "SCMP_CMP_GT",
                 "SCMP_CMP_MASKED_EQ"})
_CONDITIONS = ("args", "includes", "excludes")


def build(obs: Observation, *, arg_rules: bool = False, baseline: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The profile that allows what `obs` saw, plus ESSENTIAL; optionally merged with a baseline."""
    names = set(obs.totals()) | set(ESSENTIAL)
    rules: list[dict[str, Any]] = []
    if arg_rules:
        for call in DOMAIN_CALLS:
            families = obs.domains.get(call)
            if call in names and families and call not in obs.unknown_domain:
                names.discard(call)
                rules += [{"names": [call], "action": ALLOW, "args": [{"index": 0, "value": f, "op": "SCMP_CMP_EQ"}]}
                          for f in sorted(families)]
    profile = {"defaultAction": "SCMP_ACT_ERRNO", "defaultErrnoRet": EPERM, "architectures": [ARCH],
               "syscalls": [{"names": sorted(names), "action": ALLOW}, *rules]}
    return merge(profile, baseline) if baseline is not None else profile


def merge(profile: Mapping[str, Any], baseline: Mapping[str, Any]) -> dict[str, Any]:
    """`profile` plus whatever `baseline` allows, for x86_64. A name allowed unconditionally by either
    is allowed unconditionally; the baseline's other rules (arguments, Docker's includes/excludes,
    other actions) are kept for the names that are not; names of other architectures are dropped."""
    if baseline.get("defaultAction") in (ALLOW, "SCMP_ACT_LOG"):
        raise SeccompError("the baseline allows every syscall by default (defaultAction "
                           f"{baseline.get('defaultAction')}): only an allow-list profile can be merged",
                           hints=["use a profile whose defaultAction denies, such as Docker's default"])
    entries = [*profile["syscalls"], *baseline.get("syscalls", ())]
    free = set().union(*(_names(e) for e in entries if _unconditional_allow(e)))
    rules: list[dict[str, Any]] = []
    for entry in entries:
        if _unconditional_allow(entry):
            continue
        names = sorted((_names(entry) & KERNEL_NAMES) - free)
        if names:
            rules.append({**{k: v for k, v in entry.items() if k != "name"}, "names": names})
    merged = dict(profile)
    merged["syscalls"] = [{"names": sorted(free & KERNEL_NAMES), "action": ALLOW}, *_dedupe(rules)]
    return merged


def _dedupe(rules: list[dict[str, Any]]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for rule in rules:
        if rule not in out:
            out.append(rule)
    return out


def _names(entry: Mapping[str, Any]) -> set[str]:
    names = entry.get("names") or []
    if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
        return set()  # `validate` refuses such a rule
    return set(names) | ({entry["name"]} if isinstance(entry.get("name"), str) else set())


def _unconditional_allow(entry: Mapping[str, Any]) -> bool:
    return entry.get("action") == ALLOW and not any(entry.get(k) for k in _CONDITIONS)


def allowed(profile: Mapping[str, Any]) -> set[str]:
    """Names allowed whatever their arguments (ALLOW rules without conditions)."""
    return set().union(*(_names(e) for e in profile.get("syscalls", ()) if _unconditional_allow(e)))


def conditional(profile: Mapping[str, Any]) -> set[str]:
    """Names allowed only with some arguments (or under Docker's includes/excludes)."""
    return set().union(*(_names(e) for e in profile.get("syscalls", ())
                         if e.get("action") == ALLOW and not _unconditional_allow(e))) - allowed(profile)


def unknown_names(profile: Mapping[str, Any], table: Iterable[str] = KERNEL_NAMES) -> list[str]:
    """Names that are not x86_64 syscalls of the kernel's table."""
    known = set(table)
    return sorted(set().union(*(_names(e) for e in profile.get("syscalls", ()))) - known)


def dumps(profile: Mapping[str, Any]) -> str:
    return json.dumps(profile, indent=2) + "\n"


def write(profile: Mapping[str, Any], path: str) -> None:
    """Write the profile, mode 0600 (it is derived from what the machine ran)."""
    write_private(path, dumps(profile), "profile")


def write_private(path: str, text: str, what: str) -> None:
    """Write a file only its owner can read (0600, also when it existed with another mode)."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o600)
        os.fchmod(fd, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(text)
    except OSError as e:
        raise SeccompError(f"cannot write the {what} {path}: {e.strerror}") from e


MAX_PROFILE_BYTES = 16 << 20


def load(path: str) -> dict[str, Any]:
    """Read and check a profile file."""
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read(MAX_PROFILE_BYTES + 1)
    except OSError as e:
        raise SeccompError(f"cannot read the profile {path}: {e.strerror}") from e
    except UnicodeDecodeError as e:
        raise SeccompError(f"{path}: not UTF-8 text (byte {e.start})") from e
    if len(text) > MAX_PROFILE_BYTES:
        raise SeccompError(f"{path}: larger than {MAX_PROFILE_BYTES >> 20} MiB: not a profile")
    try:
        obj = json.loads(text)
    except json.JSONDecodeError as e:
        raise SeccompError(f"{path}:{e.lineno}:{e.colno}: not JSON: {e.msg}") from e
    except RecursionError:
        raise SeccompError(f"{path}: nested too deeply: not a profile") from None
    return validate(obj, path)


def validate(obj: Any, source: str = "profile") -> dict[str, Any]:
    """The profile if it has the OCI shape; SeccompError naming the first wrong part otherwise."""
    def fail(where: str, what: str, hint: str | None = None) -> SeccompError:
        return SeccompError(f"{source}: {where}: {what}", hints=[hint] if hint else [])

    if not isinstance(obj, dict):
        raise fail("top level", "a profile is a JSON object")
    if not _is_one_of(obj.get("defaultAction"), ACTIONS):
        raise fail("defaultAction", f"unknown action {obj.get('defaultAction')!r:.60}", "e.g. SCMP_ACT_ERRNO")
    if not isinstance(obj.get("syscalls", []), list):
        raise fail("syscalls", "a list of rules")
    for i, entry in enumerate(obj.get("syscalls") or []):
        where = f"syscalls[{i}]"
        if not isinstance(entry, dict) or not _names(entry):
            raise fail(where, "each rule needs 'names' (a list of syscall names, as strings)")
        if not _is_one_of(entry.get("action"), ACTIONS):
            raise fail(f"{where}.action", f"unknown action {entry.get('action')!r:.60}", "e.g. SCMP_ACT_ALLOW")
        if not isinstance(entry.get("args", []) or [], list):
            raise fail(f"{where}.args", "a list of argument conditions")
        for j, arg in enumerate(entry.get("args") or []):
            if not isinstance(arg, dict):
                raise fail(f"{where}.args[{j}]", "an argument condition is an object")
            if not _is_one_of(arg.get("op"), OPS):
                raise fail(f"{where}.args[{j}].op", f"unknown comparison {arg.get('op')!r}", "e.g. SCMP_CMP_EQ")
            if not (isinstance(arg.get("index"), int) and 0 <= arg["index"] <= 5):
                raise fail(f"{where}.args[{j}].index", "an argument index is 0 to 5")
            if not isinstance(arg.get("value", 0), int) or not isinstance(arg.get("valueTwo", 0), int):
                raise fail(f"{where}.args[{j}]", "value and valueTwo are integers")
    return obj


def _is_one_of(value: Any, names: frozenset[str]) -> bool:
    return isinstance(value, str) and value in names
