"""`sysmon -r nats://HOST:PORT/STREAM [--host NAME]... [--since T] [--until T] [filter]`.

Hosts are replayed one after another (in name order, or as given), each from the start of the file
that holds --since, so its state (threads, fds) is that host's own: the file's snapshot, then its
events. Events before --since change the state and are not shown; the time window is part of the
filter. Everything after the source is the ordinary replay pipeline: filter, -p, -j, -w, chisels.
"""
from __future__ import annotations

import datetime
import re
import time
from collections.abc import Callable
from typing import TextIO

from sysmon.config import StreamQuery
from sysmon.errors import CaptureError, SysmonError
from sysmon.events.model import Event
from sysmon.fleet.broker import Broker
from sysmon.fleet.config import StreamConfig
from sysmon.fleet.source import HostMessages
from sysmon.pipeline import Pipeline
from sysmon.replay import ReplaySession
from sysmon.state.state import State

_DURATION = re.compile(r"(\d+(?:\.\d+)?)([smhd])")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_time(text: str, now_ns: int | None = None) -> int:
    """Wall time in ns: a duration back from now (90s, 15m, 2h, 1d), an ISO date-time, or HH:MM[:SS] today."""
    now_ns = time.time_ns() if now_ns is None else now_ns
    t = text.strip()
    if m := _DURATION.fullmatch(t):
        return now_ns - int(float(m[1]) * _UNITS[m[2]] * 1e9)
    if re.fullmatch(r"\d{1,2}:\d{2}(:\d{2}(\.\d+)?)?", t):
        t = f"{datetime.date.fromtimestamp(now_ns / 1e9).isoformat()}T{t}"
    try:
        when = datetime.datetime.fromisoformat(t)
    except ValueError:
        raise CaptureError(f"not a time: {text!r}", hints=["use 2026-12-03T10:00:00, 10:00, or a duration "
                                                           "back from now: 90s, 15m, 2h, 1d"]) from None
    if when.tzinfo is None:
        when = when.astimezone()
    return int(when.timestamp() * 1e9)


def security(path: str | None) -> StreamConfig | None:
    if path is None:
        return None
    from sysmon.daemon.config import ConfigError, load  # noqa: PLC0415

    try:
        cfg = load(path).stream
    except ConfigError as e:
        raise CaptureError(e.message, hints=e.hints) from None
    if cfg is None:
        raise CaptureError(f"{path} has no [stream] section")
    return cfg


def time_window(predicate: Callable[[Event, State], bool] | None, since: int | None,
                until: int | None) -> Callable[[Event, State], bool] | None:
    if since is None and until is None:
        return predicate
    lo = since if since is not None else 0
    hi = until if until is not None else 1 << 63

    def window(evt: Event, state: State) -> bool:
        return lo <= evt.ts_ns <= hi and (predicate is None or predicate(evt, state))
    return window


def start_seq(broker: Broker, host: str, since: int | None) -> int:
    """Where a host's replay starts: the first message of the file that holds `since` (or the oldest)."""
    if since is None:
        return broker.first_seq()
    msg = broker.at_time(host, since)
    if msg is None:
        return 0
    return msg.head.fseq if msg.head.off else msg.seq


class StreamReplay:
    """A replay session (the same pipeline after the source) fed the stream's files instead of paths."""

    def __init__(self, pipe: Pipeline, query: StreamQuery, out: TextIO, report: Callable[[str], None],
                 *, follow: bool = False) -> None:
        """`follow`: each host from the start of its latest file, waiting for more (sysmon tail --fleet)."""
        self.query = query
        self.follow = follow
        self.report = report
        self.url = query.url.rstrip("/")
        self.since = parse_time(query.since) if query.since else None
        self.until = parse_time(query.until) if query.until else None
        self.broker = Broker(self.url, security(query.security))
        pipe.predicate = time_window(pipe.predicate, self.since, self.until)
        self.session = ReplaySession(pipe, out, report)  # its inspector takes the windowed predicate

    def run(self) -> int:
        failures: list[SysmonError] = []
        try:
            present = self.broker.hosts()
            for host in self.query.hosts or present:
                if host not in present:
                    self.report(f"sysmon: warning: the stream has nothing from host {host}")
                    continue
                last = self.broker.last(host)
                if last is None:
                    continue
                if self.follow:
                    first, end = last.head.fseq if last.head.off else last.seq, None
                else:
                    first, end = start_seq(self.broker, host, self.since), last.seq
                if not first:
                    continue
                msgs = HostMessages(self.broker, host, first, end, self.until)
                for src in msgs.files(self.url):
                    try:
                        self.session.replay(src)  # type: ignore[arg-type]
                    except CaptureError as e:
                        failures.append(e)
                        self.report(e.render())
                    if self.session.done:
                        break
                if msgs.duplicates:
                    self.report(f"sysmon: note: {host}: {msgs.duplicates} messages were in the stream twice "
                                "(read once)")
                if self.session.done:
                    break
        finally:
            self.session.finish()
            self.broker.close()
        if failures:
            raise CaptureError(f"{len(failures)} files of the stream could not be read whole")
        return 0
