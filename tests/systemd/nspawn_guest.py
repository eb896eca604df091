"""A Debian 12 guest booted by systemd-nspawn with systemd as PID 1, around the installed sysmon.service.

The root tree is debootstrap'd once (about 5 minutes) and cached in ROOT; every boot runs on a volatile
overlay (writes go to a tmpfs), so the cached tree stays as debootstrap left it. The checkout under test
and the venv are bound read-only at the same paths, so the guest runs the same sysmon as the host. The
guest shares the host's kernel: BPF, BTF (/sys/kernel/btf) and tracefs are the host's, cgroups are the
guest's own subtree. Commands run in the guest with nsenter (systemctl, journalctl, sysmon).
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(os.environ.get("SYSMON_NSPAWN_ROOT", "/var/cache/sysmon/nspawn/bookworm"))
MIRROR = os.environ.get("SYSMON_DEBIAN_MIRROR", "http://deb.debian.org/debian")
GUEST_PACKAGES = "systemd,systemd-sysv,python3,python3-bpfcc,bpftool,procps"
CHECKOUT = Path(__file__).resolve().parents[2]
UNIT = CHECKOUT / "systemd" / "sysmon.service"


def missing_tools() -> list[str]:
    return [t for t in ("systemd-nspawn", "debootstrap", "nsenter") if shutil.which(t) is None]


def prepare(root: Path = ROOT) -> None:
    """debootstrap the guest tree once; an interrupted run leaves only a .tmp that the next one replaces."""
    if (root / "usr/bin/python3").exists() and (root / "lib/systemd/systemd").exists():
        return
    tmp = root.with_name(root.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run(["debootstrap", "--variant=minbase", f"--include={GUEST_PACKAGES}", "bookworm", str(tmp), MIRROR],
                   check=True, stdout=subprocess.DEVNULL, timeout=1800)
    (tmp / "etc/hostname").write_text("sysmon-guest\n")
    (tmp / "etc/machine-id").unlink(missing_ok=True)  # a fresh one on each (volatile) boot
    tmp.rename(root)


class Guest:
    """One booted guest: run() a command in it; close() powers it off."""

    def __init__(self, root: Path = ROOT) -> None:
        venv = Path(sys.prefix)
        self.log = open(root.parent / "console.log", "wb")  # noqa: SIM115 (closed in close())
        t0 = time.monotonic()
        self.proc = subprocess.Popen([
            "systemd-nspawn", "-D", str(root), "--boot", "--volatile=overlay", "--register=no", "--keep-unit",
            "--console=passive", "--machine=sysmon-guest",
            # CAP_SYS_RAWIO: systemd's sys-kernel-tracing.mount has ConditionCapability=CAP_SYS_RAWIO.
            "--capability=CAP_BPF,CAP_PERFMON,CAP_SYS_RAWIO", "--system-call-filter=bpf perf_event_open",
            f"--bind-ro={CHECKOUT}", f"--bind-ro={venv}",
        ], stdout=self.log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        try:
            self.leader = self._wait_leader()
            self._wait_booted()
            self.boot_s = time.monotonic() - t0
            self.install(venv)
        except BaseException:
            self.close()
            raise

    def _wait_booted(self) -> None:
        deadline = time.monotonic() + 120
        res = None
        while time.monotonic() < deadline:  # "offline" or nothing until the guest's systemd listens
            res = self.run("systemctl", "is-system-running", "--wait", timeout=120)
            if res.stdout.strip() in ("running", "degraded"):
                return
            time.sleep(0.2)
        raise RuntimeError(f"guest did not boot: {res}")

    def _wait_leader(self) -> int:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"systemd-nspawn exited {self.proc.returncode}: see {self.log.name}")
            for stat in Path("/proc").glob("[0-9]*/stat"):
                try:
                    fields = stat.read_text().rsplit(")", 1)[1].split()
                except OSError:
                    continue
                if int(fields[1]) == self.proc.pid and (stat.parent / "comm").read_text() == "systemd\n":
                    return int(stat.parent.name)
            time.sleep(0.1)
        raise RuntimeError("no guest PID 1 after 30 s")

    def run(self, *argv: str, input: str | None = None, timeout: float = 60,
            check: bool = False) -> subprocess.CompletedProcess[str]:
        return subprocess.run(["nsenter", "-t", str(self.leader), "-a", *argv], input=input, text=True,
                              capture_output=True, timeout=timeout, check=check)

    def write(self, path: str, text: str, mode: str = "0600") -> None:
        self.run("sh", "-c", f'mkdir -p "$(dirname {path})" && cat > {path} && chmod {mode} {path}',
                 input=text, check=True)

    def install(self, venv: Path) -> None:
        """What `scripts/setup.sh --install-service` installs: the unit, the example config, the command."""
        self.write("/usr/local/bin/sysmon", f"#!/bin/sh\nexport PYTHONPATH={CHECKOUT}\n"
                   f'exec {venv}/bin/python -m sysmon "$@"\n', mode="0755")
        self.write("/etc/systemd/system/sysmon.service", UNIT.read_text(), mode="0644")
        under_tmp = [p for p in (CHECKOUT, venv) if p.is_relative_to("/tmp") or p.is_relative_to("/var/tmp")]
        if under_tmp:  # the unit's PrivateTmp=yes hides a checkout under /tmp from the service: bind it in
            self.write("/etc/systemd/system/sysmon.service.d/checkout.conf",
                       "[Service]\n" + "".join(f"BindReadOnlyPaths={p}\n" for p in under_tmp), mode="0644")
        self.write("/etc/sysmon/sysmon.toml", (CHECKOUT / "systemd" / "sysmon.toml").read_text())
        self.run("systemctl", "daemon-reload", check=True)

    def show(self, *props: str) -> dict[str, str]:
        out = self.run("systemctl", "show", "sysmon", *(f"--property={p}" for p in props), check=True).stdout
        return dict(line.split("=", 1) for line in out.splitlines() if "=" in line)

    def journal(self, *args: str) -> str:
        return self.run("journalctl", "--no-pager", "-u", "sysmon", *args).stdout

    def close(self) -> None:
        self.proc.terminate()  # nspawn asks the guest's systemd to power off
        try:
            self.proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.log.close()
