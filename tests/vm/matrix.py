"""The kernel matrix: boot Debian's kernels with virtme-ng over this machine's root filesystem, run
tests/vm/guest.py in each (the kernel tests), and print one table. The host's kernel runs natively.

    python -m tests.vm.matrix [--smoke] [-k EXPR] [KERNEL ...]      KERNEL: 5.10 6.1 6.12 host (default: all)

One VM at a time. KVM is used when a guest really boots under it (tried once per host boot, the
answer kept in /run), plain emulation otherwise. Set-up (idempotent): qemu-system-x86, kmod and file
from Debian; virtme-ng from PyPI into a tool venv of its own (CACHE/venv), apart from sysmon's.
"""
from __future__ import annotations

import argparse
import json
import os
import shlex
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.vm.guest import cpu_loop_s
from tests.vm.kernels import CACHE, SUITES, Kernel, btf_digest, fetch

REPO = Path(__file__).resolve().parents[2]
RUNS = Path(os.environ.get("SYSMON_VM_RUNS", "/tmp/sysmon-vm"))  # visible in guests (/tmp is an overlay of the host's)
VENV = CACHE / "venv"
APT_PACKAGES = ("qemu-system-x86", "kmod", "file")
KVM_ANSWER = Path("/run/sysmon/vm-kvm")
KVM_TRY_S = 60  # an emulated boot takes ~15 s here; under KVM a few
GUEST_MEMORY = "2G"


def setup() -> None:
    missing = [p for p in APT_PACKAGES if subprocess.run(["dpkg-query", "-W", "-f=${Status}", p], capture_output=True,
                                                          text=True).stdout != "install ok installed"]
    if missing:
        print(f"matrix: installing {' '.join(missing)}", file=sys.stderr)
        subprocess.run(["apt-get", "update", "-qq"], check=True)
        subprocess.run(["apt-get", "install", "-y", "-qq", "--no-install-recommends", *missing], check=True,
                       env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"}, stdout=subprocess.DEVNULL)
    if not (VENV / "bin" / "vng").exists():
        subprocess.run(["/usr/bin/python3", "-m", "venv", str(VENV)], check=True)
        subprocess.run([str(VENV / "bin" / "pip"), "install", "-q", "--disable-pip-version-check", "virtme-ng>=1.42"],
                       check=True)


def vng(kernel: Kernel, command: str, rw: Path, kvm: bool, timeout_s: float, log: Path) -> tuple[int | None, float]:
    """Boot the kernel, run `command` in it, power off. (exit code or None on timeout, seconds)."""
    cmd = [str(VENV / "bin" / "vng"), "-r", str(kernel.image), "--cpus", "2", "--memory", GUEST_MEMORY,
           "--rwdir", str(rw), "--cwd", str(REPO), "--exec", command]
    if not kvm:
        cmd.insert(3, "--disable-kvm")
    env = {**os.environ, "PATH": f"{VENV / 'bin'}:{os.environ.get('PATH', '/usr/sbin:/usr/bin:/sbin:/bin')}"}
    start = time.monotonic()
    with open(log, "w") as out:
        proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT, env=env,
                                cwd=REPO, start_new_session=True)
        try:
            rc: int | None = proc.wait(timeout_s)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            rc = None
    return rc, time.monotonic() - start


def kvm_boots(kernel: Kernel) -> bool:
    """Whether a guest boots under KVM on this host (once per host boot: the answer is kept in /run)."""
    boot_id = Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    if KVM_ANSWER.exists():
        known_boot, answer = KVM_ANSWER.read_text().split()
        if known_boot == boot_id:
            return answer == "yes"
    works = False
    if os.path.exists("/dev/kvm"):
        rw = fresh_dir(RUNS / "kvm-try")
        vng(kernel, f"echo ok > {rw}/ok", rw, True, KVM_TRY_S, rw / "vng.log")
        works = (rw / "ok").exists()
    KVM_ANSWER.parent.mkdir(parents=True, exist_ok=True)
    KVM_ANSWER.write_text(f"{boot_id} {'yes' if works else 'no'}\n")
    print(f"matrix: KVM {'boots guests' if works else 'does not boot a guest here: plain emulation'}", file=sys.stderr)
    return works


def fresh_dir(path: Path) -> Path:
    shutil.rmtree(path, ignore_errors=True)
    path.mkdir(parents=True)
    return path


@dataclass
class Row:
    kernel: str
    boots: str = "no"
    wall_s: float = 0.0
    result: dict[str, Any] = field(default_factory=dict)

    def ok(self) -> bool:
        r = self.result
        tests_ok = not r.get("tests_run", True) or (r.get("pytest_rc") == 0 and r.get("passed", 0) > 0)
        return r.get("first_event_s") is not None and tests_ok

    def cells(self) -> list[str]:
        r, probe = self.result, self.result.get("probe", {})
        loads = "yes" if r.get("first_event_s") is not None else (
            "loads, then refused" if probe.get("transport") else "no" if r.get("release") else "-")
        first = f"{r['first_event_s']:.1f} s" if r.get("first_event_s") is not None else "-"
        tests = f"{r['passed']}/{r['failed']}" if "passed" in r else "-"
        return [self.kernel, self.boots, loads, probe.get("transport", "-"), probe.get("enter_store", "-"),
                probe.get("hooks", "-"), tests, first, f"{self.wall_s:.0f} s"]


HEADER = ["kernel", "boots", "probe loads", "transport", "enter-arg store", "hooks", "tests passed/failed",
          "time to first event", "wall time"]


def run_guest(name: str, flag: str, kvm: bool | None, timeout_s: float) -> Row:
    start = time.monotonic()
    kernel = fetch(name)
    rw = fresh_dir(RUNS / kernel.release)
    shutil.copytree(kernel.btf_cache, rw / "btf")
    if kvm is None:
        kvm = kvm_boots(kernel)
    command = (f"SYSMON_BTF_CACHE={rw / 'btf'} SYSMON_HOST_LOOP_S={cpu_loop_s():.4f} "
               f"SYSMON_VM_K={shlex.quote(os.environ.get('SYSMON_VM_K', ''))} "
               f"{sys.executable} -m tests.vm.guest {rw} {flag}")
    print(f"matrix: {kernel.release}: booting ({'KVM' if kvm else 'emulated'})", file=sys.stderr)
    rc, _ = vng(kernel, command, rw, kvm, timeout_s, rw / "vng.log")
    row = Row(kernel.release, wall_s=time.monotonic() - start)
    if (rw / "result.json").exists():
        row.result = json.loads((rw / "result.json").read_text())
        row.boots = "yes (KVM)" if kvm else "yes (emulated)"
        if row.result.get("slowdown", 1) > 1:
            row.result.setdefault("notes", []).append(f"the tests' waits stretched {row.result['slowdown']}x: "
                                                      "the guest runs Python that much slower than the host")
        if row.result.get("btf_sha256") != btf_digest(kernel.root / "btf.raw"):
            row.result.setdefault("notes", []).append("the guest's BTF differs from the package's: type tree made in the guest")
    if rc is None:
        row.result.setdefault("notes", []).append(f"timed out after {timeout_s:.0f} s")
    return row


def run_host(flag: str) -> Row:
    start = time.monotonic()
    out = fresh_dir(RUNS / "host")
    subprocess.run([sys.executable, "-m", "tests.vm.guest", str(out), *filter(None, [flag])], cwd=REPO, check=True)
    row = Row(f"{os.uname().release} (host)", "host", time.monotonic() - start)
    row.result = json.loads((out / "result.json").read_text())
    return row


def table(rows: list[Row]) -> str:
    lines = ["| " + " | ".join(HEADER) + " |", "|" + "---|" * len(HEADER)]
    lines += ["| " + " | ".join(row.cells()) + " |" for row in rows]
    return "\n".join(lines)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("kernels", nargs="*", default=[*SUITES, "host"], help=f"from {', '.join([*SUITES, 'host'])}")
    mode = ap.add_mutually_exclusive_group()
    mode.add_argument("--smoke", action="store_true", help="only the tests marked smoke (CI)")
    mode.add_argument("--probe-only", action="store_true", help="boot and start sysmon once, no tests")
    ap.add_argument("--timeout", type=float, default=0, help="seconds per guest (default 1800 smoke, 10800 full: the emulated tier takes 1-2.5 h)")
    ap.add_argument("--no-kvm", action="store_true", help="plain emulation without trying KVM")
    ap.add_argument("-k", metavar="EXPR", help="only the kernel tests pytest -k EXPR selects (a rerun of some)")
    args = ap.parse_args()
    if args.k:
        os.environ["SYSMON_VM_K"] = args.k  # to the guests and the host run
    unknown = set(args.kernels) - {*SUITES, "host"}
    if unknown:
        ap.error(f"unknown kernel {', '.join(sorted(unknown))}")
    if os.geteuid() != 0:
        ap.error("run as root (the kernel tests load the BPF probe)")
    timeout_s = args.timeout or (1800 if args.smoke else 10800)
    setup()
    start = time.monotonic()
    rows = []
    for name in args.kernels:  # one VM at a time: the machine has 2 cores
        flag = "--smoke" if args.smoke else "--probe-only" if args.probe_only else ""
        row = run_host(flag) if name == "host" else run_guest(name, flag, False if args.no_kvm else None, timeout_s)
        rows.append(row)
        print(table([row]).splitlines()[-1], file=sys.stderr)
        notes = row.result.get("probe", {}).get("fallbacks", []) + row.result.get("notes", [])
        for failure in row.result.get("failures", []) + notes:
            print(f"matrix: {row.kernel}: {failure}", file=sys.stderr)
        if row.result.get("first_event_s") is None:
            print(f"matrix: {row.kernel}: sysmon -v said:\n  " + "\n  ".join(row.result.get("stderr_tail", [])),
                  file=sys.stderr)
    print(f"\nKernel matrix{' (smoke)' if args.smoke else ''}, {time.strftime('%Y-%m-%d')}, "
          f"{time.monotonic() - start:.0f} s wall:\n")
    print(table(rows))
    passed, failed = (sum(row.result.get(k, 0) for row in rows) for k in ("passed", "failed"))
    failed += sum(not row.ok() and not row.result.get("failed") for row in rows)  # a kernel that never ran its tests
    print(f"\nkernels: {passed} passed, {failed} failed")
    return 0 if all(row.ok() for row in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
