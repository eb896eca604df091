"""Real container runtimes for the container tests, started and stopped by the tests themselves.

Docker: Debian's dockerd (docker.io) under a temporary directory (its own data, exec root, socket, and a
containerd of its own; no bridge, no iptables), an image made from Debian's busybox-static (a tarball of
busybox and its links, `docker import`: no registry). Podman: Debian's podman with the same image, its
API served by `podman system service` on a socket of its own. A runtime that cannot start fails the test
with its log (never a skip). Everything started is stopped by pid, and its directory removed.
"""
from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import tarfile
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from sysmon.state.runtime import get_json
from tests.kernel.pace import slow

BUSYBOX = "/bin/busybox"  # busybox-static
DOCKER_CLI = "/usr/bin/docker"  # Debian's, not another docker on PATH
IMAGE = "local/busybox:test"
APPLETS = ("sh", "cat", "sleep", "ls", "true", "echo", "hostname")
# root here lacks CAP_SYS_RESOURCE: podman's default rlimits (nofile/nproc above ours) cannot be set
PODMAN_LIMITS = ("--ulimit", "nofile=1024:1024", "--ulimit", "nproc=1024:1024")


def image_tarball(where: Path) -> Path:
    """A root filesystem of busybox-static and its applets, as a tar for `import`."""
    if not os.path.exists(BUSYBOX):
        pytest.fail(f"{BUSYBOX} is missing: apt-get install busybox-static (scripts/setup.sh installs it)")
    path = where / "busybox.tar"
    with tarfile.open(path, "w") as tar:
        for d in ("bin", "etc", "tmp"):
            info = tarfile.TarInfo(d)
            info.type, info.mode = tarfile.DIRTYPE, 0o755
            tar.addfile(info)
        tar.add(BUSYBOX, "bin/busybox")
        for applet in APPLETS:
            info = tarfile.TarInfo(f"bin/{applet}")
            info.type, info.linkname = tarfile.SYMTYPE, "busybox"
            tar.addfile(info)
    return path


def _stop(proc: subprocess.Popen[bytes], timeout_s: float = slow(20)) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout_s)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(slow(10))


def _lists_containers(sock: Path) -> None:
    # not /version: Podman answers it after asking apparmor_parser, 3 min in an emulated 5.10 guest
    get_json(str(sock), "/containers/json", timeout=slow(2))


def _accepts(sock: Path) -> None:
    with socket.socket(socket.AF_UNIX) as conn:
        conn.connect(str(sock))


def _wait_for_socket(sock: Path, proc: subprocess.Popen[bytes], log: Path, what: str,
                     ready: Callable[[Path], None] = _lists_containers, timeout_s: float = slow(60)) -> None:
    """Until `ready(sock)` stops raising OSError/ValueError; a server that exits or never gets there
    fails the test with its log."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            break
        try:
            ready(sock)
            return
        except (OSError, ValueError):
            time.sleep(0.2)
    _stop(proc)
    tail = log.read_text(errors="replace")[-3000:] if log.exists() else ""
    pytest.fail(f"{what} did not start (exit {proc.poll()}); its log ends with:\n{tail}")


class Docker:
    runtime = "docker"
    image = IMAGE  # as the runtime names it in its answers
    run_options: tuple[str, ...] = ()

    def __init__(self, root: Path, proc: subprocess.Popen[bytes]) -> None:
        self.root, self.proc = root, proc
        self.socket = root / f"{self.runtime}.sock"

    def command(self) -> list[str]:
        return [DOCKER_CLI, "-H", f"unix://{self.socket}"]

    def cli(self, *args: str, check: bool = True) -> str:
        res = subprocess.run([*self.command(), *args], capture_output=True, text=True, timeout=slow(120))
        if check and res.returncode != 0:
            raise AssertionError(f"{self.runtime} {' '.join(args)}: exit {res.returncode}: {res.stderr}")
        return res.stdout.strip()

    def run(self, name: str, *cmd: str, labels: dict[str, str] | None = None, detach: bool = False) -> str:
        """`run --name NAME [--label K=V...] IMAGE CMD` (no network); the container's full id."""
        opts = [f"--label={k}={v}" for k, v in (labels or {}).items()]
        self.cli("run", *(["-d"] if detach else []), "--network=none", *self.run_options, "--name", name, *opts,
                 IMAGE, *cmd)
        return self.cli("inspect", "-f", "{{.Id}}", name)


class Podman(Docker):
    runtime = "podman"
    image = f"localhost/{IMAGE}"
    run_options = PODMAN_LIMITS

    def command(self) -> list[str]:
        return podman_base(self.root)


def podman_base(root: Path) -> list[str]:
    return ["podman", "--root", str(root / "storage"), "--runroot", str(root / "run"), "--tmpdir", str(root / "tmp"),
            "--storage-driver", "vfs", "--cgroup-manager", "cgroupfs", "--events-backend", "file"]


def _cleanup_dir(root: Path) -> None:
    """Unmount what a runtime left mounted under root (by its own mount table), then remove the tree."""
    mounts = [line.split()[4] for line in Path("/proc/self/mountinfo").read_text().splitlines()
              if line.split()[4].startswith(str(root))]
    for mnt in sorted(mounts, key=len, reverse=True):
        subprocess.run(["umount", "-l", mnt], capture_output=True)
    shutil.rmtree(root, ignore_errors=True)


@contextmanager
def _serving(cls: type[Docker], root: Path, argv: list[str], what: str, cleanup: bool = True) -> Iterator[Docker]:
    """Start a runtime's API server (argv), import the image, and at the end remove its containers,
    stop it by pid and (with `cleanup`) remove its directory."""
    log = root / f"{cls.runtime}.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    rt = cls(root, proc)
    try:
        _wait_for_socket(rt.socket, proc, log, what)
        rt.cli("import", str(image_tarball(root)), IMAGE)
        yield rt
    finally:
        if proc.poll() is None:
            ids = rt.cli("ps", "-aq", check=False).split()
            if ids:
                rt.cli("rm", "-f", *ids, check=False)
        _stop(proc)
        if cleanup:
            _cleanup_dir(root)


CONTAINERD_CONFIG = """version = 2
root = "{root}/root"
state = "{root}/state"
disabled_plugins = ["io.containerd.grpc.v1.cri"]
[grpc]
  address = "{root}/containerd.sock"
"""


@contextmanager
def containerd(root: Path) -> Iterator[Path]:
    """containerd of its own for dockerd, its socket waited for as long as this machine needs (dockerd's
    own containerd has a fixed start timeout, too short in an emulated guest)."""
    root.mkdir()
    config = root / "config.toml"
    config.write_text(CONTAINERD_CONFIG.format(root=root))
    sock, log = root / "containerd.sock", root / "containerd.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen(["/usr/bin/containerd", "--config", str(config)], stdout=out,
                                stderr=subprocess.STDOUT, start_new_session=True)
    try:
        _wait_for_socket(sock, proc, log, "containerd", ready=_accepts)
        yield sock
    finally:
        _stop(proc)


@contextmanager
def dockerd() -> Iterator[Docker]:
    for tool in ("/usr/sbin/dockerd", "/usr/bin/containerd", DOCKER_CLI):
        if not os.path.exists(tool):
            pytest.fail(f"{tool} is missing: apt-get install docker.io (scripts/setup.sh installs it)")
    root = Path(tempfile.mkdtemp(prefix="sysmon-dk-", dir="/tmp"))
    tag = "".join(c for c in root.name if c.isalnum())  # containerd refuses "dk-_x" ([._-] only between words)
    try:
        with containerd(root / "containerd") as containerd_sock:
            argv = ["/usr/sbin/dockerd", "--data-root", str(root / "data"), "--exec-root", str(root / "exec"),
                    "-H", f"unix://{root / 'docker.sock'}", "--pidfile", str(root / "docker.pid"),
                    "--containerd", str(containerd_sock), "--containerd-namespace", f"sysmon-{tag}",
                    "--containerd-plugins-namespace", f"sysmon-p-{tag}", "--bridge", "none",
                    "--iptables=false", "--ip6tables=false", "--ip-masq=false", "--storage-driver", "vfs"]
            with _serving(Docker, root, argv, "dockerd", cleanup=False) as docker:
                yield docker
    finally:
        _cleanup_dir(root)


@contextmanager
def podman_service() -> Iterator[Docker]:
    root = Path(tempfile.mkdtemp(prefix="sysmon-pm-", dir="/tmp"))
    argv = [*podman_base(root), "system", "service", "--time=0", f"unix://{root / 'podman.sock'}"]
    with _serving(Podman, root, argv, "podman system service") as podman:
        yield podman
