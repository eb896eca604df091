"""The daemon's control socket: `sysmon status` and `sysmon tail` talk to a running daemon here.

A unix stream socket (0600, in a 0700 directory, peers other than root refused by SO_PEERCRED).
The client sends one JSON line, `{"cmd": "status"}` or `{"cmd": "tail", "filter": F, "json": B}`;
the daemon answers one JSON line (the status, or `{"ok": true}` / `{"error": ..., "exit": 2}`),
then for tail a stream of formatted event lines until either side closes.

Tail clients see the events the daemon captures, through their own filter, from the daemon's one
probe. Their filters run on the tail thread (daemon/tailfeed.py), never in the capture path; their
filters are compiled off the loop. Each client has a bounded line queue: the tail thread only
appends to it (dropping and counting when it is full) and a task per client writes it out, so a
client that stops reading, or vanishes, never holds up capture.
"""
from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import socket
import stat
import struct
from collections import deque
from collections.abc import Callable
from typing import Any

from sysmon.errors import SysmonError
from sysmon.events.model import Event
from sysmon.fields.catalogue import Catalogue
from sysmon.filter import KernelPlan, Predicate, compile_filter, limits
from sysmon.output.format import DEFAULT_FORMAT, Formatter
from sysmon.state.state import State

log = logging.getLogger(__name__)
TAIL_QUEUE_LINES = 10_000
REQUEST_BYTES = 2 * limits.MAX_CHARS  # a request line: a tail filter of the longest length, with JSON escapes
_PEERCRED = struct.Struct("3i")  # pid, uid, gid


class TailClient:
    def __init__(self, text: str, catalogue: Catalogue, *, as_json: bool, peer_pid: int,
                 max_lines: int = TAIL_QUEUE_LINES) -> None:
        self.predicate: Predicate | None
        self.predicate, self.plan = compile_filter(text, catalogue)
        formatter = Formatter(DEFAULT_FORMAT, catalogue)
        self.format: Callable[[Event, State], str | None] = formatter.format_json if as_json else formatter.format
        self.peer_pid = peer_pid  # its own syscalls (writing the lines out) are never shown back to it
        self.max_lines = max_lines
        self.lines: deque[str] = deque()
        self.sent = 0
        self.dropped = 0
        self.wakeup = asyncio.Event()

    def offer(self, evt: Event, state: State) -> None:
        if evt.pid == self.peer_pid or (self.predicate is not None and not self.predicate(evt, state)):
            return
        if len(self.lines) >= self.max_lines:
            self.dropped += 1
            return
        line = self.format(evt, state)
        if line is not None:
            self.lines.append(line)  # the tail thread; TailHub.wake tells the loop

    async def stream(self, writer: asyncio.StreamWriter) -> None:
        while True:
            await self.wakeup.wait()
            self.wakeup.clear()
            lines = [self.lines.popleft() for _ in range(len(self.lines))]
            writer.write(("\n".join(lines) + "\n").encode())
            self.sent += len(lines)
            await writer.drain()


class TailHub:
    """The Inspector sink that fans events out to the tail clients."""

    def __init__(self, on_change: Callable[[], None]) -> None:
        self.clients: list[TailClient] = []
        self.dropped_gone = 0  # drops of clients that have left
        self._on_change = on_change

    def emit(self, evt: Event, state: State) -> None:
        for client in tuple(self.clients):  # the tail thread, while the loop may add or remove
            client.offer(evt, state)

    def missed(self, n: int) -> None:
        for client in tuple(self.clients):
            client.dropped += n

    def wake(self) -> None:
        """On the loop: let the clients with lines write them out."""
        for client in self.clients:
            if client.lines:
                client.wakeup.set()

    def add(self, client: TailClient) -> None:
        self.clients.append(client)
        self._on_change()

    def remove(self, client: TailClient) -> None:
        self.clients.remove(client)
        self.dropped_gone += client.dropped
        self._on_change()

    @property
    def dropped(self) -> int:
        return self.dropped_gone + sum(c.dropped for c in self.clients)


class ControlServer:
    def __init__(self, path: str, status: Callable[[], dict[str, Any]], hub: TailHub, catalogue: Catalogue) -> None:
        self.path = path
        self.status = status
        self.hub = hub
        self.catalogue = catalogue
        self._server: asyncio.AbstractServer | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    async def start(self) -> None:
        directory = os.path.dirname(self.path)
        os.makedirs(directory, mode=0o700, exist_ok=True)
        with contextlib.suppress(FileNotFoundError):
            if stat.S_ISSOCK(os.lstat(self.path).st_mode):
                os.unlink(self.path)  # left by a daemon that was killed
        old = os.umask(0o177)
        try:
            self._server = await asyncio.start_unix_server(self._handle, self.path, limit=REQUEST_BYTES)
        except OSError as e:
            raise SysmonError(f"cannot create the control socket {self.path}: {e.strerror}",
                              hints=["set control.socket in the configuration"]) from e
        finally:
            os.umask(old)
        os.chmod(self.path, 0o600)

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
            for task in list(self._tasks):
                task.cancel()
            await asyncio.gather(*self._tasks, return_exceptions=True)
            with contextlib.suppress(OSError):
                os.unlink(self.path)

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        try:
            pid, uid = _peer(writer)
            if uid not in (0, os.geteuid()):
                await _reply(writer, {"error": "the control socket is for root only", "exit": 1})
                return
            try:
                line = await asyncio.wait_for(reader.readline(), 5)
            except ValueError:  # longer than REQUEST_BYTES
                await _reply(writer, {"error": f"request longer than {REQUEST_BYTES} bytes", "exit": 2})
                return
            try:
                request = json.loads(line or b"{}")
            except (ValueError, RecursionError):
                request = None
            if not isinstance(request, dict):
                await _reply(writer, {"error": "a request is one JSON object on one line", "exit": 1})
                return
            cmd = request.get("cmd")
            if cmd == "status":
                await _reply(writer, self.status())
            elif cmd == "tail":
                await self._tail(reader, writer, str(request.get("filter", "")), bool(request.get("json")), pid)
            else:
                await _reply(writer, {"error": f"unknown request {cmd!r:.60}", "exit": 1})
        except (OSError, asyncio.TimeoutError, ValueError, asyncio.IncompleteReadError):
            pass  # the client went away or spoke nonsense: nothing to answer
        finally:
            self._tasks.discard(task)
            writer.close()

    async def _tail(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, text: str, as_json: bool,
                    pid: int) -> None:
        def make() -> TailClient:
            return TailClient(text, self.catalogue, as_json=as_json, peer_pid=pid)

        try:  # off the loop: a long filter must not hold up `status` or the capture
            client = await asyncio.get_running_loop().run_in_executor(None, make)
        except SysmonError as e:
            await _reply(writer, {"error": e.render(text), "exit": 2})
            return
        await _reply(writer, {"ok": True})
        self.hub.add(client)
        log.info("tail client %d connected (filter %.200r)", pid, text)
        streaming = asyncio.ensure_future(client.stream(writer))
        gone = asyncio.ensure_future(reader.read())  # EOF: the client left
        try:
            await asyncio.wait({streaming, gone}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            streaming.cancel()
            gone.cancel()
            await asyncio.gather(streaming, gone, return_exceptions=True)
            self.hub.remove(client)
            log.info("tail client %d left: %d lines sent, %d dropped", pid, client.sent, client.dropped)


async def _reply(writer: asyncio.StreamWriter, obj: dict[str, Any]) -> None:
    writer.write(json.dumps(obj).encode() + b"\n")
    await writer.drain()


def _peer(writer: asyncio.StreamWriter) -> tuple[int, int]:
    sock = writer.get_extra_info("socket")
    pid, uid, _ = _PEERCRED.unpack(sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, _PEERCRED.size))
    return pid, uid
