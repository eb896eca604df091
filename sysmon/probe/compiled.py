"""The compiled probe: each program's instructions, the maps they use, and where they use them.

bcc compiles the C (seconds, and ~150 MB of LLVM in the process); the result depends only on the
source, the flags and the kernel's types. It is kept in a cache keyed on all of them, so a later
start on the same machine skips the compiler: maps are created anew and their fds patched into the
instructions (ld_imm64 with BPF_PSEUDO_MAP_FD), then the programs are loaded (bpfsys.py).
sysmon's own pid is compiled as a sentinel and patched in the same way, so one compiled probe
serves every process; two sysmon running at once each have their own maps and programs.
A cache entry is used only when its key matches exactly (a changed kernel, BTF, probe source,
flag or bcc version is a different key), and only from a root-owned file no one else can write.
"""
from __future__ import annotations

import ctypes
import hashlib
import os
import struct
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import msgpack

from sysmon.errors import ProbeError
from sysmon.probe import bpfsys
from sysmon.probe.bpfsys import MapSpec

CACHE_FORMAT = 2
DEFAULT_CACHE = Path(os.environ.get("SYSMON_PROBE_CACHE", "/var/cache/sysmon/probe"))
SELF_PID_SENTINEL = 0x5E1FD00D  # -DSELF_PID at compile time; patched with the real pid at load
PROGRAMS = {  # name in sysmon.bpf.c -> program type
    "raw_enter": bpfsys.PROG_RAW_TRACEPOINT,
    "raw_exit": bpfsys.PROG_RAW_TRACEPOINT,
    "proc_exit": bpfsys.PROG_RAW_TRACEPOINT,
    "tp_enter": bpfsys.PROG_TRACEPOINT,
    "tp_exit": bpfsys.PROG_TRACEPOINT,
}
_LD_IMM64, _PSEUDO_MAP_FD = 0x18, 1
_INSN = struct.Struct("<BBhi")


@dataclass(frozen=True, slots=True)
class Program:
    name: str
    type: int
    insns: bytes
    map_sites: tuple[tuple[int, str], ...]  # (instruction index, map name) of each map reference
    pid_sites: tuple[int, ...]  # instructions whose immediate is SELF_PID_SENTINEL


@dataclass(frozen=True, slots=True)
class CompiledProbe:
    maps: tuple[MapSpec, ...]
    programs: tuple[Program, ...]

    def to_bytes(self) -> bytes:
        return bytes(msgpack.packb({
            "format": CACHE_FORMAT,
            "maps": [[m.name, m.type, m.key_size, m.value_size, m.max_entries, m.flags] for m in self.maps],
            "programs": [[p.name, p.type, p.insns, [list(s) for s in p.map_sites], list(p.pid_sites)]
                         for p in self.programs],
        }))

    @classmethod
    def from_bytes(cls, data: bytes) -> CompiledProbe | None:
        """None for anything but a well-formed entry of this format (the probe is then compiled)."""
        try:
            doc = msgpack.unpackb(data)
            if doc["format"] != CACHE_FORMAT:
                return None
            maps = tuple(MapSpec(str(n), int(t), int(k), int(v), int(e), int(f)) for n, t, k, v, e, f in doc["maps"])
            names = {m.name for m in maps}
            programs = []
            for name, type_, insns, map_sites, pid_sites in doc["programs"]:
                sites = tuple((int(i), str(m)) for i, m in map_sites)
                count = len(insns) // 8
                if (len(insns) % 8 or any(m not in names or not 0 <= i < count - 1 for i, m in sites)
                        or any(not 0 <= i < count for i in pid_sites)):
                    return None
                programs.append(Program(str(name), int(type_), bytes(insns), sites, tuple(int(i) for i in pid_sites)))
            return cls(maps, tuple(programs))
        except (ValueError, TypeError, KeyError, msgpack.ExtraData, msgpack.FormatError, msgpack.StackError):
            return None


def cache_key(source: str, cflags: list[str], kernel_key: str, bcc_version: str) -> str:
    """Everything the instructions depend on. (The ring's size is not: the map is made at load.)"""
    flags = [f for f in cflags if not f.startswith(("-DSELF_PID=", "-DRINGBUF_PAGES=", "-I"))]
    text = "\0".join([str(CACHE_FORMAT), source, *flags, kernel_key, bcc_version])
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def load_cached(key: str, cache: Path = DEFAULT_CACHE) -> CompiledProbe | None:
    path = cache / f"{key}.probe"
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
    except OSError:
        return None
    with os.fdopen(fd, "rb") as f:
        st = os.fstat(f.fileno())
        if st.st_uid != 0 or st.st_mode & 0o022 or not _trusted_dir(cache):
            return None  # someone else could have written it: compile instead
        return CompiledProbe.from_bytes(f.read())


def store(key: str, probe: CompiledProbe, cache: Path = DEFAULT_CACHE) -> None:
    """Write atomically, 0600 in a 0700 directory; a failure only costs the next start a compile."""
    try:
        cache.mkdir(mode=0o700, parents=True, exist_ok=True)
        tmp = cache / f".{key}.{os.getpid()}.tmp"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(probe.to_bytes())
        os.replace(tmp, cache / f"{key}.probe")
    except OSError:
        return


def _trusted_dir(path: Path) -> bool:
    st = path.stat()
    return st.st_uid == 0 and not st.st_mode & 0o022


def compile_with_bcc(bcc: Any, source: str, cflags: list[str]) -> CompiledProbe:
    """Compile with bcc and take the result apart; bcc's own maps are closed afterwards."""
    bpf = bcc.BPF(text=source.encode(), cflags=cflags)
    try:
        lib = bcc.lib
        lib.bpf_num_tables.restype = ctypes.c_size_t
        lib.bpf_num_tables.argtypes = [ctypes.c_void_p]
        lib.bpf_table_name.restype = ctypes.c_char_p
        lib.bpf_table_name.argtypes = [ctypes.c_void_p, ctypes.c_size_t]
        lib.bpf_table_fd_id.restype = ctypes.c_int
        lib.bpf_table_fd_id.argtypes = [ctypes.c_void_p, ctypes.c_size_t]
        by_fd: dict[int, str] = {}
        maps = []
        for i in range(lib.bpf_num_tables(bpf.module)):
            name = lib.bpf_table_name(bpf.module, i).decode()
            fd = lib.bpf_table_fd_id(bpf.module, i)
            info = bpfsys.map_info(fd)
            maps.append(MapSpec(name, info.type, info.key_size, info.value_size, info.max_entries, info.flags))
            by_fd[fd] = name
        programs = tuple(_take_apart(name, type_, bpf.dump_func(name.encode()), by_fd)
                         for name, type_ in PROGRAMS.items())
        unpatched = [p.name for p in programs if not p.pid_sites]
        if unpatched:  # each program excludes sysmon's own pid: it must be found to be patched
            raise ProbeError(f"SELF_PID not found in the compiled {', '.join(unpatched)}",
                             hints=["run `sysmon --dump-bpf` to see the source"])
    finally:
        bpf.cleanup()
    return CompiledProbe(tuple(maps), programs)


def _take_apart(name: str, type_: int, insns: bytes, by_fd: dict[int, str]) -> Program:
    map_sites, pid_sites = [], []
    i, count = 0, len(insns) // 8
    while i < count:
        code, regs, _, imm = _INSN.unpack_from(insns, i * 8)
        if code == _LD_IMM64:  # two slots: the 64-bit immediate's low half, then its high half
            high = _INSN.unpack_from(insns, (i + 1) * 8)[3]
            if regs >> 4 == _PSEUDO_MAP_FD:
                map_sites.append((i, by_fd[imm]))
            elif imm == SELF_PID_SENTINEL and high == 0:
                pid_sites.append(i)
            elif imm == 0 and high == SELF_PID_SENTINEL:  # SELF_PID << 32: clang's `(x >> 32) == SELF_PID`
                pid_sites.append(i + 1)
            i += 2
            continue
        if imm == SELF_PID_SENTINEL:
            pid_sites.append(i)
        i += 1
    return Program(name, type_, insns, tuple(map_sites), tuple(pid_sites))


class Instance:
    """The probe's maps and programs in the kernel, made from a CompiledProbe (close() releases them).

    Programs are loaded when first needed (`load`), in parallel: the verifier takes ~0.1-0.5 s per
    syscall program here, and a start needs only the pair of its hooks (raw or per-syscall)."""

    def __init__(self, probe: CompiledProbe, self_pid: int) -> None:
        self.maps: dict[str, tuple[int, MapSpec]] = {}
        self.programs: dict[str, int] = {}
        self._probe = {p.name: p for p in probe.programs}
        self._self_pid = self_pid

    def map_fd(self, name: str) -> int:
        return self.maps[name][0]

    def load(self, names: list[str]) -> None:
        todo = [n for n in dict.fromkeys(names) if n not in self.programs]
        with ThreadPoolExecutor(max_workers=max(1, len(todo))) as pool:  # ctypes releases the GIL
            for name, fd in zip(todo, pool.map(self._load_one, todo)):
                self.programs[name] = fd

    def _load_one(self, name: str) -> int:
        prog = self._probe[name]
        code = bytearray(prog.insns)
        for i, map_name in prog.map_sites:
            struct.pack_into("<i", code, i * 8 + 4, self.map_fd(map_name))
        for i in prog.pid_sites:
            struct.pack_into("<i", code, i * 8 + 4, self._self_pid)
        return bpfsys.prog_load(prog.name, prog.type, bytes(code))

    def close(self) -> None:
        for fd in [*self.programs.values(), *(fd for fd, _ in self.maps.values())]:
            try:
                os.close(fd)
            except OSError:
                pass
        self.programs.clear()
        self.maps.clear()


def instantiate(probe: CompiledProbe, self_pid: int, sizes: dict[str, int]) -> Instance:
    """The maps (`sizes` overrides max_entries by name, e.g. the ring buffer); programs load later."""
    inst = Instance(probe, self_pid)
    try:
        for spec in probe.maps:
            if spec.name in sizes:
                spec = MapSpec(spec.name, spec.type, spec.key_size, spec.value_size, sizes[spec.name], spec.flags)
            if spec.type == bpfsys.MAP_TASK_STORAGE:
                blob, key_type, value_type = bpfsys.storage_btf(spec.value_size)
                btf_fd = bpfsys.btf_load(blob)
                try:
                    fd = bpfsys.map_create(spec, btf_fd, key_type, value_type)
                finally:
                    os.close(btf_fd)  # the map holds its own reference
            else:
                fd = bpfsys.map_create(spec)
            inst.maps[spec.name] = (fd, spec)
    except BaseException:
        inst.close()
        raise
    return inst
