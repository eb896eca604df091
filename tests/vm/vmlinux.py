"""A kernel's BTF, read from its package's vmlinuz on the host (no guest needed).

The compressed kernel inside a bzImage is found as the kernel's scripts/extract-vmlinux does: try
each compression magic at each offset until one decompresses to an ELF. The raw `.BTF` section of
that ELF is byte for byte what the booted kernel shows as /sys/kernel/btf/vmlinux.
"""
from __future__ import annotations

import lzma
import struct
import zlib
from collections.abc import Callable, Iterator

ELF_MAGIC = b"\x7fELF"


def _xz(data: bytes) -> bytes:
    return lzma.LZMADecompressor(format=lzma.FORMAT_XZ).decompress(data)


def _lzma(data: bytes) -> bytes:
    return lzma.LZMADecompressor(format=lzma.FORMAT_ALONE).decompress(data)


def _gzip(data: bytes) -> bytes:
    return zlib.decompressobj(16 + zlib.MAX_WBITS).decompress(data)


def _zstd(data: bytes) -> bytes:
    import zstandard  # a sysmon dependency

    return zstandard.ZstdDecompressor().decompressobj().decompress(data)


_METHODS: tuple[tuple[bytes, Callable[[bytes], bytes]], ...] = (
    (b"\xfd7zXZ\x00", _xz),
    (b"\x28\xb5\x2f\xfd", _zstd),
    (b"\x1f\x8b\x08", _gzip),
    (b"\x5d\x00\x00\x00", _lzma),
)


def _candidates(image: bytes) -> Iterator[bytes]:
    for magic, method in _METHODS:
        pos = image.find(magic)
        while pos != -1:
            try:
                out = method(image[pos:])
            except Exception:  # a magic that happened to occur inside other data
                out = b""
            if out.startswith(ELF_MAGIC):
                yield out
            pos = image.find(magic, pos + 1)


def extract_vmlinux(image: bytes) -> bytes:
    """The uncompressed ELF kernel inside a bzImage (or the image itself if already an ELF)."""
    if image.startswith(ELF_MAGIC):
        return image
    for elf in _candidates(image):
        return elf
    raise ValueError("no compressed ELF kernel found in the image")


def elf_section(elf: bytes, name: str) -> bytes:
    """The bytes of one section of a 64-bit little-endian ELF."""
    if elf[4] != 2 or elf[5] != 1:
        raise ValueError("not a 64-bit little-endian ELF")
    shoff, = struct.unpack_from("<Q", elf, 0x28)
    shentsize, shnum, shstrndx = struct.unpack_from("<HHH", elf, 0x3A)

    def header(i: int) -> tuple[int, int, int]:
        sh_name, _type, _flags, _addr, sh_offset, sh_size = struct.unpack_from("<IIQQQQ", elf, shoff + i * shentsize)
        return sh_name, sh_offset, sh_size

    _, str_off, _ = header(shstrndx)
    want = name.encode()
    for i in range(shnum):
        sh_name, off, size = header(i)
        end = elf.index(b"\0", str_off + sh_name)
        if elf[str_off + sh_name:end] == want:
            return elf[off:off + size]
    raise ValueError(f"the kernel has no {name} section (built without BTF)")


def btf_of_image(image: bytes) -> bytes:
    return elf_section(extract_vmlinux(image), ".BTF")
