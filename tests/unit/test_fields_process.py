"""Session, namespace, cgroup/container and account fields, and the state that feeds them
(procfs snapshot, clone inheritance, setsid/setpgid)."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from sysmon.events.model import Event, SockAddr, SockTuple
from sysmon.fields.catalogue import Catalogue
from sysmon.state.containers import container_of, short_id
from sysmon.filter import compile_filter
from sysmon.state.parser import StateParser
from sysmon.state.procfs import snapshot
from sysmon.state.state import FdInfo, FdTable, State, ThreadInfo
from tests.factories import make_event

DOCKER_ID = "3f1c9a2b7d4e" + "0" * 52
CAT = Catalogue.default()


def get(name: str, evt: Event, state: State) -> Any:
    found = CAT.lookup(name)
    assert found is not None, name
    field, arg = found
    return field.extract(evt, state, arg)


@pytest.mark.parametrize(("path", "expected"), [
    ("/", None),
    ("/user.slice/user-1000.slice/session-3.scope", None),
    ("/process_api/0401c382b263f304e94547422abad2bd", None),
    (f"/docker/{DOCKER_ID}", ("docker", DOCKER_ID[:12])),
    (f"/system.slice/docker-{DOCKER_ID}.scope", ("docker", DOCKER_ID[:12])),
    (f"/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod1_2.slice/cri-containerd-{DOCKER_ID}.scope",
     ("containerd", DOCKER_ID[:12])),
    (f"/kubepods/besteffort/pod0c5e-11aa/{DOCKER_ID}", ("containerd", DOCKER_ID[:12])),
    (f"/machine.slice/crio-{DOCKER_ID}.scope", ("cri-o", DOCKER_ID[:12])),
    (f"/machine.slice/libpod-{DOCKER_ID}.scope/container", ("podman", DOCKER_ID[:12])),
    (f"/user.slice/user-1000.slice/user@1000.service/user.slice/libpod-{DOCKER_ID}.scope", ("podman", DOCKER_ID[:12])),
    ("/lxc.payload.web1/init.scope", ("lxc", "web1")),
    ("/docker/not-an-id", None),
])
def test_container_of_cgroup_path(path: str, expected: tuple[str, str] | None) -> None:
    found = container_of(path)
    assert (found and (found[0], short_id(*found))) == expected


def _proc_with_cgroups(tmp_path: Path, cgroups: dict[int, str]) -> str:
    for pid, text in cgroups.items():
        (tmp_path / str(pid)).mkdir()
        (tmp_path / str(pid) / "cgroup").write_text(text)
    return str(tmp_path)


def test_container_fields_read_cgroup_lazily_once_per_process(tmp_path: Path) -> None:
    root = _proc_with_cgroups(tmp_path, {
        10: "0::/user.slice/session-1.scope\n",
        20: f"12:memory:/docker/{DOCKER_ID}\n11:cpu,cpuacct:/docker/{DOCKER_ID}\n",
    })
    fds = FdTable({3: FdInfo(3, "file", "/etc/hosts")})
    state = State({10: ThreadInfo(10, 10, 1, "bash"), 20: ThreadInfo(20, 20, 1, "nginx", fdtable=fds),
                   21: ThreadInfo(21, 20, 1, "nginx", fdtable=fds), 30: ThreadInfo(30, 30, 1, "gone")},
                  proc_root=root)
    host, ctr, ctr_thread = make_event("getpid", tid=10), make_event("read", tid=20, raw_args=(3,)), \
        make_event("getpid", tid=21, pid=20)
    assert (get("container.id", host, state), get("container.name", host, state)) == ("host", "host")
    assert get("container.type", host, state) == "host"  # as sysdig
    assert get("container.id", ctr, state) == DOCKER_ID[:12]
    assert (get("container.type", ctr, state), get("container.name", ctr, state)) == ("docker", None)
    assert get("fd.containername", ctr, state) == f"{DOCKER_ID[:12]}:/etc/hosts"
    assert get("fd.containerdirectory", ctr, state) == f"{DOCKER_ID[:12]}:/etc"
    assert get("container.id", ctr_thread, state) == DOCKER_ID[:12]  # a thread uses its process's cgroups
    assert get("thread.cgroup.cpuacct", ctr, state) == f"/docker/{DOCKER_ID}"
    assert get("thread.cgroup.memory", host, state) == "/user.slice/session-1.scope"  # v2: unified
    assert get("thread.cgroups", host, state) == "unified=/user.slice/session-1.scope"
    assert get("container.id", make_event("getpid", tid=30), state) is None  # no /proc entry: unknown
    (tmp_path / "20" / "cgroup").write_text("0::/\n")  # read once: the cached value stays
    assert get("container.id", ctr, state) == DOCKER_ID[:12]
    assert get("container.id", host, State({10: ThreadInfo(10, 10, 1, "bash")})) is None  # replay: no /proc

    pred, _ = compile_filter("container and container.type=docker", CAT)
    assert pred(ctr, state) and not pred(host, state)


def test_container_id_of_our_own_process() -> None:
    state = snapshot(exclude_pids=())
    me = make_event("getpid", tid=os.getpid())
    cid = get("container.id", me, state)
    assert cid is not None and (cid == "host" or len(cid) == 12 or get("container.type", me, state) == "lxc")


def _session_state() -> State:
    """login(1) -> bash(50, session leader, tty) -> vim(60, own group); 70 runs in a child pid namespace."""
    threads = [
        ThreadInfo(1, 1, 0, "login", sid=1, vpgid=1, vpid=1, vtid=1),
        ThreadInfo(50, 50, 1, "bash", exe="-bash", exepath="/usr/bin/bash", sid=50, vpgid=50, vpid=50, vtid=50,
                   tty=34816, loginuid=1000, fdlimit=1024, uid=1000),
        ThreadInfo(60, 60, 50, "vim", sid=50, vpgid=60, vpid=60, vtid=60, tty=34816, loginuid=1000, fdlimit=4,
                   fdtable=FdTable({0: FdInfo(0, "file", "/dev/pts/0"), 1: FdInfo(1, "file", "/dev/pts/0")})),
        ThreadInfo(70, 70, 1, "app", sid=70, vpgid=1, vpid=1, vtid=1),
    ]
    return State({t.tid: t for t in threads}, {0: "root", 1000: "u"},
                 accounts={1000: ("/home/u", "/bin/bash")})


@pytest.mark.parametrize(("field", "tid", "value"), [
    ("proc.sid", 60, 50),
    ("proc.sname", 60, "bash"),
    ("proc.is_sid_leader", 50, True),
    ("proc.is_sid_leader", 60, False),
    ("proc.vpgid", 60, 60),
    ("proc.is_vpgid_leader", 60, True),
    ("proc.is_vpgid_leader", 70, True),
    ("proc.vpid", 70, 1),
    ("thread.vtid", 70, 1),
    ("proc.pvpid", 60, 50),
    ("proc.tty", 60, 34816),
    ("proc.tty", 1, 0),
    ("proc.fdlimit", 60, 4),
    ("proc.fdusage", 60, 0.5),
    ("proc.fdlimit", 1, None),
    ("proc.pexe", 60, "-bash"),
    ("proc.pexepath", 60, "/usr/bin/bash"),
    ("user.loginuid", 60, 1000),
    ("user.loginuid", 1, -1),
    ("user.loginname", 60, "u"),
    ("user.loginname", 1, None),
])
def test_session_and_namespace_fields(field: str, tid: int, value: Any) -> None:
    assert get(field, make_event("getpid", tid=tid, uid=1000), _session_state()) == value


def test_account_fields() -> None:
    state = _session_state()
    e = make_event("getpid", tid=60, uid=1000)
    assert (get("user.homedir", e, state), get("user.shell", e, state)) == ("/home/u", "/bin/bash")
    assert get("user.homedir", make_event("getpid", tid=60, uid=5), state) is None


def test_sname_without_the_leader_is_the_eldest_ancestor_in_the_session() -> None:
    state = _session_state()
    del state.threads[50]
    state.threads[55] = ThreadInfo(55, 55, 1, "sshd", sid=50)
    state.threads[60].ppid = 55
    assert get("proc.sname", make_event("getpid", tid=60), state) == "sshd"


def test_is_syslog() -> None:
    log = FdInfo(3, "unix", "/dev/log", SockTuple("unix", SockAddr("unix"), SockAddr("unix", path="/dev/log")))
    state = State({9: ThreadInfo(9, 9, 1, "logger", fdtable=FdTable({3: log, 4: FdInfo(4, "file", "/tmp/x")}))})
    assert get("evt.is_syslog", make_event("write", tid=9, res=5, raw_args=(3,)), state) is True
    assert get("evt.is_syslog", make_event("write", tid=9, res=5, raw_args=(4,)), state) is False
    assert get("evt.is_syslog", make_event("read", tid=9, res=5, raw_args=(3,)), state) is False


# -- state: where the values come from ---------------------------------------------------------------


def test_procfs_reads_session_namespace_tty_loginuid_fdlimit(tmp_path: Path) -> None:
    proc = tmp_path / "proc"
    p = proc / "42"
    (p / "task/42").mkdir(parents=True)
    (p / "task/43").mkdir()
    (p / "task/43/comm").write_text("w\n")
    (p / "task/43/status").write_text("Name:\tw\nNSpid:\t43\t7\n")
    (p / "status").write_text("Name:\tweb\nPPid:\t1\nUid:\t0\t0\t0\t0\nGid:\t0\t0\t0\t0\n"
                              "NStgid:\t42\t5\nNSpid:\t42\t5\nNSpgid:\t40\t3\nNSsid:\t40\t3\n")
    (p / "stat").write_text("42 (we b) S 1 40 40 34817 40 4194560 0 0 0 0 0 0\n")
    (p / "loginuid").write_text("1000")
    (p / "limits").write_text("Limit                     Soft Limit           Hard Limit           Units\n"
                              "Max open files            1024                 524288               files\n")
    state = snapshot(str(proc), etc=str(tmp_path))
    main, worker = state.threads[42], state.threads[43]
    assert (main.sid, main.vpgid, main.vpid, main.vtid, main.tty, main.loginuid, main.fdlimit) == \
        (40, 3, 5, 5, 34817, 1000, 1024)
    assert (worker.sid, worker.vpid, worker.vtid, worker.tty) == (40, 5, 7, 34817)
    assert state.proc_root == str(proc)


def test_procfs_own_process_ids() -> None:
    me = snapshot().threads[os.getpid()]
    assert me.sid == os.getsid(0) and me.vpgid == os.getpgrp() and me.vpid in (os.getpid(), me.vpid)
    assert me.fdlimit > 0


def _parser_state() -> tuple[State, StateParser]:
    state = State({50: ThreadInfo(50, 50, 1, "bash", sid=50, vpgid=50, vpid=50, vtid=50, tty=34816, loginuid=7,
                                  fdlimit=1024)})
    return state, StateParser(state)


def test_clone_children_inherit_session_and_namespace() -> None:
    state, parser = _parser_state()
    parser.apply(make_event("clone", tid=50, res=60, raw_args=(0x11,)))  # SIGCHLD fork
    child = state.threads[60]
    assert (child.sid, child.vpgid, child.tty, child.loginuid, child.fdlimit, child.vpid, child.vtid) == \
        (50, 50, 34816, 7, 1024, 60, 60)
    parser.apply(make_event("clone", tid=50, res=61, raw_args=(0x20000000 | 0x11,)))  # CLONE_NEWPID
    assert (state.threads[61].vpid, state.threads[61].vtid) == (1, 1)


def test_setsid_and_setpgid() -> None:
    state, parser = _parser_state()
    parser.apply(make_event("clone", tid=50, res=60, raw_args=(0x11,)))
    parser.apply(make_event("setpgid", tid=60, ppid=50, res=0, raw_args=(0, 0)))
    assert (state.threads[60].vpgid, state.threads[50].vpgid) == (60, 50)
    parser.apply(make_event("setpgid", tid=50, res=0, raw_args=(60, 50)))  # the parent moves its child back
    assert state.threads[60].vpgid == 50
    parser.apply(make_event("setsid", tid=60, ppid=50, res=60))
    t = state.threads[60]
    assert (t.sid, t.vpgid, t.tty) == (60, 60, 0)
    parser.apply(make_event("setsid", tid=50, res=-1))  # EPERM: nothing changes
    assert state.threads[50].sid == 50
