"""Builds tests/golden/captures/chisels.smc: a deterministic, synthetic but realistic capture.

A live capture cannot be committed (its snapshot holds every process's environment), so this one is
written by the real capture writer from made-up probe records, with a fixed header and a small
state: a login shell running `cat /etc/hosts` (which also fails on /etc/shadow) and curl (IPv6,
then a refused IPv4 connect), nginx serving two IPv4 clients and logging, an app talking to
postgres over a unix socket and doing a slow file write, a slow network read, cd and procexits.

    SYSMON_UPDATE_GOLDEN=1 python -m pytest tests/golden   # rewrite the capture and the expected outputs
"""
from __future__ import annotations

import ipaddress
import os
import sys
from pathlib import Path
from typing import Any

from sysmon.capture.format import Batch, make_header
from sysmon.capture.writer import CaptureWriter
from sysmon.events.record import BLOB_HEADER, RECORD_HEADER
from sysmon.events.model import BLOB_ARGS, BLOB_BUF, BLOB_SOCKADDR, BLOB_STR, BLOB_TUPLE, ENTER, EXIT, SLOT_RET
from sysmon.events.schema import PROCEXIT_NR
from sysmon.events.sockaddr import AF_INET, AF_INET6, AF_UNIX, TUPLE
from sysmon.events.syscalls import BY_NAME
from sysmon.events.model import SockAddr, SockTuple
from sysmon.state.containers import ContainerInfo, Mount
from sysmon.state.state import FdInfo, FdTable, State, ThreadInfo

HERE = Path(__file__).resolve().parent
CAPTURE = HERE / "captures" / "chisels.smc"
MS = 1_000_000
WALL_OFFSET_NS = 1_700_000_000 * 10**9  # record time 0 = 2023-11-14 22:13:20 UTC
FIXED_HEADER = {"sysmon": "golden", "hostname": "golden", "kernel": "6.1.0-golden", "machine": "x86_64",
                "boot_ns": WALL_OFFSET_NS, "started_ns": WALL_OFFSET_NS}
AT_FDCWD = -100
O_RDONLY, O_CLOEXEC = 0, 0o2000000
SIGCHLD = 17
TCP = 6

PTS = "/dev/pts/0"
WEB_ID = "4f1c9a2b7d3e" + "5a" * 26  # nginx runs in a docker container, postgres in a pod's
DB_ID = "9e8d7c6b5a41" + "3c" * 26
HOST_CGROUPS = (("cpuacct", "/user.slice"), ("", "/user.slice"))
PG_SOCK = "/var/run/postgresql/.s.PGSQL.5432"


def sockaddr(ip: str, port: int) -> bytes:
    addr = ipaddress.ip_address(ip)
    if addr.version == 4:
        return AF_INET.to_bytes(2, "little") + port.to_bytes(2, "big") + addr.packed + bytes(8)
    return AF_INET6.to_bytes(2, "little") + port.to_bytes(2, "big") + bytes(4) + addr.packed + bytes(4)


def sockaddr_un(path: str) -> bytes:
    return AF_UNIX.to_bytes(2, "little") + path.encode() + b"\0"


def tuple_blob(local: tuple[str, int], remote: tuple[str, int], proto: int = TCP) -> bytes:
    la, ra = ipaddress.ip_address(local[0]), ipaddress.ip_address(remote[0])
    family = AF_INET if la.version == 4 else AF_INET6
    return TUPLE.pack(family, local[1], remote[1], proto, la.packed.ljust(16, b"\0"), ra.packed.ljust(16, b"\0"))


def unix_tuple() -> bytes:
    return TUPLE.pack(AF_UNIX, 0, 0, 0, bytes(16), bytes(16))


class Proc:
    def __init__(self, tid: int, comm: str, uid: int, ppid: int) -> None:
        self.tid, self.comm, self.uid, self.ppid = tid, comm, uid, ppid


class Script:
    """Probe records in time order: `call` makes an enter and an exit record (exit args = enter args)."""

    def __init__(self) -> None:
        self.records: list[tuple[int, int, bytes]] = []  # (ts, seq, record)

    def record(self, p: Proc, nr: int, direction: int, ts_ms: float, *, args: tuple[int, ...] = (), ret: int = 0,
               blobs: tuple[tuple[int, int, bytes], ...] = ()) -> None:
        body = b"".join(BLOB_HEADER.pack(len(d), k, s) + d for k, s, d in blobs)
        raw = tuple(a & 0xFFFFFFFFFFFFFFFF for a in args) + (0,) * (6 - len(args))
        ts = round(ts_ms * 1000) * 1000  # whole microseconds
        rec = RECORD_HEADER.pack(ts, *raw, ret, p.tid, p.tid, p.ppid, p.uid, p.uid, nr, direction, len(blobs),
                                 len(self.records) % 2, RECORD_HEADER.size + len(body), 0, p.comm.encode(), 0)
        self.records.append((ts, len(self.records), rec + body))

    def call(self, p: Proc, name: str, ts_ms: float, *, args: tuple[int, ...] = (), ret: int = 0, dur_ms: float = 0.02,
             enter: tuple[tuple[int, int, bytes], ...] = (), exit: tuple[tuple[int, int, bytes], ...] = ()) -> None:
        nr = BY_NAME[name]
        self.record(p, nr, ENTER, ts_ms, args=args, blobs=enter)
        self.record(p, nr, EXIT, ts_ms + dur_ms, args=args, ret=ret, blobs=exit)

    # -- the calls the scenario uses ---------------------------------------------------------------
    def read(self, p: Proc, fd: int, data: bytes, ts: float, *, ret: int | None = None, dur_ms: float = 0.02,
             call: str = "read") -> None:
        self.call(p, call, ts, args=(fd, 0, 4096), ret=len(data) if ret is None else ret, dur_ms=dur_ms,
                  exit=((BLOB_BUF, 1, data),) if data else ())

    def write(self, p: Proc, fd: int, data: bytes, ts: float, *, size: int | None = None, dur_ms: float = 0.02,
              call: str = "write") -> None:
        n = len(data) if size is None else size
        self.call(p, call, ts, args=(fd, 0, n), ret=n, dur_ms=dur_ms, exit=((BLOB_BUF, 1, data[:80]),))

    def openat(self, p: Proc, path: str, fd: int, ts: float, flags: int = O_RDONLY | O_CLOEXEC) -> None:
        blob = ((BLOB_STR, 1, path.encode()),)
        self.call(p, "openat", ts, args=(AT_FDCWD, 0, flags, 0), ret=fd, enter=blob, exit=blob)

    def close(self, p: Proc, fd: int, ts: float) -> None:
        self.call(p, "close", ts, args=(fd,))

    def fork_exec(self, parent: Proc, child: Proc, path: str, argv: list[str], ts: float) -> None:
        self.record(parent, BY_NAME["clone"], ENTER, ts, args=(SIGCHLD,))
        self.record(parent, BY_NAME["clone"], EXIT, ts + 0.05, args=(SIGCHLD,), ret=child.tid)
        forked = Proc(child.tid, parent.comm, child.uid, parent.tid)
        self.record(forked, BY_NAME["clone"], EXIT, ts + 0.06, args=(SIGCHLD,), ret=0)
        self.record(forked, BY_NAME["execve"], ENTER, ts + 0.1, blobs=((BLOB_STR, 0, path.encode()),))
        self.record(child, BY_NAME["execve"], EXIT, ts + 0.4,
                    blobs=((BLOB_ARGS, len(argv), b"\0".join(a.encode() for a in argv) + b"\0"),))

    def exit(self, p: Proc, status: int, ts: float) -> None:
        self.record(p, PROCEXIT_NR, ENTER, ts, ret=status)

    def batches(self) -> list[list[bytes]]:
        ordered = [rec for _, _, rec in sorted(self.records)]
        return [ordered[i:i + 16] for i in range(0, len(ordered), 16)]


def inet(fd: int, kind: str, local: tuple[str, int], remote: tuple[str, int], *, server: bool) -> FdInfo:
    def addr(ip: str, port: int) -> SockAddr:
        return SockAddr(kind, ipaddress.ip_address(ip), port)

    tup = SockTuple(kind, addr(*local), addr(*remote), "tcp")
    name = f"{local[0]}:{local[1]}" if remote[1] == 0 else f"{remote[0]}:{remote[1]}->{local[0]}:{local[1]}"
    return FdInfo(fd, kind, name, tup, is_server=server, l4proto="tcp")


def start_state() -> State:
    tty = {n: FdInfo(n, "file", PTS) for n in (0, 1, 2)}
    threads = [
        ThreadInfo(1, 1, 0, "systemd", exe="/sbin/init", exepath="/usr/lib/systemd/systemd", cwd="/"),
        ThreadInfo(800, 800, 1, "sshd", exe="sshd: alice [priv]", exepath="/usr/sbin/sshd", cwd="/"),
        ThreadInfo(1000, 1000, 800, "bash", exe="-bash", exepath="/usr/bin/bash", cwd="/home/alice", uid=1000,
                   gid=1000, start_ns=WALL_OFFSET_NS - 60 * 10**9, fdtable=FdTable(dict(tty))),
        ThreadInfo(200, 200, 1, "nginx", exe="nginx", exepath="/usr/sbin/nginx", args=["-g", "daemon off;"], cwd="/",
                   uid=33, gid=33, fdtable=FdTable({
                       3: FdInfo(3, "file", "/var/log/nginx/access.log"),
                       4: FdInfo(4, "file", "/var/log/nginx/error.log"),
                       6: inet(6, "ipv4", ("0.0.0.0", 80), ("0.0.0.0", 0), server=True),
                       7: inet(7, "ipv6", ("::", 443), ("::", 0), server=True)})),
        ThreadInfo(300, 300, 1, "python3", exe="python3", exepath="/usr/bin/python3.11", args=["app.py"],
                   cwd="/srv/app", uid=1001, gid=1001, fdtable=FdTable({3: FdInfo(3, "file", "/var/lib/app/data.db")})),
        ThreadInfo(500, 500, 1, "postgres", exe="postgres", exepath="/usr/lib/postgresql/15/bin/postgres",
                   cwd="/var/lib/postgresql", uid=105, gid=105,
                   fdtable=FdTable({5: FdInfo(5, "unix", PG_SOCK, SockTuple("unix", SockAddr("unix", path=PG_SOCK),
                                                                            SockAddr("unix")))})),
    ]
    for t in threads:
        cid = {"nginx": WEB_ID, "postgres": DB_ID}.get(t.comm)
        t.cgroups = ((("cpuacct", f"/docker/{cid}"), ("", f"/docker/{cid}")) if cid else HOST_CGROUPS)
    names = {0: "root", 33: "www-data", 105: "postgres", 1000: "alice", 1001: "app"}
    state = State({t.tid: t for t in threads}, dict(names), dict(names),
                  accounts={1000: ("/home/alice", "/bin/bash"), 0: ("/root", "/bin/bash")})
    state.containers.add(ContainerInfo(WEB_ID[:12], "docker", WEB_ID, name="web", image="nginx:1.25",
                                       image_id="ab" * 32, image_repo="nginx", image_tag="1.25", privileged=False,
                                       mounts=(Mount("/srv/www", "/var/www/html", "ro", False, "rprivate"),),
                                       labels={"maintainer": "golden"}, ip="172.17.0.2", complete=True))
    state.containers.add(ContainerInfo(DB_ID[:12], "docker", DB_ID, name="k8s_db_db-0_prod_uid1_0",
                                       image="postgres:15", image_id="cd" * 32, image_repo="postgres",
                                       image_tag="15", privileged=True,
                                       labels={"io.kubernetes.pod.name": "db-0", "io.kubernetes.pod.namespace": "prod",
                                               "io.kubernetes.pod.uid": "uid1", "app": "db"}, complete=True))
    return state


def script() -> Script:
    s = Script()
    bash, cat, curl = Proc(1000, "bash", 1000, 800), Proc(1001, "cat", 1000, 1000), Proc(1002, "curl", 1000, 1000)
    nginx, app = Proc(200, "nginx", 33, 1), Proc(300, "python3", 1001, 1)

    # A shell: cat /etc/hosts (and a file it may not read), then curl.
    s.read(bash, 0, b"cat /etc/hosts /etc/shadow\n", 10)
    s.fork_exec(bash, cat, "/usr/bin/cat", ["cat", "/etc/hosts", "/etc/shadow"], 100)
    hosts = b"127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost\n"
    s.openat(cat, "/etc/hosts", 3, 110)
    s.read(cat, 3, hosts, 111)
    s.write(cat, 1, hosts, 112)
    s.read(cat, 3, b"", 113)
    s.close(cat, 3, 114)
    s.openat(cat, "/etc/shadow", -13, 120)  # EACCES
    s.write(cat, 2, b"cat: /etc/shadow: Permission denied\n", 121)
    s.exit(cat, 1 << 8, 130)

    # nginx serves an IPv4 client, logs, then blocks on a slow read.
    s.call(nginx, "accept4", 200, args=(6, 0, 0, 0o4000), ret=8,
           exit=((BLOB_TUPLE, SLOT_RET, tuple_blob(("10.0.0.1", 80), ("10.0.0.5", 51000))),))
    request = b"GET /index.html HTTP/1.1\r\nHost: example.com\r\n\r\n"
    s.read(nginx, 8, request, 210, call="recvfrom")
    s.openat(nginx, "/var/www/html/index.html", 9, 220)
    page = b"<html>hello</html>\n"
    s.read(nginx, 9, page, 221)
    s.close(nginx, 9, 222)
    s.write(nginx, 8, b"HTTP/1.1 200 OK\r\nContent-Length: 19\r\n\r\n" + page, 240, call="sendto")
    s.write(nginx, 3, b'10.0.0.5 - - "GET /index.html HTTP/1.1" 200 19\n', 250)
    s.read(nginx, 8, b"", 260, ret=-11)  # EAGAIN
    s.read(nginx, 8, b"", 300, ret=0, dur_ms=250)  # slow: the client went away
    s.close(nginx, 8, 560)

    # The app asks postgres over a unix socket, then writes its database file slowly.
    s.call(app, "socket", 600, args=(AF_UNIX, 1, 0), ret=4)
    s.call(app, "connect", 601, args=(4, 0, 110), enter=((BLOB_SOCKADDR, 1, sockaddr_un(PG_SOCK)),),
           exit=((BLOB_SOCKADDR, 1, sockaddr_un(PG_SOCK)), (BLOB_TUPLE, 0, unix_tuple())))
    s.write(app, 4, b"Q\0\0\0\x0eSELECT 1;\0", 610)
    s.read(app, 4, b"T\0\0\0\x21\0\x01?column?\0D\0\0\0\x0b\0\x01\0\0\0\x011", 611, dur_ms=3)
    s.write(app, 3, b"x" * 80, 700, size=4096, dur_ms=150)  # slow file write

    # curl from the shell: an IPv6 HTTPS exchange, then a refused IPv4 connect.
    s.fork_exec(bash, curl, "/usr/bin/curl", ["curl", "-6", "https://[2001:db8::1]/"], 900)
    s.call(curl, "socket", 910, args=(AF_INET6, 1, 0), ret=3)
    v6 = (("2001:db8::2", 40000), ("2001:db8::1", 443))
    s.call(curl, "connect", 911, args=(3, 0, 28), dur_ms=1.5, enter=((BLOB_SOCKADDR, 1, sockaddr(*v6[1])),),
           exit=((BLOB_SOCKADDR, 1, sockaddr(*v6[1])), (BLOB_TUPLE, 0, tuple_blob(*v6))))
    s.write(curl, 3, b"\x16\x03\x01\x00\x2a\x01\x00\x00\x26\x03\x03" + bytes(39), 920, call="sendto")
    s.read(curl, 3, b"\x16\x03\x03\x00\x5a\x02\x00\x00\x56\x03\x03" + bytes(50), 925, call="recvfrom", dur_ms=20)
    s.close(curl, 3, 950)
    s.call(curl, "socket", 1000, args=(AF_INET, 1, 0), ret=4)
    s.call(curl, "connect", 1001, args=(4, 0, 16), ret=-111, enter=((BLOB_SOCKADDR, 1, sockaddr("10.0.0.9", 8080)),),
           exit=((BLOB_SOCKADDR, 1, sockaddr("10.0.0.9", 8080)),
                 (BLOB_TUPLE, 0, tuple_blob(("10.0.0.2", 46000), ("0.0.0.0", 0)))))
    s.write(curl, 2, b"curl: (7) Failed to connect to 10.0.0.9 port 8080\n", 1002)
    s.close(curl, 4, 1003)
    s.exit(curl, 7 << 8, 1100)

    s.call(bash, "chdir", 1200, enter=((BLOB_STR, 0, b"/tmp"),), exit=((BLOB_STR, 0, b"/tmp"),))
    s.write(bash, 2, b"alice@golden:/tmp$ ", 1201)
    s.write(nginx, 4, b"2023/11/14 22:13:21 [error] 200#200: *1 open() \"/var/www/html/x\" failed (2)\n", 1500)
    s.read(app, 3, b"y" * 80, 2100, ret=100)

    # A second nginx client, a second later.
    s.call(nginx, "accept4", 2500, args=(6, 0, 0, 0o4000), ret=8,
           exit=((BLOB_TUPLE, SLOT_RET, tuple_blob(("10.0.0.1", 80), ("10.0.0.6", 52000))),))
    s.read(nginx, 8, b"GET / HTTP/1.1\r\n\r\n", 2510, call="recvfrom")
    s.write(nginx, 8, b"HTTP/1.1 200 OK\r\nContent-Length: 19\r\n\r\n" + page, 2520, call="sendto")
    s.write(nginx, 3, b'10.0.0.6 - - "GET / HTTP/1.1" 200 19\n', 2530)
    s.close(nginx, 8, 2540)
    s.read(bash, 0, b"exit\n", 3100)
    postgres = Proc(500, "postgres", 105, 1)  # in its pod's container
    s.read(postgres, 5, b"Q\0\0\0\x0eSELECT 1;\0", 3200)
    s.openat(postgres, "/var/lib/postgresql/data/base/1/1259", -2, 3201)  # ENOENT
    return s


def write_capture(path: Path) -> None:
    state = start_state()

    def header(seq: int) -> dict[str, Any]:
        head = make_header(wall_offset_ns=WALL_OFFSET_NS, snaplen=80, filter_text="", compression=None, seq=seq)
        head.update(FIXED_HEADER)
        return head

    tmp = path.with_suffix(".tmp")
    writer = CaptureWriter(str(tmp), header, lambda: state)
    num = 1
    for records in script().batches():
        writer.add(Batch(records, num))
        num += len(records)
    writer.close()
    os.replace(tmp, path)


if __name__ == "__main__":
    write_capture(Path(sys.argv[1]) if len(sys.argv) > 1 else CAPTURE)
