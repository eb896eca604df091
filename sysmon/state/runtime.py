"""Container metadata from the runtimes' API sockets (Docker, Podman), on background threads.

HTTP/1.1 over a unix socket with the standard library. Per socket, one thread answers lookups of
containers the event thread saw (`lookup(runtime, id)` only queues), and one follows the runtime's
event stream so a container is described when it is created, before its first process runs (a process
living a millisecond is then shown with its name). A socket that is missing or silent costs nothing
but a retry every few seconds; every request has a timeout. Answers go to `deliver`
(ContainerTable.connect), which the event thread drains.
"""
from __future__ import annotations

import http.client
import json
import logging
import queue
import socket
import threading
import urllib.parse
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from sysmon import threads
from sysmon.state.containers import ContainerInfo, ContainerTable, Mount, short_id, split_image

log = logging.getLogger(__name__)

DOCKER_SOCKET = "/run/docker.sock"
PODMAN_SOCKET = "/run/podman/podman.sock"
TIMEOUT_S = 2.0
RETRY_S = 2.0
MAX_BODY = 4 << 20  # an inspect answer larger than this is refused (untrusted input stays bounded)
_EVENTS = json.dumps({"type": ["container"], "event": ["create", "start", "rename"]})


@dataclass(frozen=True, slots=True)
class RuntimeSockets:
    """Where the runtimes listen; None turns one off."""

    docker: str | None = DOCKER_SOCKET
    podman: str | None = PODMAN_SOCKET


class _UnixConnection(http.client.HTTPConnection):
    def __init__(self, path: str, timeout: float | None) -> None:
        super().__init__("localhost", timeout=timeout)
        self.path = path

    def connect(self) -> None:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(self.timeout)
        try:
            sock.connect(self.path)
        except OSError:
            sock.close()
            raise
        self.sock = sock


def get_json(path: str, url: str, timeout: float = TIMEOUT_S) -> Any:
    """GET url on the unix socket at path; the decoded JSON body. OSError/ValueError on failure."""
    conn = _UnixConnection(path, timeout)
    try:
        conn.request("GET", url)
        resp = conn.getresponse()
        body = resp.read(MAX_BODY + 1)
        if len(body) > MAX_BODY:
            raise ValueError(f"answer to {url} larger than {MAX_BODY} bytes")
        if resp.status != 200:
            raise ValueError(f"{url}: HTTP {resp.status}")
        return json.loads(body)
    except http.client.HTTPException as e:
        raise ValueError(f"{url}: {e!r}") from e
    finally:
        conn.close()


def from_inspect(runtime: str, data: Mapping[str, Any]) -> ContainerInfo:
    """A Docker-compatible `GET /containers/ID/json` answer as libsinsp reads it (docker_async_source)."""
    full_id = str(data.get("Id") or "")
    config = data.get("Config") or {}
    host = data.get("HostConfig") or {}
    image = str(config.get("Image") or "")
    image_id = str(data.get("Image") or "")
    image_id = image_id.partition(":")[2] or image_id
    repo, tag, digest = split_image(image)
    if repo and not tag and not digest:
        tag = "latest"
    net = data.get("NetworkSettings") or {}
    ip = net.get("IPAddress") or next((n.get("IPAddress") for n in (net.get("Networks") or {}).values()
                                       if isinstance(n, dict) and n.get("IPAddress")), "")
    health = config.get("Healthcheck") or {}
    test = health.get("Test") or []
    healthcheck = None
    if test:
        words = ["/bin/sh", "-c", *test[1:]] if test[0] == "CMD-SHELL" else test[1:]
        healthcheck = "NONE" if test[0] == "NONE" else " ".join(str(t) for t in words)
    mounts = tuple(Mount(str(m.get("Source") or ""), str(m.get("Destination") or ""), str(m.get("Mode") or ""),
                         bool(m.get("RW", True)), str(m.get("Propagation") or ""))
                   for m in data.get("Mounts") or () if isinstance(m, dict))
    labels = {str(k): str(v) for k, v in (config.get("Labels") or {}).items()}
    return ContainerInfo(short_id(runtime, full_id), runtime, full_id, name=str(data.get("Name") or "").lstrip("/"),
                         image=image, image_id=image_id, image_repo=repo, image_tag=tag, image_digest=digest,
                         privileged=bool(host.get("Privileged")), mounts=mounts, labels=labels, ip=str(ip or ""),
                         healthcheck=healthcheck, complete=True)


def from_event(runtime: str, event: Mapping[str, Any]) -> ContainerInfo | None:
    """What a container event says at once (name, image; Docker: its labels too), before the inspect
    answer completes it: a short process that starts right after the event already shows them."""
    actor = event.get("Actor") or {}
    full_id = str(event.get("id") or actor.get("ID") or "")
    attrs = {str(k): str(v) for k, v in (actor.get("Attributes") or {}).items()}
    if not full_id or "name" not in attrs:
        return None
    image = attrs.pop("image", "")
    name = attrs.pop("name")
    repo, tag, digest = split_image(image)
    return ContainerInfo(short_id(runtime, full_id), runtime, full_id, name=name, image=image, image_repo=repo,
                         image_tag=tag or ("latest" if repo and not digest else ""), image_digest=digest,
                         labels=attrs if runtime == "docker" else {})


class RuntimeClient:
    """The metadata threads of one runtime socket."""

    def __init__(self, runtime: str, path: str, deliver: Callable[[ContainerInfo], None]) -> None:
        self.runtime, self.path, self._deliver = runtime, path, deliver
        self._requests: queue.SimpleQueue[str | None] = queue.SimpleQueue()
        self._stop = threading.Event()
        self.answered = 0
        self.failed = 0
        self._threads = [threads.start(self._answer, f"sysmon-{runtime}"),
                         threads.start(self._follow, f"sysmon-{runtime}-ev")]

    def lookup(self, full_id: str) -> None:
        self._requests.put(full_id)

    def stop(self) -> None:
        self._stop.set()
        self._requests.put(None)

    def _inspect(self, ref: str) -> None:
        try:
            data = get_json(self.path, f"/containers/{urllib.parse.quote(ref)}/json")
            self._deliver(from_inspect(self.runtime, data))
            self.answered += 1
        except (OSError, ValueError, TypeError, AttributeError) as e:
            self.failed += 1
            log.debug("%s: no metadata for %s: %s", self.runtime, ref, e)

    def _answer(self) -> None:
        while not self._stop.is_set():
            ref = self._requests.get()
            if ref is None:
                return
            self._inspect(ref)

    def _follow(self) -> None:
        """Follow the event stream (and have what exists looked up); reconnect when the runtime goes away."""
        while not self._stop.is_set():
            try:
                self._stream()
            except (OSError, ValueError, TypeError, AttributeError, http.client.HTTPException) as e:
                log.debug("%s events: %s", self.runtime, e)
            self._stop.wait(RETRY_S)

    def _stream(self) -> None:
        conn = _UnixConnection(self.path, None)  # the stream idles between events: no timeout
        try:
            conn.request("GET", "/events?filters=" + urllib.parse.quote(_EVENTS))
            resp = conn.getresponse()
            if resp.status != 200:
                raise ValueError(f"/events: HTTP {resp.status}")
            for item in get_json(self.path, "/containers/json?all=1"):  # followed from here: what exists
                self._requests.put(str(item.get("Id")))
            while not self._stop.is_set():
                line = resp.readline(MAX_BODY)
                if not line:
                    return
                event = json.loads(line)
                first = from_event(self.runtime, event)
                if first is not None:
                    self._deliver(first)
                    self._inspect(first.full_id)
        finally:
            conn.close()


class Runtimes:
    """The clients of the sockets that exist; `lookup` routes a sighting to its runtime."""

    def __init__(self, table: ContainerTable, sockets: RuntimeSockets) -> None:
        deliver = table.connect(self.lookup)
        self.clients: dict[str, RuntimeClient] = {}
        for runtime, path in (("docker", sockets.docker), ("podman", sockets.podman)):
            if path:
                self.clients[runtime] = RuntimeClient(runtime, path, deliver)

    def lookup(self, runtime: str, full_id: str) -> None:
        client = self.clients.get(runtime)
        if client is not None:
            client.lookup(full_id)

    def stop(self) -> None:
        for client in self.clients.values():
            client.stop()

