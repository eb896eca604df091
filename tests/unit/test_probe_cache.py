"""The compiled-probe cache: what its key covers, and that only a trusted, well-formed entry is used."""
from __future__ import annotations

import os
import struct

from sysmon.probe import bpfsys, compiled
from sysmon.probe.bpfsys import MapSpec
from sysmon.probe.compiled import SELF_PID_SENTINEL, CompiledProbe, Program

FLAGS = ["-I/x", "-DSELF_PID=1", "-DNCPU=2", "-DRINGBUF_PAGES=16", "-DHAVE_TASK_BTF"]


def insn(code: int, regs: int = 0, imm: int = 0) -> bytes:
    return struct.pack("<BBhi", code, regs, 0, imm)


def sample() -> CompiledProbe:
    maps = (MapSpec("sc_table", 2, 4, 20, 512, 0), MapSpec("events", bpfsys.MAP_RINGBUF, 0, 0, 4096, 0))
    prog = Program("raw_enter", bpfsys.PROG_RAW_TRACEPOINT, insn(0x18, 0x10, 7) + insn(0) + insn(0x95),
                   ((0, "sc_table"),), ())
    return CompiledProbe(maps, (prog,))


def test_the_key_covers_source_flags_kernel_and_bcc_but_not_pid_or_ring_size():
    key = compiled.cache_key("src", FLAGS, "6.1.0-57-amd64-abc-t2", "0.26.0")
    same = ["-I/y", "-DSELF_PID=999", "-DNCPU=2", "-DRINGBUF_PAGES=1024", "-DHAVE_TASK_BTF"]
    assert compiled.cache_key("src", same, "6.1.0-57-amd64-abc-t2", "0.26.0") == key
    for other in (("src2", FLAGS, "6.1.0-57-amd64-abc-t2", "0.26.0"),
                  ("src", [*FLAGS, "-DPERF_TRANSPORT"], "6.1.0-57-amd64-abc-t2", "0.26.0"),
                  ("src", FLAGS, "6.1.0-57-amd64-abd-t2", "0.26.0"),
                  ("src", FLAGS, "6.1.0-57-amd64-abc-t2", "0.27.0")):
        assert compiled.cache_key(*other) != key


def test_an_entry_round_trips_and_a_damaged_one_is_refused():
    probe = sample()
    data = probe.to_bytes()
    assert CompiledProbe.from_bytes(data) == probe
    for bad in (data[:-3], b"", b"\x93\x01\x02", data.replace(b"sc_table", b"sc_tablX", 1)):
        assert CompiledProbe.from_bytes(bad) is None


def test_map_and_pid_sites_are_found_in_the_instructions():
    insns = (insn(0x18, 0x10, 42) + insn(0)  # ld_imm64 map fd 42
             + insn(0x18, 0x01, 0) + insn(0, 0, SELF_PID_SENTINEL)  # r1 = SELF_PID << 32
             + insn(0x15, 0x01, SELF_PID_SENTINEL)  # if r1 == SELF_PID
             + insn(0x95))
    prog = compiled._take_apart("raw_exit", bpfsys.PROG_RAW_TRACEPOINT, insns, {42: "sc_table"})
    assert prog.map_sites == ((0, "sc_table"),)
    assert prog.pid_sites == (3, 4)


def test_only_a_root_owned_entry_that_no_one_else_can_write_is_used(tmp_path):
    cache = tmp_path / "probe"
    compiled.store("k", sample(), cache)
    path = cache / "k.probe"
    assert (os.stat(cache).st_mode & 0o777, os.stat(path).st_mode & 0o777) == (0o700, 0o600)
    assert compiled.load_cached("k", cache) == sample()
    os.chmod(path, 0o620)
    assert compiled.load_cached("k", cache) is None
    os.chmod(path, 0o600)
    os.chmod(cache, 0o777)
    assert compiled.load_cached("k", cache) is None
    assert compiled.load_cached("missing", tmp_path) is None


def test_the_storage_btf_describes_an_int_key_and_a_value_of_words():
    blob, key_type, value_type = bpfsys.storage_btf(48)
    magic, version, _, hdr_len, _, type_len, str_off, str_len = struct.unpack_from("<HBBIIIII", blob)
    assert (magic, version, hdr_len, key_type, value_type) == (0xEB9F, 1, 24, 1, 4)
    assert len(blob) == 24 + type_len + str_len and str_off == type_len
