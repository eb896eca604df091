"""A synchronous connection to JetStream for the readers (`-r nats://`, `tail --fleet`).

nats-py is asyncio; the readers are the synchronous replay pipeline, so each Broker owns an event
loop and runs one request at a time on it. Messages come from ephemeral pull consumers, FETCH
messages per request: what is held in memory is bounded by that, whatever the stream holds.
"""
from __future__ import annotations

import asyncio
import datetime
import re
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Any, TypeVar

from sysmon.errors import CaptureError
from sysmon.fleet import wire
from sysmon.fleet.config import StreamConfig, connect_options

T = TypeVar("T")
FETCH = 32  # messages per pull request (each at most batch_bytes of file bytes)
FETCH_TIMEOUT_S = 2.0
CONNECT_S = 15.0
RETRY_S = 30.0  # a cluster electing a new leader (a node died) answers again within seconds
URL = re.compile(r"nats://([^/\s]+)/([A-Za-z0-9_-]+)/?")


@dataclass(frozen=True, slots=True)
class Message:
    seq: int  # stream sequence
    head: wire.Head
    body: bytes  # as sent (see Head.z)


class Broker:
    def __init__(self, url: str, security: StreamConfig | None = None) -> None:
        m = URL.fullmatch(url)
        if m is None:
            raise CaptureError(f"{url} is not a stream address", hints=["use nats://HOST:PORT/STREAM"])
        self.url = url
        self.server, self.stream = f"nats://{m[1]}", m[2]
        cfg = StreamConfig(servers=(self.server,)) if security is None else \
            StreamConfig(**{**{n: getattr(security, n) for n in StreamConfig.__slots__}, "servers": (self.server,)})
        self.loop = asyncio.new_event_loop()
        import nats  # noqa: PLC0415

        try:
            self.nc = self.run(asyncio.wait_for(nats.connect(
                **connect_options(cfg), name="sysmon reader", connect_timeout=5, max_reconnect_attempts=3,
                allow_reconnect=True, error_cb=_quiet), CONNECT_S))
        except Exception as e:
            self.loop.close()
            why = f"no answer within {CONNECT_S:.0f} s" if isinstance(e, asyncio.TimeoutError) else str(e)
            raise CaptureError(f"cannot connect to {self.server}: {why or type(e).__name__}",
                               hints=["a server that requires TLS or credentials: --stream-config FILE "
                                      "(its [stream] section, docs/fleet.md)"]) from e
        self.js = self.nc.jetstream(timeout=10)

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        return self.loop.run_until_complete(coro)

    def call(self, request: Callable[[], Coroutine[Any, Any, T]], what: str) -> T:
        """A JetStream request, retried while the cluster cannot answer (leader election), errors as CaptureError."""
        import nats.errors  # noqa: PLC0415
        from nats.js.errors import NotFoundError  # noqa: PLC0415

        deadline = time.monotonic() + RETRY_S
        while True:
            try:
                return self.run(request())
            except NotFoundError:
                raise
            except (nats.errors.TimeoutError, nats.errors.NoRespondersError) as e:
                if time.monotonic() > deadline:
                    raise CaptureError(f"{what}: {self.server} does not answer ({type(e).__name__})") from e
                time.sleep(0.5)
            except Exception as e:
                raise CaptureError(f"{what}: {str(e) or type(e).__name__}") from e

    def close(self) -> None:
        try:
            self.run(asyncio.wait_for(self.nc.close(), 3))
        except Exception:
            pass
        self.loop.close()

    def _info(self) -> Any:
        from nats.js.errors import NotFoundError  # noqa: PLC0415

        try:
            return self.call(lambda: self.js.stream_info(self.stream, subjects_filter=wire.ALL_HOSTS),
                             f"cannot read the stream {self.stream}")
        except NotFoundError:
            raise CaptureError(f"{self.server} has no stream {self.stream}") from None

    def hosts(self) -> list[str]:
        """The hosts that have messages in the stream, by name."""
        return sorted(wire.host_of(s) for s in (self._info().state.subjects or {}))

    def first_seq(self) -> int:
        return int(self._info().state.first_seq)

    def last(self, host: str) -> Message | None:
        from nats.js.errors import NotFoundError  # noqa: PLC0415

        try:
            raw = self.call(lambda: self.js.get_last_msg(self.stream, wire.subject(host)), "cannot read the stream")
        except NotFoundError:
            return None
        if raw.seq is None or raw.data is None:
            return None
        return Message(raw.seq, *wire.decode(raw.data))

    def at_time(self, host: str, wall_ns: int) -> Message | None:
        """The host's first message stored at or after `wall_ns`."""
        from nats.js.api import DeliverPolicy  # noqa: PLC0415

        when = datetime.datetime.fromtimestamp(wall_ns / 1e9, tz=datetime.timezone.utc)
        pull = Pull(self, host, deliver=DeliverPolicy.BY_START_TIME, start_time=when)
        try:
            msgs = pull.fetch(1, timeout=1.0)
        finally:
            pull.close()
        return msgs[0] if msgs else None


async def _quiet(e: Exception) -> None:
    """nats-py prints connection errors with a traceback unless told otherwise; ours are raised as messages."""


class Pull:
    """An ephemeral pull consumer on one host's subject (or all), from a stream sequence."""

    def __init__(self, broker: Broker, host: str | None, *, start_seq: int = 0, deliver: Any = None,
                 start_time: datetime.datetime | None = None) -> None:
        from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy  # noqa: PLC0415

        self.broker = broker
        subject = wire.subject(host) if host else wire.ALL_HOSTS
        if deliver is None:
            deliver = DeliverPolicy.BY_START_SEQUENCE if start_seq else DeliverPolicy.ALL
        config = ConsumerConfig(deliver_policy=deliver, opt_start_seq=start_seq or None, opt_start_time=start_time,
                                ack_policy=AckPolicy.NONE, inactive_threshold=60, filter_subject=subject,
                                max_waiting=1)
        self.sub = broker.call(lambda: broker.js.pull_subscribe(
            subject, durable=None, stream=broker.stream, config=config, pending_msgs_limit=FETCH,
            pending_bytes_limit=FETCH << 21), "cannot read the stream")

    def fetch(self, n: int = FETCH, timeout: float = FETCH_TIMEOUT_S) -> list[Message]:
        """Up to n messages; [] when none came within the timeout (the end, for now)."""
        import nats.errors  # noqa: PLC0415

        try:
            msgs = self.broker.run(self.sub.fetch(n, timeout=timeout))
        except nats.errors.TimeoutError:
            return []
        except Exception as e:
            raise CaptureError(f"reading the stream failed: {str(e) or type(e).__name__}") from e
        out = []
        for m in msgs:
            try:
                out.append(Message(m.metadata.sequence.stream, *wire.decode(m.data)))
            except ValueError:
                continue  # not ours: something else publishes on sysmon.*.events
        return out

    def close(self) -> None:
        try:
            self.broker.run(self.sub.unsubscribe())
        except Exception:
            pass
