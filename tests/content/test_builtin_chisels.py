"""Every built-in chisel loads, lists, describes itself and runs on a synthetic capture; the main ones
are compared with the output sysdig's chisels give (same columns, sizes and wording)."""
from __future__ import annotations

import json
import os
import sys
import threading

import pytest

from sysmon.chisel import info
from sysmon.chisel.api import RunOptions
from sysmon.chisel.loader import Loader, builtin_dir
from sysmon.errors import ChiselError
from sysmon.events.model import ENTER
from sysmon.state.state import FdInfo, FdTable, State, ThreadInfo
from tests.chisel_harness import run_chisels
from tests.factories import make_event, sock_tuple

NS = 1_000_000_000
T0 = 1_700_000_000 * NS  # 2023-11-14 22:13:20 UTC
EXPECTED = {  # sysdig -cl: the standard set
    "echo_fds", "stdin", "stdout", "stderr", "spy_file", "spy_ip", "spy_port", "spy_users", "spy_logs",
    "topfiles_bytes", "topfiles_time", "topfiles_errors", "topprocs_file", "topprocs_net", "topprocs_errors",
    "topconns", "topports_server", "topscalls", "topscalls_time", "fdbytes_by", "fdcount_by", "fdtime_by", "iobytes",
    "iobytes_file", "iobytes_net", "proc_exec_time", "fileslower", "netlower", "scallslower", "bottlenecks", "ps",
    "lsof", "netstat",
}
ARGS = {"fdbytes_by": "proc.name", "fdcount_by": "fd.type", "fdtime_by": "fd.name", "fileslower": "0",
        "netlower": "0", "scallslower": "100", "spy_ip": "10.0.0.2", "spy_port": "80"}


pytestmark = pytest.mark.usefixtures("utc_tz")  # tests/conftest.py


def state() -> State:
    tty = {n: FdInfo(n, "file", "/dev/pts/0") for n in (0, 1, 2)}
    bash = ThreadInfo(100, 100, 1, "bash", exe="-bash", uid=1000, cwd="/home/alice", fdtable=FdTable(dict(tty)))
    ls = ThreadInfo(301, 301, 100, "bash", exe="bash", uid=1000, fdtable=FdTable(dict(tty)))
    curl = ThreadInfo(300, 300, 100, "curl", exe="curl", args=["http://10.0.0.1/"], uid=1000, start_ns=T0 - 2 * NS,
                      fdtable=FdTable({3: FdInfo(3, "ipv4", "10.0.0.2:5555->10.0.0.1:80",
                                                 sock_tuple("10.0.0.2", 5555, "10.0.0.1", 80), is_server=False,
                                                 l4proto="tcp")}))
    nginx = ThreadInfo(200, 200, 1, "nginx", exe="nginx", uid=33, fdtable=FdTable({
        3: FdInfo(3, "file", "/var/log/nginx/access.log"),
        4: FdInfo(4, "ipv4", "0.0.0.0:80", sock_tuple("0.0.0.0", 80, "0.0.0.0", 0), is_server=True, l4proto="tcp"),
        5: FdInfo(5, "ipv4", "10.0.0.2:5555->10.0.0.1:80", sock_tuple("10.0.0.1", 80, "10.0.0.2", 5555),
                  is_server=True, l4proto="tcp"),
    }))
    return State({t.tid: t for t in (bash, ls, curl, nginx)}, {0: "root", 33: "www-data", 1000: "alice"})


def io(kind: str, tid: int, fd: int, data: bytes, at: float, comm: str, uid: int, res: int | None = None):
    n = len(data) if res is None else res
    return make_event(kind, tid=tid, raw_args=(fd,), res=n, params={"res": n, "data": data}, ts_ns=T0 + int(at * NS),
                      comm=comm, uid=uid)


def events():
    return [
        make_event("read", dir=ENTER, tid=200, raw_args=(5,), params={"fd": 5}, ts_ns=T0 + NS, comm="nginx", uid=33),
        io("read", 200, 5, b"GET / HTTP/1.1\r\n\r\n", 1.2, "nginx", 33),
        io("write", 200, 3, b"GET / 200\nwarn: slow\n", 1.31, "nginx", 33),
        io("write", 200, 5, b"200 OK\r\n\r\n", 1.4, "nginx", 33),
        io("read", 300, 3, b"200 OK\r\n\r\n", 1.5, "curl", 1000),
        io("read", 200, 3, b"", 2.1, "nginx", 33, res=-11),
        io("read", 100, 0, b"ls -l\n", 2.4, "bash", 1000),
        make_event("execve", tid=301, res=0, params={"res": 0, "exe": "/usr/bin/ls", "args": ["ls", "-l"]},
                   ts_ns=T0 + int(2.5 * NS), comm="ls", uid=1000, ppid=100),
        make_event("chdir", tid=100, res=0, params={"res": 0, "path": "/tmp"}, ts_ns=T0 + int(2.6 * NS), comm="bash",
                   uid=1000),
        io("write", 301, 1, b"a.txt\n", 2.7, "ls", 1000),
        io("write", 301, 2, b"ls: warning\n", 2.75, "ls", 1000),
        make_event("procexit", dir=ENTER, tid=300, res=0, params={"status": 0}, ts_ns=T0 + int(3.5 * NS), comm="curl",
                   uid=1000),
    ]


def run(name: str, args: str | None = None, **kw) -> str:
    out, err, _ = run_chisels([(name, args)], events(), state(), **kw)
    assert err == ""
    return out


def test_the_standard_set_is_there_lists_and_describes():
    found, problems = Loader([builtin_dir()], entry_points=False).all()
    assert problems == []
    assert EXPECTED <= {f.name for f in found}
    listing = info.list_chisels(found)
    for f in found:
        assert f.cls.name in listing and f.cls.category and f.cls.summary()
        text = info.describe(f)
        assert text.startswith(f"Category: {f.cls.category}\n")
        assert f"\n{f.cls.name} " in text or f"\n{f.cls.name}\n" in text  # a long name has its line
        assert all(f"[{a.type}] {a.name} - " in text for a in f.cls.args)
    assert "Category: I/O\n-------------\necho_fds        Print the data read and written by processes.\n" in listing


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_every_chisel_runs_on_the_synthetic_capture(name):
    out, err, runner = run_chisels([(name, ARGS.get(name))], events(), state())
    assert err == "" and not any(a.disabled for a in runner._active)
    assert out.strip(), f"{name} printed nothing"


def test_echo_fds_shows_direction_size_name_process_and_the_bytes():
    out = run("echo_fds", user_filter="fd.type=ipv4")
    assert out.splitlines() == [
        "------ Read 18B from   10.0.0.2:5555->10.0.0.1:80 (nginx)",
        "GET / HTTP/1.1....",
        "------ Write 10B to   10.0.0.2:5555->10.0.0.1:80 (nginx)",
        "200 OK....",
        "------ Read 10B from   10.0.0.2:5555->10.0.0.1:80 (curl)",
        "200 OK....",
    ]


def test_echo_fds_on_a_terminal_is_coloured_unless_disabled():
    out = run("echo_fds", options=RunOptions(is_tty=True), user_filter="proc.name=curl")
    assert out.startswith("\x1b[31m------ Read 10B from  \x1b[31m 10.0.0.2:5555")
    assert "\x1b[" not in run("echo_fds", "disable_color", options=RunOptions(is_tty=True),
                              user_filter="proc.name=curl")


def test_topfiles_bytes_table():
    assert run("topfiles_bytes") == (
        "Bytes               Filename\n" + "-" * 80 + "\n"
        "24B                 /dev/pts/0\n"
        "21B                 /var/log/nginx/access.log\n"
    )


def test_topprocs_net_table_and_json():
    assert run("topprocs_net").splitlines()[2:] == ["28B                 nginx               200",
                                                    "10B                 curl                300"]
    obj = json.loads(run("topprocs_net", options=RunOptions(output_format="json")))
    assert obj == {"ts": str(T0 + 3 * NS), "data": [["nginx", 200, 28], ["curl", 300, 10]],
                   "info": [{"name": "proc.name", "desc": "Process", "is_key": True},
                            {"name": "proc.pid", "desc": "PID", "is_key": True},
                            {"name": "evt.rawarg.res", "desc": "Bytes", "is_key": False}]}
    one_key = json.loads(run("topfiles_bytes", options=RunOptions(output_format="json")))
    assert one_key["info"][1] is None  # sysdig's shape: the value column is always the third


def test_topconns_topports_and_errors():
    assert run("topconns").splitlines()[2:] == ["38B                 tcp                 10.0.0.2:5555->10.0.0.1:80"]
    assert run("topports_server").splitlines()[2:] == ["38B                 80"]
    assert run("topfiles_errors").splitlines()[2:] == ["1                   /var/log/nginx/access.log"]
    assert run("topfiles_time").splitlines()[2:] == []  # no file I/O with a seen enter


def test_live_tables_refresh_each_second_on_a_terminal_only():
    out = run("topprocs_net", options=RunOptions(is_live=True, is_tty=True))
    assert out.count("\x1b[2J") == 2 and out.count("Bytes") == 2  # at 2 s and 3 s of event time
    assert run("topprocs_net", options=RunOptions(is_live=True)).count("Bytes") == 1  # a pipe: once at the end


def test_spy_users_shows_commands_under_a_shell_and_its_cds():
    assert run("spy_users").splitlines() == ["100 22:13:22 alice) ls -l", "100 22:13:22 alice) cd /tmp"]


def test_lsof_ps_netstat_list_the_state_at_the_first_event():
    lsof = run("lsof", "proc.name=nginx").splitlines()
    assert lsof == [
        "COMMAND             PID     TID     USER    FD      TYPE        NAME",
        "nginx               200     200     www-dat 3       file        /var/log/nginx/access.log",
        "nginx               200     200     www-dat 4       ipv4        0.0.0.0:80",
        "nginx               200     200     www-dat 5       ipv4        10.0.0.2:5555->10.0.0.1:80",
    ]
    ps = run("ps", "fd.name contains /var/log").splitlines()
    assert ps == ["TID     PID     USER        VIRT       RES        FDLIMIT   CMD",
                  "200     200     www-data    0B         0B         429496729 nginx"]  # unknown: libsinsp's -1
    assert run("netstat").splitlines() == [
        "Proto Server Address           Client Address           State          TID/PID/Program Name",
        "tcp   0.0.0.0:80               0.0.0.0:*                LISTEN         200/200/nginx",
        "tcp   10.0.0.1:80              10.0.0.2:5555            ESTABLISHED    200/200/nginx",
        "tcp   10.0.0.1:80              10.0.0.2:5555            ESTABLISHED    300/300/curl",
    ]


def test_proc_exec_time_iobytes_and_logs():
    assert run("proc_exec_time").splitlines() == ["proc.duration proc.name    proc.args",
                                                  "------------- ------------ --------------------",
                                                  "5.50s         curl         http://10.0.0.1/"]
    assert run("iobytes_net").splitlines() == ["22:13:22 in:28 out:10 tot:38", "22:13:23 in:0 out:0 tot:0"]
    assert run("spy_logs").splitlines() == ["nginx /var/log/nginx/access.log GET / 200",
                                            "nginx /var/log/nginx/access.log warn: slow"]
    assert run("stdout") == "a.txt\n\n"  # sysdig: print(buf), a newline after the buffer's own


def test_slow_calls_and_bottlenecks():
    assert run("fileslower", "0").splitlines()[2:] == []
    net = run("netlower", "100").splitlines()
    assert net[:2] == ["evt.datetime            proc.name    evt.type LATENCY(ms)  fd.name",
                       "----------------------- ------------ -------- ------------ " + "-" * 41]
    assert net[2:] == ["2023-11-14 22:13:21.200 nginx        read              200 10.0.0.2:5555->10.0.0.1:80"]
    assert run("bottlenecks").splitlines()[:2] == [
        "0) 0.000000000 nginx (200) > read fd=5(<4t>10.0.0.2:5555->10.0.0.1:80)",
        "0) 0.200000000 nginx (200) < read res=18 data=GET / HTTP/1.1....",
    ]


def _pipeline_run(argv: list[str], chisels: list[tuple[str, str | None]], batches: list[list[bytes]] | None = None):
    """`sysmon ARGV -c ...` on the probe records of tests/capture_scenario.py (live), or on -r files."""
    from tests import capture_scenario as sc

    cfg = sc.cli_args(*argv, chisels=chisels)
    if cfg.inputs:
        return sc.replay_output(cfg)
    return sc.live_output(cfg, batches or [])


@pytest.mark.parametrize(("name", "args"), [("topfiles_bytes", None), ("topscalls", None), ("echo_fds", None),
                                            ("lsof", None), ("fdbytes_by", "proc.name")])
def test_a_replay_prints_what_the_live_run_that_wrote_the_capture_printed(tmp_path, name, args):
    from tests import capture_scenario as sc

    path = str(tmp_path / "run.smc")
    live = _pipeline_run(["-w", path], [(name, args)], [sc.records(3)])
    replay = _pipeline_run(["-r", path], [(name, args)])
    assert live == replay and live.strip()
    if name == "topfiles_bytes":
        assert live.splitlines()[2:] == ["27B                 /etc/hosts", "15B                 /var/log/app.log"]


def test_spectrogram_draws_a_row_and_an_axis_on_a_terminal_only(monkeypatch):
    monkeypatch.setenv("COLUMNS", "40")
    out = run("spectrogram", options=RunOptions(is_tty=True))
    rows = out.split("\n")
    assert rows[0].startswith("\x1b[?25l\x1b[1F") and "\x1b[38;5;" in rows[0] and rows[0].endswith("\x1b[0m")
    assert rows[1].startswith("|1ns") and "|10ns" in rows[1] and len(rows[1]) <= 40
    assert "\x1b[0m\n\x1b[?25h" in out  # print(terminal.reset), showcursor
    with pytest.raises(ChiselError, match="spectrogram failed"):
        run_chisels([("spectrogram", None)], events(), state())


def test_topprocs_cpu_reads_a_live_threads_ticks_from_proc():
    cls = Loader([builtin_dir()], entry_points=False).find("topprocs_cpu").cls
    ticks = sys.modules[cls.__module__].thread_ticks(os.getpid(), threading.get_native_id())
    assert isinstance(ticks, int) and ticks >= 0
