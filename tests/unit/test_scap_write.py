"""Writing .scap (sysmon.scap.writer): corpus captures go .scap -> smc -> .scap and sysdig 0.29.3 reads the
result as it reads the original; a state snapshot comes back through the metadata blocks.

Event numbers are left out of the comparison: the converted file holds no hidden events (procinfo...),
and sysdig numbers the blocks it reads. Captures left out, with the reason:
  - empty, empty-2016: only hidden events, so the converted file has none, and sysdig 0.29.3 refuses a
    file without event blocks ("no events in file");
  - privileged: its container event becomes the first event, which sysdig treats as a container
    record (hidden) rather than an event;
  - 502Error's fd names and arguments: sysdig names haproxy's UDP socket from an uninitialised byte
    (145.216.3.255 in the original, .0 in another run), see test_scap_golden.py.
"""
from __future__ import annotations

import ipaddress
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from sysmon.events.model import BLOB_BUF, ENTER, SockAddr, SockTuple
from sysmon.scap.reader import open_scap
from sysmon.scap.writer import ScapWriter
from sysmon.state.state import FdInfo, Interface, State, ThreadInfo
from tests.factories import make_event
from tests.scap_golden import GOLDEN, sysmon_outputs

CAPTURES = sorted((GOLDEN / "captures").glob("*.scap"))
FORMATS = ("*%evt.outputtime %evt.cpu %proc.name (%thread.tid) %evt.dir %evt.type %evt.info",
           "*%proc.name %fd.name %fd.sip %evt.args",
           "*%proc.pname %proc.ppid %proc.apid[2] %user.name %fd.type %fd.l4proto %evt.res %evt.category")
LEFT_OUT = {"empty", "empty-2016", "privileged"}
FORMATS_LEFT_OUT = {"502Error": {0, 1}}


def _sysdig(path: Path, fmt: str) -> list[str]:
    sysdig = shutil.which("sysdig")
    assert sysdig, "sysdig is a test dependency: run scripts/setup.sh"
    res = subprocess.run([sysdig, "-r", str(path), "-p", fmt], capture_output=True, env={"TZ": "UTC"}, timeout=300)
    assert res.returncode == 0, res.stderr.decode()
    return [line.rstrip() for line in res.stdout.decode("utf-8", "surrogateescape").splitlines() if line.strip()]


def _sysmon(*args: str) -> None:
    res = subprocess.run([sys.executable, "-m", "sysmon", *args], capture_output=True, text=True, timeout=300)
    assert res.returncode == 0 and not res.stderr, res.stderr


@pytest.mark.parametrize("capture", [c for c in CAPTURES if c.stem not in LEFT_OUT], ids=lambda p: p.stem)
def test_scap_through_smc_back_to_scap_reads_the_same_in_sysdig(capture: Path, tmp_path: Path) -> None:
    smc, scap = tmp_path / "x.smc", tmp_path / "y.scap"
    _sysmon("-r", str(capture), "-w", str(smc))
    _sysmon("-r", str(smc), "-w", str(scap))
    assert scap.stat().st_mode & 0o777 == 0o600
    for i, fmt in enumerate(FORMATS):
        if i not in FORMATS_LEFT_OUT.get(capture.stem, ()):
            want = _sysdig(capture, fmt)
            assert want and _sysdig(scap, fmt) == want, fmt


def _state() -> State:
    main = ThreadInfo(100, 100, 1, "server", exe="/usr/bin/server", exepath="/usr/bin/server", args=["-v", "x"],
                      cwd="/srv", uid=33, gid=33, env=["A=1"], vpid=100, vtid=100, fdlimit=1024)
    worker = ThreadInfo(101, 100, 1, "worker", exe="/usr/bin/server", cwd="/srv", uid=33, gid=33, fdtable=main.fdtable,
                        vpid=100, vtid=101, ptid=100)
    child = ThreadInfo(200, 200, 100, "sh", exe="sh", cwd="/", ptid=101)
    lo = ipaddress.IPv4Address("127.0.0.1")
    main.fdtable.fds.update({
        3: FdInfo(3, "file", "/var/log/x.log", open_flags=0o2101),
        4: FdInfo(4, "ipv4", "127.0.0.1:80", tuple=SockTuple("ipv4", SockAddr("ipv4", lo, 80),
                                                           SockAddr("ipv4", ipaddress.IPv4Address(0), 0), "tcp"),
                  is_server=True),
        5: FdInfo(5, "ipv4", "127.0.0.1:5000->127.0.0.1:80",
                  tuple=SockTuple("ipv4", SockAddr("ipv4", lo, 5000), SockAddr("ipv4", lo, 80), "tcp"), is_server=False),
        6: FdInfo(6, "unix", "/run/x.sock"),
        7: FdInfo(7, "pipe", "pipe:[1234]", ino=1234),
    })
    state = State({t.tid: t for t in (main, worker, child)}, {0: "root", 33: "www-data"}, {0: "root", 33: "www-data"},
                  accounts={33: ("/var/www", "/usr/sbin/nologin")})
    state.interfaces = [Interface(lo, ipaddress.IPv4Address("255.0.0.0"))]
    return state


def test_the_state_snapshot_comes_back(tmp_path: Path) -> None:
    path = tmp_path / "snap.scap"
    writer = ScapWriter(str(path), _state, 0)
    ts = 1_700_000_000_000_000_000
    for fd in (3, 5, 6):  # live events on the snapshot's fds, as sysdig will name them
        writer._f.write(writer.encode(make_event("read", dir=ENTER, tid=101, pid=100, comm="worker", ts_ns=ts,
                                                 raw_args=(fd, 0, 10), syscall="read")))
        writer._f.write(writer.encode(make_event("read", res=2, tid=101, pid=100, comm="worker", ts_ns=ts + 1,
                                                 raw_args=(fd, 0, 10), blobs=((BLOB_BUF, 1, b"hi"),), syscall="read")))
    writer.close()
    back = open_scap(path)
    back.close()
    want = _state()
    assert sorted(back.state.threads) == [100, 101, 200]
    for tid, t in want.threads.items():
        got = back.state.threads[tid]
        assert (got.pid, got.parent_tid, got.comm, got.exe, got.args, got.cwd, got.uid, got.env, got.vpid) == \
               (t.pid, t.parent_tid, t.comm, t.exe, t.args, t.cwd, t.uid, t.env, t.vpid or t.pid), tid
    assert back.state.threads[101].fdtable is back.state.threads[100].fdtable  # a thread shares its process's fds
    fds = back.state.threads[100].fdtable.fds
    assert {n: (fd.type, fd.name) for n, fd in fds.items()} == {
        3: ("file", "/var/log/x.log"), 4: ("ipv4", "127.0.0.1:80"), 5: ("ipv4", "127.0.0.1:5000->127.0.0.1:80"),
        6: ("unix", "/run/x.sock"), 7: ("pipe", "pipe:[1234]")}
    assert back.state.users == want.users and back.state.groups == want.groups
    assert [i.addr for i in back.state.interfaces] == [ipaddress.IPv4Address("127.0.0.1")]
    fmt = "*%proc.name %thread.tid %proc.pid %proc.pname %proc.cwd %user.name %evt.dir %evt.type %fd.name %evt.info"
    lines = _sysdig(path, fmt)
    assert lines[:2] == ["worker 101 100 server /srv/ www-data > read /var/log/x.log fd=3(<f>/var/log/x.log) size=10",
                         "worker 101 100 server /srv/ www-data < read /var/log/x.log res=2 data=hi"]
    assert "127.0.0.1:5000->127.0.0.1:80" in lines[2] and "/run/x.sock" in lines[4]
    assert lines == sysmon_outputs(path, "", [fmt])[fmt]


def test_metadata_longer_than_libscap_buffers_is_cut_to_fit(tmp_path: Path) -> None:
    """A process with 25 kB of arguments (a CI runner's command line) made sysdig refuse the whole file:
    "invalid argslen 25713". Strings are cut to libscap's limits, lists at a whole item."""
    def state() -> State:
        s = _state()
        t = s.threads[100]
        t.args = [f"--flag-{i:05d}" for i in range(2000)]
        t.env = [f"VAR{i}={'x' * 100}" for i in range(300)]
        t.cwd = "/srv/" + "d" * 3000
        t.fdtable.fds[3] = FdInfo(3, "file", "/var/" + "f" * 5000, open_flags=0o2101)
        return s
    path = tmp_path / "long.scap"
    writer = ScapWriter(str(path), state, 0)
    writer._f.write(writer.encode(make_event("read", dir=ENTER, tid=100, pid=100, comm="server",
                                             ts_ns=1_700_000_000_000_000_000, raw_args=(3, 0, 10), syscall="read")))
    writer.close()
    lines = _sysdig(path, "*%proc.name %proc.args %fd.name")
    assert len(lines) == 1, lines
    name, args, fd = lines[0].split(" ", 2)[0], lines[0].split(" ")[1:-1], lines[0].split(" ")[-1]
    assert name == "server" and args[0] == "--flag-00000" and 250 < len(args) < 2000, args[-3:]
    assert all(a.startswith("--flag-") and len(a) == 12 for a in args)  # whole items only
    assert fd.startswith("/var/fff") and len(fd) == 1023
