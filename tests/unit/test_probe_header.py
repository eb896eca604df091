"""Every #define of probe/sysmon.h against the Python constant that mirrors it, and the record
header struct against events/record.py: C and Python cannot drift apart unnoticed."""
from __future__ import annotations

import re
import struct
from importlib import resources

from sysmon.events import model, record, schema
from sysmon.events.sockaddr import TUPLE
from sysmon.probe import loader

C_ONLY = {
    "SYSMON_H": "the include guard",
    "SPEC_NONE": "an empty spec slot: the zeroed part of a table leaf Python never fills",
}
MIRRORS = {
    "SYSMON_MAX_SYSCALLS": loader.MAX_SYSCALLS,
    "SYSMON_SPECS": loader.SPECS_PER_SYSCALL,
    "SYSMON_PROCEXIT_NR": schema.PROCEXIT_NR,
    "SYSMON_F_NO_ENTER": record.F_NO_ENTER,
    "SYSMON_BLOB_STR": model.BLOB_STR,
    "SYSMON_BLOB_BUF": model.BLOB_BUF,
    "SYSMON_BLOB_SOCKADDR": model.BLOB_SOCKADDR,
    "SYSMON_BLOB_TUPLE": model.BLOB_TUPLE,
    "SYSMON_BLOB_ARGS": model.BLOB_ARGS,
    "SYSMON_BLOB_FDS": model.BLOB_FDS,
    "SPEC_STR": schema.SPEC_STR,
    "SPEC_BUF": schema.SPEC_BUF,
    "SPEC_SOCKADDR": schema.SPEC_SOCKADDR,
    "SPEC_TUPLE": schema.SPEC_TUPLE,
    "SPEC_ARGS": schema.SPEC_ARGS,
    "SPEC_IOVEC": schema.SPEC_IOVEC,
    "SPEC_MSGHDR": schema.SPEC_MSGHDR,
    "SPEC_FDS": schema.SPEC_FDS,
    "SPEC_FIXED": schema.SPEC_FIXED,
    "SPEC_AT_ENTER": schema.AT_ENTER,
    "SPEC_AT_EXIT": schema.AT_EXIT,
    "SLOT_RET": model.SLOT_RET,
    "SC_ENABLED": loader.SC_ENABLED,
    "SC_STATE": loader.SC_STATE,
    "IDF_PIDS": loader.IDF_PIDS,
    "IDF_TIDS": loader.IDF_TIDS,
    "IDF_COMMS": loader.IDF_COMMS,
    "IDF_UIDS": loader.IDF_UIDS,
    "IDF_CGROUPS": loader.IDF_CGROUPS,
    "CNT_SENT": loader.COUNTER_NAMES.index("sent"),
    "CNT_DROPPED": loader.COUNTER_NAMES.index("dropped"),
    "CNT_READ_FAILED": loader.COUNTER_NAMES.index("read_failed"),
    "CNT_TGID_MISMATCH": loader.COUNTER_NAMES.index("tgid_mismatch"),
    "CNT_MAX": len(loader.COUNTER_NAMES),
}
_C_TYPES = {"u64": "Q", "s64": "q", "u32": "I", "s32": "i", "u16": "H", "u8": "B", "char": "s"}


def _probe_file(name: str) -> str:
    return resources.files("sysmon.probe").joinpath(name).read_text()


def _defines(text: str) -> dict[str, str]:
    return dict(re.findall(r"^\s*#define\s+(\w+)[ \t]*([^\s/]*)", text, re.M))


def test_every_define_of_the_header_has_its_python_mirror() -> None:
    defines = _defines(_probe_file("sysmon.h"))
    unknown = set(defines) - set(MIRRORS) - set(C_ONLY)
    assert not unknown, f"new #defines in sysmon.h: add their Python constants to MIRRORS: {sorted(unknown)}"
    assert set(MIRRORS) <= set(defines), f"gone from sysmon.h: {sorted(set(MIRRORS) - set(defines))}"
    assert {name: int(defines[name], 0) for name in MIRRORS} == MIRRORS


def test_the_snaplen_bound_of_the_probe_is_the_loader_s() -> None:
    assert int(_defines(_probe_file("sysmon.bpf.c"))["SNAPLEN_MAX"]) == loader.SNAPLEN_MAX


def c_struct(name: str) -> list[tuple[str, str]]:
    """(member, struct module code) of each member of a struct in sysmon.h; arrays of numbers one by one."""
    body = re.search(rf"struct {name} \{{(.*?)\}};", _probe_file("sysmon.h"), re.S)
    assert body, name
    members: list[tuple[str, str]] = []
    for ctype, member, count in re.findall(r"^\s*(\w+) (\w+)(?:\[(\d+)\])?;", body.group(1), re.M):
        code = _C_TYPES[ctype]
        if count and code != "s":  # u64 args[6]: arg0..arg5
            members += [(f"{member.rstrip('s')}{i}", code) for i in range(int(count))]
        else:
            members.append((member, count + code))
    return members


def _size(name: str) -> int:
    return struct.calcsize("<" + "".join(code for _, code in c_struct(name)))


def test_the_record_header_is_the_c_struct_field_by_field() -> None:
    members = c_struct("sysmon_hdr")
    codes = [code for _, code in members]
    assert tuple(name for name, _ in members) == record.RECORD_FIELDS
    assert "<" + "".join(codes) == "<" + record.RECORD_HEADER.format[1:].replace("6Q", "QQQQQQ")
    assert _size("sysmon_hdr") == record.RECORD_HEADER.size == 120
    for name in ("ts_ns", "tid", "pid", "uid", "nr", "dir", "nblobs", "comm", "cgroup_id"):
        offset = struct.calcsize("<" + "".join(codes[: record.RECORD_FIELDS.index(name)]))
        assert getattr(record, f"{name.split('_')[0].upper()}_OFFSET") == offset, name  # cgroup_id: CGROUP_OFFSET


def test_the_blob_header_and_the_socket_tuple_are_the_c_structs() -> None:
    assert [name for name, _ in c_struct("sysmon_blob_hdr")] == list(record.BLOB_FIELDS)
    assert _size("sysmon_blob_hdr") == record.BLOB_HEADER.size
    assert _size("sysmon_tuple") == TUPLE.size == 40
