"""Decoding probe records: the byte layout shared with probe/sysmon.h, params, and evt.info text."""
from __future__ import annotations

import struct

from sysmon.events.decode import Decoder
from sysmon.events.record import BLOB_HEADER, RECORD_HEADER
from sysmon.events.model import BLOB_BUF, BLOB_SOCKADDR, BLOB_STR, BLOB_TUPLE, ENTER, EXIT
from sysmon.events.render import RenderContext, render_params
from sysmon.events.schema import PROCEXIT_NR, Schema
from sysmon.events.sockaddr import TUPLE
from sysmon.events.syscalls import BY_NAME
from sysmon.state.state import FdInfo

def record(nr, direction, ret=0, args=(0,) * 6, blobs=(), tid=42, pid=42, comm=b"cat", ts=1_000):
    body = b"".join(BLOB_HEADER.pack(len(d), k, s) + d for k, s, d in blobs)
    size = RECORD_HEADER.size + len(body)
    hdr = RECORD_HEADER.pack(ts, *args, ret, tid, pid, 1, 1000, 1000, nr, direction, len(blobs), 1, size, 0, comm, 0)
    return hdr + body


def test_openat_exit_params_and_info():
    schema = Schema.default()
    rec = record(BY_NAME["openat"], EXIT, ret=3, args=(2**64 - 100, 0x1000, 0o2000000, 0, 0, 0),
                 blobs=[(BLOB_STR, 1, b"/etc/passwd")])
    evt = Decoder(schema, wall_offset_ns=0).decode(rec)
    assert (evt.type, evt.dir, evt.res, evt.comm, evt.ts_ns) == ("openat", EXIT, 3, "cat", 1_000)
    assert evt.params == {"fd": 3, "dirfd": -100, "name": "/etc/passwd", "flags": 0o2000000, "mode": 0, "dev": 0}
    info = render_params(evt, RenderContext(fd=lambda fd: FdInfo(fd, "file", "/etc/passwd") if fd == 3 else None))
    assert info == "fd=3(<f>/etc/passwd) dirfd=-100(AT_FDCWD) name=/etc/passwd flags=4097(O_RDONLY|O_CLOEXEC) mode=0 dev=0"


def test_error_results_render_with_errno_names():
    schema = Schema.default()
    evt = Decoder(schema, 0).decode(record(BY_NAME["access"], EXIT, ret=-2, blobs=[(BLOB_STR, 0, b"/nope")]))
    assert render_params(evt) == "res=-2(ENOENT) name=/nope"


def test_read_exit_carries_the_buffer_and_enter_args():
    schema = Schema.default()
    evt = Decoder(schema, 0).decode(record(BY_NAME["read"], EXIT, ret=5, args=(3, 0xdead, 100, 0, 0, 0),
                                           blobs=[(BLOB_BUF, 1, b"hi\x00\n!")]))
    assert evt.params == {"res": 5, "data": b"hi\x00\n!"}
    assert evt.raw_args[0] == 3 and evt.etype.fd_arg == 0
    assert render_params(evt) == "res=5 data=hi..!"


def test_connect_tuple_and_sockaddr():
    schema = Schema.default()
    tup = TUPLE.pack(2, 54321, 80, 6, bytes([127, 0, 0, 1]) + bytes(12), bytes([127, 0, 0, 1]) + bytes(12))
    sa = struct.pack("<H", 2) + (80).to_bytes(2, "big") + bytes([127, 0, 0, 1]) + bytes(8)
    evt = Decoder(schema, 0).decode(record(BY_NAME["connect"], EXIT, ret=0, args=(3, 0, 16, 0, 0, 0),
                                           blobs=[(BLOB_SOCKADDR, 1, sa), (BLOB_TUPLE, 0, tup)]))
    assert str(evt.params["tuple"]) == "127.0.0.1:54321->127.0.0.1:80"
    assert evt.params["tuple"].l4proto == "tcp"
    assert render_params(evt) == "res=0 tuple=127.0.0.1:54321->127.0.0.1:80 fd=3"


def test_unknown_syscalls_keep_their_kernel_name():
    schema = Schema.default()
    evt = Decoder(schema, 0).decode(record(BY_NAME["getppid"], ENTER))
    assert evt.type == "getppid" and evt.params == {}
    assert Decoder(schema, 0).decode(record(500, ENTER)).type == "syscall_500"


def test_procexit_and_name_mapping():
    schema = Schema.default()
    evt = Decoder(schema, 0).decode(record(PROCEXIT_NR, ENTER, ret=9))
    assert evt.type == "procexit" and evt.params["sig"] == 9
    assert schema.by_nr(BY_NAME["pread64"]).name == "pread"
    assert schema.by_nr(BY_NAME["accept4"]).name == "accept"
    assert schema.nrs_of(["pipe"]) == {BY_NAME["pipe"], BY_NAME["pipe2"]}


def test_every_capture_spec_fits_the_probe_table():
    for nr, specs in Schema.default().capture_specs().items():
        assert 0 <= nr < 512 and len(specs) <= 4
        vector = [i for i, s in enumerate(specs) if s.kind in (7, 8)]
        assert vector in ([], [0]), f"iovec/msghdr specs must come first (nr {nr})"


def test_the_feed_skips_unwanted_syscalls_undecoded_but_numbers_them():
    from sysmon.capture.feed import Feed
    from sysmon.engine import Inspector
    from sysmon.fields.clock import Clock
    from sysmon.state.state import State

    schema = Schema.default()
    recs = [record(BY_NAME["getppid"], ENTER), record(BY_NAME["connect"], ENTER, args=(3, 0, 0, 0, 0, 0)),
            record(BY_NAME["getppid"], EXIT), record(BY_NAME["close"], EXIT)]
    wanted = schema.wanted_nrs({"connect"})
    assert wanted is not None and BY_NAME["close"] in wanted, "state syscalls are always decoded"

    def shown(wanted: frozenset[int] | None) -> list[tuple[str, int]]:
        seen: list[tuple[str, int]] = []

        class Keep:
            def emit(self, evt, state):
                seen.append((evt.type, evt.num))

        Feed(Decoder(schema, 0), Inspector(State(), Clock(), None, [Keep()]), None, wanted).feed_live(recs)
        return seen

    assert shown(wanted) == [("connect", 2), ("close", 4)]
    assert [num for _, num in shown(None)] == [1, 2, 3, 4]
