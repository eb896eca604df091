"""Symbolic names of flag and enum arguments, rendered like sysdig: `4097(O_RDONLY|O_CLOEXEC)`."""
from __future__ import annotations

import errno
import signal

# Linux open(2) flags -> sysdig's PPM_O_* encoding, which is what sysdig prints.
_OPEN_TO_PPM = (
    (0o100, 1 << 2, "O_CREAT"),
    (0o2000, 1 << 3, "O_APPEND"),
    (0o10000, 1 << 4, "O_DSYNC"),
    (0o200, 1 << 5, "O_EXCL"),
    (0o4000, 1 << 6, "O_NONBLOCK"),
    (0o4010000, 1 << 7, "O_SYNC"),
    (0o1000, 1 << 8, "O_TRUNC"),
    (0o40000, 1 << 9, "O_DIRECT"),
    (0o200000, 1 << 10, "O_DIRECTORY"),
    (0o100000, 1 << 11, "O_LARGEFILE"),
    (0o2000000, 1 << 12, "O_CLOEXEC"),
)
O_TMPFILE = 0o20000000 | 0o200000
# sysdig's open flag table (PPM_O_*), in its order: the order names are printed in.
PPM_OPEN_TABLE = (
    ("O_LARGEFILE", 2048), ("O_DIRECTORY", 1024), ("O_DIRECT", 512), ("O_TRUNC", 256), ("O_SYNC", 128),
    ("O_NONBLOCK", 64), ("O_EXCL", 32), ("O_DSYNC", 16), ("O_APPEND", 8), ("O_CREAT", 4), ("O_RDWR", 3),
    ("O_WRONLY", 2), ("O_RDONLY", 1), ("O_CLOEXEC", 4096), ("O_NONE", 0), ("O_TMPFILE", 8192),
)


def open_flags(raw: int) -> tuple[int, str]:
    """(sysdig's numeric value, names) for Linux open flags."""
    acc = raw & 3
    value, names = 0, []
    if acc == 0:
        value, names = 1, ["O_RDONLY"]
    elif acc == 1:
        value, names = 2, ["O_WRONLY"]
    elif acc == 2:
        value, names = 3, ["O_RDWR"]
    if raw & O_TMPFILE == O_TMPFILE:
        value |= 1 << 13
        names.append("O_TMPFILE")
        raw &= ~O_TMPFILE
    for bits, ppm, name in _OPEN_TO_PPM:
        if raw & bits == bits:
            value |= ppm
            names.append(name)
    return value, "|".join(names)


_BITS: dict[str, tuple[tuple[int, str], ...]] = {
    "clone": (
        (0x100, "CLONE_VM"), (0x200, "CLONE_FS"), (0x400, "CLONE_FILES"), (0x800, "CLONE_SIGHAND"),
        (0x2000, "CLONE_PTRACE"), (0x4000, "CLONE_VFORK"), (0x8000, "CLONE_PARENT"), (0x10000, "CLONE_THREAD"),
        (0x20000, "CLONE_NEWNS"), (0x40000, "CLONE_SYSVSEM"), (0x80000, "CLONE_SETTLS"),
        (0x100000, "CLONE_PARENT_SETTID"), (0x200000, "CLONE_CHILD_CLEARTID"), (0x1000000, "CLONE_CHILD_SETTID"),
        (0x2000000, "CLONE_NEWCGROUP"), (0x4000000, "CLONE_NEWUTS"), (0x8000000, "CLONE_NEWIPC"),
        (0x10000000, "CLONE_NEWUSER"), (0x20000000, "CLONE_NEWPID"), (0x40000000, "CLONE_NEWNET"),
    ),
    "prot": ((1, "PROT_READ"), (2, "PROT_WRITE"), (4, "PROT_EXEC")),
    "mmap": (
        (0x01, "MAP_SHARED"), (0x02, "MAP_PRIVATE"), (0x10, "MAP_FIXED"), (0x20, "MAP_ANONYMOUS"),
        (0x100, "MAP_GROWSDOWN"), (0x800, "MAP_DENYWRITE"), (0x1000, "MAP_EXECUTABLE"), (0x2000, "MAP_LOCKED"),
        (0x4000, "MAP_NORESERVE"), (0x8000, "MAP_POPULATE"), (0x10000, "MAP_NONBLOCK"), (0x20000, "MAP_STACK"),
    ),
}

_ENUMS: dict[str, dict[int, str]] = {
    "family": {1: "AF_UNIX", 2: "AF_INET", 10: "AF_INET6", 16: "AF_NETLINK", 17: "AF_PACKET"},
    "fcntl": {0: "F_DUPFD", 1: "F_GETFD", 2: "F_SETFD", 3: "F_GETFL", 4: "F_SETFL", 5: "F_GETLK", 6: "F_SETLK",
              7: "F_SETLKW", 1030: "F_DUPFD_CLOEXEC"},
}


def render_flags(flagset: str, raw: int) -> str:
    if flagset == "open":
        return render_flag_table(PPM_OPEN_TABLE, open_flags(raw)[0])
    names = flag_names(flagset, raw)
    return f"{raw}({'|'.join(names)})" if names else str(raw)


def flag_names(flagset: str, raw: int) -> list[str] | None:
    """The names a Linux value of a flag set (not "open") stands for; None for a set without names."""
    if flagset in _ENUMS:
        name = _ENUMS[flagset].get(raw)
        return [name] if name else []
    bits = _BITS.get(flagset)
    if not bits:
        return None
    if flagset == "prot" and raw == 0:
        return ["PROT_NONE"]
    return [n for b, n in bits if raw & b == b]


def render_flag_table(table: tuple[tuple[str, int], ...], raw: int) -> str:
    """`raw(NAME|NAME)` from a sysdig (name, value) table, with sysdig's matching rules (event.cpp)."""
    names = []
    val = raw
    for name, value in table:
        if value == raw:
            names.append(name)  # an exact match ends the scan
            break
        if (value == 0 and raw == 0) or (value and val & value == value and val):
            names.append(name)
            val &= ~value
    return f"{raw}({'|'.join(names)})" if names else str(raw)


# Kernel-internal codes a syscall may still return to a tracer (linux/errno.h), named as sysdig does.
_KERNEL_ERRNOS = {512: "ERESTARTSYS", 513: "ERESTARTNOINTR", 514: "ERESTARTNOHAND", 515: "ENOIOCTLCMD",
                  516: "ERESTART_RESTARTBLOCK", 517: "EPROBE_DEFER", 518: "EOPENSTALE", 521: "EBADHANDLE",
                  522: "ENOTSYNC", 523: "EBADCOOKIE", 524: "ENOTSUPP", 525: "ETOOSMALL", 526: "ESERVERFAULT",
                  527: "EBADTYPE", 528: "EJUKEBOX", 529: "EIOCBQUEUED"}


def errno_name(res: int) -> str:
    return errno.errorcode.get(-res) or _KERNEL_ERRNOS.get(-res, f"E{-res}")


def signal_name(sig: int) -> str:
    try:
        return signal.Signals(sig).name
    except ValueError:
        return str(sig)
