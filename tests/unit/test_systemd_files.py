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


def _unit_dir(tmp_path: Path, dropins: dict[str, str]) -> Path:
    """The unit as installed, with drop-ins in sysmon.service.d/ (systemd-analyze reads them from there)."""
    unit = tmp_path / "sysmon.service"
    unit.write_text((SYSTEMD / "sysmon.service").read_text())
    (tmp_path / "sysmon.service.d").mkdir()
    for name, text in dropins.items():
        (tmp_path / "sysmon.service.d" / name).write_text(text)
    return unit


def _exposure(unit: Path) -> float:
    res = subprocess.run(["systemd-analyze", "security", "--offline=true", str(unit)], capture_output=True,
                         text=True, timeout=60)
    line = next(x for x in res.stdout.splitlines() if "Overall exposure level" in x)
    return float(line.split(":")[1].split()[0])


# [stream] with remote brokers: the drop-in as shipped, its allow list filled in as the comment says.
STREAM = (SYSTEMD / "stream.conf").read_text().replace("IPAddressAllow=localhost", "IPAddressAllow=192.0.2.10 192.0.2.53")


@pytest.mark.parametrize("dropins, limit", [({}, 2.5), ({"stream.conf": STREAM}, 3.0)], ids=["default", "stream"])
def test_hardening_stays_at_most_3_with_every_feature_on(tmp_path: Path, dropins: dict[str, str], limit: float) -> None:
    if shutil.which("systemd-analyze") is None:
        pytest.skip("systemd-analyze is not installed (apt-get install systemd)")
    unit = _unit_dir(tmp_path, dropins)
    assert _exposure(unit) <= limit
    if Path("/usr/local/bin/sysmon").exists():
        res = subprocess.run(["systemd-analyze", "verify", str(unit)], capture_output=True, text=True, timeout=60)
        assert (res.returncode, res.stdout, res.stderr) == (0, "", "")


def test_the_stream_dropin_opens_the_network_and_nothing_else() -> None:
    lines = [x for x in STREAM.splitlines() if x and not x.startswith("#")]
    assert lines == ["[Service]", "PrivateNetwork=no", "IPAddressAllow=192.0.2.10 192.0.2.53"]
    assert "IPAddressDeny=any" in (SYSTEMD / "sysmon.service").read_text()
