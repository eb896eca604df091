"""sysmon against its peers, side by side on one machine: `make bench` or `.venv/bin/python bench/run.py`.

For each workload, every tracer runs interleaved with the others (A B C A B C ...), median of
--runs. Printed per cell: the workload's time and slowdown against untraced, events delivered and
dropped where the tracer reports them, the tracer's own CPU seconds and peak RSS.

Tracers: none; sysmon printing everything to /dev/null; sysmon -w (raw capture); sysmon with a
selective filter (evt.type=connect: pushdown); sysmon -c topscalls; strace -f; perf trace -a;
bpftrace counting raw_syscalls (the in-kernel floor of a real tool); a bare BPF counter (the
hook's own cost), on raw_syscalls and on the tracepoints sysmon attaches for evt.type=connect (the
floor of a type-selective run). Missing tools are installed with apt when --install is given, else skipped.
"""
from __future__ import annotations

import argparse
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PY = "/usr/bin/python3"
SYSMON = [sys.executable, "-m", "sysmon"]

WORKLOADS: dict[str, list[str]] = {
    "storm: dd bs=1 x1M (2M syscalls)": ["dd", "if=/dev/zero", "of=/dev/null", "bs=1", "count=1000000", "status=none"],
    "file I/O: open/read 4K/close x200k": [PY, "-c", (
        "import os\np='/etc/services'\nfor _ in range(200000):\n"
        "    fd = os.open(p, os.O_RDONLY); os.read(fd, 4096); os.close(fd)\n")],
    "dd bs=512 x1M to /dev/null": ["dd", "if=/dev/zero", "of=/dev/null", "bs=512", "count=1000000", "status=none"],
    "loopback TCP x20k connections": [PY, "-c", (
        "import socket, threading\ns = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)\n"
        "s.bind(('127.0.0.1', 0)); s.listen(512); port = s.getsockname()[1]\nN = 20000\n"
        "def serve():\n    for _ in range(N):\n        c, _ = s.accept(); c.recv(64); c.sendall(b'pong'); c.close()\n"
        "t = threading.Thread(target=serve); t.start()\nfor _ in range(N):\n"
        "    c = socket.create_connection(('127.0.0.1', port)); c.sendall(b'ping'); c.recv(64); c.close()\n"
        "t.join()\n")],
    "fork+exec /bin/true x2k": [PY, "-c", (
        "import os\nfor _ in range(2000):\n    pid = os.posix_spawn('/bin/true', ['/bin/true'], {})\n"
        "    os.waitpid(pid, 0)\n")],
}


@dataclass
class Tracer:
    name: str
    start: list[str] | None = None  # a background tracer: command, ready line, stop with SIGINT
    ready: str = ""
    wrap: list[str] | None = None  # a wrapping tracer: prefix of the workload command
    stats: str = ""  # how to read delivered/dropped from its stderr/stdout: sysmon | bpftrace | bare


@dataclass
class Result:
    seconds: float
    delivered: int | None = None
    dropped: int | None = None
    cpu_s: float | None = None
    rss_mb: float | None = None


@dataclass
class Cell:
    results: list[Result] = field(default_factory=list)

    def median(self) -> Result:
        rs = sorted(self.results, key=lambda r: r.seconds)
        return rs[len(rs) // 2]


def tracers(capture_dir: str, available: set[str]) -> list[Tracer]:
    out = [Tracer("untraced")]
    out.append(Tracer("sysmon (no filter, print to /dev/null)", SYSMON + ["-v"], "sysmon: probe:", stats="sysmon"))
    if "write" in available:
        out.append(Tracer("sysmon -w FILE", SYSMON + ["-v", "-w", f"{capture_dir}/bench.smc"], "sysmon: probe:",
                          stats="sysmon"))
    out.append(Tracer("sysmon evt.type=connect", SYSMON + ["-v", "evt.type=connect"], "sysmon: probe:", stats="sysmon"))
    if "chisel" in available:
        out.append(Tracer("sysmon -c topscalls", SYSMON + ["-v", "-c", "topscalls"], "sysmon: probe:", stats="sysmon"))
    if shutil.which("strace"):
        out.append(Tracer("strace -f -o /dev/null", wrap=["strace", "-f", "-o", "/dev/null"]))
    if shutil.which("perf"):
        out.append(Tracer("perf trace -a", ["perf", "trace", "-a", "-o", "/dev/null"], ""))
    if shutil.which("bpftrace"):
        out.append(Tracer("bpftrace count raw_syscalls",
                          ["bpftrace", "-e", "tracepoint:raw_syscalls:sys_enter,tracepoint:raw_syscalls:sys_exit"
                           " { @events = count(); }"], "Attaching", stats="bpftrace"))
    out.append(Tracer("bare ring buffer + counting callback", [sys.executable, str(ROOT / "bench" / "bare_consumer.py")],
                      "ready", stats="bare"))
    out.append(Tracer("bare BPF counter (hook cost)", [sys.executable, str(ROOT / "bench" / "bare_counter.py")],
                      "ready", stats="bare"))
    out.append(Tracer("bare counter on evt.type=connect's hooks", [sys.executable, str(ROOT / "bench" / "bare_counter.py"),
                                                                   "--filter", "evt.type=connect"], "ready", stats="bare"))
    return out


def run_one(tracer: Tracer, workload: list[str], timeout: float) -> Result:
    if tracer.wrap is not None:
        return _run_wrapped(tracer.wrap, workload, timeout)
    bg = None
    if tracer.start is not None:
        bg = subprocess.Popen(tracer.start, stdout=subprocess.PIPE if tracer.stats in ("bare", "bpftrace") else
                              subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, cwd=ROOT)
        if tracer.ready:
            stream = bg.stdout if tracer.stats in ("bare", "bpftrace") else bg.stderr
            assert stream is not None
            line = stream.readline()
            if tracer.ready not in line:
                raise SystemExit(f"{tracer.name} did not start: {line!r}")
        else:
            time.sleep(3)  # perf trace prints nothing when it is ready
    t0 = time.perf_counter()
    subprocess.run(workload, stdout=subprocess.DEVNULL, timeout=timeout, check=True)
    elapsed = time.perf_counter() - t0
    if bg is None:
        return Result(elapsed)
    time.sleep(1.0)  # let the tracer drain
    cpu_s, rss_mb = proc_usage(bg.pid)
    bg.send_signal(signal.SIGTERM)
    out, err = bg.communicate(timeout=300)
    res = Result(elapsed, cpu_s=cpu_s, rss_mb=rss_mb)
    text = (out or "") + (err or "")
    if tracer.stats == "sysmon":
        m = re.search(r"Kernel events: (\d+) produced, (\d+) delivered, (\d+) dropped", text)
        disk = re.search(r"; (\d+) dropped \(disk too slow\)", text)  # -w: the writer's drops count too
        if m:
            res.delivered, res.dropped = int(m[2]), int(m[3]) + (int(disk[1]) if disk else 0)
    elif tracer.stats == "bpftrace":
        m = re.search(r"@events: (\d+)", text)
        if m:
            res.delivered, res.dropped = int(m[1]), 0
    elif tracer.stats == "bare":
        m = re.search(r"events (\d+)(?: dropped (\d+))?", text)
        if m:
            res.delivered, res.dropped = int(m[1]), int(m[2] or 0)
    return res


def _run_wrapped(wrap: list[str], workload: list[str], timeout: float) -> Result:
    """A tracer that runs the workload (strace): its own CPU and peak RSS, read from /proc by the last
    command it traces. wait4's rusage would add the traced workload's CPU (a tracer reaps its tracees)."""
    with tempfile.NamedTemporaryFile(mode="r", suffix=".stat") as snap:
        script = '"$@" >/dev/null; cat /proc/$PPID/stat /proc/$PPID/status > "$SNAP"'
        t0 = time.perf_counter()
        subprocess.run([*wrap, "sh", "-c", script, "sh", *workload], env={**os.environ, "SNAP": snap.name},
                       timeout=timeout, check=True)
        elapsed = time.perf_counter() - t0
        text = snap.read()
    if not text:
        return Result(elapsed)
    cpu_s, rss_mb = _usage(text)
    return Result(elapsed, cpu_s=cpu_s, rss_mb=rss_mb)


def proc_usage(pid: int) -> tuple[float, float]:
    """CPU seconds so far and peak RSS (VmHWM) of a running process."""
    return _usage(Path(f"/proc/{pid}/stat").read_text() + Path(f"/proc/{pid}/status").read_text())


def _usage(stat_and_status: str) -> tuple[float, float]:
    """(utime + stime in seconds, VmHWM in MB) from /proc/PID/stat followed by /proc/PID/status."""
    fields = stat_and_status.split("\n", 1)[0].rsplit(")", 1)[1].split()
    cpu = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    hwm = re.search(r"VmHWM:\s+(\d+) kB", stat_and_status)
    return cpu, (int(hwm[1]) / 1024 if hwm else 0.0)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--only", help="run only workloads whose name contains this")
    ap.add_argument("--tracers", help="run only tracers whose name contains one of these (comma-separated); "
                    "untraced always runs")
    ap.add_argument("--install", action="store_true", help="apt-get install strace linux-perf bpftrace")
    ap.add_argument("--timeout", type=float, default=180, help="per workload run (strace can be very slow)")
    ap.add_argument("--capture-dir", help="where -w writes (default: a temporary directory under $TMPDIR; "
                                          "/dev/shm takes the disk out of the measure)")
    opts = ap.parse_args()
    if opts.install:
        subprocess.run(["apt-get", "install", "-y", "-qq", "strace", "linux-perf", "bpftrace"], check=False,
                       stdout=subprocess.DEVNULL)
    helptext = subprocess.run(SYSMON + ["--help"], capture_output=True, text=True, cwd=ROOT).stdout
    available = {k for k, flag in (("write", "-w"), ("chisel", "-c ")) if f" {flag}" in helptext}
    with tempfile.TemporaryDirectory(dir=opts.capture_dir) as capture_dir:
        ts = tracers(capture_dir, available)
        if opts.tracers:
            keep = opts.tracers.split(",")
            ts = [t for t in ts if t.name == "untraced" or any(k in t.name for k in keep)]
        print(f"# {time.strftime('%Y-%m-%d')} {os.uname().nodename} {os.uname().release}, {os.cpu_count()} CPUs; "
              f"median of {opts.runs} interleaved runs")
        print(f"{'workload':<36} {'tracer':<40}{'time s':>8}{'slowdown':>9}{'delivered':>11}{'dropped':>10}"
              f"{'CPU s':>7}{'RSS MB':>8}")
        for wname, wcmd in WORKLOADS.items():
            if opts.only and opts.only not in wname:
                continue
            cells = {t.name: Cell() for t in ts}
            for _ in range(opts.runs):
                for t in ts:
                    try:
                        cells[t.name].results.append(run_one(t, wcmd, opts.timeout))
                    except subprocess.TimeoutExpired:
                        cells[t.name].results.append(Result(float("inf")))
            base = cells["untraced"].median().seconds
            for t in ts:
                r = cells[t.name].median()
                fmt = lambda v, spec: "-" if v is None else format(v, spec)  # noqa: E731
                print(f"{wname:<36} {t.name:<40}{r.seconds:>8.2f}{r.seconds / base:>9.2f}"
                      f"{fmt(r.delivered, ','):>11}{fmt(r.dropped, ','):>10}"
                      f"{fmt(None if t.name == 'untraced' else r.cpu_s, '.2f'):>7}"
                      f"{fmt(None if t.name == 'untraced' else r.rss_mb, '.0f'):>8}", flush=True)


if __name__ == "__main__":
    main()
