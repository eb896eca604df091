"""The command line as a user runs it (a real `sysmon` process): -P progress on replays, refusals before
any work, quiet ends on closed pipes, NO_COLOR."""
from __future__ import annotations

import os
import pty
import subprocess
import sys
from pathlib import Path

from tests.terminal import read_until_closed

GOLDEN = Path(__file__).resolve().parent.parent / "golden"
SCAP = GOLDEN / "scap" / "captures" / "curl_google.scap"


def sysmon(*args: str, env: dict[str, str] | None = None, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "sysmon", *args], capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, **(env or {})})


def test_progress_on_a_scap_replay_when_asked() -> None:
    """-P shows tqdm's bar on stderr, even into a pipe; without it a pipe gets nothing."""
    asked = sysmon("-r", str(SCAP), "-P", "-q")
    assert asked.returncode == 0, asked.stderr
    assert "replay:" in asked.stderr and "/22.3k" in asked.stderr  # the bar, over the file's size
    assert sysmon("-r", str(SCAP), "-q").stderr == ""


def test_progress_needs_a_replay() -> None:
    res = sysmon("-P")
    assert res.returncode == 1 and "-P shows the progress of a replay" in res.stderr


def test_an_unwritable_w_is_refused_before_the_probe(tmp_path: Path) -> None:
    """Exit 2 with the reason, in well under a second, without importing the probe's modules."""
    check = ("import sys, time; from sysmon import cli; t = time.monotonic(); rc = cli.main(sys.argv[1:]); "
             "print(rc, round(time.monotonic() - t, 3), [m for m in ('sysmon.live', 'sysmon.probe.loader') "
             "if m in sys.modules])")
    for path, reason in (("/proc/x.smc", "No such file or directory"), ("/nonexistent/dir/x.smc", "no directory"),
                         (str(tmp_path / "ro" / "x.scap"), "Permission denied")):
        (tmp_path / "ro").mkdir(mode=0o500, exist_ok=True)
        if path.startswith(str(tmp_path)) and os.geteuid() == 0:
            path = "/sys/x.smc"  # root writes anywhere but in sysfs
        res = subprocess.run([sys.executable, "-c", check, "-w", path, "evt.type=open"], capture_output=True,
                             text=True, timeout=30)
        rc, seconds, probe_modules = res.stdout.split(maxsplit=2)
        assert (rc, probe_modules.strip()) == ("2", "[]"), res.stderr
        assert float(seconds) < 1.0, seconds  # 0.13-0.15 s here (load 20); a probe load takes 0.4-2.3 s
        assert f"sysmon: cannot write {path}: " in res.stderr and (reason in res.stderr or path == "/sys/x.smc")


def test_a_writable_w_is_left_as_it_was(tmp_path: Path) -> None:
    from sysmon.capture.writable import check_writable

    check_writable(str(tmp_path / "new.smc"))
    assert not (tmp_path / "new.smc").exists()
    (tmp_path / "old.smc").write_bytes(b"kept")
    check_writable(str(tmp_path / "old.smc"))
    assert (tmp_path / "old.smc").read_bytes() == b"kept"


def _on_a_terminal(*args: str, env: dict[str, str]) -> str:
    """What `sysmon ARGS` writes to a pseudo-terminal (stdout only; stderr is a pipe)."""
    leader, follower = pty.openpty()
    with subprocess.Popen([sys.executable, "-m", "sysmon", *args], stdout=follower, stderr=subprocess.PIPE,
                          env={**os.environ, **env}) as proc:
        os.close(follower)
        text = read_until_closed(leader)
        assert proc.wait(timeout=60) == 0
    return text


def test_echo_fds_colours_a_terminal_block_by_block_unless_no_color() -> None:
    args = ("-r", str(GOLDEN / "scap" / "captures" / "cat_write.scap"), "-c", "echo_fds")
    coloured = _on_a_terminal(*args, env={"NO_COLOR": ""})  # empty: not set, as no-color.org says
    blocks = coloured.split("------ ")[1:]
    assert blocks and all(b.startswith(("Read", "Write")) for b in blocks)
    red, blue, reset = "\x1b[31m", "\x1b[34m", "\x1b[0m"
    assert coloured.count("------ ") == coloured.count(red + "------ ") + coloured.count(blue + "------ ")
    assert all(b.rstrip("\r\n").endswith(reset) for b in blocks)  # no colour leaks into the next block
    plain = _on_a_terminal(*args, env={"NO_COLOR": "1"})
    assert "\x1b[" not in plain and plain.count("------ ") == len(blocks)


def test_a_chisel_into_a_closed_pipe_ends_quietly() -> None:
    """`sysmon -r X -c CHISEL | head -1`: status 0 and nothing on stderr, like plain output."""
    big = GOLDEN / "scap" / "captures" / "502Error.scap"
    for chisel, capture in (("topscalls", big), ("echo_fds", SCAP), ("echo_fds", big), (None, big)):
        chisel_args = ["-c", chisel] if chisel else []
        with subprocess.Popen([sys.executable, "-m", "sysmon", "-r", str(capture), *chisel_args],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE) as proc:
            assert proc.stdout is not None and proc.stderr is not None
            first = proc.stdout.readline()
            proc.stdout.close()  # `head -1` has read its line and gone
            err = proc.stderr.read()
            assert (proc.wait(timeout=60), err, bool(first)) == (0, b"", True), chisel
