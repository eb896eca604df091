"""Tail clients: their filter, their own events left out, and a bounded queue that drops and counts."""
from __future__ import annotations

import asyncio

import pytest

from sysmon.daemon.control import TailClient, TailHub
from sysmon.errors import FilterError
from sysmon.fields.catalogue import Catalogue
from sysmon.fields.clock import Clock
from sysmon.state.state import State
from tests.factories import make_event


def _client(text: str, **kw: int) -> TailClient:
    return TailClient(text, Catalogue.default(Clock()), as_json=False, **kw)


def test_filter_own_events_and_bound() -> None:
    async def go() -> tuple[TailClient, TailHub, list[bool]]:
        changes: list[bool] = []
        hub = TailHub(lambda: changes.append(True))
        client = _client("evt.type=close", peer_pid=7, max_lines=3)
        hub.add(client)
        state = State()
        for i in range(6):
            hub.emit(make_event("close", tid=100 + i, pid=100 + i, comm="x"), state)
        hub.emit(make_event("read", tid=200, pid=200, comm="x"), state)
        hub.emit(make_event("close", tid=7, pid=7, comm="sysmon"), state)  # the client's own
        hub.remove(client)
        return client, hub, changes
    client, hub, changes = asyncio.run(go())
    assert len(client.lines) == 3 and all(" close" in line for line in client.lines)
    assert client.dropped == 3 and hub.dropped == 3 and len(changes) == 2


def test_a_bad_filter_is_a_filter_error() -> None:
    with pytest.raises(FilterError):
        _client("evt.typ=close", peer_pid=1)
