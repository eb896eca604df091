"""The shipped unit and example configuration: the unit verifies silently, the example gives the defaults."""
from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from sysmon.daemon.config import DaemonConfig, load

SYSTEMD = Path(__file__).resolve().parents[2] / "systemd"


def test_the_example_config_documents_the_defaults() -> None:
    assert load(SYSTEMD / "sysmon.toml") == DaemonConfig()


def test_systemd_analyze_verify_prints_nothing() -> None:
    if shutil.which("systemd-analyze") is None:
        pytest.skip("systemd-analyze is not installed (apt-get install systemd)")
    if not Path("/usr/local/bin/sysmon").exists():
        pytest.skip("ExecStart's /usr/local/bin/sysmon is missing: run scripts/setup.sh")
    res = subprocess.run(["systemd-analyze", "verify", str(SYSTEMD / "sysmon.service")], capture_output=True,
                         text=True, timeout=60)
    assert (res.returncode, res.stdout, res.stderr) == (0, "", "")
