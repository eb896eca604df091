"""What a run is asked to do, as frozen values: the command line (cli.py) and the daemon's TOML
(daemon/config.py) both end here, and nothing past them sees argv or TOML.

    RunConfig      the filter, the output, the limits, the probe options, the inputs (-r), the -w capture
    StreamQuery    -r nats://: the hosts and time window to read from a stream (sysmon/fleet)
    CaptureConfig  one capture being written: path, rotation, compression, format (-w -C -G -W -e -z --format)

`parse_size` and `parse_duration` read "64M", "1.5GiB", "3600", "1h" the same way everywhere.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

_SIZE = re.compile(r"\s*(\d+(?:\.\d+)?)\s*([kmgt]?)(?:i?b)?\s*", re.IGNORECASE)
_SIZE_UNITS = {"": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40}
_DURATION = re.compile(r"\s*(\d+(?:\.\d+)?)\s*([smhd]?)\s*", re.IGNORECASE)
_TIME_UNITS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_size(value: object) -> int:
    """Bytes from an int or a string with an optional K/M/G/T suffix (powers of 1024, `iB`/`B` allowed)."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    m = _SIZE.fullmatch(value) if isinstance(value, str) else None
    if m is None:
        raise ValueError(f"not a size: {value!r} (use e.g. 64M)")
    return int(float(m[1]) * _SIZE_UNITS[m[2].lower()])


def parse_duration(value: object) -> float:
    """Seconds from a number or a string with an optional s/m/h/d suffix."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    m = _DURATION.fullmatch(value) if isinstance(value, str) else None
    if m is None:
        raise ValueError(f"not a duration: {value!r} (use e.g. 3600, 1h or 7d)")
    return float(m[1]) * _TIME_UNITS[m[2].lower()]


@dataclass(frozen=True, slots=True)
class CaptureConfig:
    path: str  # the file, or the base name of rotated files (may hold strftime codes with -G)
    size_bytes: int | None = None  # -C
    seconds: float | None = None  # -G
    files: int | None = None  # -W
    events: int | None = None  # -e
    compression: str | None = None  # "zstd" or None (a .scap is gzip'd instead)
    format: str | None = None  # "smc" (sysmon's) or "scap" (sysdig's); None: scap for a .scap name, else smc

    @property
    def scap(self) -> bool:
        """Written in sysdig's format (scap.writer): one file, no rotation."""
        return self.format == "scap" or (self.format is None and self.path.endswith(".scap"))


@dataclass(frozen=True, slots=True)
class OutputConfig:
    format: str | None = None  # -p (None: sysdig's default)
    sink: str = "text"  # the event printer, by name (pipeline.SINKS): "json" under -j
    bufmode: str = ""  # one of sysmon.events.buffers' modes ("" = normal)
    full_buffers: bool = False  # -v: buffers not cut at 80 bytes
    time_type: str = "h"
    unbuffered: bool = False
    quiet: bool = False


@dataclass(frozen=True, slots=True)
class ProbeConfig:
    transport: str = "auto"  # "ringbuf", "perf", or "auto" (the ring buffer where the kernel has it)
    buffer_size: int = 64 << 20
    snaplen: int = 80
    pushdown: bool = True
    shard: tuple[int, int] | None = None  # --shard I/N (docs/scaling.md)


@dataclass(frozen=True, slots=True)
class StreamQuery:
    """-r nats://HOST:PORT/STREAM: what the daemons shipped, instead of files (sysmon/fleet)."""
    url: str
    hosts: tuple[str, ...] = ()  # --host (empty: every host in the stream)
    since: str | None = None  # --since, --until: as given (fleet.replay.parse_time)
    until: str | None = None
    security: str | None = None  # --stream-config: the TOML whose [stream] holds credentials and TLS


@dataclass(frozen=True, slots=True)
class RunConfig:
    filter: str = ""
    output: OutputConfig = OutputConfig()
    probe: ProbeConfig = ProbeConfig()
    capture: CaptureConfig | None = None  # -w
    inputs: tuple[str, ...] = ()  # -r (patterns; empty: capture live)
    stream: StreamQuery | None = None  # -r nats://
    chisels: tuple[tuple[str, str | None], ...] = ()  # -c NAME [ARGS]
    max_events: int | None = None  # -n
    max_seconds: float | None = None  # -M
    summary: bool = False  # -S
    verbose: bool = False  # -v: statistics on stderr at the end
    progress: bool = False  # -P: a replay's progress bar on stderr even when it is no terminal
    runtime_sockets: tuple[str | None, str | None] | None = None  # docker, podman (None: each its default)

    @property
    def live(self) -> bool:
        return not self.inputs and self.stream is None
