"""Runs inside a matrix guest (or natively for the host's kernel): starts sysmon once to see what the
probe chose and how long the first event takes, then runs the kernel tests. Everything it learns goes
to OUT/result.json (a VM's console output is not always relayed to the host); each test's outcome
and any failure's traceback go to OUT/tests.log as it ends.

    python -m tests.vm.guest OUT [--smoke | --probe-only]
"""
from __future__ import annotations

import hashlib
import json
import os
import platform
import re
import subprocess
import sys
import threading
import time
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

FIRST_EVENT_TIMEOUT_S = 900
TARGET = "/etc/hostname"


def first_event(out: Path) -> dict[str, Any]:
    """Start `sysmon -v` on an openat filter while `cat` runs in a loop: seconds to the first line,
    and what sysmon said about its probe on stderr."""
    cmd = [sys.executable, "-m", "sysmon", "-v", "-n", "1", "-p", "%proc.name %evt.type %fd.name",
           f"evt.type=openat and evt.dir=< and fd.name={TARGET}"]
    start = time.monotonic()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    stop = threading.Event()

    def workload() -> None:
        while not stop.wait(0.2):
            subprocess.run(["cat", TARGET], stdout=subprocess.DEVNULL)

    threading.Thread(target=workload, daemon=True).start()
    try:
        line = proc.stdout.readline() if proc.stdout else ""
        seconds = time.monotonic() - start if line else None
        _, err = proc.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        proc.kill()
        line, seconds, err = "", None, proc.communicate()[1]
    finally:
        stop.set()
    (out / "sysmon-v.stderr").write_text(err)
    return {"first_event_s": seconds, "first_line": line.strip(), "sysmon_rc": proc.returncode,
            "probe": parse_probe_lines(err), "stderr_tail": err.strip().splitlines()[-12:]}


def parse_probe_lines(err: str) -> dict[str, Any]:
    """What `sysmon -v` says about its probe: the `sysmon: probe:` line and the `sysmon: fallback:` lines."""
    found: dict[str, Any] = {"fallbacks": []}
    for line in err.splitlines():
        m = re.match(r"sysmon: probe: kernel \S+ \((\w+) types[^)]*\), transport (\w+)(?:, \d+ KiB)?, "
                     r"enter args in ([\w-]+), hooks: ([^;]+)", line)
        if m:
            found.update(types=m.group(1), transport=m.group(2), enter_store=m.group(3), hooks=m.group(4))
        if line.startswith("sysmon: fallback: "):
            found["fallbacks"].append(line.removeprefix("sysmon: fallback: "))
    return found


def cpu_loop_s() -> float:
    """Seconds of a fixed CPU-bound loop (the best of 3): how fast this machine runs Python."""
    best = float("inf")
    for _ in range(3):
        start = time.perf_counter()
        sum(i * i for i in range(5_000_000))
        best = min(best, time.perf_counter() - start)
    return best


def run_tests(out: Path, smoke: bool) -> dict[str, Any]:
    junit = out / "junit.xml"
    cmd = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "tests.vm.report", "-o",
           "console_output_style=classic", f"--junitxml={junit}", "tests/kernel"]
    select = [f"({k})" for k in (os.environ.get("SYSMON_VM_K"),) if k]  # matrix -k: some tests only
    if smoke:  # the probe as this kernel builds it (the forced fallbacks run on the host's kernel in `make test`)
        cmd += ["-m", "smoke"]
        select.append("not older-kernel-fallbacks")
    if select:
        cmd += ["-k", " and ".join(select)]
    host_s = float(os.environ.get("SYSMON_HOST_LOOP_S", "0"))
    slowdown = round(max(1.0, cpu_loop_s() / host_s), 1) if host_s else 1.0  # the tests' waits (tests/kernel/pace.py)
    start = time.monotonic()
    with open(out / "pytest.log", "w") as log:
        env = {**os.environ, "SYSMON_REQUIRE_BPF": "1", "SYSMON_VM_REPORT": str(out / "tests.log"),
               "SYSMON_TEST_SLOWDOWN": str(slowdown)}
        rc = subprocess.run(cmd, stdout=log, stderr=subprocess.STDOUT, env=env).returncode
    result: dict[str, Any] = {"pytest_rc": rc, "tests_s": round(time.monotonic() - start, 1), "slowdown": slowdown}
    if junit.exists():
        suite = ET.parse(junit).getroot()
        suite = suite if suite.tag == "testsuite" else suite[0]
        n, fails, errors, skips = (int(suite.get(k, 0)) for k in ("tests", "failures", "errors", "skipped"))
        result.update(passed=n - fails - errors - skips, failed=fails + errors, skipped=skips,
                      failures=[c.get("classname", "") + "::" + c.get("name", "") for c in suite.iter("testcase")
                                if c.find("failure") is not None or c.find("error") is not None])
    return result


def main() -> int:
    out = Path(sys.argv[1])
    smoke = "--smoke" in sys.argv[2:]
    btf = Path("/sys/kernel/btf/vmlinux")
    result: dict[str, Any] = {
        "release": platform.release(),
        "btf_sha256": hashlib.sha256(btf.read_bytes()).hexdigest() if btf.exists() else None,
        "btf_cache": os.environ.get("SYSMON_BTF_CACHE"),
    }
    (out / "result.json").write_text(json.dumps(result))  # proof of boot even if what follows hangs
    result.update(first_event(out))
    (out / "result.json").write_text(json.dumps(result))
    result["tests_run"] = "--probe-only" not in sys.argv[2:]
    if result["tests_run"]:
        result.update(run_tests(out, smoke))
    (out / "result.json").write_text(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
