"""`sysmon tail --fleet nats://HOST:PORT/STREAM [FILTER]`: every host's events as they are shipped.

One thread per host, each a follow-mode stream replay with its own state (the host's latest file,
snapshot first, applied silently up to now), all printing through one lock, line by line. Hosts that
start shipping later are picked up within WATCH_S. One process keeps every followed host's state
current (all their state-changing events): for many busy hosts, follow a few with --host.
"""
from __future__ import annotations

import sys
import threading
import time
from typing import TextIO

from sysmon.errors import SysmonError
from sysmon.fleet.broker import Broker
from sysmon.fleet.replay import StreamReplay, security
from sysmon.output.format import DEFAULT_FORMAT

WATCH_S = 5.0
FORMAT = f"*%evt.hostname {DEFAULT_FORMAT.lstrip('*')}"  # sysdig's lines, each with the host it comes from


class _LockedOut:
    """Shared stdout: whole writes under one lock (sinks write whole lines)."""

    def __init__(self, out: TextIO, lock: threading.Lock) -> None:
        self._out = out
        self._lock = lock

    def write(self, text: str) -> int:
        with self._lock:
            n = self._out.write(text)
            self._out.flush()
        return n

    def flush(self) -> None:
        pass

    def isatty(self) -> bool:
        return self._out.isatty()


def run(url: str, filter_text: str, as_json: bool, out: TextIO, stream_config: str | None = None,
        hosts: list[str] | None = None) -> int:
    from sysmon import session  # noqa: PLC0415
    from sysmon.cli import build_parser  # noqa: PLC0415

    argv = ["-r", url, "--since", "0s", "--unbuffered", "-p", FORMAT, *(["-j"] if as_json else []),
            *(["--stream-config", stream_config] if stream_config else []), "--", filter_text]
    probe = Broker(url, security(stream_config))  # errors (unreachable, no stream) before any thread
    lock = threading.Lock()
    shared = _LockedOut(out, lock)
    started: set[str] = set()

    def follow(host: str) -> None:
        args = build_parser().parse_args([*argv[:-2], "--host", host, *argv[-2:]])
        args.chisels, args.list_chisels = [], False
        try:
            pipe = session.build(args, filter_text, shared)  # type: ignore[arg-type]
            StreamReplay(pipe, args, shared, _report, follow=True).run()  # type: ignore[arg-type]
        except SysmonError as e:
            _report(f"{host}: {e.render()}")

    try:
        while True:
            for host in probe.hosts():
                if host not in started and (not hosts or host in hosts):
                    started.add(host)
                    threading.Thread(target=follow, args=(host,), name=f"tail-{host}", daemon=True).start()
            time.sleep(WATCH_S)
    except KeyboardInterrupt:
        return 0
    finally:
        probe.close()


def _report(line: str) -> None:
    sys.stderr.write(line + "\n")
