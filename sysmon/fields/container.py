"""container.* and k8s.* fields: the container an event happened in, and its pod.

The container comes from the cgroups of the calling task (sysmon/state/containers.py): the kernel's
cgroup id in each record when the probe sends it, else the process's cgroup paths. Host processes have
id and name `host`. Name, image, labels, mounts... come from the runtime (Docker/Podman sockets, or
the container records of a capture file); until known they are unavailable (`<NA>`), as in sysdig.
k8s.* fields come from the `io.kubernetes.*` labels that the kubelet puts on a pod's containers (no API
server is asked).
"""
from __future__ import annotations

import fnmatch
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from sysmon.fields.field import ArgKind, Extractor, Field, FieldClass, FieldType
from sysmon.state.containers import HOST, ContainerInfo, Mount

if TYPE_CHECKING:
    from sysmon.events.model import Event
    from sysmon.state.state import State

T = FieldType
POD_NAME = "io.kubernetes.pod.name"
POD_NAMESPACE = "io.kubernetes.pod.namespace"
POD_UID = "io.kubernetes.pod.uid"
K8S_PREFIX = "io.kubernetes."


def container_id(evt: Event, state: State, arg: str | None = None) -> str | None:
    cid = state.container_id(evt)
    return None if cid is None else cid or HOST


def _info(evt: Event, state: State) -> ContainerInfo | None:
    cid = state.container_id(evt)
    return state.containers.get(cid) if cid else None


def _of_info(fn: Callable[[ContainerInfo], Any], host: Any = None) -> Extractor:
    """An extractor of the event's container; `host` for host events; None (`<NA>`) for unknown or empty."""

    def extract(evt: Event, state: State, arg: str | None) -> Any:
        cid = state.container_id(evt)
        if cid == "":
            return host
        info = state.containers.get(cid) if cid is not None else None
        if info is None:
            return None
        value = fn(info)
        return None if value == "" else value

    return extract


def _name(evt: Event, state: State, arg: str | None) -> str | None:
    return _of_info(lambda c: c.name, HOST)(evt, state, arg)  # type: ignore[no-any-return]


def _privileged(c: ContainerInfo) -> bool | None:
    return c.privileged


def _mounts(evt: Event, state: State, arg: str | None) -> str | None:
    info = _info(evt, state)
    return None if info is None else " ".join(map(str, info.mounts))


def _mount(part: Callable[[Mount], str] | None, *, by_dest: bool = False) -> Extractor:
    """container.mount[N or GLOB] and its .source/.dest/... parts: the mount by number, or the first whose
    source (the destination, for .source) matches the glob; None when there is none."""

    def extract(evt: Event, state: State, arg: str | None) -> str | None:
        info = _info(evt, state)
        if info is None or arg is None:
            return None
        found: Mount | None = None
        if arg.isdigit():
            n = int(arg)
            found = info.mounts[n] if n < len(info.mounts) else None
        else:
            found = next((m for m in info.mounts if fnmatch.fnmatchcase(m.dest if by_dest else m.source, arg)), None)
        if found is None:
            return None
        return str(found) if part is None else part(found)

    return extract


def _label(evt: Event, state: State, arg: str | None) -> str | None:
    info = _info(evt, state)
    return None if info is None or arg is None else info.labels.get(arg)


def _pod_labels(c: ContainerInfo) -> dict[str, str]:
    """The pod's own labels: the container's labels outside the kubelet's io.kubernetes.* ones."""
    if POD_NAME not in c.labels:
        return {}
    return {k: v for k, v in c.labels.items() if not k.startswith(K8S_PREFIX) and not k.startswith("annotation.")}


def _k8s(fn: Callable[[ContainerInfo], str | None]) -> Extractor:
    def extract(evt: Event, state: State, arg: str | None) -> str | None:
        info = _info(evt, state)
        return None if info is None else fn(info) or None

    return extract


def _pod_label(evt: Event, state: State, arg: str | None) -> str | None:
    info = _info(evt, state)
    return None if info is None or arg is None else _pod_labels(info).get(arg)


def _pod_labels_text(c: ContainerInfo) -> str | None:
    labels = _pod_labels(c)
    return ",".join(f"{k}:{v}" for k, v in labels.items()) if labels else None


def field_classes() -> list[FieldClass]:
    mount_doc = ("specified by number (container.mount{0}[0]) or mount {1} (container.mount{0}[/usr/local]); "
                 "the pathname can be a glob.")
    return [
        FieldClass("container", "Container information. If the event is not happening inside a container, both id "
                   "and name are 'host'. Identity from the cgroups of the calling task; metadata from the Docker and "
                   "Podman API sockets, or the container records of a capture.", (
            Field("container.id", T.STR, "the container id (12 hex digits; the name for lxc), or 'host'.", container_id,
                  kernel="container"),
            Field("container.name", T.STR, "the container name, or 'host'.", _name, kernel="container"),
            Field("container.image", T.STR, "the container image name (e.g. falcosecurity/falco:latest for docker).",
                  _of_info(lambda c: c.image)),
            Field("container.image.id", T.STR, "the container image id (e.g. 6f7e2741b66b).",
                  _of_info(lambda c: c.image_id)),
            Field("container.type", T.STR, "the container type: docker, podman, containerd, cri-o, lxc...; 'host' "
                  "on the host.", _of_info(lambda c: c.type, HOST)),
            Field("container.privileged", T.BOOL, "true for containers running as privileged, false otherwise.",
                  _of_info(_privileged)),
            Field("container.mounts", T.STR, "a space-separated list of mount information, each "
                  "<source>:<dest>:<mode>:<rdrw>:<propagation>.", _mounts),
            Field("container.mount", T.STR, "one mount, " + mount_doc.format("", "source")
                  + " <source>:<dest>:<mode>:<rdrw>:<propagation>.", _mount(None), arg=ArgKind.REQUIRED),
            Field("container.mount.source", T.STR, "the mount source, " + mount_doc.format(".source", "destination"),
                  _mount(lambda m: m.source, by_dest=True), arg=ArgKind.REQUIRED),
            Field("container.mount.dest", T.STR, "the mount destination, " + mount_doc.format(".dest", "source"),
                  _mount(lambda m: m.dest), arg=ArgKind.REQUIRED),
            Field("container.mount.mode", T.STR, "the mount mode, " + mount_doc.format(".mode", "source"),
                  _mount(lambda m: m.mode), arg=ArgKind.REQUIRED),
            Field("container.mount.rdwr", T.STR, "the mount rdwr value, " + mount_doc.format(".rdwr", "source"),
                  _mount(lambda m: "true" if m.rw else "false"), arg=ArgKind.REQUIRED),
            Field("container.mount.propagation", T.STR, "the mount propagation, "
                  + mount_doc.format(".propagation", "source"), _mount(lambda m: m.propagation), arg=ArgKind.REQUIRED),
            Field("container.image.repository", T.STR, "the container image repository (e.g. falcosecurity/falco).",
                  _of_info(lambda c: c.image_repo)),
            Field("container.image.tag", T.STR, "the container image tag (e.g. stable, latest).",
                  _of_info(lambda c: c.image_tag)),
            Field("container.image.digest", T.STR, "the container image registry digest (e.g. sha256:d977378f...).",
                  _of_info(lambda c: c.image_digest)),
            Field("container.healthcheck", T.STR, "the container's health check command line; 'NONE' when it has "
                  "none.", _of_info(lambda c: "NONE" if c.healthcheck is None else c.healthcheck)),
            Field("container.label", T.STR, "a container label, e.g. container.label.maintainer.", _label,
                  arg=ArgKind.REQUIRED),
            Field("container.ip", T.STR, "the container's IPv4 address (docker's bridge network).",
                  _of_info(lambda c: "" if c.ip in ("", "0.0.0.0") else c.ip)),
        )),
        FieldClass("k8s", "Kubernetes context, from the io.kubernetes.* labels the kubelet puts on a pod's "
                   "containers (no API server is asked).", (
            Field("k8s.pod.name", T.STR, "Kubernetes pod name.", _k8s(lambda c: c.labels.get(POD_NAME))),
            Field("k8s.pod.id", T.STR, "Kubernetes pod id (the same as k8s.pod.uid).",
                  _k8s(lambda c: c.labels.get(POD_UID))),
            Field("k8s.pod.uid", T.STR, "Kubernetes pod uid.", _k8s(lambda c: c.labels.get(POD_UID))),
            Field("k8s.pod.label", T.STR, "Kubernetes pod label, e.g. k8s.pod.label.app.", _pod_label,
                  arg=ArgKind.REQUIRED),
            Field("k8s.pod.labels", T.STR, "Kubernetes pod comma-separated key:value labels, e.g. 'foo1:bar1,foo2:bar2'.",
                  _k8s(_pod_labels_text)),
            Field("k8s.ns.name", T.STR, "Kubernetes namespace name.", _k8s(lambda c: c.labels.get(POD_NAMESPACE))),
        )),
    ]
