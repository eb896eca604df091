"""Every field against synthetic events and a synthetic State."""
from __future__ import annotations

import ipaddress
import time
from typing import Any

import pytest

from sysmon.events.model import ENTER, Event, SockAddr, SockTuple
from sysmon.fields.catalogue import Catalogue
from sysmon.fields.field import FieldType
from sysmon.state.state import FdInfo, FdTable, State, ThreadInfo
from tests.factories import make_event, sock_tuple

TS = 1_534_527_348_514_682_170  # 2018-08-17 17:35:48.514682170 UTC
AT_FDCWD = -100


pytestmark = pytest.mark.usefixtures("utc_tz")  # tests/conftest.py


def _any(family: str) -> SockAddr:
    return SockAddr(family, ipaddress.ip_address("::" if family == "ipv6" else "0.0.0.0"), 0)


def make_state() -> State:
    """systemd(1) -> sshd(40) -> bash(50) -> sh(60) -> curl(100, threads 100 and 101)."""
    fds = FdTable({
        3: FdInfo(3, "file", "/etc/passwd"),
        4: FdInfo(4, "ipv4", "10.0.0.1:40000->93.184.216.34:80",
                  sock_tuple("10.0.0.1", 40000, "93.184.216.34", 80), is_server=False, l4proto="tcp"),
        5: FdInfo(5, "ipv6", "::1:50000->::1:8080", sock_tuple("::1", 8080, "::1", 50000), is_server=True),
        6: FdInfo(6, "directory", "/etc"),
        7: FdInfo(7, "unix", "/run/x.sock", SockTuple("unix", SockAddr("unix"), SockAddr("unix", path="/run/x.sock"))),
        8: FdInfo(8, "ipv4", "0.0.0.0:80", SockTuple("ipv4", SockAddr("ipv4", ipaddress.ip_address("0.0.0.0"), 80),
                  _any("ipv4"), "tcp"), is_server=True),
        9: FdInfo(9, "pipe", "pipe:[123]"),
    })
    threads = [
        ThreadInfo(1, 1, 0, "systemd"),
        ThreadInfo(40, 40, 1, "sshd"),
        ThreadInfo(50, 50, 40, "bash"),
        ThreadInfo(60, 60, 50, "sh"),
        ThreadInfo(100, 100, 60, "curl", exe="curl", exepath="/usr/bin/curl", args=["-6", "http://x"],
                   cwd="/home/u", uid=1000, gid=1000, start_ns=TS - 5_000, fdtable=fds, env=["A=1", "B=2"]),
        ThreadInfo(101, 100, 60, "curl", cwd="/home/u", fdtable=fds),
    ]
    return State({t.tid: t for t in threads}, {0: "root", 1000: "u"}, {0: "root", 1000: "users"})


@pytest.fixture
def cat() -> Catalogue:
    return Catalogue.default()


@pytest.fixture
def state() -> State:
    return make_state()


def ev(type: str, **kw: Any) -> Event:
    kw.setdefault("tid", 100)
    kw.setdefault("comm", "curl")
    kw.setdefault("ts_ns", TS)
    kw.setdefault("ppid", 60)
    return make_event(type, **kw)


def get(cat: Catalogue, name: str, evt: Event, state: State) -> Any:
    found = cat.lookup(name)
    assert found is not None, name
    field, arg = found
    return field.extract(evt, state, arg)


READ = dict(res=5, params={"res": 5, "data": b"hel\x00o"}, raw_args=(3, 0, 100))


# -- catalogue --------------------------------------------------------------------------------


def test_catalogue_has_sysdig_names(cat: Catalogue) -> None:
    names = {f.name for f in cat.fields()}
    for n in ("evt.num", "evt.outputtime", "evt.latency.human", "evt.is_open_exec", "proc.loginshellid",
              "thread.ismain", "user.name", "group.name", "fd.typechar", "fd.net", "fd.connected", "fd.uid"):
        assert n in names
    assert cat.lookup("evt.outputtime")[0].hidden
    assert cat.lookup("fd.net")[0].type is FieldType.IPNET
    assert cat.lookup("fd.net")[0].filter_only


# -- evt: time ----------------------------------------------------------------------------------


def test_time_fields(cat: Catalogue, state: State) -> None:
    e = ev("read", **READ)
    assert get(cat, "evt.time", e, state) == "17:35:48.514682170"
    assert get(cat, "evt.time.s", e, state) == "17:35:48"
    assert get(cat, "evt.time.iso8601", e, state) == "2018-08-17T17:35:48.514682170+0000"
    assert get(cat, "evt.datetime", e, state) == "2018-08-17 17:35:48.514682170"
    assert get(cat, "evt.datetime.s", e, state) == "2018-08-17 17:35:48"
    assert get(cat, "evt.rawtime", e, state) == TS
    assert get(cat, "evt.rawtime.s", e, state) == 1_534_527_348
    assert get(cat, "evt.rawtime.ns", e, state) == 514_682_170


def test_clock_fields(cat: Catalogue, state: State) -> None:
    enter = ev("read", dir=ENTER, ts_ns=TS, params={"fd": 3, "size": 100}, raw_args=(3,))
    other = ev("close", dir=ENTER, tid=101, ts_ns=TS + 500, raw_args=(9,))
    exit_ = ev("read", ts_ns=TS + 2_003_896, **READ)
    assert get(cat, "evt.reltime", enter, state) is None  # nothing observed yet
    cat.clock.observe(enter)
    assert get(cat, "evt.latency", enter, state) == 0
    assert get(cat, "evt.deltatime", enter, state) == 0
    cat.clock.observe(other)
    cat.clock.observe(exit_)
    assert get(cat, "evt.reltime", exit_, state) == 2_003_896
    assert get(cat, "evt.reltime.s", exit_, state) == 0
    assert get(cat, "evt.reltime.ns", exit_, state) == 2_003_896
    assert get(cat, "evt.latency", exit_, state) == 2_003_896
    assert get(cat, "evt.latency.s", exit_, state) == 0
    assert get(cat, "evt.latency.ns", exit_, state) == 2_003_896
    assert get(cat, "evt.latency.human", exit_, state) == "2.00ms"
    assert get(cat, "evt.deltatime", exit_, state) == 2_003_396
    assert get(cat, "evt.wait_latency", exit_, state) is None  # read is not a wait


def test_latency_unmatched_and_wait(cat: Catalogue, state: State) -> None:
    cat.clock.observe(ev("read", **READ))  # exit without its enter
    assert get(cat, "evt.latency", ev("read", **READ), state) is None
    cat.clock.observe(ev("nanosleep", dir=ENTER, ts_ns=TS))
    sleep = ev("nanosleep", ts_ns=TS + 3896, params={"res": 0})
    cat.clock.observe(sleep)
    assert get(cat, "evt.wait_latency", sleep, state) == 3896
    assert get(cat, "evt.latency.human", sleep, state) == "3.89us"
    assert get(cat, "evt.is_wait", sleep, state) is True


# -- evt: identity and arguments ------------------------------------------------------------------


def test_identity_fields(cat: Catalogue, state: State) -> None:
    e = ev("read", num=211, cpu=3, **READ)
    assert get(cat, "evt.num", e, state) == 211
    assert get(cat, "evt.cpu", e, state) == 3
    assert get(cat, "evt.type", e, state) == "read"
    assert get(cat, "syscall.type", e, state) == "read"
    assert get(cat, "evt.dir", e, state) == "<"
    assert get(cat, "evt.dir", ev("read", dir=ENTER, params={}), state) == ">"
    assert get(cat, "evt.type.is.read", e, state) == 1
    assert get(cat, "evt.type.is[open]", e, state) == 0
    assert get(cat, "evt.count", e, state) == 1
    assert get(cat, "evt.count.exit", e, state) == 1
    assert cat.lookup("evt.type")[0].symbols is not None and "openat" in cat.lookup("evt.type")[0].symbols
    procexit = make_event("procexit", dir=ENTER, params={"status": 0}, tid=100)
    assert get(cat, "syscall.type", procexit, state) is None


def test_info_and_args(cat: Catalogue, state: State) -> None:
    e = ev("openat", res=3, params={"fd": 3, "dirfd": AT_FDCWD, "name": "/etc/passwd", "flags": 0o2000000, "mode": 0},
           raw_args=(AT_FDCWD,))
    info = "fd=3(<f>/etc/passwd) dirfd=-100(AT_FDCWD) name=/etc/passwd flags=4097(O_RDONLY|O_CLOEXEC) mode=0"
    assert get(cat, "evt.info", e, state) == info
    assert get(cat, "evt.args", e, state) == info
    assert get(cat, "evt.arg.fd", e, state) == "<f>/etc/passwd"  # sysdig: the resolved part of `3(...)`
    assert get(cat, "evt.arg[0]", e, state) == "<f>/etc/passwd"
    assert get(cat, "evt.arg.dirfd", e, state) == "AT_FDCWD"
    assert get(cat, "evt.arg.flags", e, state) == "O_RDONLY|O_CLOEXEC"
    assert get(cat, "evt.arg.mode", e, state) == "0"
    assert get(cat, "evt.arg.nope", e, state) is None
    assert get(cat, "evt.arg[9]", e, state) is None
    assert get(cat, "evt.rawarg.flags", e, state) == 0o2000000
    assert get(cat, "evt.rawarg.name", e, state) == "/etc/passwd"
    assert get(cat, "evt.rawarg[1]", e, state) == AT_FDCWD


def test_buffer_fields(cat: Catalogue, state: State) -> None:
    e = ev("read", **READ)
    assert get(cat, "evt.buffer", e, state) == b"hel\x00o"
    assert get(cat, "evt.buflen", e, state) == 5
    assert get(cat, "evt.arg.data", e, state) == "hel.o"
    assert get(cat, "evt.buflen", ev("read", dir=ENTER, params={"fd": 3}), state) is None
    assert get(cat, "evt.buflen", ev("read", res=-11, params={"res": -11}), state) is None
    assert get(cat, "evt.buffer", ev("close", params={"res": 0}), state) is None


def test_result_fields(cat: Catalogue, state: State) -> None:
    ok = ev("read", **READ)
    fail = ev("open", res=-2, params={"fd": -2, "name": "x", "flags": 0, "mode": 0})
    enter = ev("read", dir=ENTER, params={"fd": 3})
    assert get(cat, "evt.res", ok, state) == "SUCCESS"
    assert get(cat, "evt.rawres", ok, state) == 5
    assert get(cat, "evt.failed", ok, state) is False
    assert get(cat, "evt.res", fail, state) == "ENOENT"
    assert get(cat, "evt.rawres", fail, state) == -2
    assert get(cat, "evt.failed", fail, state) is True
    assert get(cat, "evt.res", enter, state) is None
    assert get(cat, "evt.rawres", enter, state) is None
    assert get(cat, "evt.failed", enter, state) is False
    assert get(cat, "evt.count.error", fail, state) == 1
    assert get(cat, "evt.count.error", ok, state) == 0
    assert get(cat, "evt.count.error.file", fail, state) == 1
    assert get(cat, "evt.count.error.net", fail, state) == 0
    assert get(cat, "evt.count.error.other", fail, state) == 0
    assert get(cat, "evt.count.exit", enter, state) == 0


def test_io_and_category(cat: Catalogue, state: State) -> None:
    read = ev("read", **READ)  # fd 3: a file
    recv = ev("read", res=5, params={"res": 5, "data": b"x"}, raw_args=(4,))  # fd 4: a socket
    write = ev("write", res=1, params={"res": 1, "data": b"x"}, raw_args=(9,))  # fd 9: a pipe
    assert get(cat, "evt.category", read, state) == "file"
    assert get(cat, "evt.category", recv, state) == "net"
    assert get(cat, "evt.category", write, state) == "ipc"
    assert get(cat, "evt.category", ev("read", res=-9, params={"res": -9}, raw_args=(77,)), state) == "unknown"
    assert get(cat, "evt.category", ev("mmap", dir=ENTER, params={}), state) == "memory"
    assert get(cat, "evt.is_io", read, state) is True
    assert get(cat, "evt.is_io_read", read, state) is True
    assert get(cat, "evt.is_io_write", read, state) is False
    assert get(cat, "evt.is_io_write", write, state) is True
    assert get(cat, "evt.io_dir", read, state) == "read"
    assert get(cat, "evt.io_dir", write, state) == "write"
    assert get(cat, "evt.io_dir", ev("close", params={"res": 0}), state) is None
    assert get(cat, "evt.is_io", ev("close", params={"res": 0}), state) is False
    assert get(cat, "evt.is_wait", read, state) is False


def _open(flags: int, mode: int = 0, type: str = "openat") -> Event:
    return ev(type, res=3, params={"fd": 3, "dirfd": AT_FDCWD, "name": "f", "flags": flags, "mode": mode},
              raw_args=(AT_FDCWD,))


@pytest.mark.parametrize(
    ("flags", "mode", "read", "write", "exec_"),
    [(0, 0, True, False, False), (1, 0, False, True, False), (2, 0, True, True, False),
     (0o101, 0o755, False, True, True), (0o101, 0o644, False, True, False)],
)
def test_open_classification(cat: Catalogue, state: State, flags: int, mode: int, read: bool, write: bool,
                             exec_: bool) -> None:
    e = _open(flags, mode)
    assert get(cat, "evt.is_open_read", e, state) is read
    assert get(cat, "evt.is_open_write", e, state) is write
    assert get(cat, "evt.is_open_exec", e, state) is exec_


def test_open_classification_other_events(cat: Catalogue, state: State) -> None:
    creat = ev("creat", res=3, params={"fd": 3, "name": "f", "mode": 0o700})
    assert get(cat, "evt.is_open_exec", creat, state) is True
    assert get(cat, "evt.is_open_read", creat, state) is False
    assert get(cat, "evt.is_open_read", ev("read", **READ), state) is False
    enter = ev("openat", dir=ENTER, params={"dirfd": AT_FDCWD, "name": "f", "flags": 0, "mode": 0})
    assert get(cat, "evt.is_open_read", enter, state) is False


def test_abspath(cat: Catalogue, state: State) -> None:
    unlink = ev("unlinkat", params={"res": 0, "dirfd": AT_FDCWD, "name": "../tmp/./a", "flags": 0})
    assert get(cat, "evt.abspath", unlink, state) == "/home/tmp/a"
    ren = ev("renameat", params={"res": 0, "olddirfd": 6, "oldpath": "a", "newdirfd": AT_FDCWD, "newpath": "/x/b"})
    assert get(cat, "evt.abspath.src", ren, state) == "/etc/a"
    assert get(cat, "evt.abspath.dst", ren, state) == "/x/b"
    assert get(cat, "evt.abspath", ren, state) == "/etc/a"
    assert get(cat, "evt.abspath", ev("read", **READ), state) is None
    unknown_dir = ev("mkdirat", params={"res": 0, "dirfd": 77, "path": "d", "mode": 0})
    assert get(cat, "evt.abspath", unknown_dir, state) is None


# -- proc / thread ------------------------------------------------------------------------------


def test_proc_fields(cat: Catalogue, state: State) -> None:
    e = ev("read", **READ)
    assert get(cat, "proc.pid", e, state) == 100
    assert get(cat, "proc.ppid", e, state) == 60
    assert get(cat, "proc.name", e, state) == "curl"
    assert get(cat, "proc.exe", e, state) == "curl"
    assert get(cat, "proc.exepath", e, state) == "/usr/bin/curl"
    assert get(cat, "proc.args", e, state) == "-6 http://x"
    assert get(cat, "proc.cmdline", e, state) == "curl -6 http://x"
    assert get(cat, "proc.exeline", e, state) == "curl -6 http://x"
    assert get(cat, "proc.env", e, state) == "A=1 B=2"
    assert get(cat, "proc.cwd", e, state) == "/home/u/"  # with the trailing slash libsinsp gives it
    assert get(cat, "proc.pname", e, state) == "sh"
    assert get(cat, "proc.pcmdline", e, state) == "sh"
    assert get(cat, "proc.nthreads", e, state) == 2
    assert get(cat, "proc.nchilds", e, state) == 1
    assert get(cat, "proc.fdopencount", e, state) == 7
    assert get(cat, "proc.duration", e, state) == 5_000
    assert get(cat, "proc.loginshellid", e, state) == 50


def test_ancestors(cat: Catalogue, state: State) -> None:
    e = ev("read", **READ)
    assert get(cat, "proc.aname[0]", e, state) == ["curl"]
    assert get(cat, "proc.aname[1]", e, state) == ["sh"]
    assert get(cat, "proc.aname[4]", e, state) == ["systemd"]
    assert get(cat, "proc.aname[5]", e, state) is None
    assert get(cat, "proc.aname", e, state) == ["sh", "bash", "sshd", "systemd"]
    assert get(cat, "proc.apid[2]", e, state) == [50]
    assert get(cat, "proc.apid", e, state) == [60, 50, 40, 1]
    assert cat.lookup("proc.aname")[0].multi


def test_unknown_thread(cat: Catalogue, state: State) -> None:
    e = ev("read", tid=999, pid=999, comm="ghost", ppid=1, **READ)
    assert get(cat, "proc.name", e, state) == "ghost"  # from the event header
    assert get(cat, "proc.pid", e, state) == 999
    for name in ("proc.exe", "proc.cwd", "proc.cmdline", "proc.aname[1]", "proc.loginshellid", "proc.duration",
                 "proc.pname", "fd.name", "fd.num"):
        assert get(cat, name, e, state) is None, name


def test_thread_fields(cat: Catalogue, state: State) -> None:
    assert get(cat, "thread.tid", ev("read", **READ), state) == 100
    assert get(cat, "thread.ismain", ev("read", **READ), state) is True
    second = ev("read", tid=101, pid=100, **READ)
    assert get(cat, "thread.tid", second, state) == 101
    assert get(cat, "thread.ismain", second, state) is False
    assert get(cat, "proc.cwd", second, state) == "/home/u/"


# -- user / group -------------------------------------------------------------------------------


def test_user_group(cat: Catalogue, state: State) -> None:
    e = ev("read", uid=1000, gid=1000, **READ)
    assert get(cat, "user.uid", e, state) == 1000
    assert get(cat, "user.name", e, state) == "u"
    assert get(cat, "group.gid", e, state) == 1000
    assert get(cat, "group.name", e, state) == "users"
    assert get(cat, "user.name", ev("read", uid=4242, **READ), state) is None


# -- fd -----------------------------------------------------------------------------------------


def test_fd_file(cat: Catalogue, state: State) -> None:
    e = ev("read", **READ)
    assert get(cat, "fd.num", e, state) == 3
    assert get(cat, "fd.type", e, state) == "file"
    assert get(cat, "fd.typechar", e, state) == "f"
    assert get(cat, "fd.name", e, state) == "/etc/passwd"
    assert get(cat, "fd.directory", e, state) == "/etc"
    assert get(cat, "fd.filename", e, state) == "passwd"
    assert get(cat, "fd.uid", e, state) == "1003"
    for name in ("fd.cip", "fd.sip", "fd.lport", "fd.sockfamily", "fd.ip"):
        assert get(cat, name, e, state) is None, name
    assert get(cat, "fd.l4proto", e, state) == "<NA>"  # sysdig's text for an fd that is no IP socket
    assert get(cat, "fd.is_server", e, state) is False
    assert get(cat, "fd.connected", e, state) is False


def test_fd_directory_and_pipe(cat: Catalogue, state: State) -> None:
    d = ev("getdents64", params={"res": 0}, raw_args=(6,))
    assert get(cat, "fd.directory", d, state) == "/etc"
    assert get(cat, "fd.filename", d, state) is None
    assert get(cat, "fd.typechar", d, state) == "d"
    p = ev("write", res=1, params={"res": 1, "data": b"x"}, raw_args=(9,))
    assert get(cat, "fd.typechar", p, state) == "p"
    assert get(cat, "fd.directory", p, state) is None


def test_fd_of_creating_exit_and_failed_open(cat: Catalogue, state: State) -> None:
    opened = ev("openat", res=3, params={"fd": 3, "dirfd": AT_FDCWD, "name": "/etc/passwd", "flags": 0, "mode": 0},
                raw_args=(AT_FDCWD,))
    assert get(cat, "fd.name", opened, state) == "/etc/passwd"
    failed = ev("openat", res=-2, params={"fd": -2, "dirfd": AT_FDCWD, "name": "nope/x", "flags": 0, "mode": 0},
                raw_args=(AT_FDCWD,))
    assert get(cat, "fd.name", failed, state) == "/home/u/nope/x"
    assert get(cat, "fd.directory", failed, state) == "/home/u/nope"
    assert get(cat, "fd.filename", failed, state) == "x"
    assert get(cat, "fd.num", failed, state) == -1  # sysdig: an fd event that made no fd has fd.num -1
    assert get(cat, "fd.typechar", failed, state) == "f"  # ...and the type char its event implies
    assert get(cat, "fd.type", failed, state) is None


def test_fd_connected_client(cat: Catalogue, state: State) -> None:
    e = ev("read", res=5, params={"res": 5, "data": b"x"}, raw_args=(4,))
    ip = ipaddress.ip_address
    assert get(cat, "fd.typechar", e, state) == "4"
    assert get(cat, "fd.lip", e, state) == ip("10.0.0.1")
    assert get(cat, "fd.rip", e, state) == ip("93.184.216.34")
    assert get(cat, "fd.cip", e, state) == ip("10.0.0.1")
    assert get(cat, "fd.sip", e, state) == ip("93.184.216.34")
    assert get(cat, "fd.lport", e, state) == 40000
    assert get(cat, "fd.rport", e, state) == 80
    assert get(cat, "fd.cport", e, state) == 40000
    assert get(cat, "fd.sport", e, state) == 80
    assert get(cat, "fd.ip", e, state) == [ip("10.0.0.1"), ip("93.184.216.34")]
    assert get(cat, "fd.port", e, state) == [40000, 80]
    assert get(cat, "fd.net", e, state) == [ip("10.0.0.1"), ip("93.184.216.34")]
    assert get(cat, "fd.snet", e, state) == ip("93.184.216.34")
    assert get(cat, "fd.l4proto", e, state) == "tcp"
    assert get(cat, "fd.sockfamily", e, state) == "ip"
    assert get(cat, "fd.is_server", e, state) is False
    assert get(cat, "fd.connected", e, state) is True


def test_fd_accepted_server(cat: Catalogue, state: State) -> None:
    e = ev("read", res=5, params={"res": 5, "data": b"x"}, raw_args=(5,))
    assert get(cat, "fd.typechar", e, state) == "6"
    assert get(cat, "fd.cport", e, state) == 50000  # the remote side is the client
    assert get(cat, "fd.sport", e, state) == 8080
    assert get(cat, "fd.lport", e, state) == 8080
    assert get(cat, "fd.is_server", e, state) is True
    assert get(cat, "fd.sip", e, state) == ipaddress.ip_address("::1")


def test_fd_listening_and_unix(cat: Catalogue, state: State) -> None:
    listen = ev("listen", params={"res": 0}, raw_args=(8,))
    assert get(cat, "fd.sport", listen, state) == 80
    assert get(cat, "fd.cip", listen, state) is None
    assert get(cat, "fd.rport", listen, state) is None
    assert get(cat, "fd.connected", listen, state) is False
    assert get(cat, "fd.port", listen, state) == [80]
    unix = ev("write", res=1, params={"res": 1, "data": b"x"}, raw_args=(7,))
    assert get(cat, "fd.sockfamily", unix, state) == "unix"
    assert get(cat, "fd.typechar", unix, state) == "u"
    assert get(cat, "fd.cip", unix, state) is None
    assert get(cat, "fd.connected", unix, state) is True
    assert cat.lookup("fd.type")[0].symbols is not None and "ipv6" in cat.lookup("fd.type")[0].symbols
