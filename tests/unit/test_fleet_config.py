"""The [stream] section: values, errors naming file, line and key, secrets only from 0600 files;
--since/--until times; the time window joined to the filter."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

from sysmon.daemon.config import ConfigError, parse
from sysmon.errors import CaptureError
from sysmon.fleet.config import connect_options
from sysmon.fleet.replay import parse_time, time_window
from tests.factories import make_event

NOW = 1_764_000_000 * 10**9


def test_stream_section(tmp_path: Path) -> None:
    secret = tmp_path / "pw"
    secret.write_text("s3cret\n")
    os.chmod(secret, 0o600)
    cfg = parse(f"""[capture]
dir = "/var/lib/sysmon"
[stream]
servers = ["nats://10.0.0.1:4222", "nats://10.0.0.2:4222"]
name = "FLEET"
host = "web-1"
user = "sysmon"
password_file = "{secret}"
replicas = 3
max_age = "2d"
max_bytes = "10G"
""").stream
    assert cfg is not None
    assert cfg.servers == ("nats://10.0.0.1:4222", "nats://10.0.0.2:4222") and cfg.stream == "FLEET"
    assert cfg.host_name == "web-1" and cfg.replicas == 3
    assert cfg.max_age_s == 2 * 86400 and cfg.max_bytes == 10 << 30
    opts = connect_options(cfg)
    assert opts["user"] == "sysmon" and opts["password"] == "s3cret" and "tls" not in opts


def test_no_stream_section_ships_nothing() -> None:
    assert parse("[capture]\ndir = \"/x\"\n").stream is None


@pytest.mark.parametrize("body, message", [
    ('name = "S"', "stream.servers: [stream] needs servers"),
    ('servers = "10.0.0.1:4222"', "stream.servers: '10.0.0.1:4222' is not a server URL"),
    ('servers = "nats://h:1"\nhost = "web.1"', "stream.host: 'web.1' is not a valid host name"),
    ('servers = "nats://h:1"\nreplicas = 7', "stream.replicas: expected 1 to 5"),
    ('servers = "nats://h:1"\npasword_file = "/x"', "stream.pasword_file: unknown key"),
    ('servers = "nats://h:1"\ntls_cert = "/c.pem"', "stream.tls_key: tls_cert and tls_key go together"),
])
def test_errors_name_the_key_and_line(body: str, message: str) -> None:
    with pytest.raises(ConfigError) as e:
        parse(f"[stream]\n{body}\n", "/etc/sysmon/sysmon.toml")
    assert e.value.message.startswith("/etc/sysmon/sysmon.toml:")
    assert message in e.value.message


def test_secrets_only_from_files_no_one_else_reads(tmp_path: Path) -> None:
    secret = tmp_path / "creds"
    secret.write_text("-----BEGIN NATS USER JWT-----\n")
    os.chmod(secret, 0o644)
    with pytest.raises(ConfigError) as e:
        parse(f'[stream]\nservers = "nats://h:1"\ncredentials = "{secret}"\n', "f.toml")
    assert "f.toml:3: stream.credentials:" in e.value.message
    assert "readable by others (mode 0644): chmod 600" in e.value.message
    os.chmod(secret, 0o600)
    cfg = parse(f'[stream]\nservers = "nats://h:1"\ncredentials = "{secret}"\n').stream
    assert cfg is not None and connect_options(cfg)["user_credentials"] == str(secret)


def test_times() -> None:
    assert parse_time("90s", NOW) == NOW - 90 * 10**9
    assert parse_time("2h", NOW) == NOW - 7200 * 10**9
    assert parse_time("2026-12-03T10:00:00+00:00", NOW) == 1_796_292_000 * 10**9
    with pytest.raises(CaptureError) as e:
        parse_time("yesterday", NOW)
    assert "not a time: 'yesterday'" in e.value.message


def test_time_window_is_part_of_the_filter() -> None:
    evt = make_event(type="openat", ts_ns=NOW)
    assert time_window(None, None, None) is None
    inside = time_window(None, NOW - 1, NOW + 1)
    assert inside is not None and inside(evt, None)  # type: ignore[arg-type]
    later = time_window(lambda e, s: True, NOW + 1, None)
    assert later is not None and not later(evt, None)  # type: ignore[arg-type]
    refused = time_window(lambda e, s: False, None, None)
    assert refused is not None and not refused(evt, None)  # type: ignore[arg-type]
