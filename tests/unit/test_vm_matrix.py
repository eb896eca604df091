"""The kernel matrix's host-side pieces: a kernel's BTF found inside a compressed image, sysmon's
probe lines parsed, the table drawn."""
from __future__ import annotations

import lzma
import struct
import zlib

import pytest
import zstandard

from tests.vm.guest import parse_probe_lines
from tests.vm.matrix import Row, table
from tests.vm.vmlinux import btf_of_image, elf_section


def tiny_elf(sections: dict[str, bytes]) -> bytes:
    """A 64-bit little-endian ELF holding only the given sections (and the section name table)."""
    names = b"\0" + b"".join(n.encode() + b"\0" for n in [*sections, ".shstrtab"])
    body, offsets = b"", []
    for data in [*sections.values(), names]:
        offsets.append(64 + len(body))
        body += data
    shoff = 64 + len(body)
    headers = [b"\0" * 64]
    name_at = 1
    for (name, data), off in zip([*sections.items(), (".shstrtab", names)], offsets):
        headers.append(struct.pack("<IIQQQQIIQQ", name_at, 1, 0, 0, off, len(data), 0, 0, 1, 0))
        name_at += len(name) + 1
    ident = b"\x7fELF\x02\x01\x01" + b"\0" * 9
    ehdr = ident + struct.pack("<HHIQQQIHHHHHH", 2, 62, 1, 0, 0, shoff, 0, 64, 0, 0, 64, len(headers), len(headers) - 1)
    return ehdr + body + b"".join(headers)


BTF = b"\x9f\xeb\x01\x00" + bytes(range(200))


@pytest.mark.parametrize("compress", [
    lambda d: lzma.compress(d, format=lzma.FORMAT_XZ),
    lambda d: zstandard.ZstdCompressor().compress(d),
    lambda d: (lambda c: c.compress(d) + c.flush())(zlib.compressobj(wbits=16 + zlib.MAX_WBITS)),
], ids=["xz", "zstd", "gzip"])
def test_the_btf_section_comes_out_of_a_compressed_image(compress):
    elf = tiny_elf({".text": b"\x90" * 64, ".BTF": BTF})
    # a bzImage: setup code, then the payload; a false magic before it must be skipped
    image = b"MZ" + b"\0" * 500 + b"\xfd7zXZ\x00garbage" + b"\1" * 100 + compress(elf) + b"\0" * 64
    assert btf_of_image(image) == BTF


def test_a_kernel_without_btf_is_named_as_such():
    with pytest.raises(ValueError, match="without BTF"):
        elf_section(tiny_elf({".text": b"\x90"}), ".BTF")


def test_the_probe_line_and_the_fallbacks_are_parsed():
    err = ("sysmon: probe: kernel 5.10.0-32-amd64 (btf types), transport ringbuf, 65536 KiB, enter args in lru-hash, "
           "hooks: 45 syscall tracepoints; tracefs at /sys/kernel/tracing\n"
           "sysmon: fallback: no BPF task storage (Linux 5.11): enter arguments kept in an LRU hash by thread id\n"
           "Kernel events: 28 produced, 28 delivered, 0 dropped (0.00%)\n")
    assert parse_probe_lines(err) == {
        "types": "btf", "transport": "ringbuf", "enter_store": "lru-hash", "hooks": "45 syscall tracepoints",
        "fallbacks": ["no BPF task storage (Linux 5.11): enter arguments kept in an LRU hash by thread id"]}
    assert parse_probe_lines("sysmon: probe: kernel 6.18 (btf types, probe compiled now), transport perf, enter args in task-storage, "
                             "hooks: raw_syscalls; tracefs mounted")["transport"] == "perf"


def test_the_table_shows_a_kernel_that_did_not_load_the_probe():
    row = Row("6.1.0-50-amd64", "yes (emulated)", 380.4, {"release": "6.1.0-50-amd64", "first_event_s": None,
                                                          "passed": 0, "failed": 5})
    assert table([row]).splitlines()[-1] == "| 6.1.0-50-amd64 | yes (emulated) | no | - | - | - | 0/5 | - | 380 s |"
    assert not row.ok()
    row.result["probe"] = {"transport": "ringbuf", "enter_store": "lru-hash", "hooks": "raw_syscalls"}
    assert table([row]).splitlines()[-1].startswith("| 6.1.0-50-amd64 | yes (emulated) | loads, then refused | ringbuf |")


def test_a_tree_for_another_kernel_is_keyed_and_versioned_as_that_kernel(tmp_path):
    """What the matrix does on the host for a guest: the guest's sysmon finds it under its own uname -r."""
    from sysmon.probe import btf

    if not btf.VMLINUX_BTF.exists():
        pytest.skip("this kernel exposes no BTF")
    tree = btf.ensure_tree(tmp_path, btf.VMLINUX_BTF, release="5.10.0-32-amd64")
    assert tree.name == btf.tree_key(btf.VMLINUX_BTF, "5.10.0-32-amd64")
    assert tree.name.startswith("5.10.0-32-amd64-")
    assert f"LINUX_VERSION_CODE {(5 << 16) + (10 << 8)}\n" in (tree / "include/linux/version.h").read_text()
