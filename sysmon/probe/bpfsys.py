"""The bpf(2) and perf_event_open(2) calls the probe needs, through ctypes (x86_64), without bcc.

bcc is only the compiler (sysmon/probe/compiled.py): maps, programs and attachments are made here
from the compiled instructions, so a start from the compiled-probe cache loads no LLVM at all.
"""
from __future__ import annotations

import ctypes
import ctypes.util
import os
import struct
from dataclasses import dataclass
from pathlib import Path

from sysmon.errors import ProbeError

_NR_BPF = 321
_NR_PERF_EVENT_OPEN = 298
_libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
_libc.syscall.restype = ctypes.c_long

# enum bpf_cmd
MAP_CREATE, MAP_LOOKUP_ELEM, MAP_UPDATE_ELEM, PROG_LOAD, OBJ_GET_INFO_BY_FD = 0, 1, 2, 5, 15
RAW_TRACEPOINT_OPEN, BTF_LOAD = 17, 18
# enum bpf_map_type / bpf_prog_type values used here
MAP_PERF_EVENT_ARRAY, MAP_RINGBUF, MAP_TASK_STORAGE = 4, 27, 29
PROG_TRACEPOINT, PROG_RAW_TRACEPOINT = 5, 17
_ATTR_SIZE = 128  # union bpf_attr, zero-padded: every command here fits
_PERF_TYPE_TRACEPOINT = 2
_PERF_ATTR_SIZE = 112  # PERF_ATTR_SIZE_VER5
_PERF_FLAG_FD_CLOEXEC = 8
_IOC_SET_BPF, _IOC_ENABLE = 0x40042408, 0x2400


def _bpf(cmd: int, attr: ctypes.Array[ctypes.c_char], what: str) -> int:
    ret = _libc.syscall(_NR_BPF, cmd, attr, _ATTR_SIZE)
    if ret < 0:
        err = ctypes.get_errno()
        raise ProbeError(f"{what} failed: {os.strerror(err)}", hints=["sysmon needs root and a BPF-capable kernel"])
    return int(ret)


def _attr(fmt: str, *values: object) -> ctypes.Array[ctypes.c_char]:
    buf = ctypes.create_string_buffer(_ATTR_SIZE)
    struct.pack_into(fmt, buf, 0, *values)
    return buf


def _addr(buf: ctypes.Array[ctypes.c_char] | None) -> int:
    return ctypes.addressof(buf) if buf is not None else 0


@dataclass(frozen=True, slots=True)
class MapSpec:
    name: str
    type: int
    key_size: int
    value_size: int
    max_entries: int
    flags: int


def map_create(spec: MapSpec, btf_fd: int = 0, key_type: int = 0, value_type: int = 0) -> int:
    attr = _attr("<7I16s4I", spec.type, spec.key_size, spec.value_size, spec.max_entries, spec.flags, 0, 0,
                 spec.name.encode()[:15], 0, btf_fd, key_type, value_type)
    return _bpf(MAP_CREATE, attr, f"creating map {spec.name}")


def map_info(fd: int) -> MapSpec:
    info = ctypes.create_string_buffer(88)
    _bpf(OBJ_GET_INFO_BY_FD, _attr("<IIQ", fd, len(info), _addr(info)), "reading a map's info")
    type_, _id, key, value, entries, flags, name = struct.unpack_from("<6I16s", info)
    return MapSpec(name.rstrip(b"\0").decode(), type_, key, value, entries, flags)


def map_update(fd: int, key: bytes, value: bytes) -> None:
    k, v = ctypes.create_string_buffer(key, len(key)), ctypes.create_string_buffer(value, len(value))
    _bpf(MAP_UPDATE_ELEM, _attr("<I4xQQQ", fd, _addr(k), _addr(v), 0), "updating a map")


def map_lookup(fd: int, key: bytes, value_size: int) -> bytes | None:
    k, v = ctypes.create_string_buffer(key, len(key)), ctypes.create_string_buffer(value_size)
    attr = _attr("<I4xQQQ", fd, _addr(k), _addr(v), 0)
    if _libc.syscall(_NR_BPF, MAP_LOOKUP_ELEM, attr, _ATTR_SIZE) < 0:
        return None
    return v.raw


def btf_load(blob: bytes) -> int:
    data = ctypes.create_string_buffer(blob, len(blob))
    log = ctypes.create_string_buffer(4096)
    return _bpf(BTF_LOAD, _attr("<QQIII", _addr(data), _addr(log), len(blob), len(log), 1), "loading BTF")


def prog_load(name: str, prog_type: int, insns: bytes, license: bytes = b"GPL") -> int:
    code = ctypes.create_string_buffer(insns, len(insns))
    lic = ctypes.create_string_buffer(license)
    attr = _attr("<IIQQIIQII16s", prog_type, len(insns) // 8, _addr(code), _addr(lic), 0, 0, 0, 0, 0,
                 name.encode()[:15])
    fd = _libc.syscall(_NR_BPF, PROG_LOAD, attr, _ATTR_SIZE)
    if fd >= 0:
        return int(fd)
    log = ctypes.create_string_buffer(1 << 20)  # load again, with the verifier's log
    struct.pack_into("<IIQ", attr, 24, 1, len(log), _addr(log))
    ret = _libc.syscall(_NR_BPF, PROG_LOAD, attr, _ATTR_SIZE)
    err = ctypes.get_errno()
    tail = log.value.decode(errors="replace").strip().splitlines()[-3:]
    raise ProbeError(f"the kernel refused program {name}: {os.strerror(err)} (ret {ret})",
                     hints=[*tail, "run `sysmon --dump-bpf` to see the source"])


def raw_tracepoint_open(tp: str, prog_fd: int) -> int:
    name = ctypes.create_string_buffer(tp.encode())
    return _bpf(RAW_TRACEPOINT_OPEN, _attr("<QI", _addr(name), prog_fd), f"attaching to raw tracepoint {tp}")


def tracepoint_attach(tracefs: Path, category: str, event: str, prog_fd: int) -> int:
    """A perf event on tracepoint category:event running the program; close the fd to detach."""
    try:
        tp_id = int((tracefs / "events" / category / event / "id").read_text())
    except (OSError, ValueError) as e:
        raise ProbeError(f"tracepoint {category}:{event} is not available: {e}") from e
    attr = ctypes.create_string_buffer(_PERF_ATTR_SIZE)
    struct.pack_into("<IIQQ", attr, 0, _PERF_TYPE_TRACEPOINT, _PERF_ATTR_SIZE, tp_id, 1)
    struct.pack_into("<I", attr, 48, 1)  # wakeup_events
    fd = _libc.syscall(_NR_PERF_EVENT_OPEN, attr, -1, 0, -1, _PERF_FLAG_FD_CLOEXEC)
    if fd < 0:
        raise ProbeError(f"perf_event_open on {category}:{event} failed: {os.strerror(ctypes.get_errno())}")
    if _libc.ioctl(fd, _IOC_SET_BPF, prog_fd) != 0 or _libc.ioctl(fd, _IOC_ENABLE, 0) != 0:
        err = ctypes.get_errno()
        os.close(fd)
        raise ProbeError(f"attaching to {category}:{event} failed: {os.strerror(err)}")
    return int(fd)


def storage_btf(value_size: int) -> tuple[bytes, int, int]:
    """A BTF blob typing a local-storage map: (blob, key type id, value type id).

    Task storage maps need BTF for their key (int) and value; the value is described as a struct
    of u64 words (the probe's `struct pending`), which is all the kernel checks: kinds and sizes."""
    if value_size % 8:
        raise ProbeError(f"a task storage value of {value_size} bytes is not made of u64 words")
    strings = b"\0int\0unsigned long long\0words\0sysmon_value\0"
    off = {name: strings.index(name.encode() + b"\0") for name in ("int", "unsigned long long", "words",
                                                                      "sysmon_value")}
    types = b"".join([
        struct.pack("<IIII", off["int"], 1 << 24, 4, (1 << 24) | 32),  # [1] INT int, signed, 32 bits
        struct.pack("<IIII", off["unsigned long long"], 1 << 24, 8, 64),  # [2] INT u64
        struct.pack("<IIIIII", 0, 3 << 24, 0, 2, 1, value_size // 8),  # [3] ARRAY u64[n]
        struct.pack("<IIIIII", off["sysmon_value"], (4 << 24) | 1, value_size, off["words"], 3, 0),  # [4] STRUCT
    ])
    header = struct.pack("<HBBIIIII", 0xEB9F, 1, 0, 24, 0, len(types), len(types), len(strings))
    return header + types + strings, 1, 4
