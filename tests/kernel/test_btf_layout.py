"""The type tree gives the compiled probe the kernel's struct layouts.

`&p->member` in the probe's C compiles to an offset the BPF backend computes from the IR's struct
types; offsetof() and the kernel's BTF are the truth. They disagreed after runs of bpftool's
`long: 64;` padding (btf.split_padding_runs): on Debian 11's 5.10, task_struct's tgid came out at
2252 instead of 2236. Checked here for the members of the structs the probe reads, in the host's
tree and in the tree of every VM kernel the matrix has unpacked (tests/vm, /var/cache/sysmon/vm).
"""
from __future__ import annotations

import os
import re
import shutil
import struct
import subprocess
from pathlib import Path

import pytest

from sysmon.probe import btf
from tests.kernel.conftest import require_bpf

pytestmark = pytest.mark.bpf
STRUCTS = ("task_struct", "files_struct", "fdtable", "file", "inode", "socket", "sock", "sock_common", "pt_regs",
           "mm_struct", "cred", "signal_struct")
VM_KERNELS = Path(os.environ.get("SYSMON_VM_CACHE", "/var/cache/sysmon/vm")) / "kernels"
_MEMBER = re.compile(r"\t'(\w+)' type_id=\d+ bits_offset=(\d+)$")  # named, not a bitfield


def btf_offsets(raw_btf: Path) -> dict[str, dict[str, int]]:
    """{struct: {member: byte offset}} for STRUCTS' named members, from `bpftool btf dump` (raw)."""
    text = subprocess.run([shutil.which("bpftool") or "/usr/sbin/bpftool", "btf", "dump", "file", str(raw_btf)],
                          capture_output=True, text=True, check=True).stdout.splitlines()
    found: dict[str, dict[str, int]] = {}
    for i, line in enumerate(text):
        m = re.match(r"\[\d+\] STRUCT '(\w+)' size=", line)
        if not m or m.group(1) not in STRUCTS or m.group(1) in found:
            continue
        members = {}
        for member in text[i + 1:]:
            if not member.startswith("\t"):
                break
            mm = _MEMBER.match(member)
            if mm:
                members[mm.group(1)] = int(mm.group(2)) // 8
        found[m.group(1)] = members
    return found


def compiled_offsets(tree: Path, members: list[tuple[str, str]]) -> list[int]:
    """The offset of each `&p->member` in code bcc compiles with this tree: one function per member,
    whose only pointer arithmetic is that member's (the backend lays it out, as in the probe)."""
    import bcc

    body = "".join(
        f"int f{i}(struct pt_regs *ctx) {{ struct {s} *p = (void *)ctx->di; char v = 0;\n"
        f"    bpf_probe_read_kernel(&v, 1, (void *)&p->{m}); return v; }}\n" for i, (s, m) in enumerate(members))
    src = "#include <uapi/linux/ptrace.h>\n#include <linux/sched.h>\n#include <linux/fs.h>\n#include <net/sock.h>\n" + body
    old = os.environ.get("BCC_KERNEL_SOURCE")
    os.environ["BCC_KERNEL_SOURCE"] = str(tree)
    try:
        prog = bcc.BPF(text=src.encode())
    finally:
        if old is None:
            os.environ.pop("BCC_KERNEL_SOURCE")
        else:
            os.environ["BCC_KERNEL_SOURCE"] = old
    try:
        out = []
        for i in range(len(members)):
            insns = prog.dump_func(f"f{i}".encode())
            adds = [struct.unpack_from("<BBhi", insns, k)[3] for k in range(0, len(insns), 8)
                    if insns[k] == 0x07 and insns[k + 1] & 0xF == 3]  # r3 += imm: the read's source
            out.append(sum(adds))
        return out
    finally:
        prog.cleanup()


def trees() -> list[tuple[str, Path, Path]]:
    """(release, BTF, type tree) for the host and each unpacked VM kernel."""
    found = [("host", btf.VMLINUX_BTF, None)]
    for root in sorted(VM_KERNELS.glob("*")) if VM_KERNELS.is_dir() else []:
        if (root / "btf.raw").exists():
            found.append((root.name, root / "btf.raw", root))
    return found


@pytest.mark.parametrize("release,raw,root", trees(), ids=[t[0] for t in trees()])
def test_member_offsets_in_compiled_code_are_the_kernels(release, raw, root):
    require_bpf()
    if root is None:
        tree = btf.ensure_tree()
    else:
        tree = btf.ensure_tree(root / "sysmon-btf", raw, release=release)
    expected = btf_offsets(raw)
    members = [(s, m) for s in STRUCTS for m in expected.get(s, {})]
    got = compiled_offsets(tree, members)
    wrong = [f"{s}.{m}: {g} (BTF: {expected[s][m]})" for (s, m), g in zip(members, got) if g != expected[s][m]]
    assert not wrong, f"{len(wrong)} of {len(members)} members compile to the wrong offset: " + ", ".join(wrong[:12])
