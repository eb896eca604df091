"""StateParser: thread and fd tables kept current from synthetic events."""
from __future__ import annotations

import ipaddress
from typing import Any

import pytest

from sysmon.events.model import ENTER, Event, SockAddr, SockTuple
from sysmon.state.parser import StateParser
from sysmon.state.state import FdInfo, Interface, State, ThreadInfo
from tests.factories import addr, make_event, sock_tuple

AT_FDCWD = -100
O_DIRECTORY = 0o200000
O_CLOEXEC = 0o2000000


class Run:
    """A parser over a state holding one process (pid 100, cwd /home/u) with stdin..stderr."""

    def __init__(self) -> None:
        self.state = State()
        self.parser = StateParser(self.state)
        main = ThreadInfo(100, 100, 1, "sh", exe="sh", exepath="/bin/sh", args=["-c", "x"], cwd="/home/u")
        for n in range(3):
            main.fdtable.fds[n] = FdInfo(n, "file", "/dev/pts/0")
        self.state.threads[100] = main
        self.state.threads[1] = ThreadInfo(1, 1, 0, "init", cwd="/")

    def __call__(self, type: str, **kw: Any) -> Event:
        known = self.state.threads.get(kw.get("tid", 100))
        kw.setdefault("comm", known.comm if known else "new")
        evt = make_event(type, **kw)
        self.parser.apply(evt)
        return evt

    def fds(self, tid: int = 100) -> dict[int, FdInfo]:
        return self.state.threads[tid].fdtable.fds

    def name(self, num: int, tid: int = 100) -> str:
        return self.fds(tid)[num].name


@pytest.fixture
def run() -> Run:
    return Run()


# -- threads --------------------------------------------------------------------------------------


def test_unknown_thread_is_created_from_the_header(run: Run) -> None:
    run("read", raw_args=(0,), tid=300, pid=300, ppid=1, comm="nginx", uid=33, gid=34)
    t = run.state.threads[300]
    assert (t.pid, t.ppid, t.comm, t.uid, t.gid) == (300, 1, "nginx", 33, 34)


def test_new_thread_of_known_process_shares_its_fds(run: Run) -> None:
    run("read", raw_args=(0,), tid=101, pid=100, comm="worker")
    assert run.state.threads[101].fdtable is run.state.threads[100].fdtable
    assert run.state.threads[101].exepath == "/bin/sh"


def test_header_refreshes_comm_uid_gid_ppid(run: Run) -> None:
    run("read", raw_args=(0,), comm="renamed", uid=1000, gid=1000, ppid=7)
    t = run.state.threads[100]
    assert (t.comm, t.uid, t.gid, t.ppid) == ("renamed", 1000, 1000, 7)


def test_fork_parent_side_copies_fds(run: Run) -> None:
    run("fork", res=200)
    child = run.state.threads[200]
    assert (child.pid, child.ppid, child.exepath, child.args, child.cwd) == (200, 100, "/bin/sh", ["-c", "x"], "/home/u")
    assert child.fdtable is not run.state.threads[100].fdtable
    assert run.name(2, 200) == "/dev/pts/0"
    run("close", raw_args=(2,), tid=200, pid=200, ppid=100)
    run("getpid")
    assert 2 not in run.fds(200) and 2 in run.fds(100)


def test_fork_child_side_first_then_parent_side_keeps_child(run: Run) -> None:
    run("clone", res=0, raw_args=(0x11,), tid=200, pid=200, ppid=100, comm="sh")
    child = run.state.threads[200]
    assert child.exepath == "/bin/sh" and child.fdtable is not run.state.threads[100].fdtable
    run("openat", res=5, raw_args=(AT_FDCWD,), params={"name": "f", "flags": 0}, tid=200, pid=200, ppid=100)
    run("clone", res=200, raw_args=(0x11,))
    assert run.state.threads[200] is child and 5 in run.fds(200)


def test_clone_thread_shares_fds(run: Run) -> None:
    run("clone", res=101, raw_args=(0x10000 | 0x400 | 0x100,))
    t = run.state.threads[101]
    assert (t.pid, t.ppid) == (100, 1)
    assert t.fdtable is run.state.threads[100].fdtable


def test_clone_thread_child_side_shares_fds(run: Run) -> None:
    run("clone", res=0, raw_args=(0x10000 | 0x400,), tid=101, pid=100, ppid=1)
    assert run.state.threads[101].fdtable is run.state.threads[100].fdtable


def test_clone3_parent_side_uses_copied_flags(run: Run) -> None:
    run("clone3", res=101, params={"res": 101, "flags": 0x10000 | 0x400})
    assert run.state.threads[101].pid == 100
    run("clone3", res=102, params={"res": 102})  # flags not captured: wait for the child's side
    assert 102 not in run.state.threads


def test_execve_sets_exe_args_and_closes_cloexec_fds(run: Run) -> None:
    run.fds()[5] = FdInfo(5, "file", "/tmp/keep")
    run.fds()[6] = FdInfo(6, "file", "/tmp/drop", cloexec=True)
    run("read", raw_args=(0,), tid=101, pid=100)  # a second thread: gone after exec
    run("execve", res=0, params={"res": 0, "exe": "../../usr/bin/cat", "args": ["cat", "-n", "f"]}, comm="cat")
    t = run.state.threads[100]
    assert (t.comm, t.exe, t.exepath, t.args) == ("cat", "cat", "/usr/bin/cat", ["-n", "f"])
    assert 5 in run.fds() and 6 not in run.fds()
    assert 101 not in run.state.threads


def test_failed_execve_changes_nothing(run: Run) -> None:
    run("execve", res=-2, params={"res": -2, "exe": "/nope", "args": ["nope"]})
    assert run.state.threads[100].exepath == "/bin/sh"


def test_procexit_removes_thread_after_the_event(run: Run) -> None:
    run("procexit", dir=ENTER, res=0)
    assert 100 in run.state.threads  # procexit itself still resolves the thread
    run("getpid", tid=1, pid=1, ppid=0)
    assert 100 not in run.state.threads


def test_chdir_and_fchdir(run: Run) -> None:
    run("chdir", res=0, params={"res": 0, "path": "../v/./w"})
    assert run.state.threads[100].cwd == "/home/v/w"
    run.fds()[7] = FdInfo(7, "directory", "/srv")
    run("fchdir", res=0, raw_args=(7,))
    assert run.state.threads[100].cwd == "/srv"
    run("chdir", res=-2, params={"res": -2, "path": "/nope"})
    assert run.state.threads[100].cwd == "/srv"


# -- files ----------------------------------------------------------------------------------------


def test_open_relative_to_cwd_and_dirfd(run: Run) -> None:
    run("openat", res=3, raw_args=(AT_FDCWD,), params={"name": "a/../b.txt", "flags": O_CLOEXEC})
    assert run.fds()[3] == FdInfo(3, "file", "/home/u/b.txt", open_flags=O_CLOEXEC, cloexec=True)
    run("openat", res=4, raw_args=(AT_FDCWD,), params={"name": "/etc", "flags": O_DIRECTORY})
    assert run.fds()[4].type == "directory"
    run("openat", res=5, raw_args=(4,), params={"name": "hosts", "flags": 0})
    assert run.name(5) == "/etc/hosts"
    run("open", res=6, params={"name": "//var//log/", "flags": 0})
    assert run.name(6) == "/var/log"
    run("creat", res=7, params={"name": "new"})
    assert run.name(7) == "/home/u/new"
    run("openat", res=-2, raw_args=(AT_FDCWD,), params={"name": "missing", "flags": 0})
    assert -2 not in run.fds()


def test_o_tmpfile_is_a_file(run: Run) -> None:
    run("openat", res=3, raw_args=(AT_FDCWD,), params={"name": "/tmp", "flags": 0o20200002})
    assert run.fds()[3].type == "file"


def test_close_is_delayed_until_the_next_event(run: Run) -> None:
    run("openat", res=3, raw_args=(AT_FDCWD,), params={"name": "x", "flags": 0})
    close = run("close", res=0, raw_args=(3,))
    assert run.state.fd_of(close).name == "/home/u/x"  # the close event still resolves
    run("getpid")
    assert 3 not in run.fds()


def test_failed_close_keeps_fd(run: Run) -> None:
    run("close", res=-9, raw_args=(2,))
    run("getpid")
    assert 2 in run.fds()


def test_flush_applies_pending_removals(run: Run) -> None:
    run("close", res=0, raw_args=(1,))
    run.parser.flush()
    assert 1 not in run.fds()


def test_close_range(run: Run) -> None:
    run("close_range", res=0, raw_args=(1, 0xFFFFFFFF, 4))  # CLOSE_RANGE_CLOEXEC
    assert [fd.cloexec for fd in run.fds().values()] == [False, True, True]
    run("close_range", res=0, raw_args=(2, 0xFFFFFFFF, 0))
    run("getpid")
    assert sorted(run.fds()) == [0, 1]


def test_dup_family_and_fcntl(run: Run) -> None:
    run("openat", res=3, raw_args=(AT_FDCWD,), params={"name": "x", "flags": O_CLOEXEC})
    run("dup", res=4, raw_args=(3,))
    assert run.fds()[4].name == "/home/u/x" and not run.fds()[4].cloexec
    run("dup2", res=1, raw_args=(3, 1))
    assert run.name(1) == "/home/u/x"
    run("dup3", res=9, raw_args=(3, 9, O_CLOEXEC))
    assert run.fds()[9].cloexec
    run("fcntl", res=10, raw_args=(3, 1030, 10))  # F_DUPFD_CLOEXEC
    assert run.fds()[10].cloexec and run.name(10) == "/home/u/x"
    run("fcntl", res=0, raw_args=(10, 2, 0))  # F_SETFD 0
    assert not run.fds()[10].cloexec
    run.fds()[4].name = "changed"  # a dup is its own FdInfo
    assert run.name(3) == "/home/u/x"


def test_pipe_and_anonymous_fds(run: Run) -> None:
    run("pipe", res=0, syscall="pipe2", raw_args=(0, O_CLOEXEC), params={"res": 0, "fd1": 3, "fd2": 4})
    assert (run.fds()[3].type, run.name(3), run.fds()[4].cloexec) == ("pipe", "", True)  # unnamed, as in sysdig
    run("eventfd", res=5, syscall="eventfd2", raw_args=(0, O_CLOEXEC))
    run("epoll_create", res=6, syscall="epoll_create1", raw_args=(O_CLOEXEC,))
    run("inotify_init", res=7)
    run("signalfd", res=8, raw_args=(-1,))
    run("timerfd_create", res=9)
    run("memfd_create", res=10, raw_args=(0, 1), params={"fd": 10, "name": "jit"})
    run("bpf", res=11, raw_args=(0,))  # BPF_MAP_CREATE
    run("bpf", res=0, raw_args=(2,))  # BPF_MAP_UPDATE_ELEM: no fd
    types = {n: fd.type for n, fd in run.fds().items() if n >= 5}
    assert types == {5: "event", 6: "eventpoll", 7: "inotify", 8: "signalfd", 9: "timerfd", 10: "memfd", 11: "bpf"}
    assert run.name(10) == "/memfd:jit" and run.fds()[10].cloexec and run.fds()[5].cloexec


# -- sockets --------------------------------------------------------------------------------------


def test_connect_names_local_to_remote(run: Run) -> None:
    run("socket", res=3, raw_args=(2, 1 | 0o2000000, 0))
    assert (run.fds()[3].type, run.fds()[3].l4proto, run.fds()[3].cloexec) == ("ipv4", "tcp", True)
    tup = sock_tuple("127.0.0.1", 54321, "127.0.0.1", 80)
    run("connect", res=-115, raw_args=(3,), params={"res": -115, "tuple": tup})
    fd = run.fds()[3]
    assert (fd.name, fd.tuple, fd.is_server) == ("127.0.0.1:54321->127.0.0.1:80", tup, False)


def test_failed_connect_keeps_socket_unnamed(run: Run) -> None:
    run("socket", res=3, raw_args=(10, 1, 0))
    run("connect", res=-111, raw_args=(3,), params={"res": -111, "tuple": sock_tuple("::1", 1, "::1", 2)})
    assert run.fds()[3].name == "" and run.fds()[3].type == "ipv6"


def test_unix_connect_names_the_path(run: Run) -> None:
    run("socket", res=3, raw_args=(1, 1, 0))
    tup = SockTuple("unix", SockAddr("unix"), SockAddr("unix", path="/run/x.sock"))
    run("connect", res=0, raw_args=(3,), params={"res": 0, "tuple": tup})
    assert (run.fds()[3].type, run.name(3)) == ("unix", "/run/x.sock")


def test_server_bind_listen_accept(run: Run) -> None:
    run("socket", res=3, raw_args=(2, 1, 0))
    run("bind", res=0, raw_args=(3,), params={"res": 0, "addr": addr("0.0.0.0", 8080)})
    run("listen", res=0, raw_args=(3, 128))
    listener = run.fds()[3]
    assert (listener.name, listener.is_server, listener.tuple.local.port) == ("0.0.0.0:8080", True, 8080)
    tup = sock_tuple("10.0.0.1", 8080, "10.0.0.2", 40000)
    run("accept", res=4, syscall="accept4", raw_args=(3, 0, 0, O_CLOEXEC), params={"fd": 4, "tuple": tup})
    fd = run.fds()[4]
    assert (fd.type, fd.name, fd.is_server, fd.tuple, fd.cloexec) == (
        "ipv4", "10.0.0.2:40000->10.0.0.1:8080", True, tup, True)


def test_udp_peer_from_sendto_and_recvfrom(run: Run) -> None:
    run("socket", res=3, raw_args=(2, 2, 0))
    tup = sock_tuple("10.0.0.1", 5353, "10.0.0.9", 53, "udp")
    run("sendto", res=10, raw_args=(3,), params={"res": 10, "tuple": tup})
    assert (run.name(3), run.fds()[3].is_server) == ("10.0.0.1:5353->10.0.0.9:53", False)
    run("socket", res=4, raw_args=(2, 2, 0))
    run("recvfrom", res=10, raw_args=(4,), params={"res": 10, "tuple": sock_tuple("10.0.0.1", 53, "10.0.0.7", 999, "udp")})
    assert (run.name(4), run.fds()[4].is_server) == ("10.0.0.7:999->10.0.0.1:53", True)


def test_bound_udp_socket_of_the_fd_list_sends_as_client(run: Run) -> None:
    """502Error.scap's haproxy fd 8: bound 0.0.0.0:55441 before the capture (no role, as libsinsp's
    add_fd_from_scap), then sendmsg to 127.0.0.1:514: the destination is the message's, the unset source
    is inferred from the interfaces, the role guessed client (set_net_role_by_guessing on a send)."""
    run.state.interfaces.append(Interface(ipaddress.IPv4Address("127.0.0.1"), ipaddress.IPv4Address("255.0.0.0")))
    bound = sock_tuple("0.0.0.0", 55441, "0.0.0.0", 0, "udp")
    run.fds()[8] = FdInfo(8, "ipv4", "0.0.0.0:55441", tuple=bound, l4proto="udp")
    assert run.fds()[8].is_servsock() and run.fds()[8].effective_l4proto() == "udp"
    for _ in range(2):  # the second send carries the same tuple: nothing moves
        run("sendmsg", res=199, raw_args=(8,), params={"res": 199, "tuple": sock_tuple("0.0.0.0", 55441, "127.0.0.1", 514, "udp")})
        fd = run.fds()[8]
        assert (fd.name, fd.is_server, fd.tuple.local.port, fd.tuple.remote.port) == (
            "127.0.0.1:55441->127.0.0.1:514", False, 55441, 514)


def test_tcp_send_does_not_rename(run: Run) -> None:
    run("socket", res=3, raw_args=(2, 1, 0))
    run("connect", res=0, raw_args=(3,), params={"res": 0, "tuple": sock_tuple("1.1.1.1", 1, "2.2.2.2", 2)})
    run("sendto", res=1, raw_args=(3,), params={"res": 1, "tuple": sock_tuple("1.1.1.1", 1, "3.3.3.3", 3)})
    assert run.name(3) == "1.1.1.1:1->2.2.2.2:2"


def test_socketpair(run: Run) -> None:
    run("socketpair", res=0, raw_args=(1, 1, 0), params={"res": 0, "fd1": 3, "fd2": 4})
    assert run.fds()[3].type == run.fds()[4].type == "unix"
