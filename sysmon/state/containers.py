"""Containers: which container a process runs in (from its cgroups), and what the runtime says of it.

Identity comes from cgroups, as libsinsp's container engines do: a cgroup path names the container
(`/docker/<id>`, `docker-<id>.scope`, `cri-containerd-<id>.scope`, `crio-<id>.scope`,
`libpod-<id>.scope`, `/kubepods/.../pod<uid>/<id>`, `/lxc/<name>`...; cgroup v1 and v2, systemd and
cgroupfs drivers). Each path, and each kernel cgroup id, is resolved once and cached.

Metadata (name, image, labels, mounts...) comes from the runtimes (sysmon/state/runtime.py), on a thread
of their own: answers wait in an inbox until the event thread drains it (`drain()`), so the event path
never waits for a socket. Until an answer comes a container is known by its id and type only, and its
other fields are unavailable (`<NA>`), as in sysdig.

The table also remembers what it learned since a capture writer last asked (`take_delta()`), so capture
files carry container records in event order and a replay shows what the live run showed.
"""
from __future__ import annotations

import itertools
import logging
import os
import queue
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import asdict, dataclass, field, replace
from typing import Any

from sysmon.state.cgroupwatch import CgroupWatch

log = logging.getLogger(__name__)
HOST = "host"
SHORT_ID = 12  # sysdig shows the first 12 hex digits, like `docker ps`

# libsinsp's container types (sinsp_container_type), as numbered in scap container JSON events.
TYPES = ("docker", "lxc", "libvirt-lxc", "mesos", "rkt", "custom", "cri", "containerd", "cri-o", "bpm", "static",
         "podman")

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
    """(runtime, full id) of the container a cgroup path belongs to, or None (not a container)."""
    for runtime, pattern in _PATTERNS:
        m = pattern.search(cgroup_path)
        if m is not None:
            return runtime, m.group("id")
    return None


def parse_cgroups(raw: bytes | str | None) -> tuple[tuple[str, str], ...]:
    """sysdig's cgroup list, `cpuset=/docker/ID\\0cpu=/docker/ID\\0...` -> ((controllers, path), ...)."""
    if isinstance(raw, bytes):
        raw = raw.decode("utf-8", "surrogateescape")
    out = []
    for item in (raw or "").split("\0"):
        controllers, sep, path = item.partition("=")
        if sep:
            out.append((controllers, path))
    return tuple(out)


def cgroup2_mount(mountinfo: str = "/proc/self/mountinfo") -> str | None:
    """Where the cgroup v2 hierarchy is mounted (/sys/fs/cgroup, or /sys/fs/cgroup/unified on hybrid
    systems): the probe's cgroup ids are the inodes of its directories. None if it is not mounted."""
    try:
        with open(mountinfo, encoding="utf-8", errors="replace") as f:
            for line in f:
                left, _, right = line.partition(" - ")
                if right.split(" ", 1)[0] == "cgroup2":
                    return left.split(" ")[4].replace("\\040", " ")
    except OSError:
        pass
    return None


def short_id(runtime: str, full_id: str) -> str:
    return full_id if runtime == "lxc" else full_id[:SHORT_ID]


@dataclass(frozen=True, slots=True)
class Mount:
    source: str
    dest: str
    mode: str = ""
    rw: bool = True
    propagation: str = ""

    def __str__(self) -> str:  # sysdig's container.mounts item
        return f"{self.source}:{self.dest}:{self.mode}:{'true' if self.rw else 'false'}:{self.propagation}"


@dataclass(frozen=True, slots=True)
class ContainerInfo:
    """One container. Empty strings are unknown values (sysdig prints them as `<NA>`); `complete` is
    False until the runtime answered (or a capture's record said all it knew)."""

    id: str  # short id (12 hex digits; the name for lxc)
    type: str
    full_id: str = ""
    name: str = ""
    image: str = ""
    image_id: str = ""
    image_repo: str = ""
    image_tag: str = ""
    image_digest: str = ""
    privileged: bool | None = None
    mounts: tuple[Mount, ...] = ()
    labels: Mapping[str, str] = field(default_factory=dict)
    ip: str = ""
    healthcheck: str | None = None  # None: no health check configured
    complete: bool = False

    def to_wire(self) -> dict[str, Any]:
        d = asdict(self)
        d["mounts"] = [list(asdict(m).values()) for m in self.mounts]
        d["labels"] = dict(self.labels)
        return d

    @staticmethod
    def from_wire(d: Mapping[str, Any]) -> ContainerInfo:
        names = ContainerInfo.__dataclass_fields__
        kwargs = {k: v for k, v in d.items() if k in names}
        kwargs["mounts"] = tuple(Mount(*m) for m in d.get("mounts") or ())
        kwargs["labels"] = dict(d.get("labels") or {})
        return ContainerInfo(**kwargs)


def split_image(image: str) -> tuple[str, str, str]:
    """`registry:5000/repo/name:tag@sha256:..` -> (repository, tag, digest), as libsinsp splits it."""
    digest = ""
    if "@" in image:
        image, _, digest = image.partition("@")
    repo, tag = image, ""
    slash = image.rfind("/")
    colon = image.rfind(":")
    if colon > slash:
        repo, tag = image[:colon], image[colon + 1:]
    return repo, tag, digest


@dataclass(slots=True)
class Delta:
    """What a capture file must add to carry the table: new or changed containers, new cgroup ids."""

    containers: list[ContainerInfo] = field(default_factory=list)
    cgroup_ids: dict[int, str] = field(default_factory=dict)

    def __bool__(self) -> bool:
        return bool(self.containers or self.cgroup_ids)

    def to_wire(self) -> dict[str, Any]:
        return {"containers": [c.to_wire() for c in self.containers],
                "cgroup_ids": [[k, v] for k, v in self.cgroup_ids.items()]}


class ContainerTable:
    """Containers by short id; cgroup paths and kernel cgroup ids resolved once each."""

    __slots__ = ("by_id", "cgroup_ids", "cgroup_root", "_delta", "_inbox", "_judged", "_lookup", "_paths", "_scanned",
                 "_waiting", "_watch")

    def __init__(self, cgroup_root: str | None = None) -> None:
        self.by_id: dict[str, ContainerInfo] = {}
        self.cgroup_ids: dict[int, str] = {}  # kernel cgroup id -> short id, "" for the host
        self.cgroup_root = cgroup_root  # the live hierarchy the probe's cgroup ids come from; None on replay
        self._paths: dict[str, tuple[str, str] | None] = {}
        self._scanned: set[int] = set()  # cgroup ids looked for in the filesystem (found or not)
        self._inbox: queue.SimpleQueue[ContainerInfo] = queue.SimpleQueue()
        self._lookup: Callable[[str, str], None] | None = None  # asks the runtimes (runtime.py)
        self._delta = Delta()
        self._watch: CgroupWatch | None = None
        self._judged = 0  # cgroup ids (in insertion order) `outside` has looked at
        self._waiting: list[int] = []  # ... of which those whose container's name is not known yet

    def go_live(self, cgroup_root: str | None) -> None:
        """Resolve the probe's cgroup ids in this cgroup v2 tree, and note its new cgroups as they appear."""
        self.cgroup_root = cgroup_root
        if cgroup_root is not None:
            try:
                self._watch = CgroupWatch(cgroup_root)
            except OSError as e:  # no inotify: ids are still found by walking the tree
                log.warning("cannot watch %s for new cgroups: %s", cgroup_root, e)

    def stop(self) -> None:
        if self._watch is not None:
            self._watch.stop()
            self._watch = None

    # -- identity --------------------------------------------------------------------------------

    def of_cgroups(self, cgroups: Iterable[tuple[str, str]]) -> str:
        """Short id of the container these (controllers, path) cgroups are in; "" for the host."""
        for _, path in cgroups:
            if path not in self._paths:
                self._paths[path] = container_of(path)
            found = self._paths[path]
            if found is not None:
                return self.observe(*found)
        return ""

    def of_cgroup_id(self, cgid: int) -> str | None:
        """Short id ("" for the host) of a kernel cgroup id; None when it cannot be resolved. Ids are
        looked for in the cgroup filesystem once each (live), or come from a capture's records."""
        cid = self.cgroup_ids.get(cgid)
        if cid is not None or self.cgroup_root is None:
            return cid
        path = self._watch.paths.get(cgid) if self._watch is not None else None
        if path is not None:  # created since the start (maybe removed since): noted by the watch
            self.set_cgroup_id(cgid, self.of_cgroups((("", path),)))
            return self.cgroup_ids[cgid]
        if cgid in self._scanned:
            return None
        self._scan()
        self._scanned.add(cgid)
        return self.cgroup_ids.get(cgid)

    def _scan(self) -> None:
        """Walk the cgroup hierarchy once: every cgroup's id (its directory's inode) -> container."""
        root = self.cgroup_root
        assert root is not None
        for dirpath, _dirs, _files in os.walk(root):
            try:
                ino = os.stat(dirpath).st_ino
            except OSError:
                continue
            if ino in self.cgroup_ids:
                continue
            rel = dirpath[len(root):] or "/"
            self.set_cgroup_id(ino, self.of_cgroups((("", rel),)))

    def note_cgroup_ids(self, cgids: Iterable[int]) -> None:
        """Resolve the cgroup ids of records about to be written (live), so the capture maps them too."""
        if self.cgroup_root is not None:
            for cgid in cgids:
                if cgid and cgid not in self.cgroup_ids:
                    self.of_cgroup_id(cgid)

    def set_cgroup_id(self, cgid: int, cid: str) -> None:
        self.cgroup_ids[cgid] = cid
        self._delta.cgroup_ids[cgid] = cid

    def observe(self, runtime: str, full_id: str) -> str:
        """A container seen in a cgroup path: known from now on; the runtimes are asked about it once."""
        cid = short_id(runtime, full_id)
        if cid not in self.by_id:
            self.add(ContainerInfo(cid, runtime, full_id))
            if self._lookup is not None:
                self._lookup(runtime, full_id)
        return cid

    # -- metadata --------------------------------------------------------------------------------

    def add(self, info: ContainerInfo) -> None:
        """A container's metadata (from a runtime answer, a scap event or a capture record)."""
        old = self.by_id.get(info.id)
        if old is not None and old.complete and not info.complete:
            return  # a late bare sighting never hides what is known
        self.by_id[info.id] = info
        if info != old:
            self._delta.containers.append(info)

    def get(self, cid: str) -> ContainerInfo | None:
        if not self._inbox.empty():
            self.drain()
        return self.by_id.get(cid)

    def connect(self, lookup: Callable[[str, str], None]) -> Callable[[ContainerInfo], None]:
        """Attach a metadata source: `lookup(runtime, full_id)` is called for containers seen; the
        returned function (thread-safe) delivers answers, applied by the event thread."""
        self._lookup = lookup
        return self._inbox.put

    def drain(self) -> None:
        """Apply the runtimes' answers (event thread)."""
        while True:
            try:
                info = self._inbox.get_nowait()
            except queue.Empty:
                return
            old = self.by_id.get(info.id)
            if old is not None and not info.full_id:
                info = replace(info, full_id=old.full_id)
            self.add(info)

    def outside(self, selection: frozenset[str]) -> list[int]:
        """Cgroup ids newly known to hold none of the selected containers (names or ids; "host" selects the
        host), for the probe to keep their syscalls in the kernel. A container not described yet is
        judged once its name is known; each id is returned once."""
        if not self._inbox.empty():
            self.drain()
        fresh = list(itertools.islice(self.cgroup_ids, self._judged, None))
        if not fresh and not self._waiting:
            return []
        self._judged = len(self.cgroup_ids)
        candidates, self._waiting, out = self._waiting + fresh, [], []
        for cgid in candidates:
            cid = self.cgroup_ids[cgid]
            if cid == "":
                inside = HOST in selection
            else:
                info = self.by_id.get(cid)
                if info is None or not (info.name or cid in selection or info.full_id in selection):
                    self._waiting.append(cgid)  # its name may be selected: judged once it is known
                    continue
                inside = bool({cid, info.full_id, info.name} & selection)
            if not inside:
                out.append(cgid)
        return out

    # -- captures --------------------------------------------------------------------------------

    def take_delta(self) -> Delta:
        """What was learned since the last call (for a capture file's container records)."""
        if not self._inbox.empty():
            self.drain()
        delta, self._delta = self._delta, Delta()
        return delta

    def full(self) -> Delta:
        """Everything known, for the snapshot at the start of a capture file."""
        return Delta(list(self.by_id.values()), dict(self.cgroup_ids))

    def apply_wire(self, data: Mapping[str, Any]) -> None:
        """A capture file's container record (or snapshot part) into the table."""
        for item in data.get("containers") or ():
            self.add(ContainerInfo.from_wire(item))
        for cgid, cid in data.get("cgroup_ids") or ():
            self.set_cgroup_id(int(cgid), str(cid))
