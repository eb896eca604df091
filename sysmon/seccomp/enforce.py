"""A profile -> a libseccomp filter (Debian's python3-seccomp), as runc builds it from the same JSON.

- Rules whose action is the default action are left out (libseccomp refuses them; they change nothing).
- Names the x86_64 table lacks are skipped and returned (runc ignores them too: Docker's profile lists
  the syscalls of every architecture).
- Several conditions on one argument index are alternatives (one rule each), on different indexes all
  must hold (one rule), as runc does. MASKED_EQ takes `value` as the mask and `valueTwo` as the value.
- Docker's `includes`/`excludes` are evaluated for this machine: architecture amd64, the running
  kernel (`minKernel`), and the capabilities of the process that loads the filter (`caps`).
- A privileged loader (euid 0) does not set no_new_privs, as runc does not: setuid programs keep working.
"""
from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from sysmon.errors import SeccompError, SetupError

DOCKER_ARCH = ("amd64", "x86_64")
ARCHES = {"SCMP_ARCH_X86_64": "X86_64", "SCMP_ARCH_X86": "X86", "SCMP_ARCH_X32": "X32"}
OPS = {"SCMP_CMP_NE": "NE", "SCMP_CMP_LT": "LT", "SCMP_CMP_LE": "LE", "SCMP_CMP_EQ": "EQ", "SCMP_CMP_GE": "GE",
       "SCMP_CMP_GT": "GT", "SCMP_CMP_MASKED_EQ": "MASKED_EQ"}
CAPS = ("CHOWN DAC_OVERRIDE DAC_READ_SEARCH FOWNER FSETID KILL SETGID SETUID SETPCAP LINUX_IMMUTABLE "
        "NET_BIND_SERVICE NET_BROADCAST NET_ADMIN NET_RAW IPC_LOCK IPC_OWNER SYS_MODULE SYS_RAWIO SYS_CHROOT "
        "SYS_PTRACE SYS_PACCT SYS_ADMIN SYS_BOOT SYS_NICE SYS_RESOURCE SYS_TIME SYS_TTY_CONFIG MKNOD LEASE "
        "AUDIT_WRITE AUDIT_CONTROL SETFCAP MAC_OVERRIDE MAC_ADMIN SYSLOG WAKE_ALARM BLOCK_SUSPEND AUDIT_READ "
        "PERFMON BPF CHECKPOINT_RESTORE").split()  # bit order, linux/capability.h


def libseccomp() -> Any:
    try:
        import seccomp
    except ImportError as e:
        raise SetupError("checking a profile needs libseccomp's Python bindings",
                         hints=["apt-get install python3-seccomp (scripts/setup.sh installs it)"]) from e
    return seccomp


def known(name: str) -> bool:
    """Whether libseccomp knows `name` as an x86_64 syscall."""
    sc = libseccomp()
    return bool(sc.resolve_syscall(sc.Arch.X86_64, name) >= 0)


def build_filter(profile: Mapping[str, Any]) -> tuple[Any, list[str]]:
    """(seccomp.SyscallFilter, names skipped because x86_64 has no such syscall)."""
    sc = libseccomp()
    default = _action(sc, profile["defaultAction"], profile.get("defaultErrnoRet"))
    filt = sc.SyscallFilter(defaction=default)
    if os.geteuid() == 0:
        filt.set_attr(sc.Attr.CTL_NNP, 0)
    for arch in profile.get("architectures") or ():
        name = ARCHES.get(arch)
        if name is not None and name != "X86_64":
            filt.add_arch(getattr(sc.Arch, name))
    skipped: list[str] = []
    for entry in profile.get("syscalls") or ():
        if not _applies(entry):
            continue
        action = _action(sc, entry["action"], entry.get("errnoRet"))
        if action == default:
            continue
        names = list(entry.get("names") or ()) + ([entry["name"]] if isinstance(entry.get("name"), str) else [])
        for name in names:
            if sc.resolve_syscall(sc.Arch.X86_64, name) < 0:
                skipped.append(name)
                continue
            for conditions in _argument_sets(sc, entry.get("args") or []):
                try:
                    filt.add_rule(action, name, *conditions)
                except (RuntimeError, ValueError, OSError) as e:
                    raise SeccompError(f"libseccomp refused the rule for {name}: {e}",
                                       hints=["two rules with different actions for the same syscall conflict"]) from e
    return filt, skipped


def _action(sc: Any, name: str, errno: int | None) -> Any:
    simple = {"SCMP_ACT_ALLOW": sc.ALLOW, "SCMP_ACT_KILL": sc.KILL, "SCMP_ACT_KILL_THREAD": sc.KILL,
              "SCMP_ACT_KILL_PROCESS": sc.KILL_PROCESS, "SCMP_ACT_TRAP": sc.TRAP, "SCMP_ACT_LOG": sc.LOG}
    if name in simple:
        return simple[name]
    if name == "SCMP_ACT_ERRNO":
        return sc.ERRNO(1 if errno is None else errno)
    if name == "SCMP_ACT_TRACE":
        return sc.TRACE(1 if errno is None else errno)
    raise SeccompError(f"sysmon cannot enforce the action {name}", hints=["use SCMP_ACT_ERRNO or SCMP_ACT_ALLOW"])


def _argument_sets(sc: Any, args: list[dict[str, Any]]) -> list[list[Any]]:
    conds = [sc.Arg(a["index"], getattr(sc, OPS[a["op"]]), a.get("value", 0), a.get("valueTwo", 0)) for a in args]
    if len(args) > 1 and len({a["index"] for a in args}) == 1:
        return [[c] for c in conds]
    return [conds]


def _applies(entry: Mapping[str, Any]) -> bool:
    inc, exc = entry.get("includes") or {}, entry.get("excludes") or {}
    if inc.get("arches") and not set(inc["arches"]) & set(DOCKER_ARCH):
        return False
    if exc.get("arches") and set(exc["arches"]) & set(DOCKER_ARCH):
        return False
    caps = _effective_caps()
    if inc.get("caps") and not set(inc["caps"]) <= caps:
        return False
    if exc.get("caps") and set(exc["caps"]) & caps:
        return False
    if inc.get("minKernel") and _version(os.uname().release) < _version(inc["minKernel"]):
        return False
    return not (exc.get("minKernel") and _version(os.uname().release) >= _version(exc["minKernel"]))


def _effective_caps() -> set[str]:
    with open("/proc/self/status") as f:
        eff = next((int(line.split()[1], 16) for line in f if line.startswith("CapEff:")), 0)
    return {f"CAP_{name}" for bit, name in enumerate(CAPS) if eff >> bit & 1}


def _version(text: str) -> tuple[int, ...]:
    parts = []
    for piece in text.split("-", 1)[0].split(".")[:3]:
        digits = "".join(ch for ch in piece if ch.isdigit())
        parts.append(int(digits or 0))
    return tuple(parts)
