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
TREE_FORMAT = 2  # bumped when the tree's content changes: older trees are regenerated
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


def tree_key(btf: Path = VMLINUX_BTF) -> str:
    digest = hashlib.sha256(btf.read_bytes()).hexdigest()[:16]
    return f"{platform.release()}-{digest}-t{TREE_FORMAT}"


def kernel_helpers(vmlinux_h: bytes) -> frozenset[str]:
    """The BPF helpers a dumped vmlinux.h declares (its enum bpf_func_id)."""
    return frozenset(m.decode() for m in _HELPER_ENUM.findall(vmlinux_h))


def helper_compat(present: frozenset[str]) -> str:
    """#defines for the helpers bcc's helpers.h names and this kernel lacks (calling one fails to verify)."""
    return "".join(f"#define BPF_FUNC_{name} {i}\n" for i, name in enumerate(HELPER_NAMES) if name not in present)


def tree_helpers(tree: Path) -> frozenset[str]:
    return frozenset((tree / HELPERS_FILE).read_text().split())


def ensure_tree(cache: Path = DEFAULT_CACHE, btf: Path = VMLINUX_BTF) -> Path:
    """Return a BTF stub tree for the running kernel, generating it when missing or stale."""
    if not btf.exists():
        raise SetupError(
            f"this kernel exposes no BTF ({btf} is missing)",
            hints=["install the headers of the running kernel: apt-get install linux-headers-$(uname -r)"],
        )
    tree = cache / tree_key(btf)
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
    with open(inc / "vmlinux.h", "wb") as out:
        subprocess.run([bpftool, "btf", "dump", "file", str(btf), "format", "c"], stdout=out, check=True)
    present = kernel_helpers((inc / "vmlinux.h").read_bytes())
    (tmp / HELPERS_FILE).write_text("\n".join(sorted(present)) + "\n")
    (inc / "linux" / "kconfig.h").write_text(_KCONFIG.format(compat=helper_compat(present)))
    code = _kernel_version_code(platform.release())
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
