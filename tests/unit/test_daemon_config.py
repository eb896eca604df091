"""The daemon's TOML configuration: values, defaults, and errors that name the file, line and key."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from sysmon.cli import main
from sysmon.daemon.config import ConfigError, DaemonConfig, load, parse

GOOD = """\
# a comment
[capture]
dir = "/srv/sysmon"
filter = "evt.type in (openat, connect)"
snaplen = 256
buffer_size = "16M"
compression = "none"

[rotation]
size = "50M"
time = "30m"

[retention]
max_bytes = "2G"
max_age = 0

[log]
level = "debug"
"""


def test_values_units_and_off_switches() -> None:
    c = parse(GOOD)
    assert c == DaemonConfig(filter="evt.type in (openat, connect)", snaplen=256, buffer_size=16 << 20,
                             capture_dir="/srv/sysmon", rotation_size=50 << 20, rotation_seconds=1800.0,
                             retention_bytes=2 << 30, retention_seconds=None, compression=None, log_level="debug")


def test_an_empty_file_gives_the_defaults() -> None:
    assert parse("") == DaemonConfig()


@pytest.mark.parametrize(("text", "where", "what"), [
    ("[capture]\nsnaplen = \"lots\"\n", "<config>:2: capture.snaplen", "expected an integer"),
    ("[capture]\n\nsnaplen = 99999\n", "<config>:3: capture.snaplen", "out of range"),
    ("[rotation]\nsize = \"10 parsecs\"\n", "<config>:2: rotation.size", "not a size"),
    ("[retention]\nmax_age = \"soon\"\n", "<config>:2: retention.max_age", "not a duration"),
    ("[capture]\nbuffer_size = \"3M\"\n", "<config>:2: capture.buffer_size", "power-of-two"),
    ("[capture]\nfilter = \"proc.nme=x\"\n", "<config>:2: capture.filter", 'unknown field "proc.nme"'),
    ("[log]\nlevel = \"loud\"\n", "<config>:2: log.level", "not one of"),
    ("[capture]\nsnaplen = 80\nsnaplne = 80\n", "<config>:3: capture.snaplne", "unknown key"),
    ("[rotation]\nsize = \"600M\"\n", "<config>:?: retention.max_bytes", "two files"),
    ("[capture]\nsnaplen = \n", "<config>: Invalid value", "line 2"),
])
def test_errors_name_the_line_and_key(text: str, where: str, what: str) -> None:
    with pytest.raises(ConfigError) as e:
        parse(text)
    assert e.value.message.startswith(where) and what in e.value.message, e.value.message


def test_a_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read the configuration"):
        load(tmp_path / "nope.toml")


def test_the_daemon_refuses_a_bad_config_with_ex_config(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "bad.toml"
    path.write_text("[capture]\ndir = \"/x\"\nsnaplen = true\n")
    assert main(["daemon", "--config", str(path)]) == 78  # EX_CONFIG: the unit does not restart on it
    err = capsys.readouterr().err
    assert err.startswith(f"sysmon: {path}:3: capture.snaplen: expected an integer"), err


@pytest.mark.parametrize("sub", ["", "/x"])
def test_an_unusable_capture_dir_is_said_before_the_probe_loads(tmp_path: Path, sub: str) -> None:
    """A file where the directory should be (or above it): one clear line, no traceback, and before
    anything starts (the control socket, then the probe, come after the check)."""
    (tmp_path / "file").write_text("")
    path = tmp_path / "sysmon.toml"
    path.write_text(f'[capture]\ndir = "{tmp_path}/file{sub}"\n[control]\nsocket = "{tmp_path}/run/c.sock"\n')
    res = subprocess.run([sys.executable, "-m", "sysmon", "daemon", "--config", str(path)], capture_output=True,
                         text=True, timeout=60)
    assert res.returncode == 1 and "Traceback" not in res.stderr, res.stderr
    why = "it is not a directory" if not sub else "Not a directory"
    assert res.stderr.startswith(f"sysmon: cannot use the capture directory {tmp_path}/file{sub}: {why}"), res.stderr
    assert not (tmp_path / "run" / "c.sock").exists()
