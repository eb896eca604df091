"""The command line as a user runs it (a real `sysmon` process): -P progress on replays, refusals before
any work, quiet ends on closed pipes, NO_COLOR."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

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
