"""sysdig's container records in .scap files: container JSON events and cgroup lists.

libsinsp writes one `container` event per container it knows (PPME_CONTAINER_JSON_E/_2_E, a JSON
object from sinsp_container_manager::container_to_json; PPME_CONTAINER_E in old files: id, type, name,
image) at the start of a capture and when it learns of a new one. Processes carry their cgroups
(`controller=path` strings, NUL-separated) in the process list and in clone/execve exits.
"""
from __future__ import annotations

import json
from typing import Any

from sysmon.state.containers import TYPES, ContainerInfo, Mount


def _type_name(value: Any) -> str:
    return TYPES[value] if isinstance(value, int) and 0 <= value < len(TYPES) else str(value or "")


def from_json(text: str | bytes) -> ContainerInfo | None:
    """A container JSON event's payload; None when it does not describe a container."""
    try:
        c = json.loads(text.rstrip(b"\0") if isinstance(text, bytes) else text.rstrip("\0")).get("container")
    except (ValueError, AttributeError):
        return None
    if not isinstance(c, dict) or not c.get("id"):
        return None
    mounts = tuple(Mount(str(m.get("Source") or ""), str(m.get("Destination") or ""), str(m.get("Mode") or ""),
                         bool(m.get("RW")), str(m.get("Propagation") or ""))
                   for m in c.get("Mounts") or () if isinstance(m, dict))
    health = next((p for p in c.get("health_probes") or () if isinstance(p, dict) and p.get("type") == "healthcheck"),
                  None) if isinstance(c.get("health_probes"), list) else None
    healthcheck = " ".join([str(health.get("exe", "")), *map(str, health.get("args") or ())]) if health else None
    return ContainerInfo(
        str(c["id"]), _type_name(c.get("type")), str(c.get("full_id") or ""), name=str(c.get("name") or ""),
        image=str(c.get("image") or ""), image_id=str(c.get("imageid") or ""), image_repo=str(c.get("imagerepo") or ""),
        image_tag=str(c.get("imagetag") or ""), image_digest=str(c.get("imagedigest") or ""),
        privileged=bool(c.get("privileged")), mounts=mounts,
        labels={str(k): str(v) for k, v in (c.get("labels") or {}).items()}, ip=str(c.get("ip") or ""),
        healthcheck=healthcheck, complete=True)


def from_params(params: dict[str, Any]) -> ContainerInfo | None:
    """A container event's parameters (JSON, or the old id/type/name/image event)."""
    if "json" in params:
        return from_json(params["json"] or "")
    cid = params.get("id")
    if not cid:
        return None
    return ContainerInfo(str(cid), _type_name(params.get("type")), name=str(params.get("name") or ""),
                         image=str(params.get("image") or ""), complete=True)
