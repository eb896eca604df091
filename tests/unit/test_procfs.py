"""procfs.snapshot on the real /proc (our own process) and on a fake /proc tree."""
from __future__ import annotations

import os
import socket
import threading
from pathlib import Path

from sysmon.state.procfs import snapshot


def test_own_process_on_real_proc(tmp_path: Path) -> None:
    path = tmp_path / "opened.txt"
    path.write_text("x")
    stop = threading.Event()
    worker = threading.Thread(target=stop.wait)
    with open(path) as f, socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        port = listener.getsockname()[1]
        worker.start()
        try:
            state = snapshot()
        finally:
            stop.set()
            worker.join()
        me = state.thread(os.getpid())
        assert me is not None and me.is_main
        assert me.cwd == os.getcwd()
        assert me.exepath == os.path.realpath(f"/proc/{os.getpid()}/exe")
        fds = me.fdtable.fds
        assert fds[f.fileno()].type == "file" and fds[f.fileno()].name == str(path)
        sock = fds[listener.fileno()]
        assert (sock.type, sock.l4proto, sock.is_servsock(), sock.name) == ("ipv4", "tcp", True, f"127.0.0.1:{port}")
        assert sock.cloexec  # Python sockets are SOCK_CLOEXEC
        threads = [t for t in state.threads.values() if t.pid == os.getpid()]
        assert len(threads) >= 2 and all(t.fdtable is me.fdtable for t in threads)
    assert state.user_name(os.getuid()) is not None


def test_exclude_pids() -> None:
    assert os.getpid() not in snapshot(exclude_pids=[os.getpid()]).threads


def _fake_proc(tmp_path: Path) -> Path:
    """A /proc with pid 42 (threads 42, 43) and pid 50, whose status vanished."""
    proc = tmp_path / "proc"
    p = proc / "42"
    for d in ("task/42", "task/43", "fd", "fdinfo", "net", "ns"):
        (p / d).mkdir(parents=True)
    (p / "status").write_text("Name:\tweb\nUmask:\t0022\nTgid:\t42\nPid:\t42\nPPid:\t1\nUid:\t1000\t33\t33\t33\nGid:\t100\t44\t44\t44\n")
    (p / "cmdline").write_bytes(b"/usr/bin/web\0--port\x0080\0")
    (p / "task/43/comm").write_text("web-worker\n")
    (p / "exe").symlink_to("/usr/bin/web")
    (p / "cwd").symlink_to("/srv")
    links = {
        0: "/dev/null",
        1: "/srv/data",
        2: "pipe:[900]",
        3: "socket:[1001]",
        4: "socket:[1002]",
        5: "socket:[1003]",
        6: "socket:[1004]",
        7: "anon_inode:[eventfd]",
        8: "anon_inode:inotify",
        9: "/memfd:jit (deleted)",
        10: "anon_inode:bpf-map",
        11: "socket:[1005]",
        12: "socket:[9999]",
    }
    for num, target in links.items():
        (p / "fd" / str(num)).symlink_to(target)
        flags = "02200000" if num == 1 else "02" if num == 3 else "0100002"
        (p / "fdinfo" / str(num)).write_text(f"pos:\t0\nflags:\t{flags}\nmnt_id:\t1\n")
    hdr = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n"
    (p / "net/tcp").write_text(
        hdr
        + "   0: 00000000:0050 00000000:0000 0A 00000000:00000000 00:00000000 00000000  33 0 1001 1\n"
        + "   1: 0100007F:0050 0200007F:D431 01 00000000:00000000 00:00000000 00000000  33 0 1002 1\n"
        + "   2: 0100007F:9C40 0300007F:1F90 01 00000000:00000000 00:00000000 00000000  33 0 1003 1\n"
    )
    (p / "net/tcp6").write_text(
        hdr + "   0: 00000000000000000000000001000000:01BB 00000000000000000000000000000000:0000 0A"
        " 00000000:00000000 00:00000000 00000000  33 0 1004 1\n"
    )
    (p / "net/unix").write_text(
        "Num       RefCount Protocol Flags    Type St Inode Path\n"
        "0000000000000000: 00000002 00000000 00010000 0001 01 1005 /run/web.sock\n"
    )
    (proc / "50").mkdir()
    (proc / "self").symlink_to("42")
    etc = tmp_path / "etc"
    etc.mkdir()
    (etc / "passwd").write_text("root:x:0:0::/root:/bin/sh\nwww:x:33:33::/var/www:/bin/false\n")
    (etc / "group").write_text("root:x:0:\nwebgrp:x:44:www\n")
    return proc


def test_fake_proc_tree(tmp_path: Path) -> None:
    proc = _fake_proc(tmp_path)
    state = snapshot(str(proc), etc=str(tmp_path / "etc"))
    assert sorted(state.threads) == [42, 43]
    main, worker = state.threads[42], state.threads[43]
    assert (main.comm, main.ppid, main.uid, main.gid) == ("web", 1, 33, 44)
    assert (main.exe, main.exepath, main.args, main.cwd) == ("/usr/bin/web", "/usr/bin/web", ["--port", "80"], "/srv")
    assert (worker.comm, worker.pid, worker.exepath) == ("web-worker", 42, "/usr/bin/web")
    assert worker.fdtable is main.fdtable
    assert (state.user_name(33), state.group_name(44)) == ("www", "webgrp")

    fds = main.fdtable.fds
    kinds = {n: (fd.type, fd.name) for n, fd in fds.items()}
    assert kinds == {
        0: ("file", "/dev/null"),
        1: ("directory", "/srv/data"),
        2: ("pipe", "pipe:[900]"),
        3: ("ipv4", "0.0.0.0:80"),
        4: ("ipv4", "127.0.0.2:54321->127.0.0.1:80"),
        5: ("ipv4", "127.0.0.1:40000->127.0.0.3:8080"),
        6: ("ipv6", "::1:443"),
        7: ("event", "anon_inode:[eventfd]"),
        8: ("inotify", "anon_inode:inotify"),
        9: ("memfd", "/memfd:jit"),
        10: ("bpf", "anon_inode:bpf-map"),
        11: ("unix", "/run/web.sock"),
        12: ("unknown", "socket:[9999]"),
    }
    assert fds[1].cloexec and not fds[3].cloexec and fds[2].ino == 900
    assert (fds[3].is_server, fds[3].is_servsock(), fds[4].is_server, fds[5].is_server) == (None, True, True, False)
    assert fds[3].tuple.remote.port == 0 and fds[4].tuple.local.port == 80 and fds[5].l4proto == "tcp"


def test_missing_root_gives_empty_state(tmp_path: Path) -> None:
    state = snapshot(str(tmp_path / "nope"), etc=str(tmp_path / "nope"))
    assert (state.threads, state.users) == ({}, {})


def test_the_machine_interfaces_are_read_like_scap_s_interface_list() -> None:
    """The live state knows the machine's addresses (libsinsp fills UDP sockets' unset local address)."""
    state = snapshot(exclude_pids=(os.getpid(),))
    v4 = {(str(i.addr), str(i.netmask)) for i in state.interfaces if i.addr.version == 4}
    assert ("127.0.0.1", "255.0.0.0") in v4
    with open("/proc/net/if_inet6") as f:
        v6 = {line.split()[0] for line in f if line.strip()}
    assert {i.addr.packed.hex() for i in state.interfaces if i.addr.version == 6} == v6


def test_a_fake_proc_tree_has_no_interfaces(tmp_path: Path) -> None:
    assert snapshot(str(tmp_path)).interfaces == []
