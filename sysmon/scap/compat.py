"""Where sysdig's scap event table and our live probe schema differ, and how scap values are mapped.

This is the one table of differences. Event and parameter names are the same on both sides
(both follow sysdig's table; `RENAMES` lists the exceptions). Values differ in encoding for a few
flag parameters: the scap driver stores its own PPM_* encodings, the live probe raw Linux values.
  - `PARAM_TO_LIVE`: parameters whose *value* is converted when decoded, so every consumer (state
    parser, fields, render) sees what the live probe gives (open flags: PPM_O_* -> O_*; render shows
    sysdig's PPM number again through the live `open` flag set).
  - `RAW_TO_LIVE`: values converted only where they feed the live raw-argument layout
    (`Event.raw_args`, read by the state parser): clone flags PPM_CL_* -> CLONE_*, fcntl commands.
Other differences, by design:
  - scap exit events carry no syscall arguments: `raw_args` are rebuilt from the paired enter
    event's parameters (libsinsp's `m_lastevent_*` pairing: exit type == enter type + 1 on the same
    thread), unknown ones are -1. Exit-only live parameters taken from the enter (openat's name
    in old captures) stay reachable through `evt.params`.
  - execve/clone `args` is argv[1:] in scap; our model's list starts with argv[0] (`exe`).
  - Event types the live probe never emits (switch, signaldeliver, procinfo, container...) keep
    the scap table's category and flags.
  - Live sendto/sendmsg exits also carry `tuple` (the kernel's view after the send, with the port
    the send bound), which sysdig's table has on the enter only; recvfrom/recvmsg exits have it in both.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sysmon.events.ppm_table import FLAGSETS

RENAMES: dict[tuple[str, str], str] = {}  # (event, scap param name) -> live param name; none so far

# PPM_O_* -> Linux open(2) flags.
_PPM_OPEN = {
    1 << 2: 0o100, 1 << 3: 0o2000, 1 << 4: 0o10000, 1 << 5: 0o200, 1 << 6: 0o4000, 1 << 7: 0o4010000,
    1 << 8: 0o1000, 1 << 9: 0o40000, 1 << 10: 0o200000, 1 << 11: 0o100000, 1 << 12: 0o2000000,
    1 << 13: 0o20200000,
}


def ppm_open_to_linux(v: int) -> int:
    acc = {1: 0, 2: 1, 3: 2}.get(v & 3, 0)
    for ppm, linux in _PPM_OPEN.items():
        if v & ppm:
            acc |= linux
    return acc


def _by_name(scap_table: str, live: dict[str, int]) -> Callable[[int], int]:
    pairs = [(v, live[n]) for n, v in FLAGSETS[scap_table] if n in live]

    def conv(v: int) -> int:
        return sum({lv for pv, lv in pairs if pv and v & pv == pv})

    return conv


_CLONE_TABLE = next(k for k, t in FLAGSETS.items() if ("CLONE_FILES", 1) in t)
_CLONE = {"CLONE_VM": 0x100, "CLONE_FS": 0x200, "CLONE_FILES": 0x400, "CLONE_SIGHAND": 0x800, "CLONE_PTRACE": 0x2000,
          "CLONE_VFORK": 0x4000, "CLONE_PARENT": 0x8000, "CLONE_THREAD": 0x10000, "CLONE_NEWNS": 0x20000,
          "CLONE_SYSVSEM": 0x40000, "CLONE_SETTLS": 0x80000, "CLONE_PARENT_SETTID": 0x100000,
          "CLONE_CHILD_CLEARTID": 0x200000, "CLONE_CHILD_SETTID": 0x1000000, "CLONE_NEWUTS": 0x4000000,
          "CLONE_NEWIPC": 0x8000000, "CLONE_NEWUSER": 0x10000000, "CLONE_NEWPID": 0x20000000, "CLONE_NEWNET": 0x40000000}
ppm_clone_to_linux = _by_name(_CLONE_TABLE, _CLONE)

_FCNTL = {"F_DUPFD": 0, "F_GETFD": 1, "F_SETFD": 2, "F_GETFL": 3, "F_SETFL": 4, "F_GETLK": 5, "F_SETLK": 6,
          "F_SETLKW": 7, "F_SETOWN": 8, "F_GETOWN": 9, "F_SETSIG": 10, "F_GETSIG": 11, "F_DUPFD_CLOEXEC": 1030}
_FCNTL_TABLE = next(k for k, t in FLAGSETS.items() if ("F_DUPFD_CLOEXEC", 26) in t)
_PPM_FCNTL = {v: _FCNTL[n] for n, v in FLAGSETS[_FCNTL_TABLE] if n in _FCNTL}


def ppm_fcntl_to_linux(v: int) -> int:
    return _PPM_FCNTL.get(v, -1)


_OPEN_EVENTS = ("open", "openat", "openat2", "creat")
PARAM_TO_LIVE: dict[tuple[str, str], Callable[[Any], Any]] = {
    **{(e, "flags"): ppm_open_to_linux for e in _OPEN_EVENTS},
}
RAW_TO_LIVE: dict[tuple[str, str], Callable[[int], int]] = {
    **{(e, "flags"): ppm_clone_to_linux for e in ("clone", "fork", "vfork", "clone3")},
    ("fcntl", "cmd"): ppm_fcntl_to_linux,
}
# Live flag sets that render a converted value back to sysdig's text (see PARAM_TO_LIVE).
LIVE_FLAGSET = {(e, "flags"): "open" for e in _OPEN_EVENTS}
