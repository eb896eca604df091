"""The BTF stub tree: kernel types for bcc without kernel headers.

bcc compiles BPF C against kernel headers. With `BCC_KERNEL_SOURCE=DIR` it uses DIR instead,
with `-nostdinc -I arch/x86/include -I include -include ./include/linux/kconfig.h`. A tree whose
kconfig.h pulls in `vmlinux.h` (dumped from the running kernel's BTF) gives correct struct
layouts for any kernel; headers of another version compile too but read structs wrong.
"""
from __future__ import annotations

import hashlib
import os
import re
import platform
import shutil
import subprocess
from pathlib import Path

from sysmon.errors import SetupError
from sysmon.probe.helper_ids import HELPER_NAMES

VMLINUX_BTF = Path("/sys/kernel/btf/vmlinux")
DEFAULT_CACHE = Path(os.environ.get("SYSMON_BTF_CACHE", "/var/cache/sysmon/btf"))

_KCONFIG = """\
#ifndef SYSMON_KCONFIG_H
#define SYSMON_KCONFIG_H
#define BPF_NO_PRESERVE_ACCESS_INDEX
#include <vmlinux.h>
#define _UAPI__LINUX_BPF_H__
#define CONFIG_BPF_SYSCALL 1
#ifndef offsetof
#define offsetof(TYPE, MEMBER) __builtin_offsetof(TYPE, MEMBER)
#endif
#ifndef NULL
#define NULL ((void *)0)
#endif
{compat}#endif
"""
TREE_FORMAT = 3  # bumped when the tree's content changes: older trees are regenerated
HELPERS_FILE = "helpers"  # the BPF helpers this kernel's BTF declares, one per line
_HELPER_ENUM = re.compile(rb"\bBPF_FUNC_([a-z0-9_]+) = \d+")

# Headers that bcc's helpers.h or our probe include; their content comes from vmlinux.h.
_EMPTY_HEADERS = (
    "uapi/linux/bpf.h",
    "uapi/linux/if_packet.h",
    "uapi/linux/ptrace.h",
    "uapi/asm/ptrace.h",
    "linux/log2.h",
    "linux/sched.h",
    "linux/ptrace.h",
    "linux/cred.h",
    "linux/fs.h",
    "linux/fdtable.h",
    "linux/mm_types.h",
    "linux/types.h",
    "linux/nsproxy.h",
    "linux/pid_namespace.h",
    "net/sock.h",
)


def _kernel_version_code(release: str) -> int:
    nums = [int("".join(ch for ch in part if ch.isdigit()) or 0) for part in release.split("-")[0].split(".")[:3]]
    nums += [0] * (3 - len(nums))
    return (nums[0] << 16) + (nums[1] << 8) + min(nums[2], 255)


def tree_key(btf: Path = VMLINUX_BTF, release: str | None = None) -> str:
    digest = hashlib.sha256(btf.read_bytes()).hexdigest()[:16]
    return f"{release or platform.release()}-{digest}-t{TREE_FORMAT}"


def kernel_helpers(vmlinux_h: bytes) -> frozenset[str]:
    """The BPF helpers a dumped vmlinux.h declares (its enum bpf_func_id)."""
    return frozenset(m.decode() for m in _HELPER_ENUM.findall(vmlinux_h))


def helper_compat(present: frozenset[str]) -> str:
    """#defines for the helpers bcc's helpers.h names and this kernel lacks (calling one fails to verify)."""
    return "".join(f"#define BPF_FUNC_{name} {i}\n" for i, name in enumerate(HELPER_NAMES) if name not in present)


_STRUCT_OPEN = re.compile(r"^(typedef )?struct\b")
_PAD64 = re.compile(r"^\t+long: 64;$")


def split_padding_runs(vmlinux_h: str) -> str:
    """Put `long: 0;` between consecutive `long: 64;` paddings of a (not packed) struct: a no-op for
    its layout, but each padding becomes its own 64-bit storage unit.

    bpftool writes gaps (mostly before cacheline-aligned members) as runs of anonymous bitfields,
    `long: 64;` once per word. Clang gives a run of N words one iN storage unit in the struct's IR type.
    Clang's record layout (offsetof, and the kernel) gives it N*8 bytes at 8-byte alignment; the BPF
    backend of bcc's LLVM 14 (data layout `i128:128`) aligns an iN wider than 64 bits to 16 bytes and
    rounds its size up to 16. Member addresses that reach the backend as IR (`&p->member`, `p->member`)
    were then off after such a run: on Debian 11's 5.10 task_struct's from `rt` on by 16 bytes (tgid at
    2252, not 2236), on every kernel socket.wq, on 6.12 mm_struct.arg_start. A zero-width bitfield ends
    a run, so the IR has only i64 units, laid out alike by both."""
    lines = vmlinux_h.split("\n")
    stack: list[tuple[bool, list[int]]] = []  # per open block: is it a struct, its direct lines
    before: set[int] = set()
    for i, line in enumerate(lines):
        text = line.strip()
        if text.startswith("}") and stack:
            is_struct, children = stack.pop()
            if is_struct and "packed" not in text:
                before.update(b for a, b in zip(children, children[1:])
                              if b == a + 1 and _PAD64.match(lines[a]) and _PAD64.match(lines[b]))
        if stack:
            stack[-1][1].append(i)
        if text.endswith("{"):
            stack.append((bool(_STRUCT_OPEN.match(text)), []))
    if not before:
        return vmlinux_h
    out = []
    for i, line in enumerate(lines):
        if i in before:
            out.append(line[:len(line) - len(line.lstrip("\t"))] + "long: 0;")
        out.append(line)
    return "\n".join(out)


_ENUM_SIZE = re.compile(r"^\[\d+\] ENUM(?:64)? '(\w+)' .*\bsize=(\d+)", re.M)
_ENUM_MODE = {1: "QI", 2: "HI", 8: "DI"}


def sized_enums(vmlinux_h: str, raw_dump: str) -> str:
    """Give each named enum that BTF says is not 4 bytes its size (`raw_dump`: `bpftool btf dump`).

    The kernel declares some enums `__packed` (6.x: `enum rw_hint`, 1 byte, a member of struct inode);
    bpftool 7.1 writes them as plain enums, which clang makes 4 bytes: every inode member after
    i_write_hint was then 1-8 bytes off, in offsetof() too."""
    modes = {name: _ENUM_MODE[int(size)] for name, size in _ENUM_SIZE.findall(raw_dump) if int(size) in _ENUM_MODE}
    if not modes:
        return vmlinux_h
    lines = vmlinux_h.split("\n")
    current = None
    for i, line in enumerate(lines):
        if line.startswith("enum ") and line.endswith(" {"):
            current = modes.get(line[5:-2])
        elif current and line == "};":
            lines[i] = f"}} __attribute__((mode({current})));"
            current = None
        elif not line.startswith("\t"):
            current = None
    return "\n".join(lines)


def tree_helpers(tree: Path) -> frozenset[str]:
    return frozenset((tree / HELPERS_FILE).read_text().split())


def ensure_tree(cache: Path = DEFAULT_CACHE, btf: Path = VMLINUX_BTF, release: str | None = None) -> Path:
    """Return a BTF stub tree for the running kernel, generating it when missing or stale.
    `release` and `btf` name another kernel's (the VM matrix makes its guests' trees on the host)."""
    release = release or platform.release()
    if not btf.exists():
        raise SetupError(
            f"this kernel exposes no BTF ({btf} is missing)",
            hints=["install the headers of the running kernel: apt-get install linux-headers-$(uname -r)"],
        )
    tree = cache / tree_key(btf, release)
    if (tree / HELPERS_FILE).exists():
        return tree
    bpftool = shutil.which("bpftool") or next(
        (p for p in ("/usr/sbin/bpftool", "/sbin/bpftool") if os.path.exists(p)), None
    )
    if bpftool is None:
        raise SetupError("bpftool is not installed", hints=["apt-get install bpftool"])
    tmp = tree.with_name(tree.name + f".tmp{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    inc = tmp / "include"
    (inc / "linux").mkdir(parents=True)
    dumped = subprocess.run([bpftool, "btf", "dump", "file", str(btf), "format", "c"], stdout=subprocess.PIPE,
                            check=True).stdout.decode()
    raw = subprocess.run([bpftool, "btf", "dump", "file", str(btf)], stdout=subprocess.PIPE, check=True).stdout.decode()
    (inc / "vmlinux.h").write_text(sized_enums(split_padding_runs(dumped), raw))
    present = kernel_helpers((inc / "vmlinux.h").read_bytes())
    (tmp / HELPERS_FILE).write_text("\n".join(sorted(present)) + "\n")
    (inc / "linux" / "kconfig.h").write_text(_KCONFIG.format(compat=helper_compat(present)))
    code = _kernel_version_code(release)
    (inc / "linux" / "version.h").write_text(
        f"#define LINUX_VERSION_CODE {code}\n#define KERNEL_VERSION(a, b, c) (((a) << 16) + ((b) << 8) + (c))\n"
    )
    asm = tmp / "arch" / "x86" / "include" / "asm"
    asm.mkdir(parents=True)
    (asm / "page.h").write_text("#define PAGE_SIZE 4096\n")
    (asm / "ptrace.h").write_text("")
    for name in _EMPTY_HEADERS:
        path = inc / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.touch()
    os.chmod(tmp, 0o755)
    shutil.rmtree(tree, ignore_errors=True)
    os.replace(tmp, tree)
    return tree


def main() -> None:
    """`python -m sysmon.probe.btf`: generate the tree (used by the set-up script) and print its path."""
    print(ensure_tree())


if __name__ == "__main__":
    main()
