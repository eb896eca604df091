"""container.* fields: which container a process runs in, from its cgroup paths.

No container runtime is asked (no docker/CRI socket): the id and the runtime come from the
cgroup path the runtime put the process in, read lazily from /proc/PID/cgroup once per process
(`State.cgroups`). A process whose cgroups name no container runs on the `host`. On replays
and for processes gone before their cgroups were read, the fields are unavailable.
"""
from __future__ import annotations

import re
from typing import TYPE_CHECKING

from sysmon.fields.field import Field, FieldClass, FieldType

if TYPE_CHECKING:
    from sysmon.events.model import Event
    from sysmon.state.state import State

T = FieldType
HOST = "host"
SHORT_ID = 12  # sysdig shows the first 12 hex digits, like `docker ps`

# (runtime, pattern with group "id"), tried in order on each cgroup path.
_PATTERNS: tuple[tuple[str, re.Pattern[str]], ...] = tuple(
    (runtime, re.compile(p))
    for runtime, p in (
        ("docker", r"/docker[-/](?P<id>[0-9a-f]{64})(?:\.scope)?(?:/|$)"),
        ("containerd", r"/cri-containerd[-:](?P<id>[0-9a-f]{64})(?:\.scope)?(?:/|$)"),
        ("cri-o", r"/crio[-/](?P<id>[0-9a-f]{64})(?:\.scope)?(?:/|$)"),
        ("podman", r"/libpod[-/](?P<id>[0-9a-f]{64})(?:\.scope)?(?:/|$)"),
        ("containerd", r"/kubepods[^ ]*/(?:pod[0-9a-f_-]+/)?(?P<id>[0-9a-f]{64})(?:/|$)"),
        ("lxc", r"/lxc(?:\.payload)?[./](?P<id>[^/]+)"),
    )
)


def container_of(cgroup_path: str) -> tuple[str, str] | None:
    """(runtime, short id) of the container a cgroup path belongs to, or None (not a container)."""
    for runtime, pattern in _PATTERNS:
        m = pattern.search(cgroup_path)
        if m is not None:
            cid = m.group("id")
            return runtime, cid[:SHORT_ID] if runtime != "lxc" else cid
    return None


def _container(evt: Event, state: State) -> tuple[str, str] | None:
    """(runtime, id), ("host", "host") for host processes, None when the cgroups are unknown."""
    thread = state.thread(evt.tid) or state.process(evt.pid)
    if thread is None:
        return None
    cgroups = state.cgroups(thread)
    if cgroups is None:
        return None
    for _, path in cgroups:
        found = container_of(path)
        if found is not None:
            return found
    return (HOST, HOST)


def container_id(evt: Event, state: State, arg: str | None = None) -> str | None:
    c = _container(evt, state)
    return None if c is None else c[1]


def _name(evt: Event, state: State, arg: str | None) -> str | None:
    c = _container(evt, state)
    return HOST if c is not None and c[0] == HOST else None


def _type(evt: Event, state: State, arg: str | None) -> str | None:
    c = _container(evt, state)
    return None if c is None or c[0] == HOST else c[0]


def field_classes() -> list[FieldClass]:
    return [
        FieldClass("container", "Container information, from the cgroups of the process. If the event is not "
                   "happening inside a container, both id and name are 'host'.", (
            Field("container.id", T.STR, "the container id (12 hex digits; the name for lxc), or 'host'. Read from "
                  "the process's cgroup path (docker, containerd, cri-o, podman, lxc).", container_id),
            Field("container.name", T.STR, "the container name: 'host' for host processes; sysmon does not query "
                  "container runtimes, so it is unavailable inside containers.", _name),
            Field("container.type", T.STR, "the container runtime, as seen in the cgroup path: docker, containerd, "
                  "cri-o, podman or lxc (unavailable for host processes).", _type),
        )),
    ]
