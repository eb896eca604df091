"""Containers live and on replay, with real runtimes the tests start (tests/kernel/container_harness.py).

A container `web1` of image local/busybox:test runs `cat /etc/hostname`: its openat shows the container's
name, image, id and type, though cat lives under 10 ms (the probe's cgroup id places it; the runtime's
event stream described the container when it was created). io.kubernetes.* labels give k8s.*. The host's
cat is `host`. A capture written with -w (rotated) replays the same lines, and -pk shows the pod.
"""
from __future__ import annotations

import glob
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from sysmon.capture.reader import open_source
from sysmon.events.decode import Decoder
from sysmon.events.schema import Schema
from sysmon.state.containers import cgroup2_mount
from tests.kernel.conftest import require_bpf
from tests.kernel.container_harness import Docker, dockerd, podman_service
from tests.kernel.pace import slow

pytestmark = pytest.mark.bpf

CAT_OPEN = "evt.type=openat and evt.dir=< and fd.name=/etc/hostname and proc.name=cat"
FIELDS = "*%container.name %container.image %container.id %container.type %proc.name %evt.type %fd.name"


@pytest.fixture(scope="module")
def docker() -> Iterator[Docker]:
    require_bpf()
    with dockerd() as d:
        yield d


@pytest.fixture(scope="module")
def podman() -> Iterator[Docker]:
    require_bpf()
    with podman_service() as p:
        yield p


def sockets(rt: Docker) -> list[str]:
    other = "--podman-socket" if rt.runtime == "docker" else "--docker-socket"
    return [f"--{rt.runtime}-socket", str(rt.socket), other, ""]


def capture(args: list[str], workload: Callable[[], None], settle_s: float = 2.0) -> tuple[list[str], str]:
    """Run sysmon until it is capturing, run the workload, let the last events arrive, stop it with Ctrl-C."""
    proc = subprocess.Popen([sys.executable, "-m", "sysmon", "-v", *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stderr is not None
        head = [proc.stderr.readline() for _ in range(1)]
        while head[-1] and not head[-1].startswith("sysmon: probe:"):  # -v says so once attached
            head.append(proc.stderr.readline())
        assert head[-1], "".join(head)
        workload()
        time.sleep(settle_s)
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=slow(90))
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, err
    return out.splitlines(), err


def replay(args: list[str]) -> list[str]:
    res = subprocess.run([sys.executable, "-m", "sysmon", *args], capture_output=True, text=True, timeout=slow(300))
    assert res.returncode == 0, res.stderr
    return res.stdout.splitlines()


def host_cat() -> None:
    subprocess.run(["cat", "/etc/hostname"], stdout=subprocess.DEVNULL, check=True)


def lifetimes(lines: list[str], container: str) -> list[int]:
    """ns from execve exit to procexit of each process of `container` (lines `... | RAWTIME PID TYPE NAME`)."""
    times: dict[str, dict[str, int]] = {}
    for line in lines:
        ts, pid, etype, cname = line.split(" | ")[1].split()
        if cname == container:
            times.setdefault(pid, {})[etype] = int(ts)
    return [t["procexit"] - t["execve"] for t in times.values() if {"execve", "procexit"} <= t.keys()]


LIFETIME = "%evt.rawtime %proc.pid %evt.type %container.id"
CAT_LIFE = f"({CAT_OPEN}) or (proc.name=cat and (evt.type=procexit or (evt.type=execve and evt.dir=<)))"


def test_short_lived_container_process_has_name_and_image(docker: Docker) -> None:
    """Docker reports a container on its event stream when it is created: its name is known before its
    first process runs, however short."""
    ids: list[str] = []

    def workload() -> None:
        ids.append(docker.run("web1", "cat", "/etc/hostname"))
        host_cat()

    lines, err = capture([*sockets(docker), "-p", f"{FIELDS} | {LIFETIME}", CAT_LIFE], workload)
    cid = ids[0][:12]
    opens = [line.split(" | ")[0] for line in lines if " openat " in line]
    assert f"web1 local/busybox:test {cid} docker cat openat /etc/hostname" in opens, "\n".join(lines) + err
    assert "host <NA> host host cat openat /etc/hostname" in opens, "\n".join(lines)
    spans = lifetimes(lines, cid)
    assert spans and min(spans) < slow(0.010) * 1e9, lines  # short-lived: < 10 ms on the host


def test_podman_containers_by_id_at_once_and_by_name_once_described(podman: Docker) -> None:
    """Podman: a process living under 10 ms is placed in its container (id, type) by the probe's cgroup
    id; its name and image come when the service has described the container (its event stream follows
    the CLI's event log, later than Docker's), here for a cat started half a second into the container."""
    ids: list[str] = []

    def workload() -> None:
        ids.append(podman.run("pfast", "cat", "/etc/hostname"))
        ids.append(podman.run("pweb1", "sh", "-c", "sleep 0.5; cat /etc/hostname"))
        host_cat()

    lines, err = capture([*sockets(podman), "-p", f"{FIELDS} | {LIFETIME}", CAT_LIFE], workload)
    fast, slower = (i[:12] for i in ids)
    opens = [line.split(" | ")[0] for line in lines if " openat " in line]
    assert any(f" {fast} podman cat openat /etc/hostname" in line for line in opens), "\n".join(lines) + err
    assert f"pweb1 localhost/local/busybox:test {slower} podman cat openat /etc/hostname" in opens, "\n".join(lines)
    assert "host <NA> host host cat openat /etc/hostname" in opens, "\n".join(lines)
    spans = lifetimes(lines, fast)
    assert spans and min(spans) < slow(0.010) * 1e9, lines  # short-lived: < 10 ms on the host


def test_k8s_labels_give_pod_and_namespace(docker: Docker) -> None:
    labels = {"io.kubernetes.pod.name": "p1", "io.kubernetes.pod.namespace": "ns1", "io.kubernetes.pod.uid": "u-1",
              "app": "web"}
    ids: list[str] = []
    lines, err = capture([*sockets(docker), "-p", "*%k8s.pod.name %k8s.ns.name %k8s.pod.uid %k8s.pod.label.app "
                          "%container.label.app %container.name %container.id %proc.name %evt.type", CAT_OPEN],
                         lambda: (ids.append(docker.run("k8s1", "cat", "/etc/hostname", labels=labels)), host_cat()))
    assert f"p1 ns1 u-1 web web k8s1 {ids[0][:12]} cat openat" in lines, "\n".join(lines) + err
    assert "<NA> <NA> <NA> <NA> <NA> host host cat openat" in lines, "\n".join(lines)


def test_written_capture_replays_the_same_container_lines(docker: Docker, tmp_path: Path) -> None:
    """-w (rotated every 1000 events) then -r: the same lines, after rotation too; -pk on the replay; the
    records carry the container's cgroup id (the inode of its cgroup v2 directory)."""
    base = tmp_path / "ct.smc"
    labels = {"io.kubernetes.pod.name": "p2", "io.kubernetes.pod.namespace": "ns2"}
    ids: dict[str, str] = {}

    def workload() -> None:
        docker.run("web-w", "cat", "/etc/hostname")
        ids["long"] = docker.run("web-long", "sleep", str(int(slow(60))), detach=True)  # alive until its cgroup is read
        docker.cli("exec", "web-long", "cat", "/etc/hostname")
        ids["pod"] = docker.run("pod-w", "cat", "/etc/hostname", labels=labels)
        host_cat()

    fmt = f"{FIELDS} %k8s.pod.name"
    live, err = capture([*sockets(docker), "-w", str(base), "-e", "1000", "-p", fmt, CAT_OPEN], workload)
    files = sorted(glob.glob(f"{base}*"))
    assert len(files) > 1, files
    assert len([line for line in live if line.startswith(("web-w ", "web-long ", "pod-w "))]) == 3, "\n".join(live)
    assert replay(["-r", f"{base}*", "-p", fmt, CAT_OPEN]) == live
    pk = replay(["-r", f"{base}*", "-pk", CAT_OPEN])
    assert any(f" p2 ({ids['pod'][:12]}) cat (" in line for line in pk), "\n".join(pk)
    root = cgroup2_mount()
    assert root is not None
    ino = os.stat(f"{root}/docker/{ids['long']}").st_ino
    docker.cli("rm", "-f", "web-long")
    seen = set()
    decoder = Decoder(Schema.default())
    for path in files:
        src = open_source(path)
        for batch in src.batches():  # type: ignore[union-attr]
            seen |= {e.cgroup_id for e in map(decoder.decode, batch.records) if e.comm == "cat"}
    assert ino in seen, (ino, seen)


def produced(err: str) -> int:
    """Events the probe sent to userspace (-v's statistics)."""
    return int(re.search(r"Kernel events: (\d+) produced", err).group(1))  # type: ignore[union-attr]


def test_container_selection_keeps_the_hosts_storm_in_the_kernel(docker: Docker) -> None:
    """`container.name=web-p` is pushed down: once the host's cgroup is known to hold no such container,
    the probe keeps the host's non-state syscalls (a dd storm: 400k syscalls) in the kernel, while web-p's
    openat is delivered and shown. The same run with --no-pushdown is the reference."""
    storm = ["dd", "if=/dev/zero", "of=/dev/null", "bs=1", "count=200000"]
    sent = {}
    for mode in ("pushdown", "no-pushdown"):
        name = f"web-p-{mode}"
        args = [*sockets(docker), "-p", "%container.name %proc.name %evt.type %fd.name", f"container.name={name}"]
        lines, err = capture(args + (["--no-pushdown"] if mode == "no-pushdown" else []),
                             lambda: (docker.run(name, "cat", "/etc/hostname"),
                                      subprocess.run(storm, capture_output=True, check=True)))
        if mode == "pushdown":
            assert f"{name} cat openat /etc/hostname" in lines, "\n".join(lines[-20:]) + err
        sent[mode] = produced(err)
    assert sent["no-pushdown"] > 800_000 and sent["pushdown"] < sent["no-pushdown"] / 2, sent
