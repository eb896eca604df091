"""`sysmon tail --fleet nats://HOST:PORT/STREAM [FILTER]`: every host's events as they are shipped.

One thread per host, each a follow-mode stream replay with its own state (the host's latest file,
snapshot first, applied silently up to the moment the command started, so a host whose thread
starts late misses nothing), all printing through one lock, line by line. Hosts that start shipping
later are picked up within WATCH_S. One process keeps every followed host's state current (all
their state-changing events): for many busy hosts, follow a few with --host.
"""
from __future__ import annotations

import datetime
import sys
import threading
import time
from typing import TextIO

from sysmon.config import OutputConfig, RunConfig, StreamQuery
from sysmon.errors import SysmonError
from sysmon.fleet.broker import Broker
from sysmon.fleet.replay import StreamReplay, security
from sysmon.output.format import DEFAULT_FORMAT
from sysmon.pipeline import Pipeline

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
    output = OutputConfig(format=FORMAT, sink="json" if as_json else "text", unbuffered=True)
    probe = Broker(url, security(stream_config))  # errors (unreachable, no stream) before any thread
    lock = threading.Lock()
    shared = _LockedOut(out, lock)
    started: set[str] = set()
    since = datetime.datetime.now(datetime.timezone.utc).isoformat()  # one start for every host's thread

    def follow(host: str) -> None:
        query = StreamQuery(url, (host,), since=since, security=stream_config)
        try:
            cfg = RunConfig(filter=filter_text, output=output, stream=query)
            pipe = Pipeline.build(cfg, shared)  # type: ignore[arg-type]
            StreamReplay(pipe, query, shared, _report, follow=True).run()  # type: ignore[arg-type]
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
