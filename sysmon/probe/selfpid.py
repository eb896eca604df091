"""sysmon's own tgid as the kernel numbers it, so the probe can leave its own syscalls out.

In a pid namespace of its own (a container without --pid=host, `unshare -p`), os.getpid() is the
namespace's number, while the probe compares bpf_get_current_pid_tgid(), the init namespace's: the
probe would record sysmon itself, and every line it prints would make more events. Outside the init
namespace a tiny BPF program, never compiled (two dozen instructions below), is attached to
raw_syscalls:sys_enter for one syscall: where bpf_get_ns_current_pid_tgid() (5.7+) says the caller
is us in our namespace, it stores bpf_get_current_pid_tgid()'s tgid in a one-entry array.
"""
from __future__ import annotations

import os
import struct

from sysmon.errors import ProbeError
from sysmon.probe import bpfsys

PROC_PID_INIT_INO = 0xEFFFFFFC  # the init pid namespace's inode number (include/linux/proc_ns.h)
MAP_ARRAY = 2
HELPER_MAP_UPDATE, HELPER_PID_TGID, HELPER_NS_PID_TGID = 2, 14, 120


def _insn(code: int, dst: int = 0, src: int = 0, off: int = 0, imm: int = 0) -> bytes:
    return struct.pack("<BBhI", code, src << 4 | dst, off, imm & 0xFFFFFFFF)


def _ld_imm64(dst: int, value: int, src: int = 0) -> bytes:
    return _insn(0x18, dst, src, 0, value & 0xFFFFFFFF) + _insn(0, 0, 0, 0, value >> 32)


def _program(dev: int, ino: int, ns_tgid: int, map_fd: int) -> bytes:
    """if (ns_current_pid_tgid(dev, ino, &info) == 0 && info.tgid == ns_tgid) map[0] = pid_tgid >> 32"""
    r0, r1, r2, r3, r4, r10 = 0, 1, 2, 3, 4, 10
    store = b"".join([
        _insn(0x85, imm=HELPER_PID_TGID), _insn(0x77, r0, imm=32),  # r0 = the kernel's tgid
        _insn(0x7B, r10, r0, -8),  # fp-8 = r0
        _insn(0x62, r10, off=-20, imm=0),  # fp-20 = key 0
        _ld_imm64(r1, map_fd, src=1),  # BPF_PSEUDO_MAP_FD
        _insn(0xBF, r2, r10), _insn(0x07, r2, imm=-20),
        _insn(0xBF, r3, r10), _insn(0x07, r3, imm=-8),
        _insn(0xB7, r4, imm=0),
        _insn(0x85, imm=HELPER_MAP_UPDATE),
    ])
    n = len(store) // 8  # jumps count instructions (an ld_imm64 is two)
    return b"".join([
        _ld_imm64(r1, dev), _ld_imm64(r2, ino),
        _insn(0xBF, r3, r10), _insn(0x07, r3, imm=-16),  # r3 = &info (struct bpf_pidns_info at fp-16)
        _insn(0xB7, r4, imm=8),
        _insn(0x85, imm=HELPER_NS_PID_TGID),
        _insn(0x55, r0, off=n + 2, imm=0),  # if r0 != 0: to the exit
        _insn(0x61, r1, r10, -12),  # r1 = info.tgid
        _insn(0x55, r1, off=n, imm=ns_tgid),  # if r1 != ns_tgid: to the exit
        store,
        _insn(0xB7, r0, imm=0), _insn(0x95),
    ])


def kernel_tgid() -> int:
    """This process's tgid in the init pid namespace (os.getpid() where that is the namespace it runs in)."""
    pid = os.getpid()
    ns = os.stat("/proc/self/ns/pid")
    if ns.st_ino == PROC_PID_INIT_INO:
        return pid
    map_fd = bpfsys.map_create(bpfsys.MapSpec("sysmon_selfpid", MAP_ARRAY, 4, 8, 1, 0))
    prog_fd = link = -1
    try:
        prog_fd = bpfsys.prog_load("sysmon_selfpid", bpfsys.PROG_RAW_TRACEPOINT,
                                   _program(ns.st_dev, ns.st_ino, pid, map_fd))
        link = bpfsys.raw_tracepoint_open("sys_enter", prog_fd)
        os.getppid()  # one syscall of ours while it is attached
        os.close(link)
        link = -1
        value = bpfsys.map_lookup(map_fd, struct.pack("<I", 0), 8)
        tgid = struct.unpack("<Q", value)[0] if value else 0
    finally:
        for fd in (link, prog_fd, map_fd):
            if fd >= 0:
                os.close(fd)
    if not tgid:
        raise ProbeError("cannot find sysmon's own pid outside its pid namespace",
                         hints=["run sysmon in the host's pid namespace (docker run --pid=host)"])
    return int(tgid)
