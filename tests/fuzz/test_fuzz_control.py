"""The control socket (any root client, and what a confused one sends): random bytes, non-UTF-8,
JSON that is not an object, odd `cmd`/`filter` values. Each request gets one JSON answer (or a closed
connection for a request that never ends its line), the daemon logs no traceback, and it keeps serving."""
from __future__ import annotations

import asyncio
import json
import logging
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sysmon.daemon.control import ControlServer, TailHub
from sysmon.fields.catalogue import Catalogue
from sysmon.fields.clock import Clock
from tests.fuzz.harness import NO_SHRINK, bounded

json_values = st.recursive(st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
                           lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner,
                                                                                          max_size=4), max_leaves=12)
requests = st.one_of(
    st.binary(max_size=300).map(lambda b: b.replace(b"\n", b"") + b"\n"),
    json_values.map(lambda v: json.dumps(v).encode() + b"\n"),
    st.fixed_dictionaries({"cmd": st.sampled_from(["status", "tail", "stop", 7, None]),
                           "filter": st.one_of(st.text(max_size=60), json_values), "json": json_values})
    .map(lambda v: json.dumps(v).encode() + b"\n"),
    st.just(b"\xff\xfe{\"cmd\": \"status\"}\n"),
    st.just(b"[" * 5000 + b"\n"),
)


async def _exchange(path: str, request: bytes) -> bytes:
    reader, writer = await asyncio.open_unix_connection(path)
    writer.write(request)
    await writer.drain()
    try:
        return await asyncio.wait_for(reader.readline(), 5)
    finally:
        writer.close()


@settings(max_examples=1, deadline=None, suppress_health_check=list(HealthCheck), phases=NO_SHRINK)
@given(st.lists(requests, min_size=80, max_size=80))
def test_control_socket_messages(tmp_path_factory, caplog, batch: list[bytes]) -> None:
    path = str(Path(tmp_path_factory.mktemp("ctl")) / "control.sock")
    hub = TailHub(lambda: None)
    server = ControlServer(path, lambda: {"state": "recording"}, hub, Catalogue.default(Clock()))

    async def run() -> None:
        await server.start()
        try:
            for request in batch:
                with bounded(5.0, 64):
                    answer = await _exchange(path, request)
                if answer:
                    reply = json.loads(answer)
                    assert isinstance(reply, dict) and ("error" in reply or "ok" in reply or "state" in reply), reply
            assert json.loads(await _exchange(path, b'{"cmd": "status"}\n')) == {"state": "recording"}
        finally:
            await server.close()

    with caplog.at_level(logging.DEBUG):
        asyncio.run(run())
    bad = [r for r in caplog.records if r.exc_info or r.levelno >= logging.ERROR]
    assert not bad, [r.getMessage() for r in bad]
