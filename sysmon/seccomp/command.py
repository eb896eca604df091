"""`sysmon seccomp record|check`: record a command into a profile; run a command under a profile.

    sysmon seccomp record -o app.json [-w app.scap] [--arg-rules] [--baseline B.json] -- CMD [ARGS...]
    sysmon seccomp check [-j] app.json -- CMD [ARGS...]

Both attach the probe first, then start the command, follow its process tree (children included)
and stop when it exits. `record` is the seccomp_profile chisel on that tree; `check` runs the command
through sysmon.seccomp.launch (the filter is loaded right before the exec) and reports the denied
syscalls. Exit status of `check`: 1 if a syscall was denied, otherwise the command's.
"""
from __future__ import annotations

import argparse
import errno
import os
import signal
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from typing import TextIO

from sysmon.chisel.api import Chisel
from sysmon.config import CaptureConfig, OutputConfig, ProbeConfig, RunConfig, parse_size
from sysmon.errors import SeccompError, SysmonError
from sysmon.pipeline import Pipeline
from sysmon.seccomp import check as checking
from sysmon.seccomp import profile
from sysmon.seccomp.chisel import ProfileChisel, Settings
from sysmon.seccomp.tree import ProcessTree

EXIT_GRACE_S = 2.0  # after the command exits, how long its last events may take to arrive
KILL_AFTER_S = 5.0  # after the SIGTERM of --timeout


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="sysmon seccomp", description="Seccomp profiles from what sysmon saw "
                                "(docs/seccomp.md).")
    sub = p.add_subparsers(dest="action", required=True, metavar="record|check")
    rec = sub.add_parser("record", help="run a command and write a profile of the syscalls its process tree made",
                         usage="sysmon seccomp record -o PROFILE [options] -- CMD [ARGS...]")
    rec.add_argument("-o", "--output", metavar="PROFILE", required=True, help="the profile to write (mode 0600)")
    rec.add_argument("-w", "--writefile", metavar="CAPTURE", help="also write the capture (replay it with "
                     "-c seccomp_profile 'root_pid=PID' to get the same profile)")
    rec.add_argument("--baseline", metavar="PROFILE", help="a profile to merge with (e.g. Docker's default)")
    rec.add_argument("--arg-rules", action="store_true", help="allow socket/socketpair only for the address "
                     "families seen")
    rec.add_argument("--report", metavar="FILE", help="write what was seen per process here (default: stderr)")
    rec.add_argument("command", nargs=argparse.REMAINDER, help="the command and its arguments, after --")
    chk = sub.add_parser("check", help="run a command under a profile and report the syscalls it was denied",
                         usage="sysmon seccomp check [-j] PROFILE -- CMD [ARGS...]")
    chk.add_argument("profile", help="an OCI/Docker seccomp profile (JSON)")
    chk.add_argument("-j", "--json", action="store_true", help="print the result as one JSON object")
    chk.add_argument("command", nargs=argparse.REMAINDER, help="the command and its arguments, after --")
    for sp in (rec, chk):
        sp.add_argument("--timeout", type=float, metavar="SECONDS", help="stop the command (SIGTERM, then SIGKILL "
                        f"{KILL_AFTER_S:g} s later) if it runs longer")
        sp.add_argument("--buffer-size", default="64M", metavar="SIZE", help="ring buffer size (64M)")
    return p


def main(argv: Sequence[str]) -> int:
    ns = build_parser().parse_args(argv)
    try:
        if ns.action == "record":
            return record(ns)
        return check(ns, sys.stdout)
    except SysmonError as e:
        print(e.render(), file=sys.stderr)
        return 1


def record(ns: argparse.Namespace) -> int:
    cmd = _command(ns.command)
    chisel = ProfileChisel()
    chisel.settings = Settings(output=ns.output, baseline=ns.baseline, arg_rules=ns.arg_rules, report=ns.report)
    procs: list[subprocess.Popen[bytes]] = []

    def start() -> subprocess.Popen[bytes]:
        proc = subprocess.Popen(cmd)
        procs.append(proc)
        chisel.follow(proc.pid)
        return proc

    _run(ns, chisel, start, lambda: chisel.recorder.tree.pids if chisel.recorder.tree else (), sys.stderr,
         writefile=ns.writefile)
    status = _status(procs)
    sys.stderr.write(f"sysmon: `{' '.join(cmd)}` (pid {procs[0].pid}) {checking.ended(status)}; wrote {ns.output}\n")
    if ns.writefile:
        sys.stderr.write(f"sysmon: the same profile from the capture: sysmon -r {ns.writefile} "
                         f"-c seccomp_profile 'root_pid={procs[0].pid} output=FILE'\n")
    return 0


def check(ns: argparse.Namespace, out: TextIO) -> int:
    prof = profile.load(ns.profile)
    unknown = profile.unknown_names(prof)
    if unknown:  # e.g. another architecture's calls in a shared profile: they cannot be enforced here
        shown = ", ".join(unknown[:8]) + (f" and {len(unknown) - 8} more" if len(unknown) > 8 else "")
        sys.stderr.write(f"sysmon: warning: {ns.profile} names {len(unknown)} calls that are not x86_64 syscalls "
                         f"(ignored): {shown}\n")
    cmd = _command(ns.command)
    from sysmon.seccomp.enforce import build_filter

    build_filter(prof)  # an unenforceable profile (or no libseccomp) fails here, before the probe loads
    errno_ret = prof.get("defaultErrnoRet") or errno.EPERM
    watcher = checking.DenialWatcher(0, errno_ret)
    procs: list[subprocess.Popen[bytes]] = []

    def start() -> subprocess.Popen[bytes]:
        proc = subprocess.Popen([sys.executable, "-m", "sysmon.seccomp.launch", ns.profile, *cmd])
        procs.append(proc)
        watcher.tree = ProcessTree(proc.pid)
        return proc

    _run(ns, watcher, start, lambda: watcher.tree.pids, out)
    status = _status(procs)
    result = checking.summary(watcher.denials, prof, cmd, status)
    out.write(checking.render(result, as_json=ns.json))
    if result["denied"]:
        return 1
    return status if status >= 0 else 128 - status


def _command(words: list[str]) -> list[str]:
    cmd = words[1:] if words[:1] == ["--"] else words
    if not cmd:
        raise SeccompError("no command given", hints=["put it after --: sysmon seccomp record -o app.json -- CMD ARGS"])
    if shutil.which(cmd[0]) is None:
        raise SeccompError(f"{cmd[0]}: command not found")
    return cmd


def _run(ns: argparse.Namespace, chisel: Chisel, start: Callable[[], subprocess.Popen[bytes]],
         tree: Callable[[], Iterable[int]], out: TextIO, writefile: str | None = None) -> None:
    """Capture every syscall with `chisel` as the only consumer; `start` the workload once the probe
    is attached; stop at the end of its tree's root (the chisel ends the capture) or shortly after.
    `tree`: the pids of the workload now (stopped at the timeout)."""
    from sysmon.live import LiveSession

    try:
        buffer_size = parse_size(ns.buffer_size)
    except ValueError as e:
        raise SeccompError(f"--buffer-size: {e}") from None
    cfg = RunConfig(output=OutputConfig(quiet=True), probe=ProbeConfig(buffer_size=buffer_size),
                    capture=CaptureConfig(writefile) if writefile else None)
    pipe = Pipeline.build(cfg, out, chisels=[(chisel, sys.modules[type(chisel).__module__].__file__ or "")])
    live: LiveSession

    def ready() -> None:
        proc = start()
        threading.Thread(target=_stop_after, args=(proc, tree, ns.timeout, live.stop), daemon=True).start()

    live = LiveSession(pipe, out, self_pid=os.getpid(), on_ready=ready)
    live.run()


def _stop_after(proc: subprocess.Popen[bytes], tree: Callable[[], Iterable[int]], timeout: float | None,
                stop: Callable[[], None]) -> None:
    """Stop the workload at the timeout; end the capture if the command's exit was not seen in time."""
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        sys.stderr.write(f"sysmon: stopping the command after the {timeout:g} s timeout\n")
        _signal(tree, signal.SIGTERM)
        try:
            proc.wait(KILL_AFTER_S)
        except subprocess.TimeoutExpired:
            _signal(tree, signal.SIGKILL)
            proc.wait()
    time.sleep(EXIT_GRACE_S)
    stop()


def _signal(tree: Callable[[], Iterable[int]], sig: int) -> None:
    for pid in tuple(tree()):
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            pass


def _status(procs: list[subprocess.Popen[bytes]]) -> int:
    if not procs:
        raise SeccompError("the command was not started")
    return procs[0].wait()
