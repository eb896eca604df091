"""The daemon's TOML configuration (systemd/sysmon.toml documents every key).

`load(path)` returns a frozen `DaemonConfig` or raises ConfigError naming the file, line and key:
`/etc/sysmon/sysmon.toml:7: rotation.size: not a size: '10 parsecs' (use e.g. 100M)`.
Sizes are integers (bytes) or strings with K/M/G suffixes (powers of 1024); durations are integers
(seconds) or strings with s/m/h/d suffixes. Unknown keys are errors, so a typo never passes silently.
"""
from __future__ import annotations

import logging
import re
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sysmon.config import OutputConfig, ProbeConfig, RunConfig, parse_duration, parse_size
from sysmon.errors import FilterError, SysmonError
from sysmon.fleet.config import StreamConfig, StreamConfigError, parse_stream

DEFAULT_PATH = "/etc/sysmon/sysmon.toml"
DEFAULT_SOCKET = "/run/sysmon/control.sock"
LEVELS = ("debug", "info", "warning", "error")
COMPRESSIONS = ("none", "zstd")


class ConfigError(SysmonError):
    """A configuration file that cannot be read or holds a bad value."""


@dataclass(frozen=True, slots=True)
class DaemonConfig:
    filter: str = ""
    snaplen: int = 80
    buffer_size: int = 64 << 20
    capture_dir: str = "/var/lib/sysmon"
    rotation_size: int | None = 100 << 20
    rotation_seconds: float | None = 3600.0
    retention_bytes: int | None = 1 << 30
    retention_seconds: float | None = 7 * 86400.0
    compression: str | None = "zstd"
    log_level: str = "info"
    socket: str = DEFAULT_SOCKET
    stream: StreamConfig | None = None  # [stream]: ship to NATS JetStream (sysmon/fleet, docs/fleet.md)

    @property
    def log_level_no(self) -> int:
        return int(getattr(logging, self.log_level.upper()))

    def run_config(self) -> RunConfig:
        """The pipeline's part: the filter and the probe (files are named per generation by the service)."""
        return RunConfig(filter=self.filter, output=OutputConfig(quiet=True),
                         # the daemon drains the ring buffer itself (every supported kernel, 5.10 up, has it)
                         probe=ProbeConfig(transport="ringbuf", buffer_size=self.buffer_size, snaplen=self.snaplen))


def _string(value: Any) -> str:
    if not isinstance(value, str):
        raise ValueError(f"expected a string, got {value!r}")
    return value


def _int(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"expected an integer, got {value!r}")
    return value


def _choice(options: tuple[str, ...]) -> Callable[[Any], str]:
    def check(value: Any) -> str:
        if value not in options:
            raise ValueError(f"{value!r} is not one of {', '.join(options)}")
        return str(value)
    return check


# key in the file -> (DaemonConfig attribute, parser); a size or duration of 0 turns the limit off
_KEYS: dict[str, tuple[str, Callable[[Any], Any]]] = {
    "capture.filter": ("filter", _string),
    "capture.snaplen": ("snaplen", _int),
    "capture.buffer_size": ("buffer_size", parse_size),
    "capture.dir": ("capture_dir", _string),
    "capture.compression": ("compression", _choice(COMPRESSIONS)),
    "rotation.size": ("rotation_size", parse_size),
    "rotation.time": ("rotation_seconds", parse_duration),
    "retention.max_bytes": ("retention_bytes", parse_size),
    "retention.max_age": ("retention_seconds", parse_duration),
    "log.level": ("log_level", _choice(LEVELS)),
    "control.socket": ("socket", _string),
}
_OPTIONAL = frozenset({"rotation_size", "rotation_seconds", "retention_bytes", "retention_seconds"})


def load(path: str | Path) -> DaemonConfig:
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as e:
        raise ConfigError(f"cannot read the configuration {path}: {e.strerror}",
                          hints=["pass another file with --config PATH"]) from e
    except UnicodeDecodeError as e:
        raise ConfigError(f"{path}: not UTF-8 text (byte {e.start})") from e
    return parse(text, str(path))


def parse(text: str, path: str = "<config>") -> DaemonConfig:
    try:
        items = _flatten(tomllib.loads(text))
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"{path}: {e}") from e
    except RecursionError:  # arrays or tables nested hundreds deep: no configuration looks like that
        raise ConfigError(f"{path}: nested too deeply") from None
    lines = key_lines(text)
    values: dict[str, Any] = {}
    stream = {key.removeprefix("stream."): value for key, value in items if key.startswith("stream.")}
    if stream:
        try:
            values["stream"] = parse_stream(stream, parse_size, parse_duration)
        except StreamConfigError as e:
            raise ConfigError(f"{path}:{lines.get('stream.' + e.key, lines.get('stream', '?'))}: stream.{e.key}: {e}") \
                from None
    for key, value in items:
        if key.startswith("stream."):
            continue
        where = f"{path}:{lines.get(key, '?')}: {key}"
        if key not in _KEYS:
            near = [k for k in _KEYS if k.split(".")[-1] == key.split(".")[-1]]
            raise ConfigError(f"{where}: unknown key", hints=[f"did you mean {near[0]}?"] if near else
                              [f"known keys: {', '.join(_KEYS)}"])
        attr, convert = _KEYS[key]
        try:
            values[attr] = convert(value)
        except ValueError as e:
            raise ConfigError(f"{where}: {e}") from None
        if attr in _OPTIONAL and not values[attr]:
            values[attr] = None
        elif isinstance(values[attr], (int, float)) and not isinstance(values[attr], bool) and values[attr] < 0:
            raise ConfigError(f"{where}: must not be negative")
    if values.get("compression") == "none":
        values["compression"] = None
    config = DaemonConfig(**values)
    _check(config, lines, path)
    return config


def _check(config: DaemonConfig, lines: Mapping[str, int], path: str) -> None:
    """Rules between values, and the probe's own limits, reported against their keys."""
    from sysmon.probe.loader import SNAPLEN_MAX  # plain constants; bcc is not imported

    def fail(key: str, message: str) -> None:
        raise ConfigError(f"{path}:{lines.get(key, '?')}: {key}: {message}")

    if not 0 <= config.snaplen <= SNAPLEN_MAX:
        fail("capture.snaplen", f"{config.snaplen} is out of range 0..{SNAPLEN_MAX}")
    pages = config.buffer_size // 4096
    if config.buffer_size % 4096 or pages < 1 or pages & (pages - 1):
        fail("capture.buffer_size", "must be a power-of-two number of 4 KiB pages (e.g. 16M, 64M, 256M)")
    if not config.capture_dir.startswith("/"):
        fail("capture.dir", "must be an absolute path")
    if not (config.rotation_size or config.rotation_seconds):
        fail("rotation.size", "set rotation.size or rotation.time: the daemon records in rotating files")
    if config.retention_bytes and config.rotation_size and config.rotation_size * 2 > config.retention_bytes:
        fail("retention.max_bytes", "must hold at least two files of rotation.size")
    from sysmon.fields.catalogue import Catalogue  # noqa: PLC0415
    from sysmon.fields.clock import Clock  # noqa: PLC0415
    from sysmon.filter import compile_filter  # noqa: PLC0415

    try:
        compile_filter(config.filter, Catalogue.default(Clock()))
    except FilterError as e:
        fail("capture.filter", e.render(config.filter).removeprefix("sysmon: "))


def _flatten(doc: Mapping[str, Any], prefix: str = "") -> list[tuple[str, Any]]:
    out: list[tuple[str, Any]] = []
    for key, value in doc.items():
        if isinstance(value, dict):
            out += _flatten(value, f"{prefix}{key}.")
        else:
            out.append((f"{prefix}{key}", value))
    return out


_TABLE = re.compile(r"\s*\[\s*([A-Za-z0-9_.\-\s\"]+?)\s*\]\s*(?:#.*)?$")
_KEY = re.compile(r"\s*([A-Za-z0-9_.\-\"]+)\s*=")


def key_lines(text: str) -> dict[str, int]:
    """Line number of each dotted key (for messages; tomllib gives positions only for syntax errors).
    Multi-line values are not walked into: a line inside one that looks like `key =` is never a known key."""
    lines: dict[str, int] = {}
    table = ""
    for no, line in enumerate(text.splitlines(), 1):
        if m := _TABLE.match(line):
            table = m[1].replace('"', "").replace(" ", "") + "."
            lines.setdefault(table[:-1], no)
        elif m := _KEY.match(line):
            lines.setdefault(table + m[1].replace('"', ""), no)
    return lines
