"""The fleet's command-line options, kept light: every sysmon command line builds its parser with them."""
from __future__ import annotations

import argparse

from sysmon.config import StreamQuery
from sysmon.errors import CaptureError


def is_stream_url(text: str) -> bool:
    return text.startswith("nats://")


def add_arguments(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("fleet (docs/fleet.md): -r nats://HOST:PORT/STREAM reads what the daemons shipped")
    g.add_argument("--host", dest="hosts", action="append", metavar="NAME",
                   help="with -r nats://: only this host (repeatable; default: every host in the stream)")
    g.add_argument("--since", metavar="TIME", help="with -r nats://: from TIME (2026-12-03T10:00, 10:00, or 1h ago: 1h)")
    g.add_argument("--until", metavar="TIME", help="with -r nats://: up to TIME (same forms)")
    g.add_argument("--stream-config", metavar="PATH",
                   help="with -r nats://: credentials and TLS from the [stream] section of this TOML file")


def stream_query(args: argparse.Namespace) -> StreamQuery | None:
    """The stream the command line reads (-r nats://), if any; bad combinations are errors."""
    urls = [r for r in args.readfile or () if is_stream_url(r)]
    if urls and len(urls) != len(args.readfile):
        raise CaptureError("-r takes either capture files or one nats:// stream, not both")
    if len(urls) > 1:
        raise CaptureError("-r takes one nats:// stream (select hosts with --host)")
    if not urls:
        if args.hosts or args.since or args.until or args.stream_config:
            raise CaptureError("--host, --since, --until and --stream-config go with -r nats://HOST:PORT/STREAM")
        return None
    return StreamQuery(urls[0], tuple(args.hosts or ()), args.since, args.until, args.stream_config)
