"""The subcommands `sysmon daemon`, `sysmon status` and `sysmon tail` (cli.py hands them over here).

status and tail are clients of the running daemon's control socket (control.py); they load no probe.
"""
from __future__ import annotations

import argparse
import json
import os
import socket
import sys
from collections.abc import Sequence
from typing import Any, TextIO

from sysmon.daemon.config import DEFAULT_PATH, DEFAULT_SOCKET, ConfigError, load
from sysmon.errors import SysmonError

SUBCOMMANDS = ("daemon", "status", "tail")
EX_CONFIG = 78  # sysexits.h: a bad configuration; sysmon.service does not restart on it (RestartPreventExitStatus=)


class ControlError(SysmonError):
    """The daemon's control socket cannot be reached, or refused the request."""


def exit_status(error: SysmonError) -> int:
    return EX_CONFIG if isinstance(error, ConfigError) else 1


def _parser(word: str) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog=f"sysmon {word}")
    if word == "daemon":
        p.description = "Record every syscall (or what a filter selects) into rotating capture files."
        p.add_argument("--config", default=DEFAULT_PATH, metavar="PATH", help=f"TOML configuration ({DEFAULT_PATH})")
        return p
    p.add_argument("--socket", default=os.environ.get("SYSMON_SOCKET", DEFAULT_SOCKET), metavar="PATH",
                   help=f"the daemon's control socket ({DEFAULT_SOCKET}; or $SYSMON_SOCKET)")
    p.add_argument("-j", "--json", action="store_true", help="JSON output")
    if word == "status":
        p.description = "Show what the running daemon is doing."
    else:
        p.description = "Print the running daemon's live events (through FILTER), without a second probe."
        p.add_argument("filter", nargs="*", help="sysdig filter expression")
        p.add_argument("--fleet", metavar="nats://HOST:PORT/STREAM",
                       help="follow every host's daemon through the stream instead (docs/fleet.md)")
        p.add_argument("--stream-config", metavar="PATH", help="with --fleet: credentials and TLS from this TOML")
        p.add_argument("--host", dest="hosts", action="append", metavar="NAME",
                       help="with --fleet: only this host (repeatable; default: every host)")
    return p


def run(word: str, argv: Sequence[str], out: TextIO) -> int:
    args = _parser(word).parse_args(argv)
    if word == "daemon":
        from sysmon.daemon import service  # noqa: PLC0415 (uvloop and the probe only here)

        path = args.config
        return service.main(path, lambda: load(path))
    if word == "status":
        status = _request(args.socket, {"cmd": "status"})[0]
        out.write(json.dumps(status, indent=2) + "\n" if args.json else format_status(status))
        return 0
    if args.fleet:
        from sysmon.fleet.tail import run as fleet_tail  # noqa: PLC0415

        return fleet_tail(args.fleet, " ".join(args.filter), args.json, out, args.stream_config, args.hosts)
    return _tail(args.socket, " ".join(args.filter), args.json, out)


def _connect(path: str) -> socket.socket:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM | socket.SOCK_CLOEXEC)
    try:
        sock.connect(path)
    except OSError as e:
        sock.close()
        hints = ["is the daemon running? systemctl status sysmon"]
        if isinstance(e, PermissionError):
            hints = ["the control socket is for root: run it with sudo"]
        raise ControlError(f"cannot reach the daemon at {path}: {e.strerror}", hints=hints) from e
    return sock


def _request(path: str, request: dict[str, Any]) -> tuple[dict[str, Any], socket.socket]:
    sock = _connect(path)
    sock.sendall(json.dumps(request).encode() + b"\n")
    stream = sock.makefile("rb")
    line = stream.readline()
    if not line:
        raise ControlError(f"the daemon at {path} closed the connection without answering")
    reply: dict[str, Any] = json.loads(line)
    if "error" in reply:
        raise ControlError(str(reply["error"]).removeprefix("sysmon: "), code=str(reply.get("exit", 1)))
    return reply, sock


def _tail(path: str, text: str, as_json: bool, out: TextIO) -> int:
    try:
        _, sock = _request(path, {"cmd": "tail", "filter": text, "json": as_json})
    except ControlError as e:
        if e.code == "2":  # a filter error, rendered by the daemon with its caret
            print(f"sysmon: {e.message}", file=sys.stderr)
            return 2
        raise
    with sock, sock.makefile("r", encoding="utf-8", errors="replace") as lines:
        try:
            for line in lines:
                out.write(line)
                out.flush()
        except KeyboardInterrupt:
            pass
    return 0


def _size(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:.1f} {unit}" if unit != "B" else f"{int(n)} B"
        n /= 1024
    return ""


def _duration(seconds: float) -> str:
    """3725 -> 1h02m05s; 604800 -> 7d; 0 -> 0s."""
    s = int(seconds)
    parts = [(s // 86400, "d"), (s % 86400 // 3600, "h"), (s % 3600 // 60, "m"), (s % 60, "s")]
    while len(parts) > 1 and not parts[0][0]:
        parts.pop(0)
    while len(parts) > 1 and not parts[-1][0]:
        parts.pop()
    return f"{parts[0][0]}{parts[0][1]}" + "".join(f"{n:02d}{unit}" for n, unit in parts[1:])


def format_status(st: dict[str, Any]) -> str:
    ev, drops, rates, disk = st["events"], st["events"]["dropped"], st["rates"], st["disk"]
    limits = [f"max {_size(disk['max_bytes'])}" if disk["max_bytes"] else "",
              f"max age {_duration(disk['max_age_s'])}" if disk["max_age_s"] else ""]
    lines = [
        f"sysmon daemon: {st['state']} (pid {st['pid']}), up {_duration(st['uptime_s'])}",
        f"events:  {ev['seen']} seen, {ev['written']} written, {sum(drops.values())} dropped "
        f"(kernel {drops['kernel']}, disk {drops['disk']}, tail {drops['tail']})",
        f"rates:   {rates['seen_per_s']:.0f} events/s seen, {rates['written_per_s']:.0f} written/s",
        f"file:    {st['file'] or '-'}",
        f"disk:    {disk['files']} files, {_size(disk['bytes'])} in {disk['dir']}"
        + (f" (retention: {', '.join(x for x in limits if x)})" if any(limits) else ""),
        *([f"DISK FULL: {disk['full']}; dropping events and retrying"] if disk.get("full") else []),
        f"filter:  {st['filter'] or '(none: every event)'}",
        f"tail:    {st['tail_clients']} clients; config {st['config']}, {st['reloads']} reloads",
    ]
    probe = st.get("probe")
    if probe:
        lines.append(f"probe:   kernel {probe['kernel']} ({probe['types']} types), {probe['transport']}, "
                     f"enter args in {probe['enter_args']}, {probe['hooks']}; {probe['tracefs']}")
        lines += [f"fallback: {note}" for note in probe["fallbacks"]]
    if st.get("reload_error"):
        lines.append(f"warning: the last reload was refused: {st['reload_error']}")
    if st.get("stream"):
        from sysmon.fleet.shipper import format_status as stream_lines  # noqa: PLC0415

        lines += stream_lines(st["stream"])
    return "\n".join(lines) + "\n"
